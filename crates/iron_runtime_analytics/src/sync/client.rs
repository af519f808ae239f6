//! [`SyncClient`]: one HTTP client, and the pass that delivers buffered events.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use log::{debug, info, warn};
use url::Url;

use super::wire::{self, Failure, FailureKind, Outcome, Verdict, WireEvent};
use super::{SyncConfig, SyncError, SyncHandle};
use crate::event::{AnalyticsEvent, EventId};
use crate::event_storage::EventStore;

/// How many rejected events [`SyncClient::rejected_events`] remembers.
pub const REJECTED_RING_CAPACITY: usize = 64;
/// The most distinct rejection kinds (status, code) warned about; past that,
/// rejections are still counted and kept in the ring, but not logged.
const MAX_WARNED_REJECTION_KINDS: usize = 64;
/// The most bytes of an answer read (error messages are short).
const MAX_BODY_BYTES: usize = 4_096;
/// The endpoint of a disabled client, never contacted (see [`SyncClient::new`]).
const DISABLED_ENDPOINT: &str = "http://sync-disabled.invalid/";

/// An event the server refused for good (HTTP 400 or 422), with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedEvent {
    /// The event's id.
    pub event_id: EventId,
    /// The HTTP status (400 or 422).
    pub status: u16,
    /// The server's error code, e.g. `VALIDATION_ERROR`, if it sent one.
    pub error_code: Option<String>,
    /// The server's message (or its raw answer), at most 512 bytes.
    pub message: String,
}

/// Delivers the events of an [`EventStore`] to the Control API
/// (Protocol 012), on demand ([`SyncClient::try_sync_events`]) or in the
/// background ([`SyncClient::start`]).
///
/// Holds one HTTP client (rustls, connection pooling and keep-alive); cheap to
/// clone, and clones share everything, including the set of events in flight,
/// so that no event is ever posted twice at once. `Debug` never shows the token.
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
    endpoint: Url,
    /// `None` for a disabled client.
    http: Option<reqwest::Client>,
    /// Events being posted now, by any pass of any clone.
    in_flight: Mutex<HashSet<EventId>>,
    rejected_ring: Mutex<VecDeque<RejectedEvent>>,
    warnings: Mutex<Warnings>,
    /// The first transient failure of the last pass that took events.
    last_failure: Mutex<Option<PassFailure>>,
    /// Events the server confirmed (202 or 200 duplicate) over this client's life.
    pub(crate) delivered: AtomicU64,
    /// Events the server refused for good over this client's life.
    pub(crate) rejected: AtomicU64,
}

/// Why the last pass (manual or background) could not deliver every event it
/// took; the events stay buffered. See [`SyncClient::last_failure`].
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
    fn of(failure: &Failure) -> Self {
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
            message,
        }
    }
}

/// What one pass did (see [`SyncClient::sync_pass`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassOutcome {
    /// Events delivered (202 accepted or 200 duplicate).
    pub delivered: usize,
    /// Events the server refused for good (400/422).
    pub rejected: usize,
    /// The first transient failure, which stopped the pass.
    pub failure: Option<PassFailure>,
}

/// Which warnings were logged, so that each is logged once.
#[derive(Default)]
struct Warnings {
    /// Failure kinds warned about since the last success.
    failures: HashSet<FailureKind>,
    /// Rejection kinds warned about, ever.
    rejections: HashSet<(u16, Option<String>)>,
}

/// What one pass did.
#[derive(Debug, Default)]
pub(crate) struct PassSummary {
    /// Events the pass took (not in flight elsewhere).
    pub(crate) taken: usize,
    pub(crate) delivered: usize,
    pub(crate) rejected: usize,
    /// The first transient failure, if any: the pass stopped sending then.
    pub(crate) failure: Option<Failure>,
    /// The longest `Retry-After` of the pass's 429 answers.
    pub(crate) retry_after: Option<Duration>,
}

/// Locks a mutex, ignoring poison: every critical section here leaves its
/// data consistent between statements.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The events a pass took: removed from the in-flight set when the pass ends
/// or is cancelled (e.g. by the stop deadline), after their outcome was
/// applied to the store.
struct Claim<'a> {
    inner: &'a Inner,
    events: Vec<AnalyticsEvent>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.inner.in_flight);
        for e in &self.events {
            in_flight.remove(&e.event_id());
        }
    }
}

