//! Non-blocking event storage: the bounded outbox and the statistics.
//!
//! # Design
//!
//! Recording never waits. A store has a few *shards* (about two per core),
//! each a mutex that writers only ever `try_lock`: a thread starts at its
//! home shard and, if that is busy, tries the next; when every shard is busy
//! at that instant it pushes onto a lock-free overflow queue (crossbeam's
//! `SegQueue`) that the next lock holder folds in. Under a shard lock a writer
//! updates plain counters (no atomic read-modify-write per statistic), looks
//! its strings up in the shard's private symbol cache, and appends a compact
//! 56-byte event to the shard's chunked buffer.
//!
//! Readers (`snapshot_events`, `mark_synced`, `len`, …) hold the *outbox*
//! lock, which writers never take, and *pull*: they briefly lock each shard,
//! move its chunks out (a pointer swap), and merge them into one sorted
//! queue. Events are ordered by their id's key, which is time-ordered and
//! strictly increasing per thread, so a snapshot is oldest first and keeps
//! each writer's order.
//!
//! Room is counted in *credits*: one per LLM event the outbox may hold.
//! Shards take credits from a shared pool in small batches and steal from
//! each other before dropping, so the buffer holds at most `capacity` LLM
//! events and drops only when it is full. Removing events (`mark_synced`,
//! `mark_rejected`, `drain_all`) returns their credits, so the buffer never
//! clogs. Local events (router lifecycle, budget thresholds) hold no credit:
//! a pull evicts the oldest of them whenever the outbox would exceed its
//! capacity, so they never take room from the events that are sent.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use crate::credits::CreditPool;
use crate::event::{
    global_key, id_prefix, key_source, make_key, next_hi, next_hi_at, next_store_index,
    AnalyticsEvent, BudgetThresholdData, EventId, EventPayload, LlmFailureData, LlmModelMeta,
    LlmUsageData, RouterStartedData, RouterStoppedData, GLOBAL_SOURCE, MAX_SHARDS,
};
use crate::intern::{Interner, SymbolCache, NONE};
use crate::provider_utils::{current_time_ms, infer_provider};
use crate::stats::{ComputedStats, Counters, Delta, ModelLatency, ModelStats, Table};
use crate::stats_view::StatsView;

/// Events a batch records under one shard lock before letting readers in:
/// about 50 µs of work, so a reader (`stats()`, a sync pass) never waits
/// longer than that for a huge batch.
const BATCH_RUN: usize = 1024;

/// Default buffer capacity: 10,000 events.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Largest accepted capacity (the buffer allocates as it fills, not up front).
pub const MAX_CAPACITY: usize = 100_000_000;
/// Events per chunk of a shard's buffer: the unit in which buffers allocate.
const CHUNK: usize = 256;

/// The receiving end of a streaming store's channel (see [`EventStore::with_streaming`]).
pub type StreamReceiver = Receiver<AnalyticsEvent>;

/// Errors from building a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The capacity was 0 or above [`MAX_CAPACITY`].
    #[error("capacity must be between 1 and {MAX_CAPACITY} events, got {0}")]
    InvalidCapacity(usize),
    /// The streaming channel size was 0.
    #[error("the streaming channel size must be at least 1, got 0")]
    InvalidChannelSize,
}

/// Errors from recording an event: the input is refused before anything is counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The model name was empty.
    #[error("model name must not be empty")]
    EmptyModel,
    /// The provider name was empty.
    #[error("provider name must not be empty")]
    EmptyProvider,
    /// A [`crate::ModelKey`] or [`crate::NameKey`] made by another store was used.
    #[error("this key was made by another EventStore: make keys with the store that records them")]
    ForeignKey,
}

/// The buffer's accounting, read at one consistent instant:
/// `recorded == buffered + drained + synced + rejected + dropped + evicted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accounting {
    /// Events offered to the buffer since the store was created.
    pub recorded: u64,
    /// Events in the buffer now.
    pub buffered: u64,
    /// Events removed by [`EventStore::drain_all`].
    pub drained: u64,
    /// Events removed by [`EventStore::mark_synced`] (delivered).
    pub synced: u64,
    /// Events removed by [`EventStore::mark_rejected`] (never deliverable).
    pub rejected: u64,
    /// LLM events refused because the buffer was full of LLM events.
    pub dropped: u64,
    /// Local events (lifecycle, budget) pushed out, oldest first, to make room.
    pub evicted: u64,
}

impl Accounting {
    /// Whether the identity holds (it always should; exposed for tests and monitoring).
    pub fn is_balanced(&self) -> bool {
        self.recorded
            == self.buffered
                + self.drained
                + self.synced
                + self.rejected
                + self.dropped
                + self.evicted
    }
}

