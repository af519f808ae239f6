//! Background delivery of events to the Control API (Protocol 012), feature `sync`.
//!
//! A [`SyncClient`] posts the buffered `llm_request_completed` and
//! `llm_request_failed` events of an [`EventStore`](crate::EventStore), one
//! request per event, to `{server_url}/api/v1/analytics/events`, and applies
//! the answers to the store:
//!
//! | answer | the event |
//! |---|---|
//! | 202 `accepted`, 200 `duplicate` | delivered: [`EventStore::mark_synced`](crate::EventStore::mark_synced) |
//! | 400, 413, 422, or a body over [`SyncConfig::with_max_event_bytes`] (never sent) | refused for good: [`EventStore::mark_rejected`](crate::EventStore::mark_rejected), counted, kept in [`SyncClient::rejected_events`], warned once per kind, never retried |
//! | 5xx, timeout, reset connection, lost answer | kept; *this event* waits for its own capped, jittered backoff while the others keep flowing |
//! | connection refused, 401/403, 429, another status | kept; *every* event waits (an outage): the global backoff, and at least `Retry-After` for 429 |
//!
//! A window of failures in a row (`max_in_flight`, at least 4) counts as an
//! outage too; any success ends one at once (never before a `Retry-After`).
//! Retries are safe: an event keeps its id, and the server deduplicates on it.
//! An event is never in flight twice, whichever senders run at once. Local
//! events (router lifecycle, budget thresholds) are never sent.
//!
//! With [`SyncConfig::with_spool`], undelivered events are also kept in a
//! file that the next client on the same directory replays into its store
//! ([`EventStore::restore_events`](crate::EventStore::restore_events)); see
//! [`SpoolStatus`]. Stopping the loop, or dropping its [`SyncHandle`],
//! flushes within the stop deadline and spools what is left.
//!
//! Recording never waits for any of this: the loop runs on a tokio runtime
//! and only reads the store (the spool is written by the loop, never by the
//! recording path). The IC token is never logged, never shown by `Debug`,
//! and never part of an error.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let store = Arc::new(EventStore::new());
//! let config = SyncConfig::new("http://localhost:3001", "ic_token_here")
//!     .with_interval(Duration::from_secs(30)) // sync every 30 s
//!     .with_batch_threshold(10); // or as soon as 10 events are pending
//! let client = SyncClient::try_new(store.clone(), config)?;
//!
//! // Start background sync on the runtime.
//! let handle = client.start(runtime.handle());
//!
//! // ... use the store normally ...
//! store.try_record_llm_failed("gpt-4o-mini", None, None, Some("rate_limit"), None)?;
//!
//! // Stop, flushing what is left (within the stop deadline).
//! let report = handle.stop();
//! println!("delivered {}, rejected {}, left {}", report.delivered, report.rejected, report.remaining);
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod schedule;
mod send;
mod spool;
mod warn;
mod wire;
mod worker;

pub use client::{PassFailure, PassOutcome, RejectedEvent, SyncClient, REJECTED_RING_CAPACITY};
pub use config::{
    SyncConfig, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_BATCH_THRESHOLD,
    DEFAULT_MAX_BATCH, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SPOOL_INTERVAL,
    DEFAULT_STOP_DEADLINE, DEFAULT_SYNC_INTERVAL, DEFAULT_THRESHOLD_CHECK, DEFAULT_TIMEOUT,
    INGEST_PATH, MIN_MAX_EVENT_BYTES, MIN_SPOOL_BYTES,
};
pub use error::SyncError;
pub use spool::{SpoolStatus, LOCK_FILE, SPOOL_FILE};
pub use worker::{SyncHandle, SyncReport};
