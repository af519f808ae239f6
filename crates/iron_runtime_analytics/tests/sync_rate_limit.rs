//! 429: the events are fine; the next pass waits at least `Retry-After`.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::{EventStore, SyncClient, SyncError};
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_pass_waits_for_retry_after() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        rate_limited: 2,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 10);
    // A 10 ms backoff: only Retry-After can explain a pause of a second.
    let config = fast_config(server.url()).with_max_in_flight(1);
    deliver_all(&server, &store, config, &events, 0).await;

    let posts = server.data().posts.clone();
    assert_eq!(posts.len(), 12);
    for (i, post) in posts.iter().enumerate().filter(|(_, p)| p.status == 429) {
        let next = &posts[i + 1];
        let pause = next.at.duration_since(post.at);
        assert!(
            pause >= Duration::from_millis(950),
            "the request after a 429 came {pause:?} later"
        );
    }
}

#[tokio::test]
async fn a_manual_pass_reports_the_retry_after() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        rate_limited: 1,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 3);
    let config = fast_config(server.url()).with_max_in_flight(1);
    let client = SyncClient::try_new(store.clone(), config).expect("config");

    let error = client.try_sync_events().await.expect_err("429");
    assert!(
        matches!(
            error,
            SyncError::RateLimited {
                retry_after: Some(d)
            } if d == Duration::from_secs(1)
        ),
        "{error}"
    );
    assert_eq!(store.unsynced_count(), 3, "rate-limited events are kept");
    assert_eq!(server.post_count(), 1, "the pass stopped at the 429");

    assert_eq!(client.try_sync_events().await.ok(), Some(3));
    assert_stored_exactly(&server, &events);
}
