//! [`SyncConfig`]: where to send events, with which token, and how often.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::SyncError;

/// Default time between two background passes: 30 s.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);
/// Default number of pending events that starts a pass before the interval: 10.
pub const DEFAULT_BATCH_THRESHOLD: usize = 10;
/// Default timeout of one HTTP request, connection included: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of requests in flight at once: 8.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// Default first delay after a transient failure: 100 ms.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Default longest delay between two attempts after failures: 30 s.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default time [`SyncHandle::stop`](super::SyncHandle::stop) spends flushing: 10 s.
pub const DEFAULT_STOP_DEADLINE: Duration = Duration::from_secs(10);
/// Default number of events taken by one pass: 1,000.
pub const DEFAULT_MAX_BATCH: usize = 1_000;
/// Default period at which the loop compares the pending count with the threshold: 20 ms.
pub const DEFAULT_THRESHOLD_CHECK: Duration = Duration::from_millis(20);
/// The ingestion path of Protocol 012, appended to the server URL.
pub const INGEST_PATH: &str = "/api/v1/analytics/events";
/// Default largest request body of one event: 64 KiB. A larger event is
/// rejected locally (counted, with its reason), never sent.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;
/// The smallest accepted body cap: 1 KiB (an event's body is a few hundred bytes).
pub const MIN_MAX_EVENT_BYTES: usize = 1024;
/// Default time between two writes of the spool by the background loop: 1 s.
pub const DEFAULT_SPOOL_INTERVAL: Duration = Duration::from_secs(1);
/// The smallest accepted spool size: 4 KiB.
pub const MIN_SPOOL_BYTES: u64 = 4 * 1024;

/// Where and how to deliver events: the Control API's URL, the IC token, and
/// the pacing of the background loop.
///
/// Built with [`SyncConfig::new`] and the consuming `with_*` methods; checked
/// by [`SyncConfig::validate`] (and by [`SyncClient::try_new`](super::SyncClient::try_new)).
/// The five settings of `iron_runtime_analytics` 0.4.0 are public fields,
/// as they were there; the others are set with `with_*` methods. `Debug`
/// never shows the token.
///
/// ```
/// use std::time::Duration;
/// use iron_runtime_analytics::SyncConfig;
///
/// let config = SyncConfig::new("http://localhost:3001", "ic_token_here")
///     .with_interval(Duration::from_secs(30))
///     .with_batch_threshold(10);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.ingest_url().unwrap().as_str(), "http://localhost:3001/api/v1/analytics/events");
/// assert!(!format!("{config:?}").contains("ic_token_here"));
/// ```
#[derive(Clone)]
pub struct SyncConfig {
    /// The Control API's base URL, e.g. `http://localhost:3001`; empty
    /// disables sync (see [`SyncClient::new`](super::SyncClient::new)).
    pub server_url: String,
    /// The agent's IC token. Never logged, never shown by `Debug`, never
    /// part of an error.
    pub ic_token: String,
    /// Time between two background passes (default [`DEFAULT_SYNC_INTERVAL`]).
    pub sync_interval: Duration,
    /// Pending events that start a pass at once (default [`DEFAULT_BATCH_THRESHOLD`]).
    pub batch_threshold: usize,
    /// Timeout of one HTTP request, connection included (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    max_in_flight: usize,
    backoff_initial: Duration,
    backoff_max: Duration,
    stop_deadline: Duration,
    max_batch: usize,
    threshold_check: Duration,
    max_event_bytes: usize,
    spool: Option<(PathBuf, u64)>,
    spool_interval: Duration,
}

