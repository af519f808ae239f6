//! Heap bytes of each store, counted by dhat's global allocator:
//!
//! - an empty store, and the same store holding 10,000 completed events
//!   (rotating 4 models and 3 agents, with a provider id): bytes per buffered
//!   event;
//! - steady state: heap bytes and allocations per `record_llm_completed` call,
//!   over 10,000 calls after a warm-up, into a store with room to spare.
//!
//! Prints a markdown table; with `IRON_BENCH_HEAP_JSON=path` set, also writes
//! the numbers there as JSON. dhat counts the bytes requested from the
//! allocator (not the allocator's own overhead).
//!
//! Run: `cargo bench -p iron_bench --bench heap`

use std::fmt::Write as _;
use std::hint::black_box;

use iron_bench::workload::{AGENTS, INPUT_TOKENS, MODELS, OUTPUT_TOKENS, PROVIDER_ID};
use iron_bench::HandStore;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const EVENTS: usize = 10_000;
const WARM_UP: usize = 1_000;
const CALLS: usize = 10_000;

/// The operations the measurement needs from a store.
trait Store {
    fn record(&self, i: usize);
    /// Events buffered and events dropped.
    fn counts(&self) -> (usize, u64);
}

struct Ours<'a>(
    iron_runtime_analytics::EventStore,
    &'a iron_cost::pricing::PricingManager,
);
struct Upstream<'a>(
    upstream::EventStore,
    &'a upstream_cost::pricing::PricingManager,
);
struct Hand<'a>(HandStore, &'a iron_cost::pricing::PricingManager);

impl Store for Ours<'_> {
    fn record(&self, i: usize) {
        self.0.record_llm_completed(
            self.1,
            MODELS[i % 4],
            INPUT_TOKENS,
            OUTPUT_TOKENS,
            Some(AGENTS[i % 3]),
            Some(PROVIDER_ID),
        );
    }
    fn counts(&self) -> (usize, u64) {
        (self.0.len(), self.0.dropped_count())
    }
}

impl Store for Upstream<'_> {
    fn record(&self, i: usize) {
        self.0.record_llm_completed(
            self.1,
            MODELS[i % 4],
            INPUT_TOKENS,
            OUTPUT_TOKENS,
            Some(AGENTS[i % 3]),
            Some(PROVIDER_ID),
        );
    }
    fn counts(&self) -> (usize, u64) {
        (self.0.len(), self.0.dropped_count())
    }
}

impl Store for Hand<'_> {
    fn record(&self, i: usize) {
        black_box(self.0.record_llm_completed(
            self.1,
            MODELS[i % 4],
            INPUT_TOKENS,
            OUTPUT_TOKENS,
            Some(AGENTS[i % 3]),
            Some(PROVIDER_ID),
        ));
    }
    fn counts(&self) -> (usize, u64) {
        (self.0.len(), self.0.dropped_count())
    }
}

struct Row {
    name: &'static str,
    empty_bytes: usize,
    full_bytes: usize,
    call_bytes: f64,
    call_blocks: f64,
}

impl Row {
    fn per_event(&self) -> f64 {
        (self.full_bytes - self.empty_bytes) as f64 / EVENTS as f64
    }
    fn per_event_total(&self) -> f64 {
        self.full_bytes as f64 / EVENTS as f64
    }
}

fn live_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// `make(capacity)` builds an empty store buffering at most `capacity` events.
fn measure<S: Store>(name: &'static str, make: impl Fn(usize) -> S) -> Row {
    // Buffered events: an empty store, then 10,000 events in it.
    let base = live_bytes();
    let store = make(EVENTS);
    let empty_bytes = live_bytes() - base;
    for i in 0..EVENTS {
        store.record(i);
    }
    let full_bytes = live_bytes() - base;
    assert_eq!(
        store.counts(),
        (EVENTS, 0),
        "{name}: 10,000 buffered, none dropped"
    );
    drop(store);

    // Steady state: allocations per call while the buffer has room.
    let store = make(WARM_UP + CALLS + 1);
    for i in 0..WARM_UP {
        store.record(i);
    }
    let before = dhat::HeapStats::get();
    for i in WARM_UP..WARM_UP + CALLS {
        store.record(i);
    }
    let after = dhat::HeapStats::get();
    assert_eq!(
        store.counts(),
        (WARM_UP + CALLS, 0),
        "{name}: nothing dropped"
    );
    drop(store);

    Row {
        name,
        empty_bytes,
        full_bytes,
        call_bytes: (after.total_bytes - before.total_bytes) as f64 / CALLS as f64,
        call_blocks: (after.total_blocks - before.total_blocks) as f64 / CALLS as f64,
    }
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let pricing = iron_cost::pricing::PricingManager::new().expect("embedded price table");
    let upricing = upstream_cost::pricing::PricingManager::new().expect("upstream price table");

    let rows = [
        measure("ours", |cap| {
            Ours(
                iron_runtime_analytics::EventStore::with_capacity(cap),
                &pricing,
            )
        }),
        measure("upstream", |cap| {
            Upstream(upstream::EventStore::with_capacity(cap), &upricing)
        }),
        measure("hand", |cap| Hand(HandStore::with_capacity(cap), &pricing)),
    ];

    println!("\n### Heap (dhat): 10,000 buffered `record_llm_completed` events\n");
    println!(
        "| impl | empty store (B) | store + 10,000 events (B) | B per buffered event \
         ((after − empty) / 10,000) | B per event incl. empty store (total / 10,000) | \
         heap B allocated per call (steady) | allocations per call (steady) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.3} |",
            r.name,
            r.empty_bytes,
            r.full_bytes,
            r.per_event(),
            r.per_event_total(),
            r.call_bytes,
            r.call_blocks
        );
    }
    println!();

    if let Ok(path) = std::env::var("IRON_BENCH_HEAP_JSON") {
        let mut json = String::from("{");
        for (k, r) in rows.iter().enumerate() {
            let sep = if k == 0 { "" } else { "," };
            let _ = write!(
                json,
                "{sep}\"{}\":{{\"events\":{EVENTS},\"empty_bytes\":{},\"full_bytes\":{},\
                 \"bytes_per_event\":{:.3},\"bytes_per_event_incl_empty\":{:.3},\
                 \"alloc_bytes_per_call\":{:.3},\"allocs_per_call\":{:.5}}}",
                r.name,
                r.empty_bytes,
                r.full_bytes,
                r.per_event(),
                r.per_event_total(),
                r.call_bytes,
                r.call_blocks
            );
        }
        json.push('}');
        std::fs::write(&path, json).expect("write IRON_BENCH_HEAP_JSON");
        eprintln!("heap: wrote {path}");
    }
}
