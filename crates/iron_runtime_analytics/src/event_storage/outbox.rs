//! The outbox: the events pulled out of the shards, sorted by key, with the
//! counters of what left it.

use std::collections::VecDeque;

use super::stored::{Names, StoredEvent, StoredPayload};
use super::CHUNK;

#[derive(Default)]
pub(super) struct Outbox {
    /// Sorted by key; may hold tombstones.
    pub(super) events: VecDeque<StoredEvent>,
    pub(super) llm: usize,
    pub(super) local: usize,
    pub(super) tombstones: usize,
    pub(super) drained: u64,
    pub(super) synced: u64,
    pub(super) rejected: u64,
    pub(super) evicted: u64,
    /// Shard counters summed at the last pull.
    pub(super) recorded_at_pull: u64,
    pub(super) dropped_at_pull: u64,
    pub(super) shard_evicted_at_pull: u64,
}

impl Outbox {
    pub(super) fn merge(&mut self, mut fresh: Vec<StoredEvent>) {
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
    pub(super) fn evict_locals(&mut self, capacity: usize, names: &Names) {
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
                names.release(e);
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
    pub(super) fn trim(&mut self) {
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
    pub(super) fn remove_llm(
        &mut self,
        keys: impl IntoIterator<Item = u64>,
        names: &Names,
    ) -> usize {
        let mut removed = 0;
        for key in keys {
            if let Ok(i) = self.events.binary_search_by_key(&key, |e| e.key) {
                let e = &mut self.events[i];
                if e.is_llm() {
                    names.release(e);
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

    pub(super) fn live(&self) -> impl Iterator<Item = &StoredEvent> {
        self.events.iter().filter(|e| !e.is_removed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_storage::stored::{StoredEvent, StoredPayload};
    use crate::intern::NONE;

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
        o.evict_locals(2, &Names::new(10));
        let keys: Vec<u64> = o.live().map(|e| e.key).collect();
        assert_eq!(keys, [5, 9]);
        assert_eq!(o.evicted, 2);
    }
}
