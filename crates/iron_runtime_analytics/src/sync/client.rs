//! [`SyncClient`]: one HTTP client, its schedule and spool, and what it tells
//! its user (rejections, the last failure, the counts).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use log::{debug, warn};
use url::Url;

use super::schedule::Schedule;
use super::spool::{Spool, SpoolStatus};
use super::warn::Warnings;
use super::wire::Failure;
use super::{SyncConfig, SyncError, SyncHandle};
use crate::event::{AnalyticsEvent, EventId};
use crate::event_storage::EventStore;

/// How many rejected events [`SyncClient::rejected_events`] remembers.
pub const REJECTED_RING_CAPACITY: usize = 64;
/// The endpoint of a disabled client, never contacted (see [`SyncClient::new`]).
const DISABLED_ENDPOINT: &str = "http://sync-disabled.invalid/";

/// An event refused for good, with its reason: the server answered 400, 413
/// or 422, or its body was over [`SyncConfig::with_max_event_bytes`] and it
/// was never sent (status 413, error code `EVENT_TOO_LARGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedEvent {
    /// The event's id.
    pub event_id: EventId,
    /// The HTTP status (400, 413 or 422).
    pub status: u16,
    /// The server's error code, e.g. `VALIDATION_ERROR`, if it sent one.
    pub error_code: Option<String>,
    /// The server's message (or its raw answer), at most 512 bytes; any
    /// copy of the IC token is replaced by `<redacted>`.
    pub message: String,
}

/// Delivers the events of an [`EventStore`] to the Control API
/// (Protocol 012), on demand ([`SyncClient::try_sync_events`]) or in the
/// background ([`SyncClient::start`]).
///
/// Holds one HTTP client (rustls, connection pooling and keep-alive), the
/// retry schedule of every event and, if configured, the spool; cheap to
/// clone, and clones share everything, so that no event is ever posted twice
/// at once. `Debug` never shows the token.
#[derive(Clone)]
pub struct SyncClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<EventStore>,
    pub(crate) config: SyncConfig,
    /// Why the client sends nothing (built by [`SyncClient::new`] from a
    /// configuration [`SyncClient::try_new`] refuses), if it does not.
    pub(crate) disabled: Option<String>,
    pub(crate) endpoint: Url,
    /// `None` for a disabled client.
    pub(crate) http: Option<reqwest::Client>,
    pub(crate) schedule: Mutex<Schedule>,
    /// The open spool; `None` without one, or once the client is closed.
    spool: Mutex<Option<Spool>>,
    /// Events read from the spool, restored into the store by the first start.
    to_replay: Mutex<Option<Vec<AnalyticsEvent>>>,
    pub(crate) rejected_ring: Mutex<VecDeque<RejectedEvent>>,
    pub(crate) warnings: Mutex<Warnings>,
    /// The latest transient failure, until delivery recovers.
    pub(crate) last_failure: Mutex<Option<PassFailure>>,
    /// Events the server confirmed (202 or 200 duplicate) over this client's life.
    pub(crate) delivered: AtomicU64,
    /// Events refused for good over this client's life.
    pub(crate) rejected: AtomicU64,
    /// Events taken back from the spool into the store.
    pub(crate) replayed: AtomicU64,
    /// Events in the spool after its last write (read without its lock).
    spooled: AtomicU64,
}

/// Why events could not be delivered (yet); they stay buffered. See
/// [`SyncClient::last_failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassFailure {
    /// `server`, `rate_limited`, `unauthorized`, `unexpected_status`, `timeout` or `transport`.
    pub kind: &'static str,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The server's `Retry-After` (429 only).
    pub retry_after: Option<Duration>,
    /// What happened, for people (never contains the token).
    pub message: String,
}

