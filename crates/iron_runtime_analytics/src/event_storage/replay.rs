//! Taking back events recorded by another process (a sync spool replayed at
//! start): they keep their original ids and timestamps, take room in the
//! outbox like any LLM event, and are not counted in the statistics again
//! (the process that recorded them counted them).
//!
//! The outbox keeps an event's key, not its id, and derives the id from the
//! store's prefix. A restored event gets a fresh key of the process-wide
//! generator (unique in this process, so it can never collide with another
//! buffered event) and the original id is kept beside it, in a map that only
//! ever holds restored events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::stored::Shared;
use super::EventStore;
use crate::event::{global_key, AnalyticsEvent, EventId};

/// The original ids of the restored events still buffered, and the counts.
#[derive(Default)]
pub(super) struct Replayed {
    /// Whether anything was ever restored: until then, reading an id never
    /// takes the lock below.
    any: AtomicBool,
    ids: Mutex<ForeignIds>,
}

#[derive(Default)]
struct ForeignIds {
    /// Outbox key → original id.
    by_key: HashMap<u64, EventId>,
    /// Original id → outbox key.
    by_id: HashMap<EventId, u64>,
    /// Events offered by [`EventStore::restore_events`] (restored or dropped).
    offered: u64,
    /// Events offered while the buffer was full of LLM events.
    dropped: u64,
}

impl Replayed {
    fn lock(&self) -> MutexGuard<'_, ForeignIds> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The original id of the restored event buffered under `key`.
    pub(super) fn original_id(&self, key: u64) -> Option<EventId> {
        // Relaxed: `any` is set under the outbox lock before a restored key
        // can be read back, and every reader of a key holds that lock or got
        // the key through it.
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.lock().by_key.get(&key).copied()
    }

    /// The outbox key of the restored event with original id `id`, forgotten
    /// here: the caller removes the event from the outbox under the same lock.
    pub(super) fn take_key(&self, id: EventId) -> Option<u64> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let mut ids = self.lock();
        let key = ids.by_id.remove(&id)?;
        ids.by_key.remove(&key);
        Some(key)
    }

    /// The buffer was drained: no restored event is buffered any more.
    pub(super) fn forget_all(&self) {
        if self.any.load(Ordering::Relaxed) {
            let mut ids = self.lock();
            ids.by_key = HashMap::new();
            ids.by_id = HashMap::new();
        }
    }

    /// Events offered for restoring, and how many of them were dropped.
    pub(super) fn counts(&self) -> (u64, u64) {
        if !self.any.load(Ordering::Relaxed) {
            return (0, 0);
        }
        let ids = self.lock();
        (ids.offered, ids.dropped)
    }
}

impl EventStore {
    /// Takes back LLM events recorded elsewhere, typically by an earlier run
    /// of this program whose undelivered events a sync spool kept; returns
    /// how many were buffered.
    ///
    /// Each event keeps its id and timestamp (the server deduplicates on the
    /// id, so an event delivered twice is counted once). Restored events are
    /// not counted in the statistics (the process that recorded them counted
    /// them); they take room in the buffer like any LLM event, and when it is
    /// full they are dropped and counted ([`Accounting::dropped`](super::Accounting::dropped)).
    /// [`Accounting::replayed`](super::Accounting::replayed) counts every
    /// event offered here. Local events, events with an empty model or
    /// provider name, and events already buffered are skipped.
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    ///
    /// let earlier = EventStore::new();
    /// earlier.try_record_llm_failed("gpt-4o", None, None, Some("timeout"), None).unwrap();
    /// let kept = earlier.unsynced_events();
    ///
    /// let store = EventStore::new();
    /// assert_eq!(store.restore_events(&kept), 1);
    /// assert_eq!(store.unsynced_events(), kept); // same id, same timestamp
    /// assert_eq!(store.stats().total_requests, 0);
    /// assert_eq!(store.mark_synced(&[kept[0].event_id()]), 1);
    /// let a = store.accounting();
    /// assert_eq!((a.replayed, a.synced), (1, 1));
    /// assert!(a.is_balanced());
    /// ```
    pub fn restore_events(&self, events: &[AnalyticsEvent]) -> usize {
        let mut outbox = self.pull();
        let mut ids = self.replayed.lock();
        let mut fresh = Vec::new();
        let mut credits = 0;
        for event in events {
            let buffered_here = self.key_of(event.id).is_some_and(|key| {
                outbox
                    .events
                    .binary_search_by_key(&key, |e| e.key)
                    .is_ok_and(|i| !outbox.events[i].is_removed())
            });
            if !event.event_type().is_synced() || buffered_here || ids.by_id.contains_key(&event.id)
            {
                continue;
            }
            let Ok(new) = self.new_event(event) else {
                continue;
            };
            ids.offered += 1;
            if credits == 0 {
                credits = self.take_credits(u8::MAX);
            }
            if credits == 0 {
                ids.dropped += 1;
                continue;
            }
            credits -= 1;
            let key = global_key();
            fresh.push(new.resolve(&mut Shared, &self.names, key).event);
            ids.by_key.insert(key, event.id);
            ids.by_id.insert(event.id, key);
        }
        self.credits.release(credits);
        // Relaxed: published to readers by the outbox lock held here.
        self.replayed.any.store(true, Ordering::Relaxed);
        drop(ids);
        let restored = fresh.len();
        outbox.merge(fresh);
        outbox.evict_locals(self.capacity, &self.names);
        restored
    }