// ---------------------------------------------------------------------------
// Compact events
// ---------------------------------------------------------------------------

/// An event as the buffer keeps it: strings are symbols, the id is its key.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) key: u64,
    pub(crate) model: u32,
    pub(crate) provider: u32,
    pub(crate) agent: u32,
    pub(crate) provider_id: u32,
    pub(crate) payload: StoredPayload,
}

#[derive(Debug, Clone)]
pub(crate) enum StoredPayload {
    Completed {
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
    Failed {
        error_code: u32,
        error_message: Option<Arc<str>>,
    },
    Budget {
        threshold_percent: u32,
        current_spend_micros: u64,
        budget_micros: u64,
    },
    RouterStarted {
        port: u16,
    },
    RouterStopped {
        total_requests: u64,
        total_cost_micros: u64,
    },
    /// A tombstone left in the outbox by a removal.
    Removed,
}

impl StoredEvent {
    fn is_llm(&self) -> bool {
        matches!(
            self.payload,
            StoredPayload::Completed { .. } | StoredPayload::Failed { .. }
        )
    }

    fn is_removed(&self) -> bool {
        matches!(self.payload, StoredPayload::Removed)
    }

    fn delta(&self) -> Option<Delta> {
        match self.payload {
            StoredPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            } => Some(Delta {
                failed: false,
                input_tokens,
                output_tokens,
                cost_micros,
            }),
            StoredPayload::Failed { .. } => Some(Delta {
                failed: true,
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
            }),
            _ => None,
        }
    }
}

/// The strings of a store, one interner per kind so stats tables stay dense.
pub(crate) struct Names {
    /// Model name → symbol of its inferred provider.
    pub(crate) models: Interner<u32>,
    pub(crate) providers: Interner<()>,
    pub(crate) agents: Interner<()>,
    /// Provider ids and error codes.
    pub(crate) labels: Interner<()>,
}

/// Where a new event's provider comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ProviderArg<'a> {
    /// Inferred from the model name.
    Infer,
    /// Given by the caller.
    Named(&'a str),
}

/// The payload of an event being recorded, strings still borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewPayload<'a> {
    Completed {
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
    Failed {
        error_code: Option<&'a str>,
        error_message: Option<&'a str>,
    },
    Budget {
        threshold_percent: u32,
        current_spend_micros: u64,
        budget_micros: u64,
    },
    RouterStarted {
        port: u16,
    },
    RouterStopped {
        total_requests: u64,
        total_cost_micros: u64,
    },
}

/// A string argument: borrowed, or already interned (a key from this store).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name<'a> {
    Str(&'a str),
    Sym(u32),
}

/// An event being recorded: what the `record_*` methods hand to the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEvent<'a> {
    /// A key the event already has (a pre-built event), else a fresh one is made.
    pub(crate) key: Option<u64>,
    pub(crate) model: Name<'a>,
    pub(crate) provider: ProviderArg<'a>,
    pub(crate) agent: Option<Name<'a>>,
    pub(crate) provider_id: Option<Name<'a>>,
    pub(crate) payload: NewPayload<'a>,
    /// Request duration and time to first token (completed requests only).
    pub(crate) latency: Latency,
}

/// Latency of one request, microseconds: recorded in the stats, not in the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Latency {
    pub(crate) duration_micros: Option<u64>,
    pub(crate) ttft_micros: Option<u64>,
}

/// Looks strings up: through a shard's private cache, or the shared interners.
trait Resolve {
    fn model(&mut self, names: &Names, s: &str) -> u32;
    fn provider(&mut self, names: &Names, s: &str) -> u32;
    fn agent(&mut self, names: &Names, s: &str) -> u32;
    fn label(&mut self, names: &Names, s: &str) -> u32;
}

fn inferred_provider(names: &Names, model: &str) -> u32 {
    names
        .providers
        .intern(infer_provider(model).as_str(), || ())
}

/// The shared interners, for the overflow path.
struct Shared;

impl Resolve for Shared {
    fn model(&mut self, names: &Names, s: &str) -> u32 {
        names.models.intern(s, || inferred_provider(names, s))
    }
    fn provider(&mut self, names: &Names, s: &str) -> u32 {
        names.providers.intern(s, || ())
    }
    fn agent(&mut self, names: &Names, s: &str) -> u32 {
        names.agents.intern(s, || ())
    }
    fn label(&mut self, names: &Names, s: &str) -> u32 {
        names.labels.intern(s, || ())
    }
}

#[derive(Default)]
struct Caches {
    models: SymbolCache,
    providers: SymbolCache,
    agents: SymbolCache,
    labels: SymbolCache,
}

