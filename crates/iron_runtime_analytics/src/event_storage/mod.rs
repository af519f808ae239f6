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

mod config;
mod outbox;
mod replay;
mod shard;
mod stored;

pub use config::{
    NameCounts, StoreConfig, DEFAULT_CARDINALITY_LIMIT, MAX_CARDINALITY_LIMIT, MAX_NAME_CHARS,
};
use outbox::Outbox;
use replay::Replayed;
use shard::{home_shard, lock, try_lock, Room, Shard};
use stored::{Admission, Shared, StoredEvent, StoredPayload};
pub(crate) use stored::{Cost, Kind, Latency, Name, Names, NewEvent, NewPayload, ProviderArg};
pub use stored::{MAX_ERROR_MESSAGE_CHARS, TRUNCATION_MARK};

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use crate::credits::CreditPool;
use crate::event::{
    global_key, id_prefix, key_source, next_store_index, AnalyticsEvent, EventId, EventPayload,
    LlmFailureData, LlmModelMeta, LlmUsageData, GLOBAL_SOURCE, MAX_SHARDS,
};
use crate::intern::TransientReader;
use crate::provider_utils::current_time_ms;
use crate::series::SeriesRows;
use crate::stats::{ComputedStats, Counters, ModelLatency, ModelStats};
use crate::stats_view::{Rows, StatsView};

/// Events a batch records under one shard lock before letting readers in:
/// about 50 µs of work, so a reader (`stats()`, a sync pass) never waits
/// longer than that for a huge batch.
const BATCH_RUN: usize = 1024;

/// Default buffer capacity: 10,000 events.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Largest accepted capacity (the buffer allocates as it fills, not up front).
pub const MAX_CAPACITY: usize = 100_000_000;
/// Events per chunk of a shard's buffer: the unit in which buffers allocate.
pub(super) const CHUNK: usize = 256;

/// The receiving end of a streaming store's channel (see [`EventStore::with_streaming`]).
pub type StreamReceiver = Receiver<AnalyticsEvent>;

/// Errors from building a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The capacity was 0 or above [`MAX_CAPACITY`].
    #[error("capacity must be between 1 and {MAX_CAPACITY} events, got {0}")]
    InvalidCapacity(usize),
    /// The cardinality limit was 0 or above [`MAX_CARDINALITY_LIMIT`].
    #[error("the cardinality limit must be between 1 and {MAX_CARDINALITY_LIMIT} names per breakdown, got {0}")]
    InvalidCardinalityLimit(usize),
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
    /// A [`crate::ModelKey`] or [`crate::NameKey`] made by another store
    /// (or for another kind of name) was used.
    #[error("this key was made by another EventStore, or for another kind of name: make keys with the store that records them")]
    ForeignKey,
    /// A name was longer than [`MAX_NAME_CHARS`] characters.
    #[error("{field} must be at most {MAX_NAME_CHARS} characters long, got {chars}: names are stats keys and labels, not free text")]
    NameTooLong {
        /// Which argument (`model`, `provider`, `agent_id`, `provider_id`, `error_code`).
        field: &'static str,
        /// Its length in characters.
        chars: usize,
    },
    /// The operation name was empty.
    #[error("operation name must not be empty: leave it out for the default, chat")]
    EmptyOperation,
    /// A part of the token counts was larger than its whole (cache reads
    /// and writes above the input tokens, reasoning above the output tokens).
    #[error("invalid token usage: {0}")]
    InvalidUsage(#[from] iron_cost::UsageError),
}

/// The buffer's accounting, read at one consistent instant:
/// `recorded + replayed == buffered + drained + synced + rejected + dropped + evicted`.
///
/// `replayed` counts events recorded by another process and offered back by
/// [`EventStore::restore_events`] (a sync spool replayed at start). `lost`
/// counts records a binding accepted from its caller but could not hand to
/// the store (see [`EventStore::record_lost`]), and `refused` the records the
/// infallible `record*` methods refused for bad input (see
/// [`EventStore::refused_count`]); they never became events, so they are
/// outside the identity, but never silent.
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
    /// Records accepted by a binding but never recorded (see [`EventStore::record_lost`]).
    pub lost: u64,
    /// Records refused for bad input by the infallible `record*` methods
    /// (see [`EventStore::refused_count`]).
    pub refused: u64,
    /// Events recorded elsewhere and offered back by [`EventStore::restore_events`]
    /// (a sync spool replayed at start); those that found no room are in `dropped`.
    pub replayed: u64,
}

