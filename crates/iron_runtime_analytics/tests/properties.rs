//! Property tests: any sequence of operations on one thread matches a
//! reference model of the outbox, and the accounting identity always holds.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use std::time::Duration;

use iron_cost::pricing::{PricingManager, TokenUsage};
use iron_runtime_analytics::{
    AnalyticsEvent, EventId, EventPayload, EventStore, LlmRecord, RequestLatency, SeriesStats,
    StoreConfig,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Llm,
    Failed,
    Local,
    /// Mark synced the buffered LLM events at these positions (mod len).
    Sync(Vec<usize>),
    Reject(Vec<usize>),
    Drain,
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Llm),
        1 => Just(Op::Failed),
        2 => Just(Op::Local),
        2 => prop::collection::vec(0usize..32, 0..4).prop_map(Op::Sync),
        1 => prop::collection::vec(0usize..32, 0..3).prop_map(Op::Reject),
        1 => Just(Op::Drain),
        1 => Just(Op::Snapshot),
    ]
}

/// The reference: a plain list with the documented rules.
#[derive(Default)]
struct Model {
    events: Vec<(bool, u64)>, // (is_llm, tag)
    recorded: u64,
    dropped: u64,
    evicted: u64,
    synced: u64,
    rejected: u64,
    drained: u64,
}

impl Model {
    fn record(&mut self, capacity: usize, llm: bool, tag: u64) -> bool {
        self.recorded += 1;
        if self.events.len() < capacity {
            self.events.push((llm, tag));
            return true;
        }
        if let Some(i) = self.events.iter().position(|(is_llm, _)| !is_llm) {
            self.events.remove(i);
            self.evicted += 1;
            self.events.push((llm, tag));
            true
        } else if llm {
            self.dropped += 1;
            false
        } else {
            // A local event arriving at a buffer full of LLM events is evicted
            // itself; it was still recorded, so recording returns its id.
            self.evicted += 1;
            true
        }
    }
}

