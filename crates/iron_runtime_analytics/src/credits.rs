//! The buffer's room, as credits: one credit per LLM event the outbox may
//! hold. Shards take credits in small batches so that recording does not
//! touch this shared counter on every event.

#[cfg(iron_loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(iron_loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Free room shared by every shard of a store.
#[derive(Debug)]
pub(crate) struct CreditPool {
    free: AtomicUsize,
}

impl CreditPool {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            free: AtomicUsize::new(capacity),
        }
    }

    /// Takes up to `want` credits; returns how many it got (0 when the pool is empty).
    pub(crate) fn acquire(&self, want: usize) -> usize {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return 0;
            }
            let take = free.min(want);
            // Relaxed: the counter guards no other memory; the events the
            // credits admit are published through the shard and outbox locks.
            // The compare-exchange alone makes take-and-decrement atomic, so
            // credits are never created or lost.
            match self.free.compare_exchange_weak(
                free,
                free - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(seen) => free = seen,
            }
        }
    }

    /// Returns `n` credits (events left the outbox, or a shard gave back its batch).
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            // Relaxed: see `acquire`.
            self.free.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Credits in the pool now (not counting those held by shards).
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.free.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(iron_loom)))]
mod tests {
    use super::*;

    #[test]
    fn acquire_never_exceeds_what_is_free() {
        let pool = CreditPool::new(5);
        assert_eq!(pool.acquire(3), 3);
        assert_eq!(pool.acquire(3), 2);
        assert_eq!(pool.acquire(3), 0);
        pool.release(4);
        assert_eq!(pool.available(), 4);
        pool.release(0);
        assert_eq!(pool.acquire(10), 4);
    }

    #[test]
    fn credits_are_conserved_across_threads() {
        let pool = std::sync::Arc::new(CreditPool::new(1_000));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut held = 0;
                    for i in 0..10_000 {
                        if i % 3 == 0 && held > 0 {
                            pool.release(held);
                            held = 0;
                        } else {
                            held += pool.acquire(7);
                        }
                    }
                    held
                })
            })
            .collect();
        let held: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(held + pool.available(), 1_000);
    }
}

/// Model tests: every interleaving of two threads taking and returning credits.
/// Run with `RUSTFLAGS="--cfg iron_loom" cargo test -p iron_runtime_analytics --lib --release credits`.
#[cfg(all(test, iron_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn no_credit_is_created_or_lost() {
        loom::model(|| {
            let pool = Arc::new(CreditPool::new(3));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let pool = pool.clone();
                    thread::spawn(move || {
                        let got = pool.acquire(2);
                        assert!(got <= 2);
                        pool.release(got / 2);
                        got - got / 2
                    })
                })
                .collect();
            let kept: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(kept + pool.free.load(Ordering::Relaxed), 3);
        });
    }

    #[test]
    fn an_empty_pool_gives_nothing() {
        loom::model(|| {
            let pool = Arc::new(CreditPool::new(1));
            let other = pool.clone();
            let t = thread::spawn(move || other.acquire(1));
            let mine = pool.acquire(1);
            let theirs = t.join().unwrap();
            assert_eq!(mine + theirs, 1, "exactly one thread gets the one credit");
        });
    }
}
