//! SyncConfig: defaults, builders, validation errors, and the token never
//! shown by `Debug` nor by any error.
#![cfg(feature = "sync")]

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::sync::{
    DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_BATCH_THRESHOLD, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SPOOL_INTERVAL, DEFAULT_STOP_DEADLINE,
    DEFAULT_SYNC_INTERVAL, DEFAULT_THRESHOLD_CHECK, DEFAULT_TIMEOUT, MIN_MAX_EVENT_BYTES,
    MIN_SPOOL_BYTES,
};
use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig, SyncError};

const SECRET: &str = "ic_secret_do_not_print_9b1f";

fn config() -> SyncConfig {
    SyncConfig::new("http://localhost:3001", SECRET)
}

#[test]
fn defaults_are_the_named_constants() {
    let c = config();
    assert_eq!(DEFAULT_SYNC_INTERVAL, Duration::from_secs(30));
    assert_eq!(DEFAULT_BATCH_THRESHOLD, 10);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(c.server_url(), "http://localhost:3001");
    assert_eq!(c.interval(), DEFAULT_SYNC_INTERVAL);
    assert_eq!(c.batch_threshold(), DEFAULT_BATCH_THRESHOLD);
    assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
    assert_eq!(c.max_in_flight(), DEFAULT_MAX_IN_FLIGHT);
    assert_eq!(c.max_in_flight(), 8);
    assert_eq!(c.backoff(), (DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX));
    assert_eq!(
        c.backoff(),
        (Duration::from_millis(100), Duration::from_secs(30))
    );
    assert_eq!(c.stop_deadline(), DEFAULT_STOP_DEADLINE);
    assert_eq!(c.stop_deadline(), Duration::from_secs(10));
    assert_eq!(c.max_batch(), DEFAULT_MAX_BATCH);
    assert_eq!(c.max_batch(), 1_000);
    assert_eq!(c.threshold_check(), DEFAULT_THRESHOLD_CHECK);
    assert_eq!(c.threshold_check(), Duration::from_millis(20));
    assert_eq!(c.max_event_bytes(), DEFAULT_MAX_EVENT_BYTES);
    assert_eq!(c.max_event_bytes(), 64 * 1024);
    assert_eq!((c.spool_dir(), c.spool_max_bytes()), (None, None));
    assert_eq!(c.spool_interval(), DEFAULT_SPOOL_INTERVAL);
    assert_eq!(c.spool_interval(), Duration::from_secs(1));
    assert!(c.validate().is_ok());
}

#[test]
fn builders_set_every_option() {
    let ms = Duration::from_millis;
    let c = config()
        .with_interval(ms(1))
        .with_batch_threshold(2)
        .with_timeout(ms(3))
        .with_max_in_flight(4)
        .with_backoff(ms(5), ms(6))
        .with_stop_deadline(ms(7))
        .with_max_batch(8)
        .with_threshold_check(ms(9))
        .with_max_event_bytes(10_000)
        .with_spool("/var/lib/router/spool", 1 << 20)
        .with_spool_interval(ms(11));
    assert_eq!(c.interval(), ms(1));
    assert_eq!(c.batch_threshold(), 2);
    assert_eq!(c.timeout(), ms(3));
    assert_eq!(c.max_in_flight(), 4);
    assert_eq!(c.backoff(), (ms(5), ms(6)));
    assert_eq!(c.stop_deadline(), ms(7));
    assert_eq!(c.max_batch(), 8);
    assert_eq!(c.threshold_check(), ms(9));
    assert_eq!(c.max_event_bytes(), 10_000);
    assert_eq!(
        c.spool_dir(),
        Some(std::path::Path::new("/var/lib/router/spool"))
    );
    assert_eq!(c.spool_max_bytes(), Some(1 << 20));
    assert_eq!(c.spool_interval(), ms(11));
    assert!(c.validate().is_ok());
    assert!(
        config()
            .with_stop_deadline(Duration::ZERO)
            .validate()
            .is_ok(),
        "zero: stop without flushing"
    );
}

#[test]
fn urls_that_are_not_http_are_refused() {
    for url in ["ftp://example.com", "file:///tmp/x", "ws://h:1"] {
        let error = SyncConfig::new(url, SECRET).validate().expect_err(url);
        assert!(
            matches!(error, SyncError::UnsupportedScheme { .. }),
            "{url}: {error}"
        );
    }
    for url in [
        "",
        "localhost:3001/x",
        "not a url",
        "http://",
        "http://h:1/?x=1",
        "http://h#top",
        "/api",
    ] {
        let error = SyncConfig::new(url, SECRET).validate().expect_err(url);
        assert!(
            matches!(
                error,
                SyncError::InvalidUrl { .. } | SyncError::UnsupportedScheme { .. }
            ),
            "{url}: {error}"
        );
    }
    for url in [
        "http://127.0.0.1:1",
        "https://api.example.com/",
        "http://[::1]:8080/base",
    ] {
        assert!(SyncConfig::new(url, SECRET).validate().is_ok(), "{url}");
    }
}

