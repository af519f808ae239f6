//! String interning with a bound: the first `limit` distinct strings of a
//! kind (models, providers, agents, labels) are *kept* — stored once for the
//! store's life and named by a dense symbol, so recording a string seen
//! before allocates nothing and stats tables stay small arrays. Strings past
//! the limit are *transient*: stored once while buffered events use them,
//! counted by reference, and freed when the last such event leaves the
//! buffer. Memory is therefore bounded by the limits plus the buffer's
//! capacity, whatever names callers send.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dashmap::DashMap;

/// Symbol meaning "no value" (an absent agent or provider id).
pub(crate) const NONE: u32 = u32::MAX;
/// The bit that marks a transient symbol; the rest is its slot.
const TRANSIENT: u32 = 1 << 31;
/// The most transient slots: `TRANSIENT | slot` must stay below [`NONE`].
const MAX_TRANSIENT_SLOTS: usize = (NONE - TRANSIENT) as usize;

type Hasher = foldhash::fast::RandomState;

/// Whether `sym` names a transient string (not [`NONE`], not kept).
pub(crate) const fn is_transient(sym: u32) -> bool {
    sym != NONE && sym & TRANSIENT != 0
}

/// A per-store table of kept strings, each with a small value `T`, at most
/// `limit` of them.
///
/// Lookups take a DashMap shard read lock only on a shard-cache miss; the
/// symbol → string direction is a lock-free append-only vector.
pub(crate) struct Interner<T> {
    map: DashMap<Arc<str>, u32, Hasher>,
    entries: boxcar::Vec<(Arc<str>, T)>,
    /// Symbols handed out or promised: never above `limit`.
    reserved: AtomicUsize,
    limit: usize,
}

impl<T: Copy> Interner<T> {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            map: DashMap::with_hasher(Hasher::default()),
            entries: boxcar::Vec::new(),
            reserved: AtomicUsize::new(0),
            limit: limit.min(TRANSIENT as usize),
        }
    }

    /// The kept symbol of `s`, keeping it (with value `make()`) the first
    /// time; `None` once `limit` strings are kept and `s` is not one of them.
    pub(crate) fn intern(&self, s: &str, make: impl FnOnce() -> T) -> Option<u32> {
        if let Some(sym) = self.map.get(s) {
            return Some(*sym);
        }
        let key: Arc<str> = Arc::from(s);
        let entry = self.map.entry(key.clone());
        if let dashmap::Entry::Occupied(e) = &entry {
            return Some(*e.get());
        }
        // Relaxed: the counter only bounds how many symbols exist; the entry
        // lock held here orders the insertion of `s` itself.
        if self.reserved.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.reserved.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let index = self.entries.push((key, make()));
        let sym = u32::try_from(index).expect("INVARIANT: at most 2^31 kept strings per kind");
        entry.or_insert(sym);
        Some(sym)
    }

    /// The kept symbol of `s`, if it is kept.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        self.map.get(s).map(|sym| *sym)
    }

    /// The string and value of a kept symbol this interner made.
    pub(crate) fn entry(&self, sym: u32) -> &(Arc<str>, T) {
        self.entries
            .get(sym as usize)
            .expect("INVARIANT: kept symbols only come from this interner")
    }

    /// How many strings are kept (symbols `0..len` are valid).
    pub(crate) fn len(&self) -> usize {
        self.entries.count()
    }

    /// The entry of `sym` if this interner made it.
    pub(crate) fn get(&self, sym: u32) -> Option<&(Arc<str>, T)> {
        self.entries.get(sym as usize)
    }
}

/// A shard's private cache of kept symbols, so the hot path hashes a string
/// once in memory no other thread writes. Transient symbols are never
/// cached: their slot may be reused once their events are gone.
#[derive(Default)]
pub(crate) struct SymbolCache(HashMap<Arc<str>, u32, Hasher>);

impl SymbolCache {
    /// The kept symbol of `s`, or `None` when the interner is full without it.
    pub(crate) fn get_or_intern<T: Copy>(
        &mut self,
        interner: &Interner<T>,
        s: &str,
        make: impl FnOnce() -> T,
    ) -> Option<u32> {
        if let Some(&sym) = self.0.get(s) {
            return Some(sym);
        }
        let sym = interner.intern(s, make)?;
        self.0.insert(interner.entry(sym).0.clone(), sym);
        Some(sym)
    }
}

/// Strings past a kind's limit, shared by every kind, reference-counted by
/// the buffered events that use them.
#[derive(Default)]
pub(crate) struct Transient {
    inner: Mutex<TransientSlots>,
}

#[derive(Default)]
struct TransientSlots {
    by_name: HashMap<Arc<str>, u32, Hasher>,
    /// `(string, references)` per slot; `None` once freed.
    slots: Vec<Option<(Arc<str>, u64)>>,
    free: Vec<u32>,
}

