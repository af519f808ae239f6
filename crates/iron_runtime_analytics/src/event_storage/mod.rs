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

mod outbox;
mod replay;
mod shard;
mod stored;

use outbox::Outbox;
use replay::Replayed;
use shard::{home_shard, lock, try_lock, Room, Shard};
pub(crate) use stored::{Latency, Name, Names, NewEvent, NewPayload, ProviderArg};
use stored::{Shared, StoredEvent, StoredPayload};

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use crate::credits::CreditPool;
use crate::event::{
    global_key, id_prefix, key_source, next_store_index, AnalyticsEvent, BudgetThresholdData,
    EventId, EventPayload, LlmFailureData, LlmModelMeta, LlmUsageData, RouterStartedData,
    RouterStoppedData, GLOBAL_SOURCE, MAX_SHARDS,
};
use crate::intern::Interner;
use crate::provider_utils::current_time_ms;
use crate::stats::{ComputedStats, Counters, ModelLatency, ModelStats};
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
/// `recorded + replayed == buffered + drained + synced + rejected + dropped + evicted`.
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
    /// Events recorded elsewhere and offered back by [`EventStore::restore_events`]
    /// (a sync spool replayed at start); those that found no room are in `dropped`.
    pub replayed: u64,
}

impl Accounting {
    /// Whether the identity holds (it always should; exposed for tests and monitoring).
    pub fn is_balanced(&self) -> bool {
        self.recorded + self.replayed
            == self.buffered
                + self.drained
                + self.synced
                + self.rejected
                + self.dropped
                + self.evicted
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
    /// Original ids of the events taken back by [`EventStore::restore_events`].
    replayed: Replayed,
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
            replayed: Replayed::default(),
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
            if let Some(original) = self.replayed.original_id(key) {
                return original;
            }
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
        let (replayed, replay_dropped) = self.replayed.counts();
        Accounting {
            recorded: o.recorded_at_pull,
            buffered: (o.llm + o.local) as u64,
            drained: o.drained,
            synced: o.synced,
            rejected: o.rejected,
            dropped: o.dropped_at_pull + replay_dropped,
            evicted: o.evicted + o.shard_evicted_at_pull,
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
        let removed = o.remove_llm(ids.iter().filter_map(|&id| self.outbox_key(id)));
        o.synced += removed as u64;
        drop(o);
        self.credits.release(removed);
        removed
    }

    /// Removes events the server will never accept (e.g. HTTP 400); counted
    /// as rejected, never as delivered. Returns how many were removed.
    pub fn mark_rejected(&self, ids: &[EventId]) -> usize {
        let mut o = self.pull();
        let removed = o.remove_llm(ids.iter().filter_map(|&id| self.outbox_key(id)));
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
