//! A shard: one mutex that writers only ever `try_lock`, holding plain
//! counters, a symbol cache and a chunked buffer of new events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use super::stored::{Admission, Caches, Latency, StoredPayload};
use super::{EventStore, CHUNK};
use crate::event::{make_key, next_hi, next_hi_at};
use crate::intern::{is_transient, NONE};
use crate::series::SeriesTable;
use crate::stats::{Counters, ModelLatency, Table};

/// How an event arriving at a shard pays for its room.
#[derive(Clone, Copy)]
pub(super) enum Room {
    /// Take a credit now (or drop).
    Take,
    /// Already holds one (overflow path).
    Paid,
    /// Found none when it was recorded (overflow path): count it dropped.
    Refused,
}

pub(super) struct Shard {
    pub(super) index: u8,
    pub(super) last_hi: u64,
    pub(super) credits: usize,
    pub(super) chunks: Vec<Vec<super::stored::StoredEvent>>,
    /// Local events waiting to be pulled: bounded by the capacity.
    pub(super) pending_local: usize,
    /// Where the search for the oldest pending local event resumes.
    pub(super) local_cursor: usize,
    pub(super) recorded: u64,
    pub(super) dropped: u64,
    pub(super) evicted: u64,
    pub(super) totals: Counters,
    pub(super) by_model: Table,
    pub(super) by_provider: Table,
    pub(super) by_agent: Table,
    /// Per kept model symbol; grown only for models recorded with a latency.
    pub(super) latency: Vec<ModelLatency>,
    /// Latency of models past the cardinality limit.
    pub(super) latency_overflow: ModelLatency,
    /// The GenAI series (every LLM request).
    pub(super) series: SeriesTable,
    pub(super) caches: Caches,
}

impl Shard {
    pub(super) fn new(index: u8) -> Self {
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
            latency_overflow: ModelLatency::default(),
            series: SeriesTable::default(),
            caches: Caches::default(),
        }
    }

    /// Tombstones the oldest local event in this shard's chunks. Every chunk
    /// but the last is full, so `local_cursor` is a flat index that only moves
    /// forward: amortised O(1) per eviction.
    pub(super) fn evict_oldest_local(&mut self, store: &EventStore) {
        let total = self.chunks.iter().map(Vec::len).sum::<usize>();
        while self.local_cursor < total {
            let e = &mut self.chunks[self.local_cursor / CHUNK][self.local_cursor % CHUNK];
            self.local_cursor += 1;
            if !e.is_llm() && !e.is_removed() {
                store.names.release(e);
                e.payload = StoredPayload::Removed;
                self.evicted += 1;
                return;
            }
        }
    }

    pub(super) fn next_key(&mut self) -> u64 {
        self.last_hi = next_hi(self.last_hi);
        make_key(self.last_hi, self.index)
    }

    pub(super) fn next_key_at(&mut self, now_ms: u64) -> u64 {
        self.last_hi = next_hi_at(now_ms, self.last_hi);
        make_key(self.last_hi, self.index)
    }

    /// Counts the event and buffers it if there is room; returns whether it
    /// was buffered (a dropped event gives its transient strings back).
    pub(super) fn admit(&mut self, store: &EventStore, admission: Admission, room: Room) -> bool {
        let Admission {
            event,
            delta,
            latency,
            series,
        } = admission;
        self.recorded += 1;
        if let Some(observation) = &series {
            self.series.observe(&store.names.series, observation);
        }
        if latency != Latency::default() {
            let model = if is_transient(event.model) {
                &mut self.latency_overflow
            } else {
                let i = event.model as usize;
                if i >= self.latency.len() {
                    self.latency.resize(i + 1, ModelLatency::default());
                }
                &mut self.latency[i]
            };
            if let Some(micros) = latency.duration_micros {
                model.duration.observe(micros);
            }
            if let Some(micros) = latency.ttft_micros {
                model.ttft.observe(micros);
            }
        }
        if let Some(delta) = delta {
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
                        if self.credits == 0 {
                            store.publish_held(self.index, 0);
                        }
                        true
                    }
                }
            };
            if !has_room {
                self.dropped += 1;
                store.names.release(&event);
                return false;
            }
        } else if self.pending_local >= store.capacity {
            // Only reachable when nobody reads the store while it records
            // `capacity` local events: evict this shard's oldest local event
            // now, as a pull would, so that memory stays bounded.
            self.evict_oldest_local(store);
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// This thread's home shard number (before taking it modulo the shard count).
pub(super) fn home_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    HOME.with(|h| *h)
}
