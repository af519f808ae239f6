//! Intermittent faults mixed together, and events that can never be
//! delivered: each failure holds back only its own event, an outage pauses
//! everyone, and every good event lands exactly once.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::{AnalyticsEvent, EventStore, SyncClient};
use sync_support::*;

/// A failed event whose message makes its body about `bytes` long.
fn bulky(store: &EventStore, bytes: usize) -> AnalyticsEvent {
    let id = store
        .try_record_llm_failed(
            "gpt-4o",
            None,
            None,
            Some("context_too_long"),
            Some(&"m".repeat(bytes)),
        )
        .expect("record")
        .expect("buffered");
    buffered(store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_intermittent_faults_deliver_everything_exactly_once() {
    let server = TestServer::start().await;
    // 1 connection in 13 dropped, 1 answer in 17 lost after storing, and a
    // burst of ten 503s then ten 429s (Retry-After: 1) after 300 requests.
    server.set_faults(Faults {
        drop_every: 13,
        lose_reply_every: 17,
        burst_after: Some(300),
        burst_unavailable: 10,
        burst_rate_limited: 10,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 2_000);
    let config = fast_config(server.url()).with_max_batch(2_000);
    let client = deliver_all(&server, &store, config, &events, 0).await;

    let data = server.data();
    assert_eq!(data.overlaps, 0, "an event was in flight twice");
    assert_eq!(data.posts.iter().filter(|p| p.status == 503).count(), 10);
    assert_eq!(data.posts.iter().filter(|p| p.status == 429).count(), 10);
    assert!(data.posts.iter().filter(|p| p.status == 0).count() >= 2_000 / 17);
    // A lost answer comes back as a duplicate: still delivered once.
    assert!(data.duplicates > 0);
    assert_eq!(client.delivered_count(), 2_000);
    // Nothing after a 429 started before its Retry-After had passed.
    let first_429 = data
        .posts
        .iter()
        .position(|p| p.status == 429)
        .expect("a 429");
    let answered = data.posts[first_429].at;
    let started_within = data.posts[first_429 + 1..]
        .iter()
        .filter(|p| p.at < answered + Duration::from_millis(950))
        .count();
    // Only requests already in flight when the 429 came may arrive meanwhile.
    assert!(
        started_within < 8,
        "{started_within} requests within the Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_poison_event_is_rejected_and_never_blocks_the_others() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        max_body_bytes: Some(2_048),
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    // The poison event first: it is at the head of every batch.
    let poison = bulky(&store, 3_000);
    let good = record_mix(&store, 1_000);
    let config = fast_config(server.url()).with_max_batch(200);
    let client = deliver_all(&server, &store, config, &good, 1).await;

    let rejected = client.rejected_events();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event_id, poison.event_id());
    assert_eq!(rejected[0].status, 413);
    assert_eq!(rejected[0].error_code.as_deref(), Some("PAYLOAD_TOO_LARGE"));
    assert_eq!(rejected[0].message, "request entity too large");
    let id = poison.event_id().to_string();
    let data = server.data();
    let tries = data
        .posts
        .iter()
        .filter(|p| p.event_id.as_deref() == Some(id.as_str()))
        .count();
    assert_eq!(tries, 1, "a 413 is never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_rejected_locally_and_never_sent() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let huge = bulky(&store, 3_000);
    let good = record_mix(&store, 20);
    let config = fast_config(server.url()).with_max_event_bytes(2_048);
    let client = deliver_all(&server, &store, config, &good, 1).await;

    let rejected = client.rejected_events();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event_id, huge.event_id());
    assert_eq!(rejected[0].status, 413);
    assert_eq!(rejected[0].error_code.as_deref(), Some("EVENT_TOO_LARGE"));
    assert!(
        rejected[0].message.contains("over the limit of 2048 bytes"),
        "{}",
        rejected[0].message
    );
    let id = huge.event_id().to_string();
    assert!(
        server
            .data()
            .posts
            .iter()
            .all(|p| p.event_id.as_deref() != Some(id.as_str())),
        "never sent"
    );
    assert_eq!(server.post_count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_keeps_failing_waits_alone_while_the_others_flow() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        unavailable_model: Some("flaky-".to_owned()),
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let stuck = record_model(&store, "flaky-model", 1).remove(0);
    let good = record_mix(&store, 300);
    let config = fast_config(server.url())
        .with_max_batch(50)
        .with_backoff(Duration::from_millis(50), Duration::from_millis(400));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    wait_until("the others delivered", PATIENCE, || {
        store.unsynced_count() == 1
    })
    .await;
    assert_eq!(store.unsynced_events()[0].event_id(), stuck.event_id());
    assert_stored_exactly(&server, &good);
    assert!(
        server.data().max_concurrent > 1,
        "the others went at full concurrency"
    );
    let at = server.arrivals(&stuck);
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(50), "{at:?}");
    }
    server.set_faults(Faults::default());
    wait_until("the stuck one delivered", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!((report.delivered, report.rejected), (301, 0));
    assert_eq!(server.data().overlaps, 0);
}
