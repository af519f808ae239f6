//! Analytics event types and payloads.
//!
//! Events serialize (serde) with the Protocol 012 field names: `event_id`,
//! `timestamp_ms`, `event_type`, `agent_id`, `provider_id`, `provider`,
//! `model`, `input_tokens`, `output_tokens`, `cost_micros`, `error_code`,
//! `error_message`; optional fields without a value are left out.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::provider_utils::current_time_ms;

// ---------------------------------------------------------------------------
// Event ids
// ---------------------------------------------------------------------------

/// Milliseconds of 2024-01-01T00:00:00Z: ids count time from here, so that 40
/// bits of milliseconds last until 2058.
const ID_EPOCH_MS: u64 = 1_704_067_200_000;
const SOURCE_BITS: u32 = 6;
const SUB_BITS: u32 = 16;
const MS_BITS: u32 = 40;
const MS_SHIFT: u32 = SOURCE_BITS + SUB_BITS;
const HI_MASK: u64 = (1 << (MS_BITS + SUB_BITS)) - 1;
/// RFC 9562 variant bits `10`, kept in the two top bits of every key so that
/// an id formats as a valid UUID without changing its order.
const VARIANT_BITS: u64 = 0b10 << 62;
/// The source number of keys made by the process-wide generator
/// ([`AnalyticsEvent::new`] and the store's overflow path).
pub(crate) const GLOBAL_SOURCE: u8 = (1 << SOURCE_BITS) - 1;
/// The most shards a store may have (sources `0..MAX_SHARDS`).
pub(crate) const MAX_SHARDS: usize = GLOBAL_SOURCE as usize;

thread_local! {
    /// The last `hi` this thread used, in any store: keeps one thread's events
    /// in record order whichever shard takes them.
    static THREAD_LAST_HI: Cell<u64> = const { Cell::new(0) };
}

/// The time-ordered part of a key for a new event: strictly greater than the
/// previous one of this source (`last_hi`) and of this thread.
pub(crate) fn next_hi(last_hi: u64) -> u64 {
    // The wall clock itself: a TSC-derived clock was 25 ns cheaper but could
    // lag the wall clock's millisecond, so an event could be stamped before a
    // `Date.now()` read ahead of recording it.
    next_hi_at(current_time_ms(), last_hi)
}

/// [`next_hi`] with the wall clock already read (`now_ms`), for a batch
/// recorded at one instant.
pub(crate) fn next_hi_at(now_ms: u64, last_hi: u64) -> u64 {
    let now = now_ms.saturating_sub(ID_EPOCH_MS) << SUB_BITS;
    THREAD_LAST_HI.with(|thread_last| {
        let hi = (now.max(last_hi + 1).max(thread_last.get() + 1)) & HI_MASK;
        thread_last.set(hi);
        hi
    })
}

/// Builds a key from a `hi` and the source that made it.
pub(crate) fn make_key(hi: u64, source: u8) -> u64 {
    VARIANT_BITS | (hi << SOURCE_BITS) | u64::from(source)
}

/// The source (shard number or [`GLOBAL_SOURCE`]) that made a key.
pub(crate) fn key_source(key: u64) -> u8 {
    (key & u64::from(GLOBAL_SOURCE)) as u8
}

/// The Unix time in milliseconds a key was made at.
pub(crate) fn key_timestamp_ms(key: u64) -> u64 {
    ((key >> MS_SHIFT) & ((1 << MS_BITS) - 1)) + ID_EPOCH_MS
}

/// A key from the process-wide generator, for events built outside a store.
pub(crate) fn global_key() -> u64 {
    static LAST_HI: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST_HI.load(Ordering::Relaxed);
    loop {
        let hi = next_hi(last);
        // Relaxed: only uniqueness matters, and compare_exchange on a single
        // atomic guarantees no two callers win the same value.
        match LAST_HI.compare_exchange_weak(last, hi, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return make_key(hi, GLOBAL_SOURCE),
            Err(seen) => last = seen,
        }
    }
}

/// One random seed per process: the only syscall ids ever cost.
fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            // No entropy source: fall back to the clock and the pid, which still
            // separates processes in practice.
            Err(_) => current_time_ms() ^ (u64::from(std::process::id()) << 32),
        }
    })
}

/// SplitMix64's finaliser: a bijection, so distinct store numbers give
/// distinct prefixes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The id prefix of store number `index` in this process (0 is the global
/// generator's). Carries the UUID version nibble 8 (custom layout).
pub(crate) fn id_prefix(index: u64) -> u64 {
    // The version nibble takes 4 of the 64 bits; the remaining 60 bits of a
    // bijective mix stay distinct per index with overwhelming probability.
    (mix(process_seed().wrapping_add(index)) & !0xF000) | 0x8000
}

