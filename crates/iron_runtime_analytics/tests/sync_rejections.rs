//! 400 / 413 / 422: the server will never accept the event: it is removed,
//! counted as rejected (never delivered), kept in the rejected ring with the
//! server's message, and never retried. Any other 4xx is not a verdict on
//! the event: it stays buffered.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;

use iron_runtime_analytics::sync::REJECTED_RING_CAPACITY;
use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig, SyncError};
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_rejected_and_never_retried() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let mut good = record_mix(&store, 10);
    let bad = record_model(&store, "bad-model", 3);
    good.extend(record_mix(&store, 5));

    let client = deliver_all(&server, &store, fast_config(server.url()), &good, 3).await;
    assert_eq!(
        server.post_count(),
        18,
        "each rejected event posted once, never retried"
    );
    assert_eq!(client.try_sync_events().await.ok(), Some(0));
    assert_eq!(server.post_count(), 18);

    let rejected = client.rejected_events();
    assert_eq!(rejected.len(), 3);
    let mut ids: Vec<_> = rejected.iter().map(|r| r.event_id).collect();
    ids.sort();
    let mut expected: Vec<_> = bad.iter().map(|e| e.event_id()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    for r in &rejected {
        assert_eq!(r.status, 422);
        assert_eq!(r.error_code.as_deref(), Some("VALIDATION_ERROR"));
        assert_eq!(r.message, "model bad-model is not allowed");
    }
    assert_eq!(client.delivered_count(), 15);
    assert_eq!(client.rejected_count(), 3);
}

#[tokio::test]
async fn both_error_body_shapes_give_the_servers_message() {
    for nested in [false, true] {
        let server = TestServer::start().await;
        server.set_faults(Faults {
            nested_errors: nested,
            ..Faults::default()
        });
        let store = Arc::new(EventStore::new());
        let bad = record_model(&store, "bad-x", 1);
        let client = SyncClient::try_new(store.clone(), SyncConfig::new(server.url(), TOKEN))
            .expect("config");

        assert_eq!(
            client.try_sync_events().await.ok(),
            Some(0),
            "a rejection is not an error of the pass"
        );
        let rejected = client.rejected_events();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].event_id, bad[0].event_id());
        assert_eq!(rejected[0].error_code.as_deref(), Some("VALIDATION_ERROR"));
        assert_eq!(
            rejected[0].message, "model bad-x is not allowed",
            "nested: {nested}"
        );
        assert_eq!(store.unsynced_count(), 0);
        assert_eq!(store.accounting().rejected, 1);
        assert_eq!(store.accounting().synced, 0, "never counted delivered");
    }
}

#[tokio::test]
async fn the_rejected_ring_keeps_the_last_ones() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let bad = record_model(&store, "bad-many", REJECTED_RING_CAPACITY + 6);
    let config = SyncConfig::new(server.url(), TOKEN).with_max_in_flight(1);
    let client = SyncClient::try_new(store.clone(), config).expect("config");

    assert_eq!(client.try_sync_events().await.ok(), Some(0));
    let rejected = client.rejected_events();
    assert_eq!(rejected.len(), REJECTED_RING_CAPACITY);
    let kept: Vec<_> = rejected.iter().map(|r| r.event_id).collect();
    let last: Vec<_> = bad[6..].iter().map(|e| e.event_id()).collect();
    assert_eq!(kept, last, "oldest first, the first six pushed out");
    assert_eq!(client.rejected_count(), bad.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors_keep_the_events() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        status: 3,
        status_code: 404,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 10);
    deliver_all(
        &server,
        &store,
        fast_config(server.url()).with_max_in_flight(1),
        &events,
        0,
    )
    .await;
    assert_eq!(
        server
            .data()
            .posts
            .iter()
            .filter(|p| p.status == 404)
            .count(),
        3
    );
    assert_eq!(server.post_count(), 13);
}

#[tokio::test]
async fn a_wrong_endpoint_is_an_error_not_a_rejection() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    record_mix(&store, 5);
    let url = format!("{}/wrong/prefix", server.url());
    let client = SyncClient::try_new(store.clone(), SyncConfig::new(url, TOKEN)).expect("config");
    let error = client.try_sync_events().await.expect_err("404");
    assert!(
        matches!(error, SyncError::UnexpectedStatus { status: 404 }),
        "{error}"
    );
    assert_eq!(store.unsynced_count(), 5, "nothing treated as delivered");
    assert_eq!(store.accounting().rejected, 0, "nor as rejected");
    assert!(client.rejected_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_echoed_in_a_rejection_never_shows_whatever_the_cut() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    // The message is cut at 512 bytes: pads that put the cut before, inside
    // and after the token.
    let pads: Vec<usize> = (512 - TOKEN.len() - 12..=512 - 8).step_by(3).collect();
    for pad in &pads {
        record_model(&store, &format!("bad-echo-{pad}"), 1);
    }
    let client = SyncClient::try_new(store.clone(), fast_config(server.url())).expect("config");
    client.try_sync_events().await.expect("all settled");
    let rejected = client.rejected_events();
    assert_eq!(rejected.len(), pads.len());
    let piece = &TOKEN[..6];
    for r in &rejected {
        assert_eq!(r.status, 400);
        assert!(
            !r.message.contains(piece),
            "a piece of the token: {}",
            r.message
        );
        assert!(
            r.message.len() <= 512 + '…'.len_utf8(),
            "{}",
            r.message.len()
        );
    }
    // Where the whole token fits, it shows as <redacted>.
    assert!(rejected
        .iter()
        .any(|r| r.message.ends_with("sent by <redacted>")));
}
