//! Transient failures: 5xx, dropped connections, timeouts, a server that is
//! down for a while. Events stay buffered, are retried after a backoff, and
//! each lands on the server exactly once.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig, SyncError};
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_unavailable_then_recovers() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        unavailable: 5,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 30);
    deliver_all(&server, &store, fast_config(server.url()), &events, 0).await;
    let data = server.data();
    assert_eq!(data.posts.iter().filter(|p| p.status == 503).count(), 5);
    assert_eq!(
        data.posts.len(),
        35,
        "each 503 retried once it cleared, nothing else twice"
    );
    assert_eq!(data.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_before_storing_is_retried() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        drop_before_store: 4,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 20);
    deliver_all(&server, &store, fast_config(server.url()), &events, 0).await;
    let data = server.data();
    assert_eq!(data.posts.iter().filter(|p| p.status == 0).count(), 4);
    assert_eq!(data.posts.len(), 24);
    assert_eq!(data.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_lost_after_storing_comes_back_duplicate() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        drop_after_store: 4,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 20);
    deliver_all(&server, &store, fast_config(server.url()), &events, 0).await;
    let data = server.data();
    assert_eq!(
        data.duplicates, 4,
        "the retries were answered 200 duplicate"
    );
    assert_eq!(data.posts.len(), 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_timeout_are_retried() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        slow: 3,
        slow_delay: Duration::from_millis(1_500),
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 12);
    let config = fast_config(server.url()).with_timeout(Duration::from_millis(300));
    deliver_all(&server, &store, config, &events, 0).await;
    let data = server.data();
    assert_eq!(
        data.duplicates, 3,
        "the slow ones were stored, then retried"
    );
    assert_eq!(data.posts.len(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_for_a_while_then_up_on_the_same_port() {
    let server = TestServer::start().await;
    server.shutdown();
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 25);
    let client = SyncClient::try_new(store.clone(), fast_config(server.url())).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());

    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        store.unsynced_count(),
        25,
        "everything kept while the server is down"
    );
    assert_eq!(handle.report().delivered, 0);

    server.restart().await;
    wait_until("delivered after restart", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!(
        (report.delivered, report.rejected, report.remaining),
        (25, 0, 0)
    );
    assert_stored_exactly(&server, &events);
    assert_eq!(server.post_count(), 25, "the server saw each event once");
}

#[tokio::test]
async fn a_manual_pass_reports_the_failure_and_keeps_the_events() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 6);
    let config = SyncConfig::new(server.url(), TOKEN).with_timeout(Duration::from_millis(300));
    let client = SyncClient::try_new(store.clone(), config).expect("config");

    server.set_faults(Faults {
        unavailable: 100,
        ..Faults::default()
    });
    let error = client.try_sync_events().await.expect_err("503");
    assert!(
        matches!(error, SyncError::Server { status: 503 }),
        "{error}"
    );
    assert_eq!(store.unsynced_count(), 6);

    server.set_faults(Faults {
        slow: 100,
        slow_delay: Duration::from_secs(2),
        ..Faults::default()
    });
    let error = client.try_sync_events().await.expect_err("slow");
    assert!(matches!(error, SyncError::Timeout), "{error}");
    assert_eq!(store.unsynced_count(), 6);

    let down = SyncClient::try_new(
        store.clone(),
        SyncConfig::new(TestServer::closed_url().await, TOKEN),
    )
    .expect("config");
    let error = down.try_sync_events().await.expect_err("down");
    assert!(matches!(error, SyncError::Transport { .. }), "{error}");
    assert_eq!(store.unsynced_count(), 6);

    server.set_faults(Faults::default());
    assert_eq!(client.try_sync_events().await.ok(), Some(6));
    assert_stored_exactly(&server, &events);
    assert_eq!(client.rejected_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_space_out_the_attempts() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        unavailable: usize::MAX,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 5);
    let config = fast_config(server.url())
        .with_max_in_flight(1)
        .with_threshold_check(Duration::from_millis(2))
        .with_backoff(Duration::from_millis(40), Duration::from_millis(320));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Without backoff the loop would try every 2 ms (hundreds of attempts);
    // with 40, 80, 160, 320, 320… ms (plus jitter) per event, each event is
    // tried a handful of times, never twice within its first backoff.
    for event in &events {
        let at = server.arrivals(event);
        assert!(
            (1..=10).contains(&at.len()),
            "{} attempts in 1.5 s",
            at.len()
        );
        for pair in at.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_millis(40), "retried after {gap:?}");
        }
    }
    assert_eq!(store.unsynced_count(), 5);

    server.set_faults(Faults::default());
    wait_until("delivered once the server recovers", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!(
        (report.delivered, report.rejected, report.remaining),
        (5, 0, 0)
    );
    assert_stored_exactly(&server, &events);
}