#[test]
fn zero_settings_are_refused() {
    let zero = Duration::ZERO;
    let cases = [
        (config().with_interval(zero), "interval"),
        (config().with_batch_threshold(0), "batch_threshold"),
        (config().with_timeout(zero), "timeout"),
        (config().with_max_in_flight(0), "max_in_flight"),
        (config().with_backoff(zero, zero), "backoff initial delay"),
        (config().with_max_batch(0), "max_batch"),
        (config().with_threshold_check(zero), "threshold_check"),
        (config().with_spool_interval(zero), "spool_interval"),
    ];
    for (c, name) in cases {
        match c.validate() {
            Err(SyncError::ZeroSetting { setting }) => assert_eq!(setting, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn other_bad_settings_are_refused() {
    let error = config()
        .with_backoff(Duration::from_secs(2), Duration::from_secs(1))
        .validate()
        .expect_err("initial > max");
    assert!(matches!(error, SyncError::InvalidBackoff { .. }), "{error}");
    let small = [
        (
            config().with_max_event_bytes(MIN_MAX_EVENT_BYTES - 1),
            "max_event_bytes",
        ),
        (
            config().with_spool("/tmp/s", MIN_SPOOL_BYTES - 1),
            "spool max_bytes",
        ),
    ];
    for (c, name) in small {
        match c.validate() {
            Err(SyncError::TooSmall { setting, .. }) => assert_eq!(setting, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    for token in ["", "   "] {
        let error = SyncConfig::new("http://h", token)
            .validate()
            .expect_err("empty");
        assert!(matches!(error, SyncError::EmptyToken), "{error}");
    }
}

#[test]
fn the_client_checks_its_config() {
    let store = Arc::new(EventStore::new());
    let error =
        SyncClient::try_new(store.clone(), SyncConfig::new("ftp://h", SECRET)).expect_err("scheme");
    assert!(matches!(error, SyncError::UnsupportedScheme { .. }));
    let error = SyncClient::try_new(store.clone(), config().with_max_batch(0)).expect_err("zero");
    assert!(matches!(error, SyncError::ZeroSetting { .. }));
    assert!(SyncClient::try_new(store, config()).is_ok());
}

#[test]
fn debug_never_shows_the_token() {
    let c = config();
    let shown = format!("{c:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains(r#"ic_token: "<redacted>""#), "{shown}");
    assert!(shown.contains("localhost:3001"));
    let pretty = format!("{c:#?}");
    assert!(!pretty.contains(SECRET));

    let client = SyncClient::try_new(Arc::new(EventStore::new()), c).expect("config");
    let shown = format!("{client:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("<redacted>"));
    assert!(!format!("{:?}", client.clone()).contains(SECRET));
}

#[test]
fn errors_never_show_the_token() {
    let bad = [
        SyncConfig::new("ftp://h", SECRET),
        SyncConfig::new("not a url", SECRET),
        SyncConfig::new(format!("http://h/?t={}", "x"), SECRET),
        // A URL carrying a secret in its query: refused, and never echoed.
        SyncConfig::new(format!("http://h/?ic_token={SECRET}"), "another"),
        SyncConfig::new(format!("http://h/#{SECRET}"), "another"),
        config().with_interval(Duration::ZERO),
        config().with_backoff(Duration::from_secs(2), Duration::from_secs(1)),
    ];
    for c in bad {
        assert!(!format!("{c:?}").contains(SECRET), "{c:?}");
        let error = c.validate().expect_err("invalid");
        assert!(!error.to_string().contains(SECRET));
        assert!(!format!("{error:?}").contains(SECRET));
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn the_settings_of_0_4_0_are_public_fields() {
    let mut c = config()
        .with_interval(Duration::from_secs(5))
        .with_batch_threshold(25);
    assert_eq!(c.server_url, "http://localhost:3001");
    assert_eq!(c.ic_token, SECRET);
    assert_eq!(c.sync_interval, Duration::from_secs(5));
    assert_eq!(c.batch_threshold, 25);
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    // Set directly, checked like the builders.
    c.timeout = Duration::from_secs(2);
    assert_eq!(c.timeout(), Duration::from_secs(2));
    c.batch_threshold = 0;
    let error = SyncClient::try_new(Arc::new(EventStore::new()), c.clone()).expect_err("zero");
    assert!(matches!(
        error,
        SyncError::ZeroSetting {
            setting: "batch_threshold"
        }
    ));
    assert!(!format!("{c:?}").contains(SECRET));
}

#[tokio::test]
async fn new_never_fails_an_invalid_configuration_gives_a_disabled_client() {
    let store = Arc::new(EventStore::new());
    store.record_llm_failed("gpt-4", None, None, Some("timeout"), None);
    for (config, why) in [
        (SyncConfig::new("", SECRET), "no server URL"),
        (SyncConfig::new("ftp://h", SECRET), "http://"),
        (SyncConfig::new("http://localhost:3001", ""), "IC token"),
        (config().with_interval(Duration::ZERO), "interval"),
    ] {
        let client = SyncClient::new(store.clone(), config);
        let reason = client.disabled_reason().expect("disabled").to_owned();
        assert!(reason.contains(why), "{reason}");
        assert!(!reason.contains(SECRET));
        assert_eq!(client.sync_events().await, 0);
        let error = client.try_sync_events().await.expect_err("disabled");
        assert!(matches!(error, SyncError::Disabled { .. }), "{error}");
        assert!(!error.to_string().contains(SECRET));
        // Its loop ends at once and sends nothing; the event stays buffered.
        let handle = client.start(&tokio::runtime::Handle::current());
        tokio::time::timeout(Duration::from_secs(10), async {
            while !handle.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the loop of a disabled client ends");
        assert_eq!(handle.stop_async().await.remaining, 1);
    }
    assert_eq!(store.unsynced_count(), 1);
    let valid = SyncClient::new(store, config());
    assert_eq!(valid.disabled_reason(), None);
}