impl Resolve for Caches {
    fn model(&mut self, names: &Names, s: &str) -> u32 {
        self.models
            .get_or_intern(&names.models, s, || inferred_provider(names, s))
    }
    fn provider(&mut self, names: &Names, s: &str) -> u32 {
        self.providers.get_or_intern(&names.providers, s, || ())
    }
    fn agent(&mut self, names: &Names, s: &str) -> u32 {
        self.agents.get_or_intern(&names.agents, s, || ())
    }
    fn label(&mut self, names: &Names, s: &str) -> u32 {
        self.labels.get_or_intern(&names.labels, s, || ())
    }
}

impl NewEvent<'_> {
    fn resolve(&self, r: &mut impl Resolve, names: &Names, key: u64) -> StoredEvent {
        let llm = matches!(
            self.payload,
            NewPayload::Completed { .. } | NewPayload::Failed { .. }
        );
        let (model, provider) = if llm {
            let model = match self.model {
                Name::Str(s) => r.model(names, s),
                Name::Sym(sym) => sym,
            };
            let provider = match self.provider {
                ProviderArg::Infer => names.models.entry(model).1,
                ProviderArg::Named(p) => r.provider(names, p),
            };
            (model, provider)
        } else {
            (NONE, NONE)
        };
        let agent = match self.agent {
            Some(Name::Str(s)) => r.agent(names, s),
            Some(Name::Sym(sym)) => sym,
            None => NONE,
        };
        let mut label = |s: Option<Name<'_>>| match s {
            Some(Name::Str(s)) => r.label(names, s),
            Some(Name::Sym(sym)) => sym,
            None => NONE,
        };
        let provider_id = if llm { label(self.provider_id) } else { NONE };
        let payload = match self.payload {
            NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            } => StoredPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            },
            NewPayload::Failed {
                error_code,
                error_message,
            } => StoredPayload::Failed {
                error_code: label(error_code.map(Name::Str)),
                error_message: error_message.map(Arc::from),
            },
            NewPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => StoredPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            },
            NewPayload::RouterStarted { port } => StoredPayload::RouterStarted { port },
            NewPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => StoredPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            },
        };
        StoredEvent {
            key,
            model,
            provider,
            agent,
            provider_id,
            payload,
        }
    }
}

// ---------------------------------------------------------------------------
// Shards
// ---------------------------------------------------------------------------

/// How an event arriving at a shard pays for its room.
#[derive(Clone, Copy)]
enum Room {
    /// Take a credit now (or drop).
    Take,
    /// Already holds one (overflow path).
    Paid,
    /// Found none when it was recorded (overflow path): count it dropped.
    Refused,
}

struct Shard {
    index: u8,
    last_hi: u64,
    credits: usize,
    chunks: Vec<Vec<StoredEvent>>,
    /// Local events waiting to be pulled: bounded by the capacity.
    pending_local: usize,
    /// Where the search for the oldest pending local event resumes.
    local_cursor: usize,
    recorded: u64,
    dropped: u64,
    evicted: u64,
    totals: Counters,
    by_model: Table,
    by_provider: Table,
    by_agent: Table,
    /// Per model symbol; grown only for models recorded with a latency.
    latency: Vec<ModelLatency>,
    caches: Caches,
}

impl Shard {
    fn new(index: u8) -> Self {
        Self {
            index,
            last_hi: 0,
            credits: 0,
            chunks: Vec::new(),
            pending_local: 0,
            local_cursor: 0,
            recorded: 0,
            dropped: 0,
            evicted: 0,
            totals: Counters::default(),
            by_model: Table::default(),
            by_provider: Table::default(),
            by_agent: Table::default(),
            latency: Vec::new(),
            caches: Caches::default(),
        }
    }

    /// Tombstones the oldest local event in this shard's chunks. Every chunk
    /// but the last is full, so `local_cursor` is a flat index that only moves
    /// forward: amortised O(1) per eviction.
    fn evict_oldest_local(&mut self) {
        let total = self.chunks.iter().map(Vec::len).sum::<usize>();
        while self.local_cursor < total {
            let e = &mut self.chunks[self.local_cursor / CHUNK][self.local_cursor % CHUNK];
            self.local_cursor += 1;
            if !e.is_llm() && !e.is_removed() {
                e.payload = StoredPayload::Removed;
                self.evicted += 1;
                return;
            }
        }
    }

    fn next_key(&mut self) -> u64 {
        self.last_hi = next_hi(self.last_hi);
        make_key(self.last_hi, self.index)
    }

    fn next_key_at(&mut self, now_ms: u64) -> u64 {
        self.last_hi = next_hi_at(now_ms, self.last_hi);
        make_key(self.last_hi, self.index)
    }