impl Accounting {
    /// Whether the identity holds (it always should; exposed for tests and monitoring).
    pub fn is_balanced(&self) -> bool {
        let sides = |parts: &[u64]| parts.iter().try_fold(0u64, |sum, &n| sum.checked_add(n));
        let taken_in = sides(&[self.recorded, self.replayed]);
        let settled = sides(&[
            self.buffered,
            self.drained,
            self.synced,
            self.rejected,
            self.dropped,
            self.evicted,
        ]);
        taken_in.is_some() && taken_in == settled
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
/// let store = EventStore::with_capacity(2);
/// let pricing = PricingManager::new().unwrap();
/// let a = store.try_record_llm_completed(&pricing, "gpt-4", 150, 50, None, None).unwrap();
/// store.record_llm_completed(&pricing, "gpt-4", 150, 50, None, None);
/// // Full: the third is dropped from the outbox but still counted in the stats.
/// assert_eq!(store.try_record_llm_completed(&pricing, "gpt-4", 1, 1, None, None), Ok(None));
/// assert_eq!(store.dropped_count(), 1);
/// assert_eq!(store.stats().total_requests, 3);
/// // Delivering an event frees its room.
/// assert_eq!(store.mark_synced(&[a.unwrap()]), 1);
/// assert!(store.try_record_llm_completed(&pricing, "gpt-4", 1, 1, None, None).unwrap().is_some());
/// assert!(store.accounting().is_balanced());
/// ```
pub struct EventStore {
    pub(crate) capacity: usize,
    cardinality_limit: usize,
    prefix: u64,
    global_prefix: u64,
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Events recorded while every shard was busy, with whether they got room.
    overflow: SegQueue<(Admission, Room)>,
    outbox: Mutex<Outbox>,
    credits: CreditPool,
    /// Per shard, the credits it held when it last took or used up a batch.
    held: Box<[CachePadded<AtomicUsize>]>,
    credit_batch: usize,
    pub(crate) names: Names,
    stream: Option<Sender<AnalyticsEvent>>,
    stream_dropped: AtomicU64,
    /// Records a binding could not hand over, and why (the last reason).
    lost: AtomicU64,
    lost_reason: Mutex<Option<String>>,
    /// Records the infallible `record*` methods refused, and the last reason.
    refused: AtomicU64,
    last_refusal: Mutex<Option<RecordError>>,
    refusal_warned: AtomicBool,
    /// Original ids of the events taken back by [`EventStore::restore_events`].
    replayed: Replayed,
    /// When the store began counting (Unix ms): the start of every cumulative series.
    created_at_ms: u64,
}

impl fmt::Debug for EventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStore")
            .field("capacity", &self.capacity)
            .field("cardinality_limit", &self.cardinality_limit)
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
    /// A store with the default capacity of [`DEFAULT_CAPACITY`] events and
    /// the default cardinality limit ([`DEFAULT_CARDINALITY_LIMIT`]).
    pub fn new() -> Self {
        Self::build(&StoreConfig::new(), None)
    }

    /// A store that buffers at most `capacity` events.
    ///
    /// # Panics
    /// If `capacity` is 0 or above [`MAX_CAPACITY`] (as `iron_runtime_analytics`
    /// 0.4.0 panicked on 0); [`EventStore::try_with_capacity`] returns the
    /// error instead.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::try_with_capacity(capacity)
            .unwrap_or_else(|e| panic!("EventStore::with_capacity: {e}"))
    }

