//! The background loop: when it runs a pass, how it stops (blocking and
//! async, healthy server or not, within the deadline), and that dropping the
//! handle flushes like stopping it.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig, SyncReport};
use sync_support::*;

/// A generous bound over the stop deadline: functional, not a benchmark.
const STOP_SLACK: Duration = Duration::from_secs(2);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_threshold_starts_a_pass_before_the_interval() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(3_600))
        .with_batch_threshold(5);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());

    let mut events = record_mix(&store, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.post_count(),
        0,
        "below the threshold, the hour-long interval rules"
    );
    events.extend(record_mix(&store, 1));
    wait_until("threshold pass", PATIENCE, || store.unsynced_count() == 0).await;
    assert_stored_exactly(&server, &events);
    let report = handle.stop_async().await;
    assert_eq!(
        report,
        SyncReport {
            delivered: 5,
            rejected: 0,
            remaining: 0,
            ..Default::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interval_starts_a_pass_below_the_threshold() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_interval(Duration::from_millis(150))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());

    let events = record_mix(&store, 3);
    wait_until("interval pass", PATIENCE, || store.unsynced_count() == 0).await;
    assert_stored_exactly(&server, &events);
    assert_eq!(
        handle.report(),
        SyncReport {
            delivered: 3,
            rejected: 0,
            remaining: 0,
            ..Default::default()
        }
    );
    handle.stop_async().await;
}

#[test]
fn stop_from_a_plain_thread_flushes_everything() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let store = Arc::new(EventStore::new());
    // Neither the interval nor the threshold comes: only stop() sends.
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(3_600))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(rt.handle());
    let events = record_mix(&store, 40);
    let bad = record_model(&store, "bad-stop", 2);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.post_count(), 0);

    let report = handle.stop();
    assert_eq!(
        report,
        SyncReport {
            delivered: 40,
            rejected: 2,
            remaining: 0,
            ..Default::default()
        }
    );
    assert_eq!(store.unsynced_count(), 0);
    assert_stored_exactly(&server, &events);
    assert_eq!(client.rejected_events().len(), bad.len());
    assert_eq!(server.post_count(), 42);
}

#[test]
fn stop_with_the_server_down_returns_by_the_deadline() {
    let rt = runtime();
    let url = rt.block_on(TestServer::closed_url());
    let store = Arc::new(EventStore::new());
    let deadline = Duration::from_millis(800);
    let config = fast_config(url).with_stop_deadline(deadline);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(rt.handle());
    record_mix(&store, 10);
    std::thread::sleep(Duration::from_millis(100));

    let started = Instant::now();
    let report = handle.stop();
    let took = started.elapsed();
    assert!(took < deadline + STOP_SLACK, "stop took {took:?}");
    assert_eq!(
        report,
        SyncReport {
            delivered: 0,
            rejected: 0,
            remaining: 10,
            ..Default::default()
        }
    );
    assert_eq!(store.unsynced_count(), 10, "nothing lost");
}

#[test]
fn stop_with_a_hanging_server_returns_by_the_deadline() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    server.set_faults(Faults {
        slow: usize::MAX,
        slow_delay: Duration::from_secs(60),
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let deadline = Duration::from_millis(600);
    let config = fast_config(server.url())
        .with_timeout(Duration::from_secs(30))
        .with_stop_deadline(deadline);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(rt.handle());
    record_mix(&store, 5);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.post_count() > 0, "a pass is hanging");

    let started = Instant::now();
    let report = handle.stop();
    let took = started.elapsed();
    assert!(took < deadline + STOP_SLACK, "stop took {took:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(
        report.remaining, 5,
        "the cancelled pass left its events buffered"
    );
    assert_eq!(store.unsynced_count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_async_flushes_and_reports() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        unavailable: 3,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(3_600))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());
    let events = record_mix(&store, 20);
    let report = handle.stop_async().await;
    assert_eq!(
        report,
        SyncReport {
            delivered: 20,
            rejected: 0,
            remaining: 0,
            ..Default::default()
        }
    );
    assert_stored_exactly(&server, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_async_with_the_server_down_reports_what_remains() {
    let url = TestServer::closed_url().await;
    let store = Arc::new(EventStore::new());
    let deadline = Duration::from_millis(500);
    let config = fast_config(url).with_stop_deadline(deadline);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());
    record_mix(&store, 7);
    let started = Instant::now();
    let report = handle.stop_async().await;
    assert!(started.elapsed() < deadline + STOP_SLACK);
    assert_eq!(
        report,
        SyncReport {
            delivered: 0,
            rejected: 0,
            remaining: 7,
            ..Default::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_in_async_code_flushes_in_the_background_then_ends_the_loop() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    // Nothing would be sent on its own for a minute: only the drop sends.
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(60))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    let events = record_mix(&store, 3);
    drop(handle);
    drop(client);
    wait_until("flushed after the drop", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    assert_stored_exactly(&server, &events);
    // The loop's task held the last other reference to the store.
    wait_until("loop ended", PATIENCE, || Arc::strong_count(&store) == 1).await;
    record_mix(&store, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.post_count(), 3, "nothing sent after the loop ended");
    assert_eq!(store.unsynced_count(), 3, "events stay buffered");
}

#[test]
fn dropping_the_handle_on_a_plain_thread_waits_for_the_flush() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(60))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(rt.handle());
    let events = record_mix(&store, 5);
    drop(handle);
    assert_eq!(
        store.unsynced_count(),
        0,
        "delivered before the drop returned"
    );
    assert_stored_exactly(&server, &events);
}

#[test]
fn stop_after_the_runtime_is_gone_returns_at_once() {
    let rt = runtime();
    let url = rt.block_on(TestServer::closed_url());
    let store = Arc::new(EventStore::new());
    let config = fast_config(url).with_stop_deadline(Duration::from_secs(30));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(rt.handle());
    record_mix(&store, 2);
    drop(rt);
    assert!(handle.is_finished());
    let started = Instant::now();
    let report = handle.stop();
    assert!(
        started.elapsed() < STOP_SLACK,
        "no wait for a loop that cannot run"
    );
    assert_eq!(
        report,
        SyncReport {
            delivered: 0,
            rejected: 0,
            remaining: 2,
            ..Default::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_from_the_handles_start() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = SyncConfig::new(server.url(), TOKEN)
        .with_interval(Duration::from_secs(3_600))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    record_mix(&store, 4);
    assert_eq!(client.try_sync_events().await.ok(), Some(4));

    let handle = client.clone().start(&tokio::runtime::Handle::current());
    assert_eq!(handle.report(), SyncReport::default());
    record_mix(&store, 2);
    record_model(&store, "bad-report", 1);
    assert_eq!(handle.report().remaining, 3);
    let report = handle.stop_async().await;
    assert_eq!(
        report,
        SyncReport {
            delivered: 2,
            rejected: 1,
            remaining: 0,
            ..Default::default()
        }
    );
    assert_eq!(client.delivered_count(), 6);
}

#[tokio::test]
async fn stop_on_a_current_thread_runtime_returns_at_once_and_the_loop_flushes_in_the_background() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_interval(Duration::from_secs(60))
        .with_batch_threshold(1_000);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());
    let events = record_mix(&store, 4);
    // Blocking here would stall the very runtime that runs the loop.
    let report = handle.stop();
    assert_eq!(report.delivered, 0, "returned before the flush");
    wait_until("flushed in the background", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    assert_stored_exactly(&server, &events);
}