    /// Counts the event and buffers it if there is room; returns whether it was buffered.
    fn admit(
        &mut self,
        store: &EventStore,
        event: StoredEvent,
        room: Room,
        latency: Latency,
    ) -> bool {
        self.recorded += 1;
        if latency != Latency::default() {
            let i = event.model as usize;
            if i >= self.latency.len() {
                self.latency.resize(i + 1, ModelLatency::default());
            }
            if let Some(micros) = latency.duration_micros {
                self.latency[i].duration.observe(micros);
            }
            if let Some(micros) = latency.ttft_micros {
                self.latency[i].ttft.observe(micros);
            }
        }
        if let Some(delta) = event.delta() {
            self.totals.apply(&delta);
            self.by_model.apply(event.model, &delta);
            self.by_provider.apply(event.provider, &delta);
            if event.agent != NONE {
                self.by_agent.apply(event.agent, &delta);
            }
            let has_room = match room {
                Room::Paid => true,
                Room::Refused => false,
                Room::Take => {
                    if self.credits == 0 {
                        self.credits = store.take_credits(self.index);
                    }
                    self.credits > 0 && {
                        self.credits -= 1;
                        true
                    }
                }
            };
            if !has_room {
                self.dropped += 1;
                return false;
            }
        } else if self.pending_local >= store.capacity {
            // Only reachable when nobody reads the store while it records
            // `capacity` local events: evict this shard's oldest local event
            // now, as a pull would, so that memory stays bounded.
            self.evict_oldest_local();
        } else {
            self.pending_local += 1;
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(event),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(event);
                self.chunks.push(chunk);
            }
        }
        true
    }
}

/// Locks a mutex, ignoring poison: every critical section here leaves its
/// data consistent between statements, so a panic elsewhere cannot corrupt it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// This thread's home shard number (before taking it modulo the shard count).
fn home_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    HOME.with(|h| *h)
}

// ---------------------------------------------------------------------------
// The outbox
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Outbox {
    /// Sorted by key; may hold tombstones.
    events: VecDeque<StoredEvent>,
    llm: usize,
    local: usize,
    tombstones: usize,
    drained: u64,
    synced: u64,
    rejected: u64,
    evicted: u64,
    /// Shard counters summed at the last pull.
    recorded_at_pull: u64,
    dropped_at_pull: u64,
    shard_evicted_at_pull: u64,
}

impl Outbox {
    fn merge(&mut self, mut fresh: Vec<StoredEvent>) {
        fresh.retain(|e| !e.is_removed());
        if fresh.is_empty() {
            return;
        }
        fresh.sort_unstable_by_key(|e| e.key);
        for e in &fresh {
            if e.is_llm() {
                self.llm += 1;
            } else {
                self.local += 1;
            }
        }
        let in_order = self
            .events
            .back()
            .is_none_or(|last| last.key < fresh[0].key);
        let needed = self.events.len() + fresh.len();
        if needed > self.events.capacity() {
            // Grow by half rather than doubling: the outbox is the bulk of a
            // store's memory, and pulls are far rarer than records.
            self.events
                .reserve_exact(fresh.len().max(self.events.len() / 2));
        }
        if in_order {
            self.events.extend(fresh);
        } else {
            let old = std::mem::take(&mut self.events);
            let mut merged = VecDeque::with_capacity(needed);
            let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
            loop {
                let take_a = match (a.peek(), b.peek()) {
                    (Some(x), Some(y)) => x.key <= y.key,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break,
                };
                merged.extend(if take_a { a.next() } else { b.next() });
            }
            self.events = merged;
        }
    }

    /// Evicts the oldest local events while the outbox holds more than `capacity`.
    fn evict_locals(&mut self, capacity: usize) {
        let mut excess = (self.llm + self.local)
            .saturating_sub(capacity)
            .min(self.local);
        if excess == 0 {
            return;
        }
        for e in self.events.iter_mut() {
            if excess == 0 {
                break;
            }
            if !e.is_llm() && !e.is_removed() {
                e.payload = StoredPayload::Removed;
                excess -= 1;
                self.local -= 1;
                self.evicted += 1;
                self.tombstones += 1;
            }
        }
        self.trim();
    }

    /// Drops leading tombstones, and compacts when tombstones are most of the queue.
    fn trim(&mut self) {
        while self.events.front().is_some_and(StoredEvent::is_removed) {
            self.events.pop_front();
            self.tombstones -= 1;
        }
        if self.tombstones > 64 && self.tombstones * 2 > self.events.len() {
            self.events.retain(|e| !e.is_removed());
            self.tombstones = 0;
        }
        let len = self.events.len();
        if self.events.capacity() > 2 * len + CHUNK {
            self.events.shrink_to(len + len / 2);
        }
    }