    /// A store that buffers at most `capacity` events, or why not.
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, StoreError};
    /// assert_eq!(EventStore::try_with_capacity(100).unwrap().capacity(), 100);
    /// assert_eq!(EventStore::try_with_capacity(0).unwrap_err(), StoreError::InvalidCapacity(0));
    /// ```
    ///
    /// # Errors
    /// [`StoreError::InvalidCapacity`] if `capacity` is 0 or above [`MAX_CAPACITY`].
    pub fn try_with_capacity(capacity: usize) -> Result<Self, StoreError> {
        Self::with_config(StoreConfig::new().with_capacity(capacity))
    }

    /// A store built from a [`StoreConfig`] (capacity, cardinality limit).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, StoreConfig, CARDINALITY_OVERFLOW_KEY};
    ///
    /// let store = EventStore::with_config(StoreConfig::new().with_cardinality_limit(2)).unwrap();
    /// for model in ["a", "b", "c", "d"] {
    ///     store.record_llm_failed(model, None, None, Some("timeout"), None);
    /// }
    /// let stats = store.stats();
    /// assert_eq!(stats.by_model.len(), 3); // "a", "b" and the overflow row
    /// assert_eq!(stats.by_model[CARDINALITY_OVERFLOW_KEY].request_count, 2);
    /// // Events keep their own model names for delivery.
    /// let last = &store.snapshot_events()[3];
    /// assert_eq!(&*last.payload.meta().unwrap().model, "d");
    /// ```
    ///
    /// # Errors
    /// [`StoreError`] for a capacity or cardinality limit out of range.
    pub fn with_config(config: StoreConfig) -> Result<Self, StoreError> {
        config.validate()?;
        Ok(Self::build(&config, None))
    }

    /// A store that also offers every recorded event to a bounded channel of
    /// `channel_size`; a full channel never slows the recorder (the event is
    /// not sent and [`EventStore::stream_dropped_count`] counts it). A
    /// `channel_size` of 0 makes a rendezvous channel: an event reaches the
    /// receiver only if it is waiting in `recv` at that instant.
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// let (store, receiver) = EventStore::with_streaming(100, 1);
    /// store.record_router_started(8080);
    /// store.record_router_started(8081); // channel full: not sent, counted
    /// assert_eq!(receiver.try_recv().unwrap().event_type().as_str(), "router_started");
    /// assert_eq!(store.stream_dropped_count(), 1);
    /// ```
    ///
    /// # Panics
    /// If `capacity` is 0 or above [`MAX_CAPACITY`];
    /// [`EventStore::try_with_streaming`] returns the error instead.
    pub fn with_streaming(capacity: usize, channel_size: usize) -> (Self, StreamReceiver) {
        Self::try_with_streaming(capacity, channel_size)
            .unwrap_or_else(|e| panic!("EventStore::with_streaming: {e}"))
    }

    /// [`EventStore::with_streaming`], or why not.
    ///
    /// # Errors
    /// [`StoreError::InvalidCapacity`] for a capacity out of range.
    pub fn try_with_streaming(
        capacity: usize,
        channel_size: usize,
    ) -> Result<(Self, StreamReceiver), StoreError> {
        Self::with_config_streaming(StoreConfig::new().with_capacity(capacity), channel_size)
    }

    /// [`EventStore::with_streaming`] with a [`StoreConfig`].
    ///
    /// # Errors
    /// [`StoreError`] for a setting out of range.
    pub fn with_config_streaming(
        config: StoreConfig,
        channel_size: usize,
    ) -> Result<(Self, StreamReceiver), StoreError> {
        config.validate()?;
        let (tx, rx) = crossbeam_channel::bounded(channel_size);
        Ok((Self::build(&config, Some(tx)), rx))
    }

    fn build(config: &StoreConfig, stream: Option<Sender<AnalyticsEvent>>) -> Self {
        let capacity = config.capacity();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shard_count = (cores * 2).clamp(4, MAX_SHARDS);
        let shards = (0..shard_count)
            .map(|i| CachePadded::new(Mutex::new(Shard::new(u8::try_from(i).unwrap_or(0)))))
            .collect();
        Self {
            capacity,
            cardinality_limit: config.cardinality_limit(),
            prefix: id_prefix(next_store_index()),
            global_prefix: id_prefix(0),
            shards,
            overflow: SegQueue::new(),
            outbox: Mutex::new(Outbox::default()),
            credits: CreditPool::new(capacity),
            held: (0..shard_count)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            // Small batches: idle shards hold few credits, and stealing covers the rest.
            credit_batch: (capacity / (shard_count * 8)).clamp(1, 64),
            names: Names::new(config.cardinality_limit()),
            stream,
            stream_dropped: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            lost_reason: Mutex::new(None),
            refused: AtomicU64::new(0),
            last_refusal: Mutex::new(None),
            refusal_warned: AtomicBool::new(false),
            replayed: Replayed::default(),
            created_at_ms: current_time_ms(),
        }
    }

    /// The kept symbol of `name` in the `kind` table, keeping it if there is
    /// room; `None` past the cardinality limit.
    pub(crate) fn keep(&self, kind: Kind, name: &str) -> Option<u32> {
        stored::intern_kept(&self.names, kind, name)
    }

    /// The most distinct names each stats breakdown (model, provider, agent)
    /// keeps before summing the rest in the overflow row.
    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }

    /// How many names the store holds now: kept names per kind (bounded by
    /// the cardinality limit) and transient ones (past the limit, held only
    /// while buffered events use them). For monitoring memory.
    pub fn name_counts(&self) -> NameCounts {
        NameCounts {
            models: self.names.models.len(),
            providers: self.names.providers.len(),
            agents: self.names.agents.len(),
            labels: self.names.labels.len(),
            transient: self.names.transient.live(),
        }
    }

    /// Counts `count` records that a binding accepted from its caller but
    /// could not hand to the store (e.g. a batch it could not decode), with
    /// the reason: they appear in [`Accounting::lost`] and
    /// [`EventStore::lost_reason`], never silently.
    pub fn record_lost(&self, count: u64, reason: &str) {
        // Relaxed: a statistic, read on its own.
        self.lost.fetch_add(count, Ordering::Relaxed);
        *self
            .lost_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason.to_owned());
    }

    /// Why records were last lost (see [`EventStore::record_lost`]).
    pub fn lost_reason(&self) -> Option<String> {
        self.lost_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts a record refused by an infallible `record*` method; warns the
    /// first time (the later ones are counted, and the last one is kept).
    pub(crate) fn refuse(&self, method: &str, error: RecordError) {
        // Relaxed: a statistic, read on its own; the flag only dedups a log line.
        self.refused.fetch_add(1, Ordering::Relaxed);
        if !self.refusal_warned.swap(true, Ordering::Relaxed) {
            log::warn!(
                "EventStore::{method} refused a record: {error}; nothing was counted. Further \
                 refusals are counted in refused_count() without a log line; use the try_* \
                 methods to get the error back"
            );
        }
        *self
            .last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// Records the infallible `record*` methods (those named as in
    /// `iron_runtime_analytics` 0.4.0, which return nothing) refused for bad
    /// input, such as an empty model name: nothing of them was counted or
    /// buffered. The first refusal is logged (`log::warn!`), the last one is
    /// kept ([`EventStore::last_refusal`]); the `try_*` methods return the
    /// error to the caller instead.
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, RecordError};
    /// let store = EventStore::new();
    /// store.record_llm_failed("", None, None, None, None);
    /// assert_eq!(store.refused_count(), 1);
    /// assert_eq!(store.last_refusal(), Some(RecordError::EmptyModel));
    /// assert_eq!(store.stats().total_requests, 0);
    /// ```
    pub fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Why the last refused record was refused (see [`EventStore::refused_count`]).
    pub fn last_refusal(&self) -> Option<RecordError> {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The id prefix shared by this store's events (also names the store).
    pub(crate) fn id_prefix(&self) -> u64 {
        self.prefix
    }

    /// When the store was made, Unix milliseconds: its statistics count
    /// from then (the start time of every cumulative OpenTelemetry series).
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
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
            let admission = new.resolve(&mut shard.caches, &self.names, key);
            // Converted before admitting: a dropped event gives its names back.
            let streamed = self
                .stream
                .as_ref()
                .map(|_| self.to_event(&admission.event));
            let buffered = shard.admit(self, admission, Room::Take);
            drop(guard);
            if let Some(event) = streamed {
                self.send_to_stream(event);
            }
            return buffered.then(|| self.event_id(key));
        }
        // Every shard is busy this instant: never wait, queue it lock-free.
        let key = new.key.unwrap_or_else(global_key);
        let admission = new.resolve(&mut Shared, &self.names, key);
        let room = if !admission.event.is_llm() || self.credits.acquire(1) == 1 {
            Room::Paid
        } else {
            Room::Refused
        };
        if self.stream.is_some() {
            self.send_to_stream(self.to_event(&admission.event));
        }
        self.overflow.push((admission, room));
        matches!(room, Room::Paid).then(|| self.event_id(key))
    }

    /// Records `events` in order under one clock reading (the hot path of a
    /// binding handing over a batch), one shard lock per run of
    /// [`BATCH_RUN`] events; returns how many were buffered.
    pub(crate) fn push_batch<'a>(
        &self,
        events: impl Iterator<Item = NewEvent<'a>>,
        now_ms: u64,
    ) -> usize {
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
            let admission = new.resolve(&mut shard.caches, &self.names, key);
            if self.stream.is_some() {
                streamed.push(self.to_event(&admission.event));
            }
            buffered += usize::from(shard.admit(self, admission, Room::Take));
        }
        drop(guard);
        for event in streamed {
            self.send_to_stream(event);
        }
        buffered
    }

    fn fold_overflow(&self, shard: &mut Shard) {
        while let Some((admission, room)) = self.overflow.pop() {
            shard.admit(self, admission, room);
        }
    }

    /// Credits for shard `me` (`u8::MAX` for a caller that is no shard): a
    /// batch from the pool, else half of another shard's.
    pub(super) fn take_credits(&self, me: u8) -> usize {
        let got = self.credits.acquire(self.credit_batch);
        if got > 0 {
            self.publish_held(me, got);
            return got;
        }
        // Lock only shards that published credits: when the store is full,
        // every shard has published 0 and a drop touches no other lock (on
        // a full store, recording threads used to contend here on every event).
        for (i, other) in self.shards.iter().enumerate() {
            // Relaxed: a hint; the shard's lock guards its real count.
            if i == usize::from(me) || self.held[i].load(Ordering::Relaxed) == 0 {
                continue;
            }
            if let Some(mut other) = try_lock(other) {
                if other.credits > 0 {
                    let take = other.credits.div_ceil(2);
                    other.credits -= take;
                    self.publish_held(other.index, other.credits);
                    self.publish_held(me, take);
                    return take;
                }
                self.publish_held(other.index, 0);
            }
        }
        0
    }

    /// Publishes how many credits shard `index` holds, as of a batch taken
    /// or used up (not per event). A shard holding credits never shows 0.
    /// (An index that is no shard's, e.g. `u8::MAX`, publishes nothing.)
    pub(super) fn publish_held(&self, index: u8, credits: usize) {
        if let Some(held) = self.held.get(usize::from(index)) {
            // Relaxed: a hint for `take_credits`; the shard's lock guards the count.
            held.store(credits, Ordering::Relaxed);
        }
    }

    fn send_to_stream(&self, event: AnalyticsEvent) {
        if let Some(tx) = &self.stream {
            // A dropped receiver wants nothing more: only a full channel drops.
            if let Err(TrySendError::Full(_)) = tx.try_send(event) {
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
            if let Some(original) = self.replayed.original_id(key) {
                return original;
            }
            self.global_prefix
        } else {
            self.prefix
        };
        EventId::from_parts(prefix, key)
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
        self.to_event_with(&mut self.names.transient.reader(), e)
    }

    /// [`to_event`](Self::to_event) reading transient names through `reader`
    /// (one lock for a whole snapshot).
    fn to_event_with(&self, reader: &mut TransientReader<'_>, e: &StoredEvent) -> AnalyticsEvent {
        let names = &self.names;
        let mut name = |kind, sym| names.name(reader, kind, sym);
        let mut meta = || LlmModelMeta {
            provider_id: name(Kind::Label, e.provider_id),
            provider: name(Kind::Provider, e.provider).unwrap_or_else(|| Arc::from("unknown")),
            model: name(Kind::Model, e.model).unwrap_or_else(|| Arc::from("")),
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
            } => {
                let meta = meta();
                EventPayload::LlmRequestFailed(LlmFailureData {
                    meta,
                    error_code: name(Kind::Label, *error_code).map(|code| String::from(&*code)),
                    error_message: error_message.as_deref().map(String::from),
                })
            }
            StoredPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => EventPayload::BudgetThresholdReached {
                threshold_percent: *threshold_percent,
                current_spend_micros: *current_spend_micros,
                budget_micros: *budget_micros,
            },
            StoredPayload::RouterStarted { port } => EventPayload::RouterStarted { port: *port },
            StoredPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => EventPayload::RouterStopped {
                total_requests: *total_requests,
                total_cost_micros: *total_cost_micros,
            },
            StoredPayload::Removed => unreachable!("INVARIANT: tombstones are never read out"),
        };
        // A restored event keeps its original id, and the time it carries.
        let id = self.event_id(e.key);
        AnalyticsEvent {
            id,
            timestamp_ms: id.timestamp_ms(),
            agent_id: name(Kind::Agent, e.agent),
            synced: false,
            payload,
        }
    }

    /// Converts buffered events under one transient-name lock.
    fn to_events<'e>(&self, events: impl Iterator<Item = &'e StoredEvent>) -> Vec<AnalyticsEvent> {
        let mut reader = self.names.transient.reader();
        events.map(|e| self.to_event_with(&mut reader, e)).collect()
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
        outbox.evict_locals(self.capacity, &self.names);
        outbox
    }

    /// The buffer's accounting at one instant (see [`Accounting`]).
    pub fn accounting(&self) -> Accounting {
        let o = self.pull();
        let (replayed, replay_dropped) = self.replayed.counts();
        Accounting {
            recorded: o.recorded_at_pull,
            buffered: (o.llm + o.local) as u64,
            drained: o.drained,
            synced: o.synced,
            rejected: o.rejected,
            dropped: o.dropped_at_pull + replay_dropped,
            evicted: o.evicted + o.shard_evicted_at_pull,
            lost: self.lost.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            replayed,
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

    /// LLM events buffered and waiting to be sent (local events, which are
    /// never sent, are not counted).
    pub fn unsynced_count(&self) -> u64 {
        self.pull().llm as u64
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
        self.to_events(o.live())
    }

    /// Copies of the buffered LLM events (those waiting to be sent), oldest first.
    pub fn unsynced_events(&self) -> Vec<AnalyticsEvent> {
        self.unsynced_events_limit(usize::MAX)
    }

    /// Like [`EventStore::unsynced_events`], at most `limit` of them.
    pub fn unsynced_events_limit(&self, limit: usize) -> Vec<AnalyticsEvent> {
        let o = self.pull();
        self.to_events(o.live().filter(|e| e.is_llm()).take(limit))
    }

    /// Removes and returns every buffered event, oldest first.
    pub fn drain_all(&self) -> Vec<AnalyticsEvent> {
        let mut o = self.pull();
        let events = self.to_events(o.live());
        for e in o.live() {
            self.names.release(e);
        }
        self.credits.release(o.llm);
        o.drained += events.len() as u64;
        self.replayed.forget_all();
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
        let removed = o.remove_llm(
            ids.iter().filter_map(|&id| self.outbox_key(id)),
            &self.names,
        );
        o.synced += removed as u64;
        drop(o);
        self.credits.release(removed);
        removed
    }

    /// Removes events the server will never accept (e.g. HTTP 400); counted
    /// as rejected, never as delivered. Returns how many were removed.
    pub fn mark_rejected(&self, ids: &[EventId]) -> usize {
        let mut o = self.pull();
        let removed = o.remove_llm(
            ids.iter().filter_map(|&id| self.outbox_key(id)),
            &self.names,
        );
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
        self.view(false).into()
    }

    /// The statistics as rows to walk, without the maps of [`stats`](Self::stats):
    /// one consistent reading, like `stats()`, for readers that only copy rows out.
    pub fn stats_view(&self) -> StatsView<'_> {
        self.view(true)
    }

    /// The statistics without the GenAI series when `with_series` is false
    /// ([`stats`](Self::stats) needs none):
    /// merging the series of every shard is most of the work with many models.
    pub(crate) fn view(&self, with_series: bool) -> StatsView<'_> {
        let mut view = StatsView {
            names: &self.names,
            totals: Counters::default(),
            models: Rows::default(),
            providers: Rows::default(),
            agents: Rows::default(),
            latency: Vec::new(),
            latency_overflow: ModelLatency::default(),
            series: SeriesRows::default(),
        };
        for (i, shard) in self.shards.iter().enumerate() {
            let mut shard = lock(shard);
            if i == 0 {
                self.fold_overflow(&mut shard);
            }
            view.totals.merge(&shard.totals);
            shard
                .by_model
                .merge_into(&mut view.models.kept, &mut view.models.overflow);
            shard
                .by_provider
                .merge_into(&mut view.providers.kept, &mut view.providers.overflow);
            shard
                .by_agent
                .merge_into(&mut view.agents.kept, &mut view.agents.overflow);
            if view.latency.len() < shard.latency.len() {
                view.latency
                    .resize(shard.latency.len(), ModelLatency::default());
            }
            for (acc, l) in view.latency.iter_mut().zip(&shard.latency) {
                acc.merge(l);
            }
            view.latency_overflow.merge(&shard.latency_overflow);
            if with_series {
                shard.series.merge_into(&mut view.series);
            }
        }
        view
    }

    /// Statistics of one model, if it has been recorded.
    pub fn model_stats(&self, model: &str) -> Option<ModelStats> {
        self.stats().by_model.get(model).copied()
    }
}