impl SyncClient {
    /// A client for `store` that sends to `config`'s server, as in
    /// `iron_runtime_analytics` 0.4.0: never fails. A configuration that
    /// [`SyncClient::try_new`] refuses gives a *disabled* client, which
    /// sends nothing and keeps every event buffered: an empty `server_url`
    /// (0.4.0's way to turn sync off) silently, anything else (a bad URL, an
    /// empty token, a zero setting) with a warning logged once
    /// ([`SyncClient::disabled_reason`] says why).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
    /// let client = SyncClient::new(Arc::new(EventStore::new()), SyncConfig::new("", "token"));
    /// assert!(client.disabled_reason().unwrap().contains("no server URL"));
    /// ```
    pub fn new(store: Arc<EventStore>, config: SyncConfig) -> Self {
        match Self::build(store.clone(), config.clone()) {
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
                Self::with_parts(store, config, Some(reason), endpoint, None)
            }
        }
    }

    /// A client for `store` that sends to `config`'s server, or why not.
    ///
    /// # Errors
    /// [`SyncError`] for an invalid configuration (see [`SyncConfig::validate`])
    /// or an HTTP client that cannot be built.
    pub fn try_new(store: Arc<EventStore>, config: SyncConfig) -> Result<Self, SyncError> {
        Self::build(store, config)
    }

    fn build(store: Arc<EventStore>, config: SyncConfig) -> Result<Self, SyncError> {
        config.validate()?;
        let endpoint = config.ingest_url()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
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
        Ok(Self::with_parts(store, config, None, endpoint, Some(http)))
    }

    fn with_parts(
        store: Arc<EventStore>,
        config: SyncConfig,
        disabled: Option<String>,
        endpoint: Url,
        http: Option<reqwest::Client>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                disabled,
                endpoint,
                http,
                in_flight: Mutex::new(HashSet::new()),
                rejected_ring: Mutex::new(VecDeque::with_capacity(REJECTED_RING_CAPACITY)),
                last_failure: Mutex::new(None),
                warnings: Mutex::new(Warnings::default()),
                delivered: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
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
    /// other pass is sending, posts them (at most `max_in_flight` at once),
    /// and applies the answers: delivered events are marked synced, rejected
    /// ones (400/422) marked rejected, the others stay buffered. Returns how
    /// many were delivered.
    ///
    /// Must run inside a tokio runtime. The loop's backoff does not apply
    /// here: the pass posts at once.
    ///
    /// # Errors
    /// [`SyncError::Disabled`] for a disabled client (see [`SyncClient::new`]).
    /// The first transient failure of the pass ([`SyncError::Server`],
    /// [`SyncError::Timeout`], [`SyncError::Transport`],
    /// [`SyncError::RateLimited`], [`SyncError::Unauthorized`],
    /// [`SyncError::UnexpectedStatus`]): the pass stopped sending then. Events
    /// it delivered before are still marked synced and counted; the others
    /// stay buffered for a later pass.
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
    /// and rejected even when a transient failure stopped it (bindings use
    /// this: their callers get the count, and the failure on the side through
    /// [`SyncClient::last_failure`]).
    pub async fn sync_pass(&self) -> PassOutcome {
        let summary = self.inner.pass().await;
        PassOutcome {
            delivered: summary.delivered,
            rejected: summary.rejected,
            failure: summary.failure.as_ref().map(PassFailure::of),
        }
    }

    /// Starts the background loop on `runtime`: a pass every `interval`, and
    /// as soon as `batch_threshold` events are pending; after a failure, the
    /// next pass waits for the backoff delay. Stop it with
    /// [`SyncHandle::stop`] or [`SyncHandle::stop_async`] to flush what is
    /// left; dropping the handle ends the loop without flushing. The loop of
    /// a disabled client ends at once. (Takes the client, as in 0.4.0; clone
    /// it first to keep one: clones share everything.)
    pub fn start(self, runtime: &tokio::runtime::Handle) -> SyncHandle {
        SyncHandle::spawn(self, runtime)
    }

    /// The last [`REJECTED_RING_CAPACITY`] events the server refused for
    /// good, oldest first, with the server's message.
    pub fn rejected_events(&self) -> Vec<RejectedEvent> {
        lock(&self.inner.rejected_ring).iter().cloned().collect()
    }

    /// The first transient failure of the last pass (manual or background)
    /// that took events, or `None` if it delivered everything it took.
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
}