impl Transient {
    fn lock(&self) -> MutexGuard<'_, TransientSlots> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A transient symbol for `s`, holding one more reference to it.
    pub(crate) fn acquire(&self, s: &str) -> u32 {
        let mut t = self.lock();
        if let Some(&slot) = t.by_name.get(s) {
            if let Some((_, refs)) = &mut t.slots[slot as usize] {
                *refs += 1;
            }
            return TRANSIENT | slot;
        }
        let name: Arc<str> = Arc::from(s);
        let slot = match t.free.pop() {
            Some(slot) => {
                t.slots[slot as usize] = Some((name.clone(), 1));
                slot
            }
            None => {
                assert!(
                    t.slots.len() < MAX_TRANSIENT_SLOTS,
                    "INVARIANT: fewer transient strings than buffered events (at most 10^8)"
                );
                t.slots.push(Some((name.clone(), 1)));
                (t.slots.len() - 1) as u32
            }
        };
        t.by_name.insert(name, slot);
        TRANSIENT | slot
    }

    /// How many transient strings are alive.
    pub(crate) fn live(&self) -> usize {
        self.lock().by_name.len()
    }

    /// Drops one reference to each transient symbol among `syms`, freeing
    /// the strings no buffered event uses any more. Kept symbols and
    /// [`NONE`] are ignored.
    pub(crate) fn release(&self, syms: &[u32]) {
        if !syms.iter().any(|&s| is_transient(s)) {
            return;
        }
        let mut t = self.lock();
        for &sym in syms {
            if !is_transient(sym) {
                continue;
            }
            let slot = sym & !TRANSIENT;
            let freed = match &mut t.slots[slot as usize] {
                Some((name, refs)) => {
                    *refs -= 1;
                    (*refs == 0).then(|| name.clone())
                }
                None => None,
            };
            if let Some(name) = freed {
                t.by_name.remove(&name);
                t.slots[slot as usize] = None;
                t.free.push(slot);
            }
        }
        // Give memory back after a flood of distinct names has drained.
        if t.by_name.is_empty() && t.slots.len() > 1024 {
            *t = TransientSlots::default();
        }
    }

    /// Reads transient strings under one lock (for a snapshot of many events).
    pub(crate) fn reader(&self) -> TransientReader<'_> {
        TransientReader {
            transient: self,
            guard: None,
        }
    }
}

/// Lazily locked access to transient strings: locks at the first transient
/// symbol it meets, then keeps the lock until dropped.
pub(crate) struct TransientReader<'a> {
    transient: &'a Transient,
    guard: Option<MutexGuard<'a, TransientSlots>>,
}

impl TransientReader<'_> {
    /// The string of a transient symbol held by a buffered event.
    pub(crate) fn name(&mut self, sym: u32) -> Arc<str> {
        let guard = self.guard.get_or_insert_with(|| self.transient.lock());
        guard.slots[(sym & !TRANSIENT) as usize]
            .as_ref()
            .map(|(name, _)| name.clone())
            .expect("INVARIANT: a buffered event holds a reference to its transient strings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_string_same_symbol() {
        let interner: Interner<u8> = Interner::new(10);
        let a = interner.intern("gpt-4", || 1);
        let b = interner.intern("claude", || 2);
        assert_ne!(a, b);
        assert_eq!(interner.intern("gpt-4", || 9), a, "value is made once");
        assert_eq!(interner.entry(a.unwrap()).1, 1);
        let mut cache = SymbolCache::default();
        assert_eq!(cache.get_or_intern(&interner, "claude", || 3), b);
        assert_eq!(cache.get_or_intern(&interner, "new", || 4), Some(2));
    }

    #[test]
    fn the_limit_bounds_kept_strings() {
        let interner: Interner<()> = Interner::new(2);
        assert_eq!(interner.intern("a", || ()), Some(0));
        assert_eq!(interner.intern("b", || ()), Some(1));
        assert_eq!(interner.intern("c", || ()), None);
        assert_eq!(interner.intern("a", || ()), Some(0), "kept strings stay");
        assert_eq!(interner.len(), 2);
        assert_eq!(interner.lookup("c"), None);
    }

    #[test]
    fn transient_strings_are_freed_with_their_last_reference() {
        let t = Transient::default();
        let a = t.acquire("a");
        let a2 = t.acquire("a");
        let b = t.acquire("b");
        assert_eq!(a, a2);
        assert!(is_transient(a) && is_transient(b) && !is_transient(NONE) && !is_transient(7));
        assert_eq!(&*t.reader().name(b), "b");
        t.release(&[a, NONE, 3]);
        assert_eq!(t.live(), 2);
        t.release(&[a2, b]);
        assert_eq!(t.live(), 0);
        let c = t.acquire("c");
        assert_eq!(&*t.reader().name(c), "c", "a freed slot is reused");
    }

    #[test]
    fn concurrent_interning_agrees_and_respects_the_limit() {
        let interner = Arc::new(Interner::<()>::new(150));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let interner = interner.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| interner.intern(&format!("m{i}"), || ()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<Vec<Option<u32>>> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(interner.len(), 150);
        for (i, sym) in results[0].iter().enumerate() {
            if let Some(sym) = sym {
                assert_eq!(&*interner.entry(*sym).0, format!("m{i}"));
            }
        }
        assert_eq!(results[0].iter().flatten().count(), 150);
    }
}
