//! 401 / 403: the credentials are wrong, not the events: keep them all,
//! back off, and resume when the server accepts again.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig, SyncError};
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_for_a_while_then_accepted() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        unauthorized_until: Some(Instant::now() + Duration::from_millis(700)),
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 15);
    let client = SyncClient::try_new(store.clone(), fast_config(server.url())).expect("config");
    let handle = client.start(&tokio::runtime::Handle::current());

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(server.post_count() > 0, "the loop tried");
    assert_eq!(store.unsynced_count(), 15, "every event kept while refused");
    assert_eq!(handle.report().rejected, 0);

    wait_until("delivered once accepted", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!(
        (report.delivered, report.rejected, report.remaining),
        (15, 0, 0)
    );
    assert_stored_exactly(&server, &events);
    assert!(server.data().posts.iter().any(|p| p.status == 401));
    assert_eq!(store.accounting().rejected, 0);
}

#[tokio::test]
async fn an_unknown_token_is_an_error_that_keeps_the_events() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    record_mix(&store, 4);
    let secret = "ic_unknown_secret_token";
    let client =
        SyncClient::try_new(store.clone(), SyncConfig::new(server.url(), secret)).expect("config");

    let error = client.try_sync_events().await.expect_err("401");
    assert!(
        matches!(error, SyncError::Unauthorized { status: 401 }),
        "{error}"
    );
    assert!(!error.to_string().contains(secret));
    assert!(!format!("{error:?}").contains(secret));
    assert_eq!(store.unsynced_count(), 4);
    assert_eq!(client.rejected_count(), 0);
    assert!(client.rejected_events().is_empty());
}

#[tokio::test]
async fn forbidden_is_treated_like_unauthorized() {
    let server = TestServer::start().await;
    server.set_faults(Faults {
        status: 1,
        status_code: 403,
        ..Faults::default()
    });
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 4);
    let config = SyncConfig::new(server.url(), TOKEN).with_max_in_flight(1);
    let client = SyncClient::try_new(store.clone(), config).expect("config");

    let error = client.try_sync_events().await.expect_err("403");
    assert!(
        matches!(error, SyncError::Unauthorized { status: 403 }),
        "{error}"
    );
    assert_eq!(store.unsynced_count(), 4);
    assert_eq!(client.try_sync_events().await.ok(), Some(4));
    assert_stored_exactly(&server, &events);
}
