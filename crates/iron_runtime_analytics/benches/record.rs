//! Criterion benches of the hot path: `record_llm_completed`, `record` of a
//! pre-built event, and `stats()` with 10 and 1,000 models.
//! Run: `cargo bench -p iron_runtime_analytics --bench record`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{LlmModelMeta, LlmUsageData};
use iron_runtime_analytics::{AnalyticsEvent, EventPayload, EventStore};
use std::hint::black_box;

const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gemini-1.5-flash"];
const AGENTS: [&str; 3] = ["agent_a", "agent_b", "agent_c"];

fn record(c: &mut Criterion) {
    let pricing = PricingManager::new().expect("embedded price table");
    let mut group = c.benchmark_group("record");
    // A store that keeps room: sync drains it now and then, as in production.
    let store = EventStore::new();
    let mut i = 0usize;
    group.bench_function("record_llm_completed", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let r = store.record_llm_completed(
                &pricing,
                MODELS[i % 4],
                black_box(1200),
                black_box(350),
                Some(AGENTS[i % 3]),
                Some("ip_openai-001"),
            );
            if i % 8192 == 0 {
                store.drain_all();
            }
            r
        });
    });
    let store = EventStore::new();
    let mut n = 0usize;
    group.bench_function("record_prebuilt", |b| {
        b.iter_batched(
            || {
                AnalyticsEvent::new(EventPayload::LlmRequestCompleted(LlmUsageData {
                    meta: LlmModelMeta { provider_id: None, provider: "openai".into(), model: "gpt-4".into() },
                    input_tokens: 150,
                    output_tokens: 50,
                    cost_micros: 6000,
                }))
            },
            |event| {
                let r = store.record(event);
                n = n.wrapping_add(1);
                if n % 8192 == 0 {
                    store.drain_all();
                }
                r
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn stats(c: &mut Criterion) {
    let pricing = PricingManager::new().expect("embedded price table");
    let mut group = c.benchmark_group("stats");
    for models in [10usize, 1_000] {
        let store = EventStore::new();
        for m in 0..models {
            let name = format!("model-{m}");
            for a in AGENTS {
                store.record_llm_completed(&pricing, &name, 100, 20, Some(a), None).expect("valid");
            }
        }
        group.bench_function(format!("{models}_models"), |b| b.iter(|| black_box(store.stats())));
    }
    group.finish();
}

criterion_group!(benches, record, stats);
criterion_main!(benches);