impl PassFailure {
    pub(crate) fn of(failure: &Failure, ic_token: &str) -> Self {
        let (kind, status, retry_after) = match failure {
            Failure::Server(s) => ("server", Some(*s), None),
            Failure::RateLimited(r) => ("rate_limited", Some(429), *r),
            Failure::Unauthorized(s) => ("unauthorized", Some(*s), None),
            Failure::UnexpectedStatus(s) => ("unexpected_status", Some(*s), None),
            Failure::Timeout => ("timeout", None, None),
            Failure::Transport(_) => ("transport", None, None),
        };
        let message = match failure {
            Failure::Transport(e) => format!("could not reach the Control API: {e}"),
            Failure::Timeout => "the Control API did not answer within the timeout".to_owned(),
            Failure::Server(s) | Failure::Unauthorized(s) | Failure::UnexpectedStatus(s) => {
                format!("the Control API answered HTTP {s}")
            }
            Failure::RateLimited(_) => "the Control API answered HTTP 429".to_owned(),
        };
        Self {
            kind,
            status,
            retry_after,
            message: super::wire::redact(&message, ic_token, false),
        }
    }
}

/// What one pass did (see [`SyncClient::sync_pass`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassOutcome {
    /// Events delivered (202 accepted or 200 duplicate).
    pub delivered: usize,
    /// Events refused for good (400/413/422, or over the body cap).
    pub rejected: usize,
    /// The pass's first transient failure, if any.
    pub failure: Option<PassFailure>,
}

