//! Delivery on a healthy server: one POST per event, nothing posted twice,
//! bounded batches and concurrency, concurrent passes never double-post.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
use sync_support::*;

#[tokio::test]
async fn one_post_per_event_and_a_second_pass_posts_nothing() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 60);
    let client =
        SyncClient::try_new(store.clone(), SyncConfig::new(server.url(), TOKEN)).expect("config");

    assert_eq!(client.try_sync_events().await.ok(), Some(60));
    assert_eq!(server.post_count(), 60);
    assert_eq!(client.try_sync_events().await.ok(), Some(0));
    assert_eq!(server.post_count(), 60, "nothing delivered is posted again");

    assert_stored_exactly(&server, &events);
    assert_eq!(store.unsynced_count(), 0);
    let accounting = store.accounting();
    assert_eq!(accounting.synced, 60);
    assert_eq!(accounting.rejected, 0);
    assert!(accounting.is_balanced());
    assert_eq!(client.delivered_count(), 60);
    assert_eq!(client.rejected_count(), 0);
    assert!(client.rejected_events().is_empty());
}

#[tokio::test]
async fn a_pass_takes_at_most_max_batch_events() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 20);
    let config = SyncConfig::new(server.url(), TOKEN).with_max_batch(7);
    let client = SyncClient::try_new(store.clone(), config).expect("config");

    let mut delivered = Vec::new();
    for _ in 0..4 {
        delivered.push(client.try_sync_events().await.expect("healthy"));
    }
    assert_eq!(delivered, [7, 7, 6, 0]);
    assert_stored_exactly(&server, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_in_flight_requests_at_once() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 40);
    let config = SyncConfig::new(server.url(), TOKEN).with_max_in_flight(3);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    // Slow answers, so that requests overlap whenever the client allows it.
    server.set_faults(Faults {
        slow: 40,
        slow_delay: Duration::from_millis(30),
        ..Faults::default()
    });

    assert_eq!(client.try_sync_events().await.ok(), Some(40));
    let max = server.data().max_concurrent;
    assert_eq!(max, 3, "requests at once");
    assert_stored_exactly(&server, &events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_passes_and_the_loop_never_double_post() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 300);
    let config = SyncConfig::new(server.url(), TOKEN)
        .with_max_batch(25)
        .with_max_in_flight(4)
        .with_batch_threshold(1)
        .with_threshold_check(Duration::from_millis(1));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());

    let mut passes = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = client.clone();
        passes.spawn(async move {
            let mut delivered = 0;
            while client.store().unsynced_count() > 0 {
                delivered += client.try_sync_events().await.expect("healthy");
                tokio::task::yield_now().await;
            }
            delivered
        });
    }
    let mut manual = 0;
    while let Some(delivered) = passes.join_next().await {
        manual += delivered.expect("no panic");
    }
    let report = handle.stop_async().await;

    assert_eq!(server.post_count(), 300, "no event posted twice");
    assert_eq!(server.data().duplicates, 0);
    assert_stored_exactly(&server, &events);
    assert!(manual <= 300);
    assert_eq!(
        report.delivered, 300,
        "the handle counts every delivery of its client"
    );
    assert_eq!(report.rejected, 0);
    assert_eq!(report.remaining, 0);
}

#[tokio::test]
async fn events_recorded_after_a_pass_go_in_the_next() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let mut events = record_mix(&store, 5);
    let client =
        SyncClient::try_new(store.clone(), SyncConfig::new(server.url(), TOKEN)).expect("config");
    assert_eq!(client.try_sync_events().await.ok(), Some(5));
    events.extend(record_mix(&store, 4));
    assert_eq!(client.try_sync_events().await.ok(), Some(4));
    assert_eq!(server.post_count(), 9);
    assert_stored_exactly(&server, &events);
}