    /// Tombstones the buffered LLM events with these keys; returns how many.
    fn remove_llm(&mut self, keys: impl IntoIterator<Item = u64>) -> usize {
        let mut removed = 0;
        for key in keys {
            if let Ok(i) = self.events.binary_search_by_key(&key, |e| e.key) {
                let e = &mut self.events[i];
                if e.is_llm() {
                    e.payload = StoredPayload::Removed;
                    removed += 1;
                }
            }
        }
        self.llm -= removed;
        self.tombstones += removed;
        self.trim();
        removed
    }

    fn live(&self) -> impl Iterator<Item = &StoredEvent> {
        self.events.iter().filter(|e| !e.is_removed())
    }
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// The event store: a bounded outbox of events plus running statistics.
///
/// Share it across threads by reference or in an [`Arc`]; every method takes
/// `&self`. See the [module docs](self) for how recording stays non-blocking.
///
/// ```
/// use iron_runtime_analytics::EventStore;
/// use iron_cost::pricing::PricingManager;
///
/// let store = EventStore::with_capacity(2).unwrap();
/// let pricing = PricingManager::new().unwrap();
/// let a = store.record_llm_completed(&pricing, "gpt-4", 150, 50, None, None).unwrap();
/// store.record_llm_completed(&pricing, "gpt-4", 150, 50, None, None).unwrap();
/// // Full: the third is dropped from the outbox but still counted in the stats.
/// assert_eq!(store.record_llm_completed(&pricing, "gpt-4", 1, 1, None, None), Ok(None));
/// assert_eq!(store.dropped_count(), 1);
/// assert_eq!(store.stats().total_requests, 3);
/// // Delivering an event frees its room.
/// assert_eq!(store.mark_synced(&[a.unwrap()]), 1);
/// assert!(store.record_llm_completed(&pricing, "gpt-4", 1, 1, None, None).unwrap().is_some());
/// assert!(store.accounting().is_balanced());
/// ```
pub struct EventStore {
    pub(crate) capacity: usize,
    prefix: u64,
    global_prefix: u64,
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Events recorded while every shard was busy, with whether they got room.
    overflow: SegQueue<(StoredEvent, Room, Latency)>,
    outbox: Mutex<Outbox>,
    credits: CreditPool,
    credit_batch: usize,
    pub(crate) names: Names,
    stream: Option<Sender<AnalyticsEvent>>,
    stream_dropped: AtomicU64,
}

impl fmt::Debug for EventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStore")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("streaming", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for EventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStore {
    /// A store with the default capacity of [`DEFAULT_CAPACITY`] events.
    pub fn new() -> Self {
        Self::build(DEFAULT_CAPACITY, None)
    }

    /// A store that buffers at most `capacity` events.
    ///
    /// # Errors
    /// [`StoreError::InvalidCapacity`] if `capacity` is 0 or above [`MAX_CAPACITY`].
    pub fn with_capacity(capacity: usize) -> Result<Self, StoreError> {
        check_capacity(capacity)?;
        Ok(Self::build(capacity, None))
    }

    /// A store that also offers every recorded event to a bounded channel of
    /// `channel_size`; a full channel never slows the recorder (the event is
    /// not sent and [`EventStore::stream_dropped_count`] counts it).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// let (store, receiver) = EventStore::with_streaming(100, 1).unwrap();
    /// store.record_router_started(8080);
    /// store.record_router_started(8081); // channel full: not sent, counted
    /// assert_eq!(receiver.try_recv().unwrap().event_type().as_str(), "router_started");
    /// assert_eq!(store.stream_dropped_count(), 1);
    /// ```
    ///
    /// # Errors
    /// [`StoreError`] for a capacity out of range or a channel size of 0.
    pub fn with_streaming(
        capacity: usize,
        channel_size: usize,
    ) -> Result<(Self, Receiver<AnalyticsEvent>), StoreError> {
        check_capacity(capacity)?;
        if channel_size == 0 {
            return Err(StoreError::InvalidChannelSize);
        }
        let (tx, rx) = crossbeam_channel::bounded(channel_size);
        Ok((Self::build(capacity, Some(tx)), rx))
    }

    fn build(capacity: usize, stream: Option<Sender<AnalyticsEvent>>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shard_count = (cores * 2).clamp(4, MAX_SHARDS);
        let shards = (0..shard_count)
            .map(|i| CachePadded::new(Mutex::new(Shard::new(u8::try_from(i).unwrap_or(0)))))
            .collect();
        Self {
            capacity,
            prefix: id_prefix(next_store_index()),
            global_prefix: id_prefix(0),
            shards,
            overflow: SegQueue::new(),
            outbox: Mutex::new(Outbox::default()),
            credits: CreditPool::new(capacity),
            // Small batches: idle shards hold few credits, and stealing covers the rest.
            credit_batch: (capacity / (shard_count * 8)).clamp(1, 64),
            names: Names {
                models: Interner::new(),
                providers: Interner::new(),
                agents: Interner::new(),
                labels: Interner::new(),
            },
            stream,
            stream_dropped: AtomicU64::new(0),
        }
    }

