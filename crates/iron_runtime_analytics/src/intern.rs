//! String interning: every distinct model, provider, agent or label string is
//! stored once and named by a small symbol, so recording a string the store
//! has seen before allocates nothing.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;

/// Symbol meaning "no value" (an absent agent or provider id).
pub(crate) const NONE: u32 = u32::MAX;

type Hasher = foldhash::fast::RandomState;

/// A process-wide (per store) table of strings, each with a small value `T`.
///
/// Lookups take a DashMap shard read lock only on a shard-cache miss; the
/// symbol → string direction is a lock-free append-only vector.
pub(crate) struct Interner<T> {
    map: DashMap<Arc<str>, u32, Hasher>,
    entries: boxcar::Vec<(Arc<str>, T)>,
}

impl<T: Copy> Interner<T> {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::with_hasher(Hasher::default()),
            entries: boxcar::Vec::new(),
        }
    }

    /// The symbol of `s`, creating it (with value `make()`) the first time.
    pub(crate) fn intern(&self, s: &str, make: impl FnOnce() -> T) -> u32 {
        if let Some(sym) = self.map.get(s) {
            return *sym;
        }
        let key: Arc<str> = Arc::from(s);
        *self.map.entry(key.clone()).or_insert_with(|| {
            let index = self.entries.push((key, make()));
            u32::try_from(index).expect("INVARIANT: fewer than 2^32 distinct strings per store")
        })
    }

    /// The symbol of `s`, if it was interned.
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        self.map.get(s).map(|sym| *sym)
    }

    /// The string and value of a symbol this interner made.
    pub(crate) fn entry(&self, sym: u32) -> &(Arc<str>, T) {
        self.entries
            .get(sym as usize)
            .expect("INVARIANT: symbols only come from this interner")
    }

    /// The string of a symbol, or `None` for [`NONE`].
    pub(crate) fn name(&self, sym: u32) -> Option<&Arc<str>> {
        (sym != NONE).then(|| &self.entry(sym).0)
    }
}

/// A shard's private cache of symbols, so the hot path hashes a string once
/// in memory no other thread writes.
#[derive(Default)]
pub(crate) struct SymbolCache(HashMap<Arc<str>, u32, Hasher>);

impl SymbolCache {
    pub(crate) fn get_or_intern<T: Copy>(
        &mut self,
        interner: &Interner<T>,
        s: &str,
        make: impl FnOnce() -> T,
    ) -> u32 {
        if let Some(&sym) = self.0.get(s) {
            return sym;
        }
        let sym = interner.intern(s, make);
        self.0.insert(interner.entry(sym).0.clone(), sym);
        sym
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_string_same_symbol() {
        let interner: Interner<u8> = Interner::new();
        let a = interner.intern("gpt-4", || 1);
        let b = interner.intern("claude", || 2);
        assert_ne!(a, b);
        assert_eq!(interner.intern("gpt-4", || 9), a, "value is made once");
        assert_eq!(interner.entry(a).1, 1);
        assert_eq!(interner.name(b).map(|s| &**s), Some("claude"));
        assert_eq!(interner.name(NONE), None);
        let mut cache = SymbolCache::default();
        assert_eq!(cache.get_or_intern(&interner, "claude", || 3), b);
        assert_eq!(cache.get_or_intern(&interner, "new", || 4), 2);
    }

    #[test]
    fn concurrent_interning_agrees() {
        let interner = Arc::new(Interner::<()>::new());
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
        let results: Vec<Vec<u32>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        for (i, &sym) in results[0].iter().enumerate() {
            assert_eq!(&*interner.entry(sym).0, format!("m{i}"));
        }
    }
}