impl SyncConfig {
    /// A configuration with every default: `server_url` is the Control API's
    /// base URL (e.g. `http://localhost:3001`), `ic_token` the agent's IC token.
    pub fn new(server_url: impl Into<String>, ic_token: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            ic_token: ic_token.into(),
            sync_interval: DEFAULT_SYNC_INTERVAL,
            batch_threshold: DEFAULT_BATCH_THRESHOLD,
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            stop_deadline: DEFAULT_STOP_DEADLINE,
            max_batch: DEFAULT_MAX_BATCH,
            threshold_check: DEFAULT_THRESHOLD_CHECK,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            spool: None,
            spool_interval: DEFAULT_SPOOL_INTERVAL,
        }
    }

    /// Time between two background passes (default [`DEFAULT_SYNC_INTERVAL`]).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// Pending events that start a pass at once (default [`DEFAULT_BATCH_THRESHOLD`]).
    #[must_use]
    pub fn with_batch_threshold(mut self, batch_threshold: usize) -> Self {
        self.batch_threshold = batch_threshold;
        self
    }

    /// Timeout of one HTTP request (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Requests in flight at once (default [`DEFAULT_MAX_IN_FLIGHT`]).
    #[must_use]
    pub fn with_max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.max_in_flight = max_in_flight;
        self
    }

    /// Exponential backoff after transient failures: the first delay and the
    /// cap (defaults [`DEFAULT_BACKOFF_INITIAL`] and [`DEFAULT_BACKOFF_MAX`]).
    /// Each delay gets random jitter, and never exceeds `max`.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// How long stopping may spend flushing (default [`DEFAULT_STOP_DEADLINE`]);
    /// zero stops without flushing.
    #[must_use]
    pub fn with_stop_deadline(mut self, stop_deadline: Duration) -> Self {
        self.stop_deadline = stop_deadline;
        self
    }

    /// Events taken by one pass (default [`DEFAULT_MAX_BATCH`]).
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// How often the background loop compares the pending count with the
    /// batch threshold (default [`DEFAULT_THRESHOLD_CHECK`]).
    #[must_use]
    pub fn with_threshold_check(mut self, threshold_check: Duration) -> Self {
        self.threshold_check = threshold_check;
        self
    }

    /// The largest request body of one event, in bytes (default
    /// [`DEFAULT_MAX_EVENT_BYTES`], at least [`MIN_MAX_EVENT_BYTES`]). An
    /// event whose body is larger is rejected locally, counted and kept in
    /// [`SyncClient::rejected_events`](super::SyncClient::rejected_events)
    /// with the error code `EVENT_TOO_LARGE`; it is never sent.
    #[must_use]
    pub fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }

    /// Keeps undelivered events on disk, so that they survive a restart: the
    /// background loop writes them to an append-only file in `dir` at least
    /// every [spool interval](Self::with_spool_interval) and when it stops;
    /// delivered ones are trimmed. The next [`SyncClient`](super::SyncClient)
    /// on the same directory replays them into its store when it starts
    /// (each event keeps its id, so one delivered twice is counted once by
    /// the server). At most `max_bytes` (at least [`MIN_SPOOL_BYTES`]): past
    /// that, the oldest events are left out of the spool, and counted.
    ///
    /// One process at a time: a second client on the same directory fails
    /// with [`SyncError::SpoolLocked`]. `dir` is created if needed.
    #[must_use]
    pub fn with_spool(mut self, dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.spool = Some((dir.into(), max_bytes));
        self
    }

    /// How often the background loop writes the spool (default
    /// [`DEFAULT_SPOOL_INTERVAL`]): a process killed outright (`SIGKILL`, a
    /// crash) loses at most the events recorded since the last write.
    #[must_use]
    pub fn with_spool_interval(mut self, spool_interval: Duration) -> Self {
        self.spool_interval = spool_interval;
        self
    }

    /// The Control API's base URL, as given.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Time between two background passes.
    pub fn interval(&self) -> Duration {
        self.sync_interval
    }

    /// Pending events that start a pass at once.
    pub fn batch_threshold(&self) -> usize {
        self.batch_threshold
    }

    /// Timeout of one HTTP request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Requests in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The first and the longest backoff delay.
    pub fn backoff(&self) -> (Duration, Duration) {
        (self.backoff_initial, self.backoff_max)
    }

    /// How long stopping may spend flushing.
    pub fn stop_deadline(&self) -> Duration {
        self.stop_deadline
    }

    /// Events taken by one pass.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Period of the threshold check.
    pub fn threshold_check(&self) -> Duration {
        self.threshold_check
    }

    /// The largest request body of one event, in bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The spool's directory, if the events are spooled.
    pub fn spool_dir(&self) -> Option<&Path> {
        self.spool.as_ref().map(|(dir, _)| dir.as_path())
    }

    /// The spool's size limit in bytes, if the events are spooled.
    pub fn spool_max_bytes(&self) -> Option<u64> {
        self.spool.as_ref().map(|(_, max)| *max)
    }

    /// How often the background loop writes the spool.
    pub fn spool_interval(&self) -> Duration {
        self.spool_interval
    }

    pub(crate) fn ic_token(&self) -> &str {
        &self.ic_token
    }

    /// The ingestion endpoint: the server URL (without a trailing `/`) followed by [`INGEST_PATH`].
    ///
    /// # Errors
    /// As [`SyncConfig::validate`] for the URL.
    pub fn ingest_url(&self) -> Result<Url, SyncError> {
        let base = Url::parse(&self.server_url).map_err(|e| SyncError::InvalidUrl {
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SyncError::UnsupportedScheme {
                scheme: base.scheme().to_owned(),
            });
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(SyncError::InvalidUrl {
                reason: "it has no host".to_owned(),
            });
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(SyncError::InvalidUrl {
                reason: "it has a query or a fragment".to_owned(),
            });
        }
        let joined = format!("{}{INGEST_PATH}", self.server_url.trim_end_matches('/'));
        Url::parse(&joined).map_err(|e| SyncError::InvalidUrl {
            reason: e.to_string(),
        })
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// - [`SyncError::InvalidUrl`] / [`SyncError::UnsupportedScheme`]: the
    ///   server URL is not an `http://` or `https://` URL with a host;
    /// - [`SyncError::EmptyToken`]: the IC token is empty;
    /// - [`SyncError::ZeroSetting`]: a size, the interval, the timeout, the
    ///   threshold check or the first backoff delay is zero;
    /// - [`SyncError::InvalidBackoff`]: the first backoff delay exceeds the cap;
    /// - [`SyncError::TooSmall`]: the body cap or the spool size is below its minimum.
    pub fn validate(&self) -> Result<(), SyncError> {
        self.ingest_url()?;
        if self.ic_token.trim().is_empty() {
            return Err(SyncError::EmptyToken);
        }
        let zero = [
            ("interval", self.sync_interval.is_zero()),
            ("batch_threshold", self.batch_threshold == 0),
            ("timeout", self.timeout.is_zero()),
            ("max_in_flight", self.max_in_flight == 0),
            ("backoff initial delay", self.backoff_initial.is_zero()),
            ("max_batch", self.max_batch == 0),
            ("threshold_check", self.threshold_check.is_zero()),
            ("spool_interval", self.spool_interval.is_zero()),
        ];
        if let Some((setting, _)) = zero.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(SyncError::ZeroSetting { setting });
        }
        if self.backoff_initial > self.backoff_max {
            return Err(SyncError::InvalidBackoff {
                initial: self.backoff_initial,
                max: self.backoff_max,
            });
        }
        let too_small = [
            (
                "max_event_bytes",
                self.max_event_bytes as u64,
                MIN_MAX_EVENT_BYTES as u64,
            ),
            (
                "spool max_bytes",
                self.spool_max_bytes().unwrap_or(MIN_SPOOL_BYTES),
                MIN_SPOOL_BYTES,
            ),
        ];
        if let Some((setting, given, min)) = too_small.into_iter().find(|(_, v, min)| v < min) {
            return Err(SyncError::TooSmall {
                setting,
                given,
                min,
            });
        }
        Ok(())
    }
}

/// The server URL without what may carry a secret: a query or fragment
/// (which `validate` refuses, but a configuration may still be printed).
fn shown_url(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(cut) => format!("{}?<redacted>", &url[..cut]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncConfig")
            .field("server_url", &shown_url(&self.server_url))
            .field("ic_token", &"<redacted>")
            .field("sync_interval", &self.sync_interval)
            .field("batch_threshold", &self.batch_threshold)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("stop_deadline", &self.stop_deadline)
            .field("max_batch", &self.max_batch)
            .field("threshold_check", &self.threshold_check)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("spool", &self.spool)
            .field("spool_interval", &self.spool_interval)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_stripped_once_joined() {
        for base in ["http://h:1", "http://h:1/", "http://h:1//"] {
            let url = SyncConfig::new(base, "t").ingest_url().map(String::from);
            assert_eq!(
                url.ok().as_deref(),
                Some("http://h:1/api/v1/analytics/events")
            );
        }
        let url = SyncConfig::new("https://h/prefix/", "t").ingest_url();
        assert_eq!(
            url.ok().as_ref().map(Url::as_str),
            Some("https://h/prefix/api/v1/analytics/events")
        );
    }
}