/// A new store's number in this process (never 0).
pub(crate) fn next_store_index() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Relaxed: a unique counter, nothing else is published through it.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The unique id of an event, formatted as a UUID (RFC 9562 version 8).
///
/// Ids are unique without a syscall per event: a random per-store prefix
/// (one `getrandom` per process) and a time-ordered key. Within one store,
/// ids order events oldest first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    prefix: u64,
    key: u64,
}

impl EventId {
    pub(crate) const fn new(prefix: u64, key: u64) -> Self {
        Self { prefix, key }
    }

    pub(crate) const fn prefix(self) -> u64 {
        self.prefix
    }

    pub(crate) const fn key(self) -> u64 {
        self.key
    }

    /// The id as a [`uuid::Uuid`].
    pub fn as_uuid(self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(self.prefix, self.key)
    }

    /// The Unix time in milliseconds at which the event was created.
    pub fn timestamp_ms(self) -> u64 {
        key_timestamp_ms(self.key)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_uuid().hyphenated(), f)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// The error returned when a string is not an event id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an event id: {input:?} (expected a UUID such as 8c5e2f2a-3c1d-8a4b-9e1f-0a2b3c4d5e6f)"
)]
pub struct ParseEventIdError {
    input: String,
}

impl FromStr for EventId {
    type Err = ParseEventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = uuid::Uuid::try_parse(s).map_err(|_| ParseEventIdError {
            input: s.to_owned(),
        })?;
        let (prefix, key) = uuid.as_u64_pair();
        Ok(Self { prefix, key })
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// The kind of an event, as its Protocol 012 `event_type` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// `llm_request_completed` (synced).
    LlmRequestCompleted,
    /// `llm_request_failed` (synced).
    LlmRequestFailed,
    /// `budget_threshold_reached` (local only).
    BudgetThresholdReached,
    /// `router_started` (local only).
    RouterStarted,
    /// `router_stopped` (local only).
    RouterStopped,
}

impl EventType {
    /// The Protocol 012 name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::LlmRequestCompleted => "llm_request_completed",
            EventType::LlmRequestFailed => "llm_request_failed",
            EventType::BudgetThresholdReached => "budget_threshold_reached",
            EventType::RouterStarted => "router_started",
            EventType::RouterStopped => "router_stopped",
        }
    }

    /// Whether events of this kind are sent to the Control API.
    pub const fn is_synced(self) -> bool {
        matches!(
            self,
            EventType::LlmRequestCompleted | EventType::LlmRequestFailed
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which model served a request, through which provider and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmModelMeta {
    /// Provider key id, e.g. `ip_openai-001`.
    pub provider_id: Option<Arc<str>>,
    /// Provider name, e.g. `openai` (see [`crate::Provider`]).
    pub provider: Arc<str>,
    /// Model name, e.g. `gpt-4o-mini`.
    pub model: Arc<str>,
}

/// A completed LLM request: tokens and cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmUsageData {
    /// Model, provider and key.
    pub meta: LlmModelMeta,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in micro-dollars (1 USD = 1,000,000).
    pub cost_micros: u64,
}

/// A failed LLM request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmFailureData {
    /// Model, provider and key.
    pub meta: LlmModelMeta,
    /// Machine-readable error code, e.g. `rate_limit`.
    pub error_code: Option<Arc<str>>,
    /// Human-readable error message.
    pub error_message: Option<Arc<str>>,
}

/// An agent's spend crossed a budget threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetThresholdData {
    /// The threshold crossed, in percent of the budget.
    pub threshold_percent: u32,
    /// Spend so far, micro-dollars.
    pub current_spend_micros: u64,
    /// The budget, micro-dollars.
    pub budget_micros: u64,
}

/// The router started listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterStartedData {
    /// The port it listens on.
    pub port: u16,
}

/// The router stopped; carries the store's final totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterStoppedData {
    /// Completed + failed requests recorded over the store's life.
    pub total_requests: u64,
    /// Total cost recorded over the store's life, micro-dollars.
    pub total_cost_micros: u64,
}

/// What happened: one variant per [`EventType`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventPayload {
    /// A completed LLM request.
    LlmRequestCompleted(LlmUsageData),
    /// A failed LLM request.
    LlmRequestFailed(LlmFailureData),
    /// A budget threshold was crossed.
    BudgetThresholdReached(BudgetThresholdData),
    /// The router started.
    RouterStarted(RouterStartedData),
    /// The router stopped.
    RouterStopped(RouterStoppedData),
}

impl EventPayload {
    /// The kind of this payload.
    pub const fn event_type(&self) -> EventType {
        match self {
            EventPayload::LlmRequestCompleted(_) => EventType::LlmRequestCompleted,
            EventPayload::LlmRequestFailed(_) => EventType::LlmRequestFailed,
            EventPayload::BudgetThresholdReached(_) => EventType::BudgetThresholdReached,
            EventPayload::RouterStarted(_) => EventType::RouterStarted,
            EventPayload::RouterStopped(_) => EventType::RouterStopped,
        }
    }