impl fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncClient")
            .field("config", &self.inner.config)
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("in_flight", &lock(&self.inner.in_flight).len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Buffered LLM events that no pass is sending.
    pub(crate) fn pending_not_in_flight(&self) -> usize {
        let unsynced = usize::try_from(self.store.unsynced_count()).unwrap_or(usize::MAX);
        unsynced.saturating_sub(lock(&self.in_flight).len())
    }

    /// Takes up to `max_batch` events that are not in flight and marks them in flight.
    fn claim(&self) -> Claim<'_> {
        let max_batch = self.config.max_batch();
        // The snapshot is taken under the in-flight lock: a pass marks an
        // event synced *before* it leaves the set, so an event seen here
        // either is still in the set or was not yet delivered.
        let mut in_flight = lock(&self.in_flight);
        let candidates = self
            .store
            .unsynced_events_limit(max_batch.saturating_add(in_flight.len()));
        let mut events = Vec::with_capacity(candidates.len().min(max_batch));
        for event in candidates {
            if events.len() == max_batch {
                break;
            }
            if event.event_type().is_synced() && in_flight.insert(event.event_id()) {
                events.push(event);
            }
        }
        drop(in_flight);
        Claim {
            inner: self,
            events,
        }
    }

    /// One pass (see [`SyncClient::try_sync_events`]). Cancel-safe: dropped
    /// midway, the events it had not settled stay buffered.
    pub(crate) async fn pass(&self) -> PassSummary {
        if self.disabled.is_some() {
            return PassSummary::default();
        }
        let claim = self.claim();
        let mut summary = PassSummary {
            taken: claim.events.len(),
            ..PassSummary::default()
        };
        if claim.events.is_empty() {
            *lock(&self.last_failure) = None;
            return summary;
        }
        let stop_sending = AtomicBool::new(false);
        let stop_sending = &stop_sending;
        let events = &claim.events;
        // Indices rather than `&AnalyticsEvent` items: a closure over a
        // borrowed argument trips the compiler's `Send` check of the spawned loop.
        let mut outcomes = stream::iter(0..events.len())
            .map(|i| async move {
                let event = &events[i];
                // Relaxed: only a hint to stop early; a request that starts
                // anyway is harmless.
                if stop_sending.load(Ordering::Relaxed) {
                    return (event.event_id(), Outcome::Skipped);
                }
                let outcome = self.post(event).await;
                if matches!(outcome, Outcome::Failed(_)) {
                    stop_sending.store(true, Ordering::Relaxed);
                }
                (event.event_id(), outcome)
            })
            .buffer_unordered(self.config.max_in_flight());
        while let Some((event_id, outcome)) = outcomes.next().await {
            self.apply(event_id, outcome, &mut summary);
        }
        drop(outcomes);
        drop(claim);
        *lock(&self.last_failure) = summary.failure.as_ref().map(PassFailure::of);
        if summary.failure.is_none() && (summary.delivered > 0 || summary.rejected > 0) {
            self.recovered();
        }
        summary
    }

    /// Posts one event and classifies the answer.
    async fn post(&self, event: &AnalyticsEvent) -> Outcome {
        let (Some(body), Some(http)) = (WireEvent::new(event, self.config.ic_token()), &self.http)
        else {
            return Outcome::Skipped;
        };
        let response = match http.post(self.endpoint.clone()).json(&body).send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Failed(transport_failure(e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::parse_retry_after);
        let verdict = wire::verdict(status, retry_after);
        // Read the (short) answer so the connection can be reused.
        let body = match read_body(response).await {
            Ok(body) => body,
            // The status is known: a failure to read the rest does not change it.
            Err(e) if matches!(verdict, Verdict::Delivered | Verdict::Rejected) => {
                debug!(
                    "could not read the answer to event {}: {e}",
                    event.event_id()
                );
                Vec::new()
            }
            Err(e) => return Outcome::Failed(transport_failure(e)),
        };
        match verdict {
            Verdict::Delivered => Outcome::Delivered,
            Verdict::Failed(failure) => Outcome::Failed(failure),
            Verdict::Rejected => {
                let (code, message) =
                    wire::rejection_details(status, &body, self.config.ic_token());
                Outcome::Rejected {
                    status,
                    code,
                    message,
                }
            }
        }
    }

    /// Applies one outcome to the store, the counters and the logs.
    fn apply(&self, event_id: EventId, outcome: Outcome, summary: &mut PassSummary) {
        match outcome {
            Outcome::Delivered => {
                self.store.mark_synced(&[event_id]);
                summary.delivered += 1;
                // Relaxed: a statistic; the store's own lock orders the removal.
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Rejected {
                status,
                code,
                message,
            } => {
                self.store.mark_rejected(&[event_id]);
                summary.rejected += 1;
                self.rejected.fetch_add(1, Ordering::Relaxed);
                self.warn_rejection(event_id, status, code.as_deref(), &message);
                let mut ring = lock(&self.rejected_ring);
                if ring.len() == REJECTED_RING_CAPACITY {
                    ring.pop_front();
                }
                ring.push_back(RejectedEvent {
                    event_id,
                    status,
                    error_code: code,
                    message,
                });
            }
            Outcome::Failed(failure) => {
                self.warn_failure(&failure);
                if let Failure::RateLimited(Some(retry_after)) = failure {
                    summary.retry_after = summary.retry_after.max(Some(retry_after));
                }
                summary.failure.get_or_insert(failure);
            }
            Outcome::Skipped => {}
        }
    }

    fn warn_rejection(&self, event_id: EventId, status: u16, code: Option<&str>, message: &str) {
        let mut warnings = lock(&self.warnings);
        let kind = (status, code.map(str::to_owned));
        if warnings.rejections.contains(&kind)
            || warnings.rejections.len() >= MAX_WARNED_REJECTION_KINDS
        {
            return;
        }
        warnings.rejections.insert(kind);
        drop(warnings);
        warn!(
            "the Control API rejected event {event_id} (HTTP {status}, {}): {message}; \
             it is dropped from the buffer, counted as rejected and never retried \
             (further rejections of this kind are not logged; see SyncClient::rejected_events)",
            code.unwrap_or("no error code"),
        );
    }

    fn warn_failure(&self, failure: &Failure) {
        let first = lock(&self.warnings).failures.insert(failure.kind());
        let endpoint = self.endpoint.as_str();
        if !first {
            debug!("event delivery to {endpoint} failed again: {failure:?}");
            return;
        }
        match failure {
            Failure::Unauthorized(status) => warn!(
                "the Control API refused the IC token (HTTP {status}): check or renew the token; \
                 events stay buffered and delivery is retried with backoff"
            ),
            Failure::UnexpectedStatus(status) => warn!(
                "the Control API answered HTTP {status} at {endpoint}: check server_url; \
                 events stay buffered and delivery is retried with backoff"
            ),
            Failure::RateLimited(retry_after) => warn!(
                "the Control API rate-limited this token (HTTP 429, retry after {retry_after:?}); \
                 events stay buffered and delivery slows down"
            ),
            Failure::Server(status) => warn!(
                "the Control API answered HTTP {status}; events stay buffered and delivery is \
                 retried with backoff"
            ),
            Failure::Timeout => warn!(
                "the Control API at {endpoint} did not answer within {} ms; events stay buffered \
                 and delivery is retried with backoff",
                self.config.timeout().as_millis()
            ),
            Failure::Transport(e) => warn!(
                "could not reach the Control API at {endpoint} ({e}); events stay buffered and \
                 delivery is retried with backoff"
            ),
        }
    }

    /// A pass went through without failure: warn again about the next failure.
    fn recovered(&self) {
        let mut warnings = lock(&self.warnings);
        if !warnings.failures.is_empty() {
            warnings.failures.clear();
            drop(warnings);
            info!("event delivery to the Control API resumed");
        }
    }
}

fn transport_failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport(e)
    }
}

/// Reads at most [`MAX_BODY_BYTES`] of an answer.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY_BYTES {
            break;
        }
    }
    Ok(body)
}