    /// The outbox key of a buffered event, whether it was restored or recorded here.
    pub(super) fn outbox_key(&self, id: EventId) -> Option<u64> {
        self.replayed.take_key(id).or_else(|| self.key_of(id))
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{AnalyticsEvent, EventPayload, LlmModelMeta, LlmUsageData};
    use crate::EventStore;

    fn foreign(n: u64) -> Vec<AnalyticsEvent> {
        let other = EventStore::new();
        for i in 0..n {
            other
                .try_record(AnalyticsEvent::new(EventPayload::LlmRequestCompleted(
                    LlmUsageData {
                        meta: LlmModelMeta {
                            provider_id: Some("ip_1".into()),
                            provider: "openai".into(),
                            model: "gpt-4o".into(),
                        },
                        input_tokens: i,
                        output_tokens: 1,
                        cost_micros: 2,
                    },
                )))
                .expect("valid");
        }
        other.unsynced_events()
    }

    #[test]
    fn a_full_buffer_drops_restored_events_and_counts_them() {
        let store = EventStore::try_with_capacity(3).expect("capacity");
        store
            .try_record_llm_failed("gpt-4o", None, None, None, None)
            .expect("valid");
        let events = foreign(4);
        assert_eq!(store.restore_events(&events), 2);
        let a = store.accounting();
        assert_eq!(
            (a.recorded, a.replayed, a.buffered, a.dropped),
            (1, 4, 3, 2)
        );
        assert!(a.is_balanced(), "{a:?}");
        // The oldest two were kept, under their own ids.
        let ids: Vec<_> = store
            .unsynced_events()
            .iter()
            .map(|e| e.event_id())
            .collect();
        assert!(ids.contains(&events[0].event_id()) && ids.contains(&events[1].event_id()));
    }

    #[test]
    fn restoring_twice_keeps_one_copy_and_removal_frees_room() {
        let store = EventStore::try_with_capacity(2).expect("capacity");
        let events = foreign(2);
        assert_eq!(store.restore_events(&events), 2);
        assert_eq!(store.restore_events(&events), 0, "already buffered");
        assert_eq!(store.mark_rejected(&[events[0].event_id()]), 1);
        assert_eq!(store.mark_rejected(&[events[0].event_id()]), 0, "gone");
        store
            .try_record_llm_failed("gpt-4o", None, None, None, None)
            .expect("valid");
        assert_eq!(
            store.unsynced_count(),
            2,
            "the rejected one's room was reused"
        );
        let drained = store.drain_all();
        assert_eq!(drained[0].event_id(), events[1].event_id());
        assert_eq!(drained[0].timestamp_ms(), events[1].timestamp_ms());
        assert_eq!(
            store.restore_events(&events),
            2,
            "drained: taken back again"
        );
        let a = store.accounting();
        assert!(a.is_balanced(), "{a:?}");
    }
}
