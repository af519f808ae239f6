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

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// A fresh id from the process-wide generator, stamped with the current
    /// time (what [`AnalyticsEvent::new`] gives an event).
    pub fn new() -> Self {
        Self::from_parts(id_prefix(0), global_key())
    }

    pub(crate) const fn from_parts(prefix: u64, key: u64) -> Self {
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

    /// The id as a hyphenated lowercase UUID string (same as `to_string()`).
    pub fn to_uuid_string(&self) -> String {
        self.to_string()
    }

    /// The Unix time in milliseconds at which the event was created (for an
    /// id made by this library; an id parsed from elsewhere carries no time).
    pub fn timestamp_ms(self) -> u64 {
        key_timestamp_ms(self.key)
    }
}

impl Default for EventId {
    /// A fresh id, as [`EventId::new`].
    fn default() -> Self {
        Self::new()
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

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmModelMeta {
    /// Provider key id, e.g. `ip_openai-001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Arc<str>>,
    /// Provider name, e.g. `openai` (see [`crate::Provider`]).
    pub provider: Arc<str>,
    /// Model name, e.g. `gpt-4o-mini`.
    pub model: Arc<str>,
}

/// A completed LLM request: tokens and cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmUsageData {
    /// Model, provider and key.
    #[serde(flatten)]
    pub meta: LlmModelMeta,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in micro-dollars (1 USD = 1,000,000).
    pub cost_micros: u64,
}

/// A failed LLM request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmFailureData {
    /// Model, provider and key.
    #[serde(flatten)]
    pub meta: LlmModelMeta,
    /// Machine-readable error code, e.g. `rate_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human-readable error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// What happened: one variant per [`EventType`].
///
/// Serialized with its Protocol 012 `event_type` tag (`llm_request_completed`,
/// …); deserialization also accepts the variant names that
/// `iron_runtime_analytics` 0.4.0 wrote (`LlmRequestCompleted`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum EventPayload {
    /// A completed LLM request.
    #[serde(alias = "LlmRequestCompleted")]
    LlmRequestCompleted(LlmUsageData),
    /// A failed LLM request.
    #[serde(alias = "LlmRequestFailed")]
    LlmRequestFailed(LlmFailureData),
    /// An agent's spend crossed a budget threshold (local only, never synced).
    #[serde(alias = "BudgetThresholdReached")]
    BudgetThresholdReached {
        /// The threshold crossed, in percent of the budget (0 to 255).
        threshold_percent: u8,
        /// Spend so far, micro-dollars.
        current_spend_micros: u64,
        /// The budget, micro-dollars.
        budget_micros: u64,
    },
    /// The router started listening (local only).
    #[serde(alias = "RouterStarted")]
    RouterStarted {
        /// The port it listens on.
        port: u16,
    },
    /// The router stopped, with the store's final totals (local only).
    #[serde(alias = "RouterStopped")]
    RouterStopped {
        /// Completed + failed requests recorded over the store's life.
        total_requests: u64,
        /// Total cost recorded over the store's life, micro-dollars.
        total_cost_micros: u64,
    },
}

impl EventPayload {
    /// The kind of this payload.
    pub const fn event_type(&self) -> EventType {
        match self {
            EventPayload::LlmRequestCompleted(_) => EventType::LlmRequestCompleted,
            EventPayload::LlmRequestFailed(_) => EventType::LlmRequestFailed,
            EventPayload::BudgetThresholdReached { .. } => EventType::BudgetThresholdReached,
            EventPayload::RouterStarted { .. } => EventType::RouterStarted,
            EventPayload::RouterStopped { .. } => EventType::RouterStopped,
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
/// Serializes (serde) to the Protocol 012 field names, absent optionals left
/// out; the sync state is not serialized.
///
/// ```
/// use iron_runtime_analytics::{AnalyticsEvent, EventPayload};
///
/// let event = AnalyticsEvent::new(EventPayload::RouterStarted { port: 8080 });
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["event_type"], "router_started");
/// assert_eq!(json["port"], 8080);
/// assert!(json.get("agent_id").is_none()); // absent optionals are left out
/// let back: AnalyticsEvent = serde_json::from_value(json).unwrap();
/// assert_eq!(back, event);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsEvent {
    pub(crate) id: EventId,
    pub(crate) timestamp_ms: u64,
    pub(crate) agent_id: Option<Arc<str>>,
    pub(crate) synced: bool,
    /// What happened.
    pub payload: EventPayload,
}

impl AnalyticsEvent {
    /// A new event with a fresh id and the current time.
    pub fn new(payload: EventPayload) -> Self {
        let id = EventId::new();
        Self {
            id,
            timestamp_ms: id.timestamp_ms(),
            agent_id: None,
            synced: false,
            payload,
        }
    }

