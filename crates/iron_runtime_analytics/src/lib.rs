//! Lock-free, in-process analytics for LLM routers.
//!
//! An [`EventStore`] records one event per LLM call (model, provider, tokens,
//! cost, agent, or the failure) without ever blocking the request path, keeps
//! running totals and per-model / per-provider / per-agent statistics, and
//! holds the events in a bounded outbox until they are delivered
//! ([`EventStore::mark_synced`]), drained, or dropped (counted).
//!
//! ```
//! use iron_runtime_analytics::EventStore;
//! use iron_cost::pricing::PricingManager;
//!
//! let store = EventStore::new();
//! let pricing = PricingManager::new().unwrap();
//! store.record_llm_completed(&pricing, "gpt-4", 150, 50, None, None).unwrap();
//! store.record_llm_failed("claude-3-opus-20240229", None, None, Some("rate_limit"), None).unwrap();
//!
//! let stats = store.stats();
//! assert_eq!(stats.total_requests, 2);
//! assert_eq!(stats.success_rate(), 0.5);
//! assert_eq!(stats.by_provider["anthropic"].failed_count, 1);
//! assert_eq!(store.unsynced_count(), 2);
//! ```
//!
//! # Features
//! - `sync`: background delivery to the Control API (Protocol 012) with tokio and reqwest.
//!
//! # Guarantees
//! - Recording never blocks and never does I/O; a string seen before is not allocated again.
//! - At most `capacity` events are buffered; when full, a new LLM event is
//!   dropped and counted ([`EventStore::dropped_count`]), and still counted in the stats.
//! - Delivered and drained events leave the buffer, so room frees up.
//! - Snapshots are non-destructive and oldest first, whatever writers do meanwhile.
//! - `recorded == buffered + drained + synced + rejected + dropped + evicted`
//!   at every instant ([`EventStore::accounting`]).
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod credits;
pub mod event;
pub mod event_storage;
mod intern;
mod prometheus;
pub mod provider_utils;
mod recording;
mod series;
pub mod stats;
mod stats_view;
#[cfg(feature = "sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "sync")))]
pub mod sync;

pub use event::{AnalyticsEvent, EventId, EventPayload, EventType, ParseEventIdError};
pub use event_storage::{
    Accounting, EventStore, NameCounts, RecordError, StoreConfig, StoreError, StreamReceiver,
    DEFAULT_CAPACITY, DEFAULT_CARDINALITY_LIMIT, MAX_CAPACITY, MAX_CARDINALITY_LIMIT,
    MAX_ERROR_MESSAGE_CHARS, MAX_NAME_CHARS, TRUNCATION_MARK,
};
pub use iron_cost::pricing::TokenUsage;
pub use prometheus::GenAiConventions;
pub use provider_utils::{current_time_ms, infer_provider, Provider};
pub use recording::{
    BatchOutcome, LlmRecord, ModelKey, ModelRef, NameKey, NameRef, RequestLatency,
};
pub use series::{
    SeriesAttributes, SeriesStats, TokenHistogram, DEFAULT_OPERATION,
    TIME_TO_FIRST_CHUNK_BOUNDS_MICROS, TOKEN_BOUNDS, UNNAMED_ERROR_TYPE, WELL_KNOWN_OPERATIONS,
};
pub use stats::{
    ComputedStats, LatencyHistogram, ModelLatency, ModelStats, StatsMap, CARDINALITY_OVERFLOW_KEY,
    LATENCY_BOUNDS_MICROS,
};
pub use stats_view::{Breakdown, StatsView};
#[cfg(feature = "sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "sync")))]
pub use sync::{
    PassFailure, RejectedEvent, SyncClient, SyncConfig, SyncError, SyncHandle, SyncReport,
};

/// The README's code blocks, compiled and run as doctests (with the `sync`
/// feature, which its background-sync example needs).
#[cfg(all(doctest, feature = "sync"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