fn tag(e: &AnalyticsEvent) -> (bool, u64) {
    match e.payload() {
        EventPayload::LlmRequestCompleted(d) => (true, d.input_tokens),
        EventPayload::LlmRequestFailed(d) => (
            true,
            d.error_code
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        ),
        EventPayload::RouterStarted { port } => (false, u64::from(*port)),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn outbox_matches_the_reference(capacity in 1usize..20, ops in prop::collection::vec(op(), 1..120)) {
        let pricing = PricingManager::new().unwrap();
        let store = EventStore::with_capacity(capacity);
        let mut model = Model::default();
        let mut next_tag = 1u64;
        for op in ops {
            match op {
                Op::Llm | Op::Failed | Op::Local => {
                    let t = next_tag;
                    next_tag += 1;
                    let (llm, got) = match op {
                        Op::Llm => (true, store.try_record_llm_completed(&pricing, "gpt-4", t, 1, None, None).unwrap()),
                        Op::Failed => (true, store.try_record_llm_failed("gpt-4", None, None, Some(&t.to_string()), None).unwrap()),
                        _ => (false, store.try_record_router_started(u16::try_from(t).unwrap())),
                    };
                    let expected = model.record(capacity, llm, t);
                    prop_assert_eq!(got.is_some(), expected, "record {} ({}llm)", t, if llm { "" } else { "non-" });
                }
                Op::Sync(positions) | Op::Reject(positions) if positions.is_empty() => {}
                Op::Sync(ref positions) | Op::Reject(ref positions) => {
                    let unsynced = store.unsynced_events();
                    let mut ids: Vec<EventId> = Vec::new();
                    let mut tags = Vec::new();
                    if !unsynced.is_empty() {
                        for p in positions {
                            let e = &unsynced[p % unsynced.len()];
                            ids.push(e.event_id());
                            tags.push(tag(e).1);
                        }
                    }
                    tags.sort_unstable();
                    tags.dedup();
                    let removed = if matches!(op, Op::Sync(_)) { store.mark_synced(&ids) } else { store.mark_rejected(&ids) };
                    prop_assert_eq!(removed, tags.len());
                    model.events.retain(|(llm, t)| !(*llm && tags.contains(t)));
                    if matches!(op, Op::Sync(_)) { model.synced += removed as u64 } else { model.rejected += removed as u64 }
                }
                Op::Drain => {
                    let drained: Vec<_> = store.drain_all().iter().map(tag).collect();
                    prop_assert_eq!(&drained, &model.events);
                    model.drained += drained.len() as u64;
                    model.events.clear();
                }
                Op::Snapshot => {}
            }
            let snapshot: Vec<_> = store.snapshot_events().iter().map(tag).collect();
            prop_assert_eq!(&snapshot, &model.events);
            prop_assert!(snapshot.len() <= capacity);
            prop_assert_eq!(store.unsynced_count(), model.events.iter().filter(|(llm, _)| *llm).count() as u64);
            let a = store.accounting();
            prop_assert!(a.is_balanced(), "{:?}", a);
            prop_assert_eq!(
                (a.recorded, a.buffered, a.dropped, a.evicted, a.synced, a.rejected, a.drained),
                (model.recorded, model.events.len() as u64, model.dropped, model.evicted, model.synced, model.rejected, model.drained)
            );
        }
    }

    #[test]
    fn stats_count_everything_recorded(tokens in prop::collection::vec((0u64..1_000_000, 0u64..1_000_000, any::<bool>()), 0..200), capacity in 1usize..50) {
        let pricing = PricingManager::new().unwrap();
        let store = EventStore::with_capacity(capacity);
        let (mut input, mut output, mut failed) = (0u64, 0u64, 0u64);
        for (i, o, fail) in &tokens {
            if *fail {
                store.try_record_llm_failed("claude-3-haiku-20240307", None, None, None, None).unwrap();
                failed += 1;
            } else {
                store.try_record_llm_completed(&pricing, "gpt-4", *i, *o, Some("a"), None).unwrap();
                input += i;
                output += o;
            }
        }
        let s = store.stats();
        prop_assert_eq!(s.total_requests, tokens.len() as u64);
        prop_assert_eq!(s.failed_requests, failed);
        prop_assert_eq!(s.total_input_tokens, input);
        prop_assert_eq!(s.total_output_tokens, output);
        let gpt4 = pricing.get("gpt-4").unwrap();
        let expected_cost: u64 = tokens.iter().filter(|t| !t.2).map(|(i, o, _)| gpt4.calculate_cost_micros(*i, *o)).sum();
        prop_assert_eq!(s.total_cost_micros, expected_cost);
        prop_assert_eq!(store.dropped_count(), (tokens.len() as u64).saturating_sub(capacity as u64));
    }

    #[test]
    fn every_request_reaches_its_series_and_their_duration_histograms(
        requests in prop::collection::vec((0usize..6, 0usize..3, any::<bool>(), 0u64..200_000, 0u64..5_000), 0..150),
        limit in 1usize..8,
    ) {
        let pricing = PricingManager::new().unwrap();
        let store = EventStore::with_config(StoreConfig::new().with_cardinality_limit(limit)).unwrap();
        let models = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku-20240307", "grok-4", "llama-3", "o3"];
        let codes = ["timeout", "rate_limit", "overloaded"];
        let (mut input, mut failed) = (0u64, 0u64);
        for &(m, c, fail, ms, tokens) in &requests {
            let latency = RequestLatency { duration: Some(Duration::from_millis(ms)), time_to_first_token: None };
            let record = if fail {
                failed += 1;
                LlmRecord::failed(models[m], Some(codes[c]), None)
            } else {
                input += tokens;
                LlmRecord::priced(models[m], &pricing, TokenUsage::new(tokens, 1)).request_model(models[(m + c) % 6])
            };
            store.record_llm(record.latency(latency)).unwrap();
        }
        let series = store.series();
        prop_assert!(series.iter().filter(|s| s.attributes.is_some()).count() <= limit);
        let sum = |f: fn(&SeriesStats) -> u64| series.iter().map(f).sum::<u64>();
        prop_assert_eq!(sum(|s| s.request_count), requests.len() as u64);
        prop_assert_eq!(sum(|s| s.duration.count()), requests.len() as u64, "failed requests too");
        prop_assert_eq!(sum(|s| s.input_tokens.count()), requests.len() as u64 - failed);
        prop_assert_eq!(sum(|s| s.input_tokens.sum), input);
        let failures = series.iter().filter(|s| s.attributes.as_ref().is_some_and(|a| a.error_type.is_some()));
        prop_assert!(failures.map(|s| s.request_count).sum::<u64>() <= failed);
    }
}
