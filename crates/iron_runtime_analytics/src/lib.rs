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
//! store.record_llm_completed(&pricing, "gpt-4", 150, 50, None, None);
//! store.record_llm_failed("claude-3-opus-20240229", None, None, Some("rate_limit"), None);
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
//! - `enabled` (default) and `full` (`sync`): the feature names of
//!   `iron_runtime_analytics` 0.4.0, kept so that its users' manifests build;
//!   `enabled` adds nothing (the analytics are always compiled in).
//!
//! # Drop-in for `iron_runtime_analytics` 0.4.0
//!
//! Every public item of 0.4.0 exists with its signature, and its own test
//! suite runs against this crate (`scripts/upstream-suite.sh`); code written
//! for it compiles unchanged. The methods that returned nothing still do, and
//! their `try_*` twins return what happened ([`EventStore::try_record`],
//! [`EventStore::try_with_capacity`], …; see [`recording`]). Where this crate
//! deliberately differs:
//! - [`ComputedStats::success_rate`] is a fraction (0..1), as the 0.4.0 README
//!   uses it (`success_rate() * 100.0`), not a percentage;
//! - the buffer is an outbox: [`EventStore::mark_synced`] removes delivered
//!   events (and returns how many), so room frees up; [`EventStore::unsynced_count`]
//!   counts the LLM events waiting to be sent, not the local ones that are never sent;
//! - the sync client treats HTTP 400/422 as rejected (counted, never as
//!   delivered) and backs off exponentially after failures;
//! - [`infer_provider`] knows more vendors ([`Provider::Google`], …), and
//!   stats breakdowns are bounded by a cardinality limit ([`StoreConfig`]);
//! - breakdown keys are `Arc<str>` ([`StatsMap`]): index them with a `&str`
//!   (`stats.by_model["gpt-4"]`, `.get(name.as_str())`);
//! - [`LlmFailureData`]'s error fields and the budget event's `threshold_percent: u8`
//!   are as in 0.4.0; events serialize with Protocol 012's snake_case `event_type`;
//! - two methods that returned nothing return what they did:
//!   [`EventStore::mark_synced`] (how many events it removed) and
//!   `SyncHandle::stop` (a report), and
//!   `SyncConfig` (feature `sync`) has settings beyond the five public
//!   fields of 0.4.0, so it is built with `SyncConfig::new`, not a struct literal.
//!
//! # Guarantees
//! - Recording never blocks and never does I/O; a string seen before is not allocated again.
//! - At most `capacity` events are buffered; when full, a new LLM event is
//!   dropped and counted ([`EventStore::dropped_count`]), and still counted in the stats.
//! - Delivered and drained events leave the buffer, so room frees up.
//! - Snapshots are non-destructive and oldest first, whatever writers do meanwhile.
//! - `recorded + replayed == buffered + drained + synced + rejected + dropped + evicted`
//!   at every instant ([`EventStore::accounting`]).
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod credits;
pub mod event;
pub mod event_storage;
mod intern;
mod prometheus;
pub mod provider_utils;
pub mod recording;
mod series;
pub mod stats;
mod stats_view;
#[cfg(feature = "sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "sync")))]
pub mod sync;

pub use event::{
    AnalyticsEvent, EventId, EventPayload, EventType, LlmFailureData, LlmModelMeta, LlmUsageData,
    ParseEventIdError,
};
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

/// The code blocks of the `iron_runtime_analytics` 0.4.0 README, as written
/// there, compiled and run as doctests: only the imports and set-up they
/// assume are added, as hidden lines (`scripts/upstream-suite.sh` checks that
/// the visible lines are the original's).
#[cfg(all(doctest, feature = "sync"))]
#[doc = include_str!("../tests/readme_original.md")]
pub struct OriginalReadmeDoctests;