    /// Attributes the event to an agent (`None` for no agent).
    ///
    /// ```
    /// use iron_runtime_analytics::{AnalyticsEvent, EventPayload};
    /// let event = AnalyticsEvent::new(EventPayload::RouterStarted { port: 80 }).with_agent_id(Some("agent_1"));
    /// assert_eq!(event.agent_id().map(|a| &**a), Some("agent_1"));
    /// ```
    #[must_use]
    pub fn with_agent_id(mut self, agent_id: Option<impl Into<Arc<str>>>) -> Self {
        self.agent_id = agent_id.map(Into::into);
        self
    }

    /// The event's unique id.
    pub const fn event_id(&self) -> EventId {
        self.id
    }

    /// Unix time in milliseconds at which the event was created.
    pub const fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// The agent the event is attributed to.
    pub const fn agent_id(&self) -> Option<&Arc<str>> {
        self.agent_id.as_ref()
    }

    /// Whether the event was marked delivered ([`AnalyticsEvent::set_synced`]).
    ///
    /// Events read from a store ([`EventStore::snapshot_events`](crate::EventStore::snapshot_events),
    /// …) are never synced: a delivered event leaves the buffer
    /// ([`EventStore::mark_synced`](crate::EventStore::mark_synced)).
    pub const fn is_synced(&self) -> bool {
        self.synced
    }

    /// Marks the event delivered (or not). Recording an event marked
    /// delivered counts it in the stats and as synced in
    /// [`EventStore::accounting`](crate::EventStore::accounting), without
    /// keeping it for delivery.
    pub fn set_synced(&mut self, synced: bool) {
        self.synced = synced;
    }

    /// What happened (also the public field [`payload`](AnalyticsEvent::payload)).
    pub const fn payload(&self) -> &EventPayload {
        &self.payload
    }

    /// The event's kind.
    pub const fn event_type(&self) -> EventType {
        self.payload.event_type()
    }
}

/// The serialized form of an event: its fields, then the payload's.
#[derive(Serialize)]
struct SerializedEvent<'a> {
    event_id: EventId,
    timestamp_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a Arc<str>>,
    #[serde(flatten)]
    payload: &'a EventPayload,
}

impl Serialize for AnalyticsEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SerializedEvent {
            event_id: self.id,
            timestamp_ms: self.timestamp_ms,
            agent_id: self.agent_id.as_ref(),
            payload: &self.payload,
        }
        .serialize(serializer)
    }
}

/// An event as read: a missing id gets a fresh one, a missing time the current time.
#[derive(Deserialize)]
struct DeserializedEvent {
    #[serde(default)]
    event_id: Option<EventId>,
    #[serde(default)]
    timestamp_ms: Option<u64>,
    #[serde(default)]
    agent_id: Option<Arc<str>>,
    #[serde(flatten)]
    payload: EventPayload,
}

impl<'de> Deserialize<'de> for AnalyticsEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let e = DeserializedEvent::deserialize(deserializer)?;
        let id = e.event_id.unwrap_or_default();
        Ok(Self {
            id,
            timestamp_ms: e.timestamp_ms.unwrap_or_else(current_time_ms),
            agent_id: e.agent_id,
            synced: false,
            payload: e.payload,
        })
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
        let id = AnalyticsEvent::new(EventPayload::RouterStarted { port: 1 }).event_id();
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