    /// The model metadata of an LLM event.
    pub const fn meta(&self) -> Option<&LlmModelMeta> {
        match self {
            EventPayload::LlmRequestCompleted(d) => Some(&d.meta),
            EventPayload::LlmRequestFailed(d) => Some(&d.meta),
            _ => None,
        }
    }
}

/// One analytics event: an id, a timestamp, an optional agent and a payload.
///
/// ```
/// use iron_runtime_analytics::{AnalyticsEvent, EventPayload};
/// use iron_runtime_analytics::event::RouterStartedData;
///
/// let event = AnalyticsEvent::new(EventPayload::RouterStarted(RouterStartedData { port: 8080 }));
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["event_type"], "router_started");
/// assert_eq!(json["port"], 8080);
/// assert!(json.get("agent_id").is_none()); // absent optionals are left out
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsEvent {
    pub(crate) id: EventId,
    pub(crate) agent_id: Option<Arc<str>>,
    pub(crate) payload: EventPayload,
}

impl AnalyticsEvent {
    /// A new event with a fresh id and the current time.
    pub fn new(payload: EventPayload) -> Self {
        Self {
            id: EventId::new(id_prefix(0), global_key()),
            agent_id: None,
            payload,
        }
    }

    /// Attributes the event to an agent.
    #[must_use]
    pub fn with_agent_id(mut self, agent_id: impl Into<Arc<str>>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// The event's unique id.
    pub const fn event_id(&self) -> EventId {
        self.id
    }

    /// Unix time in milliseconds at which the event was created.
    pub fn timestamp_ms(&self) -> u64 {
        self.id.timestamp_ms()
    }

    /// The agent the event is attributed to.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    /// What happened.
    pub const fn payload(&self) -> &EventPayload {
        &self.payload
    }

    /// The event's kind.
    pub const fn event_type(&self) -> EventType {
        self.payload.event_type()
    }
}

impl Serialize for AnalyticsEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("event_id", &self.id)?;
        map.serialize_entry("timestamp_ms", &self.timestamp_ms())?;
        map.serialize_entry("event_type", self.event_type().as_str())?;
        if let Some(agent) = &self.agent_id {
            map.serialize_entry("agent_id", agent)?;
        }
        fn meta<M: SerializeMap>(map: &mut M, meta: &LlmModelMeta) -> Result<(), M::Error> {
            if let Some(id) = &meta.provider_id {
                map.serialize_entry("provider_id", id)?;
            }
            map.serialize_entry("provider", &meta.provider)?;
            map.serialize_entry("model", &meta.model)
        }
        match &self.payload {
            EventPayload::LlmRequestCompleted(d) => {
                meta(&mut map, &d.meta)?;
                map.serialize_entry("input_tokens", &d.input_tokens)?;
                map.serialize_entry("output_tokens", &d.output_tokens)?;
                map.serialize_entry("cost_micros", &d.cost_micros)?;
            }
            EventPayload::LlmRequestFailed(d) => {
                meta(&mut map, &d.meta)?;
                if let Some(code) = &d.error_code {
                    map.serialize_entry("error_code", code)?;
                }
                if let Some(message) = &d.error_message {
                    map.serialize_entry("error_message", message)?;
                }
            }
            EventPayload::BudgetThresholdReached(d) => {
                map.serialize_entry("threshold_percent", &d.threshold_percent)?;
                map.serialize_entry("current_spend_micros", &d.current_spend_micros)?;
                map.serialize_entry("budget_micros", &d.budget_micros)?;
            }
            EventPayload::RouterStarted(d) => map.serialize_entry("port", &d.port)?,
            EventPayload::RouterStopped(d) => {
                map.serialize_entry("total_requests", &d.total_requests)?;
                map.serialize_entry("total_cost_micros", &d.total_cost_micros)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_ordered_and_carry_time() {
        let before = current_time_ms();
        let keys: Vec<u64> = (0..10_000).map(|_| global_key()).collect();
        let after = current_time_ms();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for &k in &[keys[0], keys[9_999]] {
            assert_eq!(key_source(k), GLOBAL_SOURCE);
            let ts = key_timestamp_ms(k);
            // Sub-millisecond counters may carry into the next millisecond.
            assert!(
                ts >= before && ts <= after + 1,
                "{before} <= {ts} <= {after}"
            );
        }
    }

    #[test]
    fn ids_are_rfc_uuids_and_parse_back() {
        let id = AnalyticsEvent::new(EventPayload::RouterStarted(RouterStartedData { port: 1 }))
            .event_id();
        let uuid = id.as_uuid();
        assert_eq!(uuid.get_version_num(), 8);
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<EventId>(), Ok(id));
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }

    #[test]
    fn store_prefixes_differ() {
        let a = id_prefix(next_store_index());
        let b = id_prefix(next_store_index());
        assert_ne!(a, b);
        assert_ne!(a, id_prefix(0));
    }
}
