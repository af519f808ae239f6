//! [`SyncError`]: what went wrong configuring or running a sync pass.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

/// Errors of the `sync` feature: a bad configuration, or a pass that could
/// not deliver every event it took. None of them ever carries the IC token.
///
/// Events are never lost by a failed pass: they stay buffered and are tried
/// again (except events the server rejected, see
/// [`SyncClient::rejected_events`](super::SyncClient::rejected_events)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The server URL could not be parsed or has no host.
    #[error("the server URL is not usable ({reason}); give the Control API's base URL, e.g. http://localhost:3001")]
    InvalidUrl {
        /// Why the URL was refused.
        reason: String,
    },
    /// The server URL's scheme is neither `http` nor `https`.
    #[error("the server URL must start with http:// or https://, not {scheme}://")]
    UnsupportedScheme {
        /// The scheme that was given.
        scheme: String,
    },
    /// The IC token is empty.
    #[error("the IC token is empty; pass the agent's IC token to SyncConfig::new")]
    EmptyToken,
    /// A size or duration that must be positive is zero.
    #[error("the sync setting `{setting}` must be greater than zero")]
    ZeroSetting {
        /// The setting's name.
        setting: &'static str,
    },
    /// The first backoff delay is longer than the cap.
    #[error("the first backoff delay ({initial:?}) must not exceed the maximum ({max:?})")]
    InvalidBackoff {
        /// The first delay given.
        initial: Duration,
        /// The cap given.
        max: Duration,
    },
    /// A size is below its minimum.
    #[error("the sync setting `{setting}` must be at least {min}, got {given}")]
    TooSmall {
        /// The setting's name.
        setting: &'static str,
        /// The value given.
        given: u64,
        /// The smallest value accepted.
        min: u64,
    },
    /// The spool directory or its file could not be created, opened or read.
    #[error("cannot use the spool directory {}: {source}; check that it exists (or can be created) and is writable", dir.display())]
    SpoolUnavailable {
        /// The directory given to `with_spool`.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process, or another client of this one, uses the spool directory.
    #[error("the spool directory {} is in use by another process (or another SyncClient of this one); give each process its own spool directory", dir.display())]
    SpoolLocked {
        /// The directory given to `with_spool`.
        dir: PathBuf,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("could not build the HTTP client: {source}")]
    HttpClient {
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A request could not be completed: connection refused or reset, DNS, TLS.
    #[error("could not reach the Control API: {source}; the events stay buffered and are retried")]
    Transport {
        /// The underlying error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A request took longer than the configured timeout.
    #[error("the Control API did not answer within the timeout; the events stay buffered and are retried")]
    Timeout,
    /// The server answered 5xx.
    #[error("the Control API answered HTTP {status}; the events stay buffered and are retried")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The server answered 429: too many events for this token.
    #[error("the Control API rate-limited this token (HTTP 429); the events stay buffered and are retried{}", retry_after.map(|d| format!(" after {d:?}")).unwrap_or_default())]
    RateLimited {
        /// The server's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
    /// The server refused the IC token (401 or 403).
    #[error("the Control API refused the IC token (HTTP {status}); check or renew the token: the events stay buffered")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
    },
    /// The client was built by [`SyncClient::new`](super::SyncClient::new)
    /// from a configuration [`SyncClient::try_new`](super::SyncClient::try_new)
    /// refuses, so it sends nothing.
    #[error("this sync client is disabled ({reason}); build it with SyncClient::try_new to get the configuration error at once")]
    Disabled {
        /// Why (the configuration error, or that there is no server URL).
        reason: String,
    },
    /// The server answered a status the protocol does not use here (404,
    /// 405, a redirect…): the endpoint or its configuration is wrong.
    #[error("the Control API answered HTTP {status}; check server_url (the events stay buffered and are retried)")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },
}
