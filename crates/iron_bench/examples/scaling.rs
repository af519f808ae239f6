//! Ad-hoc check of 1 vs 2 threads recording into one store (not a benchmark
//! of record: see benches/compare.rs). `cargo run --release -p iron_bench --example scaling`
#![allow(clippy::unwrap_used)]
use std::sync::Arc;
use std::time::Instant;

use iron_bench::workload::{AGENTS, INPUT_TOKENS, MODELS, OUTPUT_TOKENS, PROVIDER_ID};
use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::EventStore;

fn run(threads: usize, total: usize, shared: bool) -> f64 {
    let one = Arc::new(EventStore::with_capacity(total + 1));
    let pricing = Arc::new(PricingManager::new().unwrap());
    let stores: Vec<_> = (0..threads)
        .map(|_| {
            if shared {
                one.clone()
            } else {
                Arc::new(EventStore::with_capacity(total + 1))
            }
        })
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, pricing) = (stores[t].clone(), pricing.clone());
            std::thread::spawn(move || {
                for i in 0..total / threads {
                    store.record_llm_completed(
                        &pricing,
                        MODELS[i % 4],
                        INPUT_TOKENS,
                        OUTPUT_TOKENS,
                        Some(AGENTS[i % 3]),
                        Some(PROVIDER_ID),
                    );
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let secs = start.elapsed().as_secs_f64();
    let recorded: u64 = if shared {
        one.stats().total_requests
    } else {
        stores.iter().map(|s| s.stats().total_requests).sum()
    };
    assert_eq!(recorded as usize, total / threads * threads);
    total as f64 / secs
}

fn main() {
    for _ in 0..3 {
        let one = run(1, 4_000_000, true);
        let two = run(2, 4_000_000, true);
        let apart = run(2, 4_000_000, false);
        println!(
            "1 thread {:.1} M/s, 2 threads one store {:.1} M/s ({:.2}x), 2 threads own stores {:.1} M/s ({:.2}x)",
            one / 1e6, two / 1e6, two / one, apart / 1e6, apart / one
        );
    }
}