/// Locks a mutex, ignoring poison: every critical section here leaves its
/// data consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SyncClient {
    /// A client for `store` that sends to `config`'s server, as in
    /// `iron_runtime_analytics` 0.4.0: never fails. A configuration that
    /// [`SyncClient::try_new`] refuses gives a *disabled* client, which
    /// sends nothing and keeps every event buffered: an empty `server_url`
    /// (0.4.0's way to turn sync off) silently, anything else (a bad URL, an
    /// empty token, a zero setting, a spool directory that cannot be used)
    /// with a warning logged once ([`SyncClient::disabled_reason`] says why).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
    /// let client = SyncClient::new(Arc::new(EventStore::new()), SyncConfig::new("", "token"));
    /// assert!(client.disabled_reason().unwrap().contains("no server URL"));
    /// ```
    pub fn new(store: Arc<EventStore>, config: SyncConfig) -> Self {
        match Self::try_new(Arc::clone(&store), config.clone()) {
            Ok(client) => client,
            Err(e) => {
                let reason = if config.server_url.is_empty() {
                    debug!("analytics sync disabled: no server URL");
                    "no server URL: sync is disabled".to_owned()
                } else {
                    warn!("analytics sync disabled: {e}; events stay buffered (SyncClient::try_new returns this error)");
                    e.to_string()
                };
                let endpoint = Url::parse(DISABLED_ENDPOINT)
                    .expect("INVARIANT: DISABLED_ENDPOINT is a valid URL");
                Self::with_parts(store, config, Some(reason), endpoint, None, None)
            }
        }
    }

    /// A client for `store` that sends to `config`'s server, or why not.
    /// With a spool ([`SyncConfig::with_spool`]), opens and locks its
    /// directory and reads back what an earlier process left there;
    /// [`SyncClient::start`] puts those events back into the store.
    ///
    /// # Errors
    /// [`SyncError`] for an invalid configuration (see [`SyncConfig::validate`]),
    /// an HTTP client that cannot be built, a spool directory that cannot be
    /// used ([`SyncError::SpoolUnavailable`]) or that another client holds
    /// ([`SyncError::SpoolLocked`]).
    pub fn try_new(store: Arc<EventStore>, config: SyncConfig) -> Result<Self, SyncError> {
        config.validate()?;
        let endpoint = config.ingest_url()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
            .pool_max_idle_per_host(config.max_in_flight())
            // A redirect means server_url is not the final address: say so
            // (UnexpectedStatus) rather than re-post the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "iron_runtime_analytics/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| SyncError::HttpClient {
                source: Box::new(e),
            })?;
        let spool = match (config.spool_dir(), config.spool_max_bytes()) {
            (Some(dir), Some(max_bytes)) => Some(Spool::open(dir, max_bytes)?),
            _ => None,
        };
        Ok(Self::with_parts(
            store,
            config,
            None,
            endpoint,
            Some(http),
            spool,
        ))
    }

    fn with_parts(
        store: Arc<EventStore>,
        config: SyncConfig,
        disabled: Option<String>,
        endpoint: Url,
        http: Option<reqwest::Client>,
        spool: Option<(Spool, Vec<AnalyticsEvent>)>,
    ) -> Self {
        let (spool, to_replay) = spool.map_or((None, None), |(s, events)| (Some(s), Some(events)));
        let spooled = to_replay.as_ref().map_or(0, Vec::len) as u64;
        Self {
            inner: Arc::new(Inner {
                store,
                schedule: Mutex::new(Schedule::new(&config)),
                config,
                disabled,
                endpoint,
                http,
                spool: Mutex::new(spool),
                to_replay: Mutex::new(to_replay),
                rejected_ring: Mutex::new(VecDeque::with_capacity(REJECTED_RING_CAPACITY)),
                last_failure: Mutex::new(None),
                warnings: Mutex::new(Warnings::default()),
                delivered: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
                spooled: AtomicU64::new(spooled),
            }),
        }
    }

    /// Why this client sends nothing, if it was built by [`SyncClient::new`]
    /// from a configuration [`SyncClient::try_new`] refuses (see there).
    pub fn disabled_reason(&self) -> Option<&str> {
        self.inner.disabled.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.inner.config
    }

    /// The store whose events are delivered.
    pub fn store(&self) -> &Arc<EventStore> {
        &self.inner.store
    }

    /// One pass, now, as in `iron_runtime_analytics` 0.4.0: returns how many
    /// events were delivered. A failure that stopped the pass is logged and
    /// kept in [`SyncClient::last_failure`]; [`SyncClient::try_sync_events`]
    /// returns it instead. A disabled client delivers nothing (0).
    pub async fn sync_events(&self) -> usize {
        self.sync_pass().await.delivered
    }

    /// One pass, now: takes up to `max_batch` buffered LLM events that no
    /// other sender holds, posts them (at most `max_in_flight` at once), and
    /// applies the answers: delivered events are marked synced, refused ones
    /// (400/413/422, or over the body cap) marked rejected, the others stay
    /// buffered with their retry state. A failure of one request does not
    /// hold the others back; an outage (connection refused, 429, 401/403)
    /// stops the pass from sending more. Returns how many were delivered.
    ///
    /// Must run inside a tokio runtime. Backoffs do not apply here: the pass
    /// posts at once.
    ///
    /// # Errors
    /// [`SyncError::Disabled`] for a disabled client (see [`SyncClient::new`]).
    /// The pass's first transient failure ([`SyncError::Server`],
    /// [`SyncError::Timeout`], [`SyncError::Transport`],
    /// [`SyncError::RateLimited`], [`SyncError::Unauthorized`],
    /// [`SyncError::UnexpectedStatus`]). Events it delivered are still
    /// marked synced and counted; the others stay buffered for a later pass.
    pub async fn try_sync_events(&self) -> Result<usize, SyncError> {
        if let Some(reason) = &self.inner.disabled {
            return Err(SyncError::Disabled {
                reason: reason.clone(),
            });
        }
        let summary = self.inner.pass().await;
        match summary.failure {
            Some(failure) => Err(failure.into_error()),
            None => Ok(summary.delivered),
        }
    }

    /// One pass like [`SyncClient::try_sync_events`], reporting what it delivered
    /// and rejected even when a transient failure happened (bindings use
    /// this: their callers get the count, and the failure on the side through
    /// [`SyncClient::last_failure`]).
    pub async fn sync_pass(&self) -> PassOutcome {
        let summary = self.inner.pass().await;
        let ic_token = self.inner.config.ic_token();
        PassOutcome {
            delivered: summary.delivered,
            rejected: summary.rejected,
            failure: summary
                .failure
                .as_ref()
                .map(|f| PassFailure::of(f, ic_token)),
        }
    }

    /// Starts the background loop on `runtime`, after putting the events
    /// read back from the spool (if any) into the store. It sends as soon as
    /// `batch_threshold` events are pending, or every `interval`, and keeps
    /// `max_in_flight` requests going while events are eligible: a failed
    /// event waits for its own backoff, an outage pauses everyone. With a
    /// spool, it writes the undelivered events every `spool_interval`.
    ///
    /// Stop it with [`SyncHandle::stop`] or [`SyncHandle::stop_async`] to
    /// flush what is left (and spool what could not be delivered); dropping
    /// the handle does the same. The loop of a disabled client ends at once.
    /// (Takes the client, as in 0.4.0; clone it first to keep one: clones
    /// share everything.)
    pub fn start(self, runtime: &tokio::runtime::Handle) -> SyncHandle {
        let replayed = self.inner.replay();
        SyncHandle::spawn(self, runtime, replayed)
    }

    /// The last [`REJECTED_RING_CAPACITY`] events refused for good, oldest
    /// first, with the reason.
    pub fn rejected_events(&self) -> Vec<RejectedEvent> {
        lock(&self.inner.rejected_ring).iter().cloned().collect()
    }

    /// The latest transient failure (of a manual pass, or of the loop since
    /// delivery last ran clean), or `None`.
    pub fn last_failure(&self) -> Option<PassFailure> {
        lock(&self.inner.last_failure).clone()
    }

    /// Events delivered over this client's life (and its clones').
    pub fn delivered_count(&self) -> u64 {
        // Relaxed: a statistic, read on its own.
        self.inner.delivered.load(Ordering::Relaxed)
    }

    /// Events rejected for good over this client's life (and its clones').
    pub fn rejected_count(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// The spool's state, or `None` without a spool.
    pub fn spool_status(&self) -> Option<SpoolStatus> {
        lock(&self.inner.spool).as_ref().map(Spool::status)
    }

    /// Writes the store's undelivered events to the spool now, and waits for
    /// the disk; returns how many the spool holds, or `None` without a spool
    /// (or if the write failed: it is counted in
    /// [`SpoolStatus::write_errors`] and logged). For the last moments of a
    /// process, when there is no time to flush (the loop writes it on its
    /// own otherwise).
    pub fn spool_now(&self) -> Option<u64> {
        self.inner.spool_now(true)
    }

    /// Writes the spool one last time (durably) and releases its directory,
    /// so that another client may use it; returns how many events it holds.
    /// Afterwards nothing is spooled any more (delivery goes on: stop the
    /// handle first if the client is done). Without a spool, does nothing.
    pub fn close_spool(&self) -> Option<u64> {
        let spooled = self.inner.spool_now(true);
        lock(&self.inner.spool).take();
        spooled
    }
}