    /// The id prefix shared by this store's events (also names the store).
    pub(crate) fn id_prefix(&self) -> u64 {
        self.prefix
    }

    /// The most events the buffer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    // -- recording ----------------------------------------------------------

    /// Records an event; returns its id if it was buffered, `None` if dropped.
    pub(crate) fn push(&self, new: NewEvent<'_>) -> Option<EventId> {
        let n = self.shards.len();
        let home = home_shard();
        for i in 0..n {
            let Some(mut guard) = try_lock(&self.shards[(home + i) % n]) else {
                continue;
            };
            let shard = &mut *guard;
            if !self.overflow.is_empty() {
                self.fold_overflow(shard);
            }
            let key = new.key.unwrap_or_else(|| shard.next_key());
            let event = new.resolve(&mut shard.caches, &self.names, key);
            let streamed = self.stream.as_ref().map(|_| event.clone());
            let buffered = shard.admit(self, event, Room::Take, new.latency);
            drop(guard);
            if let Some(event) = streamed {
                self.send_to_stream(&event);
            }
            return buffered.then(|| self.event_id(key));
        }
        // Every shard is busy this instant: never wait, queue it lock-free.
        let key = new.key.unwrap_or_else(global_key);
        let event = new.resolve(&mut Shared, &self.names, key);
        let room = if !event.is_llm() || self.credits.acquire(1) == 1 {
            Room::Paid
        } else {
            Room::Refused
        };
        if self.stream.is_some() {
            self.send_to_stream(&event);
        }
        self.overflow.push((event, room, new.latency));
        matches!(room, Room::Paid).then(|| self.event_id(key))
    }

