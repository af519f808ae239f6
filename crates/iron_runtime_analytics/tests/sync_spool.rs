//! The spool: undelivered events survive the end of a client (and of its
//! process), keep their ids, and are delivered by the next client on the
//! same directory; the file stays bounded, and a damaged one is read as far
//! as it goes.
#![cfg(feature = "sync")]

mod sync_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::sync::SPOOL_FILE;
use iron_runtime_analytics::{AnalyticsEvent, EventStore, SyncClient, SyncConfig, SyncError};
use sync_support::*;

const MIB: u64 = 1 << 20;

/// A configuration that delivers nothing on its own: a closed port, a short deadline.
async fn unreachable(dir: &Path, max_bytes: u64) -> SyncConfig {
    fast_config(TestServer::closed_url().await)
        .with_spool(dir, max_bytes)
        .with_stop_deadline(Duration::from_millis(200))
}

/// Records `n` events with the server unreachable, stops: they are all spooled.
async fn spool_undelivered(dir: &Path, n: usize) -> Vec<AnalyticsEvent> {
    let store = Arc::new(EventStore::new());
    let client = SyncClient::try_new(store.clone(), unreachable(dir, MIB).await).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    let events = record_mix(&store, n);
    let report = handle.stop_async().await;
    assert_eq!((report.remaining, report.spooled), (n as u64, n as u64));
    events
}

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(SPOOL_FILE))
        .expect("spool file")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_events_survive_the_client_and_keep_their_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = spool_undelivered(dir.path(), 20).await;

    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url()).with_spool(dir.path(), MIB);
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    assert_eq!(client.spool_status().expect("spool").read_back, 20);
    assert_eq!(store.unsynced_count(), 0, "replayed by start(), not before");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    wait_until("replayed events delivered", PATIENCE, || {
        store.unsynced_count() == 0
    })
    .await;
    let report = handle.stop_async().await;
    assert_eq!(
        (
            report.delivered,
            report.replayed,
            report.spooled,
            report.remaining
        ),
        (20, 20, 0, 0)
    );
    // The original ids, timestamps and fields.
    assert_stored_exactly(&server, &events);
    let accounting = store.accounting();
    assert_eq!((accounting.replayed, accounting.synced), (20, 20));
    assert!(accounting.is_balanced(), "{accounting:?}");
    assert_eq!(
        store.stats().total_requests,
        0,
        "counted by the first store"
    );
    assert_eq!(file_len(dir.path()), 8, "delivered events are trimmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_per_spool_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = unreachable(dir.path(), MIB).await;
    let first = SyncClient::try_new(Arc::new(EventStore::new()), config.clone()).expect("config");
    let second = SyncClient::try_new(Arc::new(EventStore::new()), config.clone());
    match second {
        Err(error @ SyncError::SpoolLocked { .. }) => {
            let text = error.to_string();
            assert!(text.contains("in use by another process"), "{text}");
        }
        other => panic!("expected SpoolLocked, got {other:?}"),
    }
    assert_eq!(first.close_spool(), Some(0));
    assert!(first.spool_status().is_none(), "closed");
    let third =
        SyncClient::try_new(Arc::new(EventStore::new()), config.clone()).expect("free again");
    drop(third);
    drop(first);
    SyncClient::try_new(Arc::new(EventStore::new()), config).expect("free again after a drop");
    let owner = std::fs::read_to_string(dir.path().join(iron_runtime_analytics::sync::LOCK_FILE))
        .expect("lock file");
    assert_eq!(owner.trim(), std::process::id().to_string());

    let not_a_dir = dir.path().join(SPOOL_FILE);
    let error = SyncClient::try_new(
        Arc::new(EventStore::new()),
        fast_config("http://127.0.0.1:1".into()).with_spool(&not_a_dir, MIB),
    )
    .expect_err("a file is not a directory");
    assert!(
        matches!(error, SyncError::SpoolUnavailable { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_writes_the_spool_while_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EventStore::new());
    let config = unreachable(dir.path(), MIB)
        .await
        .with_spool_interval(Duration::from_millis(50));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    let first = record_mix(&store, 10);
    wait_until("spooled", PATIENCE, || {
        client.spool_status().expect("spool").spooled == 10
    })
    .await;
    let more = record_mix(&store, 5);
    wait_until("spooled again", PATIENCE, || {
        client.spool_status().expect("spool").spooled == 15
    })
    .await;
    // What a process killed now would leave: a copy of the file, read by a new client.
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.path().join(SPOOL_FILE), copy.path().join(SPOOL_FILE)).expect("copy");
    let reader = SyncClient::try_new(
        Arc::new(EventStore::new()),
        unreachable(copy.path(), MIB).await,
    )
    .expect("config");
    let status = reader.spool_status().expect("spool");
    assert_eq!((status.read_back, status.torn_records), (15, 0));
    drop(handle);
    assert_eq!(first.len() + more.len(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_shrinks_once_its_events_are_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    spool_undelivered(dir.path(), 400).await;
    let full = file_len(dir.path());
    assert!(full > 64 * 1024, "{full} bytes");

    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url())
        .with_spool(dir.path(), MIB)
        .with_spool_interval(Duration::from_millis(20));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    wait_until("trimmed while running", PATIENCE, || {
        client.spool_status().expect("spool").spooled == 0
    })
    .await;
    assert_eq!(client.spool_status().expect("spool").file_bytes, 8);
    handle.stop_async().await;
    assert_eq!(server.data().accepted, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_record_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = spool_undelivered(dir.path(), 5).await;
    // A crash in the middle of appending the last record.
    let path = dir.path().join(SPOOL_FILE);
    let len = file_len(dir.path());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(len - 7))
        .expect("truncate");

    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = fast_config(server.url()).with_spool(dir.path(), MIB);
    let client = SyncClient::try_new(store.clone(), config.clone()).expect("config");
    let status = client.spool_status().expect("spool");
    assert_eq!(
        (status.read_back, status.torn_records, status.garbage_bytes),
        (4, 1, 0)
    );
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    wait_until("delivered", PATIENCE, || store.unsynced_count() == 0).await;
    let report = handle.stop_async().await;
    assert_eq!((report.replayed, report.delivered), (4, 4));
    assert_stored_exactly(&server, &events[..4]);
    drop(client);
    // The damage was repaired: the next reader finds a clean (empty) file.
    let again = SyncClient::try_new(Arc::new(EventStore::new()), config).expect("config");
    let status = again.spool_status().expect("spool");
    assert_eq!((status.read_back, status.torn_records), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_file_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = spool_undelivered(dir.path(), 3).await;
    let path = dir.path().join(SPOOL_FILE);
    let bytes = std::fs::read(&path).expect("read");
    // Noise between the header and the first record, and at the end.
    let mut damaged = bytes[..8].to_vec();
    damaged.extend_from_slice(b"\x00\x01garbage\xA5\x5A");
    damaged.extend_from_slice(&bytes[8..]);
    damaged.extend_from_slice(b"trailing noise, not a record");
    std::fs::write(&path, &damaged).expect("write");

    let store = Arc::new(EventStore::new());
    let client =
        SyncClient::try_new(store.clone(), unreachable(dir.path(), MIB).await).expect("config");
    let status = client.spool_status().expect("spool");
    assert_eq!(status.read_back, 3);
    assert_eq!(status.garbage_bytes, (11 + 28) as u64);
    assert_eq!(status.torn_records, 0);
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    let replayed: Vec<_> = store.unsynced_events();
    assert_eq!(replayed, events);
    handle.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_bytes_keeps_the_newest_events_and_counts_the_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EventStore::new());
    let client =
        SyncClient::try_new(store.clone(), unreachable(dir.path(), 4_096).await).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    let events = record_mix(&store, 40);
    let report = handle.stop_async().await;
    let status = client.spool_status().expect("spool");
    assert!(status.file_bytes <= 4_096, "{status:?}");
    let kept = status.spooled as usize;
    assert!(kept > 0 && kept < 40, "{status:?}");
    assert_eq!(status.left_out as usize, 40 - kept);
    assert_eq!(report.spooled as usize, kept);
    assert_eq!(
        report.remaining, 40,
        "left out of the spool, still in memory"
    );
    drop(client);

    let next = Arc::new(EventStore::new());
    let reader =
        SyncClient::try_new(next.clone(), unreachable(dir.path(), 4_096).await).expect("config");
    let handle = reader.start(&tokio::runtime::Handle::current());
    assert_eq!(
        next.unsynced_events(),
        events[40 - kept..],
        "the newest kept"
    );
    handle.stop_async().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_store_takes_what_fits_and_counts_the_rest_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = spool_undelivered(dir.path(), 20).await;
    let store = Arc::new(EventStore::try_with_capacity(5).expect("capacity"));
    let client =
        SyncClient::try_new(store.clone(), unreachable(dir.path(), MIB).await).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    assert_eq!(store.unsynced_events(), events[..5], "the oldest first");
    let report = handle.stop_async().await;
    assert_eq!((report.replayed, report.spooled), (5, 5));
    let accounting = store.accounting();
    assert_eq!((accounting.replayed, accounting.dropped), (20, 15));
    assert!(accounting.is_balanced(), "{accounting:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_in_async_code_spools_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EventStore::new());
    let config = unreachable(dir.path(), MIB)
        .await
        .with_spool_interval(Duration::from_secs(3_600))
        .with_stop_deadline(Duration::from_secs(5));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    let handle = client.clone().start(&tokio::runtime::Handle::current());
    record_mix(&store, 7);
    drop(handle);
    // Written by the drop itself, not by the loop (whose flush is still
    // trying the unreachable server, and whose spool interval is an hour).
    assert_eq!(client.spool_status().expect("spool").spooled, 7);
}
