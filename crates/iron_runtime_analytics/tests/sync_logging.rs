//! Logging: each problem is warned about once (until a success for
//! transient ones, once per kind for rejections), and no log line ever
//! carries the token. One test: the logger is global to this binary.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
use log::{Level, LevelFilter, Log, Metadata, Record};
use sync_support::*;

struct Capture(Mutex<Vec<(Level, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        // The sync module's lines only: the store also warns (unpriced models).
        if record.target().starts_with("iron_runtime_analytics::sync") {
            let line = record.args().to_string();
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((record.level(), line));
        }
    }
    fn flush(&self) {}
}

static LOGS: Capture = Capture(Mutex::new(Vec::new()));

/// Takes the lines logged so far: (warnings, all lines).
fn take_logs() -> (Vec<String>, Vec<String>) {
    let lines = std::mem::take(&mut *LOGS.0.lock().unwrap_or_else(|p| p.into_inner()));
    let warnings = lines
        .iter()
        .filter(|(level, _)| *level == Level::Warn)
        .map(|(_, l)| l.clone())
        .collect();
    (warnings, lines.into_iter().map(|(_, l)| l).collect())
}

fn assert_no_token(lines: &[String]) {
    for line in lines {
        assert!(
            !line.contains(TOKEN),
            "the token leaked into a log line: {line}"
        );
    }
}

#[tokio::test]
async fn each_problem_is_warned_once_and_the_token_never_logged() {
    log::set_logger(&LOGS).expect("the only logger");
    log::set_max_level(LevelFilter::Trace);
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let config = SyncConfig::new(server.url(), TOKEN)
        .with_max_in_flight(1)
        .with_timeout(Duration::from_millis(300));
    let client = SyncClient::try_new(store.clone(), config).expect("config");
    record_mix(&store, 3);

    // 401 three passes in a row: one warning.
    server.set_faults(Faults {
        unauthorized: 3,
        ..Faults::default()
    });
    for _ in 0..3 {
        assert!(client.try_sync_events().await.is_err());
    }
    let (warnings, lines) = take_logs();
    assert_no_token(&lines);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("401"), "{warnings:?}");

    // A success resets it: the next 401 is warned about again.
    assert_eq!(client.try_sync_events().await.ok(), Some(3));
    record_mix(&store, 1);
    server.set_faults(Faults {
        unauthorized: 1,
        ..Faults::default()
    });
    assert!(client.try_sync_events().await.is_err());
    let (warnings, lines) = take_logs();
    assert_no_token(&lines);
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    // 404 and 503 twice each, timeouts twice: one warning per kind.
    server.set_faults(Faults {
        status: 2,
        status_code: 404,
        unavailable: 2,
        slow: 2,
        slow_delay: Duration::from_secs(1),
        ..Faults::default()
    });
    for _ in 0..6 {
        assert!(client.try_sync_events().await.is_err());
    }
    let (warnings, lines) = take_logs();
    assert_no_token(&lines);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("404") && w.contains("server_url")));
    assert!(warnings.iter().any(|w| w.contains("503")));

    // Rejections: one warning per (status, code), with the server's message.
    server.set_faults(Faults::default());
    assert_eq!(client.try_sync_events().await.ok(), Some(1));
    record_model(&store, "bad-one", 3);
    assert_eq!(client.try_sync_events().await.ok(), Some(0));
    server.set_faults(Faults {
        nested_errors: true,
        ..Faults::default()
    });
    record_model(&store, "bad-two", 2);
    assert_eq!(client.try_sync_events().await.ok(), Some(0));
    let (warnings, lines) = take_logs();
    assert_no_token(&lines);
    assert_eq!(warnings.len(), 1, "same status and code: {warnings:?}");
    assert!(
        warnings[0].contains("model bad-one is not allowed"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("VALIDATION_ERROR"));

    // A server that is down: one warning, no token.
    let down = SyncClient::try_new(
        store.clone(),
        SyncConfig::new(TestServer::closed_url().await, TOKEN),
    )
    .expect("config");
    record_mix(&store, 2);
    for _ in 0..3 {
        assert!(down.try_sync_events().await.is_err());
    }
    let (warnings, lines) = take_logs();
    assert_no_token(&lines);
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    // The background loop logs nothing with the token either.
    server.set_faults(Faults {
        unauthorized: 5,
        unavailable: 2,
        ..Faults::default()
    });
    let looping = SyncClient::try_new(store.clone(), fast_config(server.url())).expect("config");
    let handle = looping.start(&tokio::runtime::Handle::current());
    let report = handle.stop_async().await;
    assert_eq!(report.remaining, 0);
    let (_, lines) = take_logs();
    assert_no_token(&lines);
}