    /// Records `events` in order under one clock reading (the hot path of a
    /// binding handing over a batch), one shard lock per run of
    /// [`BATCH_RUN`] events; returns how many were buffered.
    pub(crate) fn push_batch<'a>(&self, events: impl Iterator<Item = NewEvent<'a>>) -> usize {
        let now_ms = current_time_ms();
        let mut events = events.peekable();
        let mut buffered = 0;
        while events.peek().is_some() {
            buffered += self.push_run(events.by_ref().take(BATCH_RUN), now_ms);
        }
        buffered
    }

    /// One run of [`push_batch`](Self::push_batch) under one shard lock. When
    /// every shard is busy, falls back to [`push`](Self::push) per event,
    /// which never waits.
    fn push_run<'a>(&self, events: impl Iterator<Item = NewEvent<'a>>, now_ms: u64) -> usize {
        let n = self.shards.len();
        let home = home_shard();
        let Some(mut guard) = (0..n).find_map(|i| try_lock(&self.shards[(home + i) % n])) else {
            return events.filter(|&new| self.push(new).is_some()).count();
        };
        let shard = &mut *guard;
        if !self.overflow.is_empty() {
            self.fold_overflow(shard);
        }
        let mut streamed = Vec::new();
        let mut buffered = 0;
        for new in events {
            let key = new.key.unwrap_or_else(|| shard.next_key_at(now_ms));
            let event = new.resolve(&mut shard.caches, &self.names, key);
            if self.stream.is_some() {
                streamed.push(event.clone());
            }
            buffered += usize::from(shard.admit(self, event, Room::Take, new.latency));
        }
        drop(guard);
        for event in &streamed {
            self.send_to_stream(event);
        }
        buffered
    }

    fn fold_overflow(&self, shard: &mut Shard) {
        while let Some((event, room, latency)) = self.overflow.pop() {
            shard.admit(self, event, room, latency);
        }
    }

    /// Credits for shard `me`: a batch from the pool, else half of another shard's.
    fn take_credits(&self, me: u8) -> usize {
        let got = self.credits.acquire(self.credit_batch);
        if got > 0 {
            return got;
        }
        for (i, other) in self.shards.iter().enumerate() {
            if i == usize::from(me) {
                continue;
            }
            if let Some(mut other) = try_lock(other) {
                if other.credits > 0 {
                    let take = other.credits.div_ceil(2);
                    other.credits -= take;
                    return take;
                }
            }
        }
        0
    }

    fn send_to_stream(&self, event: &StoredEvent) {
        if let Some(tx) = &self.stream {
            // A dropped receiver wants nothing more: only a full channel drops.
            if let Err(TrySendError::Full(_)) = tx.try_send(self.to_event(event)) {
                // Relaxed: a statistic, read on its own.
                self.stream_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events the streaming channel could not take because it was full.
    pub fn stream_dropped_count(&self) -> u64 {
        self.stream_dropped.load(Ordering::Relaxed)
    }

    fn event_id(&self, key: u64) -> EventId {
        let prefix = if key_source(key) == GLOBAL_SOURCE {
            self.global_prefix
        } else {
            self.prefix
        };
        EventId::new(prefix, key)
    }

    /// The key under which this store keeps `id`, if the id can be one of its events.
    pub(crate) fn key_of(&self, id: EventId) -> Option<u64> {
        let ours = if key_source(id.key()) == GLOBAL_SOURCE {
            self.global_prefix
        } else {
            self.prefix
        };
        (id.prefix() == ours).then_some(id.key())
    }

    fn to_event(&self, e: &StoredEvent) -> AnalyticsEvent {
        let names = &self.names;
        let label = |sym| names.labels.name(sym).cloned();
        let meta = || LlmModelMeta {
            provider_id: label(e.provider_id),
            provider: names.providers.entry(e.provider).0.clone(),
            model: names.models.entry(e.model).0.clone(),
        };
        let payload = match &e.payload {
            StoredPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            } => EventPayload::LlmRequestCompleted(LlmUsageData {
                meta: meta(),
                input_tokens: *input_tokens,
                output_tokens: *output_tokens,
                cost_micros: *cost_micros,
            }),
            StoredPayload::Failed {
                error_code,
                error_message,
            } => EventPayload::LlmRequestFailed(LlmFailureData {
                meta: meta(),
                error_code: label(*error_code),
                error_message: error_message.clone(),
            }),
            StoredPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => EventPayload::BudgetThresholdReached(BudgetThresholdData {
                threshold_percent: *threshold_percent,
                current_spend_micros: *current_spend_micros,
                budget_micros: *budget_micros,
            }),
            StoredPayload::RouterStarted { port } => {
                EventPayload::RouterStarted(RouterStartedData { port: *port })
            }
            StoredPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => EventPayload::RouterStopped(RouterStoppedData {
                total_requests: *total_requests,
                total_cost_micros: *total_cost_micros,
            }),
            StoredPayload::Removed => unreachable!("INVARIANT: tombstones are never read out"),
        };
        AnalyticsEvent {
            id: self.event_id(e.key),
            agent_id: names.agents.name(e.agent).cloned(),
            payload,
        }
    }

    // -- reading ------------------------------------------------------------

    /// Locks the outbox and moves every shard's new events into it.
    fn pull(&self) -> MutexGuard<'_, Outbox> {
        let mut outbox = lock(&self.outbox);
        let mut fresh = Vec::new();
        let (mut recorded, mut dropped, mut evicted) = (0, 0, 0);
        for (i, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            if i == 0 {
                self.fold_overflow(&mut shard);
            }
            for chunk in shard.chunks.drain(..) {
                if fresh.is_empty() {
                    fresh = chunk;
                } else {
                    fresh.extend(chunk);
                }
            }
            shard.pending_local = 0;
            shard.local_cursor = 0;
            recorded += shard.recorded;
            dropped += shard.dropped;
            evicted += shard.evicted;
        }
        outbox.recorded_at_pull = recorded;
        outbox.dropped_at_pull = dropped;
        outbox.shard_evicted_at_pull = evicted;
        outbox.merge(fresh);
        outbox.evict_locals(self.capacity);
        outbox
    }

    /// The buffer's accounting at one instant (see [`Accounting`]).
    pub fn accounting(&self) -> Accounting {
        let o = self.pull();
        Accounting {
            recorded: o.recorded_at_pull,
            buffered: (o.llm + o.local) as u64,
            drained: o.drained,
            synced: o.synced,
            rejected: o.rejected,
            dropped: o.dropped_at_pull,
            evicted: o.evicted + o.shard_evicted_at_pull,
        }
    }

    /// LLM events refused because the buffer was full.
    pub fn dropped_count(&self) -> u64 {
        self.accounting().dropped
    }

    /// Local events evicted to make room.
    pub fn evicted_count(&self) -> u64 {
        self.accounting().evicted
    }

    /// LLM events buffered and waiting to be sent.
    pub fn unsynced_count(&self) -> usize {
        self.pull().llm
    }

    /// Events in the buffer (all kinds).
    pub fn len(&self) -> usize {
        let o = self.pull();
        o.llm + o.local
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies of every buffered event, oldest first; the buffer is unchanged.
    pub fn snapshot_events(&self) -> Vec<AnalyticsEvent> {
        let o = self.pull();
        o.live().map(|e| self.to_event(e)).collect()
    }

    /// Copies of the buffered LLM events (those waiting to be sent), oldest first.
    pub fn unsynced_events(&self) -> Vec<AnalyticsEvent> {
        self.unsynced_events_limit(usize::MAX)
    }

    /// Like [`EventStore::unsynced_events`], at most `limit` of them.
    pub fn unsynced_events_limit(&self, limit: usize) -> Vec<AnalyticsEvent> {
        let o = self.pull();
        o.live()
            .filter(|e| e.is_llm())
            .take(limit)
            .map(|e| self.to_event(e))
            .collect()
    }

    /// Removes and returns every buffered event, oldest first.
    pub fn drain_all(&self) -> Vec<AnalyticsEvent> {
        let mut o = self.pull();
        let events: Vec<_> = o.live().map(|e| self.to_event(e)).collect();
        self.credits.release(o.llm);
        o.drained += events.len() as u64;
        o.events = VecDeque::new();
        o.llm = 0;
        o.local = 0;
        o.tombstones = 0;
        events
    }

    /// Removes delivered events (unknown ids, ids already removed and ids of
    /// local events are ignored); returns how many were removed. Their room
    /// is free again at once.
    pub fn mark_synced(&self, ids: &[EventId]) -> usize {
        let mut o = self.pull();
        let removed = o.remove_llm(ids.iter().filter_map(|&id| self.key_of(id)));
        o.synced += removed as u64;
        drop(o);
        self.credits.release(removed);
        removed
    }

    /// Removes events the server will never accept (e.g. HTTP 400); counted
    /// as rejected, never as delivered. Returns how many were removed.
    pub fn mark_rejected(&self, ids: &[EventId]) -> usize {
        let mut o = self.pull();
        let removed = o.remove_llm(ids.iter().filter_map(|&id| self.key_of(id)));
        o.rejected += removed as u64;
        drop(o);
        self.credits.release(removed);
        removed
    }

    // -- statistics ---------------------------------------------------------

    /// Running totals only (no per-key tables).
    pub(crate) fn totals(&self) -> Counters {
        let mut totals = Counters::default();
        for (i, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            if i == 0 {
                self.fold_overflow(&mut shard);
            }
            totals.merge(&shard.totals);
        }
        totals
    }

    /// A snapshot of the statistics: totals and per-model, per-provider and
    /// per-agent breakdowns of every LLM event recorded.
    pub fn stats(&self) -> ComputedStats {
        self.stats_view().into()
    }

    /// The statistics as rows to walk, without the maps of [`stats`](Self::stats):
    /// one consistent reading, like `stats()`, for readers that only copy rows out.
    pub fn stats_view(&self) -> StatsView<'_> {
        let mut view = StatsView {
            names: &self.names,
            totals: Counters::default(),
            models: Vec::new(),
            providers: Vec::new(),
            agents: Vec::new(),
            latency: Vec::new(),
        };
        for (i, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            if i == 0 {
                self.fold_overflow(&mut shard);
            }
            view.totals.merge(&shard.totals);
            shard.by_model.merge_into(&mut view.models);
            shard.by_provider.merge_into(&mut view.providers);
            shard.by_agent.merge_into(&mut view.agents);
            if view.latency.len() < shard.latency.len() {
                view.latency
                    .resize(shard.latency.len(), ModelLatency::default());
            }
            for (acc, l) in view.latency.iter_mut().zip(&shard.latency) {
                acc.merge(l);
            }
        }
        view
    }

    /// The provider inferred from a recorded model's name.
    pub(crate) fn inferred_provider_of(&self, model: &str) -> Option<Arc<str>> {
        let sym = self.names.models.lookup(model)?;
        let provider = self.names.models.entry(sym).1;
        Some(self.names.providers.entry(provider).0.clone())
    }

    /// Statistics of one model, if it has been recorded.
    pub fn model_stats(&self, model: &str) -> Option<ModelStats> {
        self.stats().by_model.get(model).copied()
    }
}

fn check_capacity(capacity: usize) -> Result<(), StoreError> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        Err(StoreError::InvalidCapacity(capacity))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_events_are_compact() {
        // The memory target (≤ 64 heap bytes per buffered event) rests on this.
        assert_eq!(std::mem::size_of::<StoredEvent>(), 56);
    }

    #[test]
    fn outbox_merges_out_of_order_batches() {
        let ev = |key| StoredEvent {
            key,
            model: 0,
            provider: 0,
            agent: NONE,
            provider_id: NONE,
            payload: StoredPayload::RouterStarted { port: 1 },
        };
        let mut o = Outbox::default();
        o.merge(vec![ev(5), ev(1)]);
        o.merge(vec![ev(3), ev(9)]);
        let keys: Vec<u64> = o.events.iter().map(|e| e.key).collect();
        assert_eq!(keys, [1, 3, 5, 9]);
        assert_eq!(o.local, 4);
        o.evict_locals(2);
        let keys: Vec<u64> = o.live().map(|e| e.key).collect();
        assert_eq!(keys, [5, 9]);
        assert_eq!(o.evicted, 2);
    }
}