impl fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncClient")
            .field("config", &self.inner.config)
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("claimed", &lock(&self.inner.schedule).claimed_count())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Puts the events read back from the spool into the store (once).
    fn replay(&self) -> u64 {
        let Some(events) = lock(&self.to_replay).take() else {
            return 0;
        };
        let restored = self.store.restore_events(&events) as u64;
        // Relaxed: a statistic, read on its own.
        self.replayed.fetch_add(restored, Ordering::Relaxed);
        restored
    }

    /// Whether undelivered events are spooled.
    pub(crate) fn has_spool(&self) -> bool {
        lock(&self.spool).is_some()
    }

    /// Events in the spool after its last write (0 without one).
    pub(crate) fn spooled(&self) -> u64 {
        // Relaxed: a statistic, read on its own.
        self.spooled.load(Ordering::Relaxed)
    }

    /// Brings the spool in line with the store; see [`SyncClient::spool_now`].
    pub(crate) fn spool_now(&self, durable: bool) -> Option<u64> {
        // The snapshot is taken under the spool's lock: two writers can then
        // never apply an older snapshot over a newer one.
        let mut guard = lock(&self.spool);
        let spool = guard.as_mut()?;
        let events = self.store.unsynced_events();
        match spool.sync(&events, durable) {
            Ok(()) => {
                let spooled = spool.spooled();
                self.spooled.store(spooled, Ordering::Relaxed);
                Some(spooled)
            }
            Err(e) => {
                drop(guard);
                self.warn_spool(&e);
                None
            }
        }
    }
}
