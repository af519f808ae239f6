//! Usage-aware recording: cache and reasoning parts summed in the stats,
//! unpriced requests counted, parts above their whole refused, totals that
//! saturate at the u64 limit instead of wrapping.

use iron_cost::pricing::{PricingManager, TokenUsage};
use iron_runtime_analytics::event::{LlmModelMeta, LlmUsageData};
use iron_runtime_analytics::{AnalyticsEvent, EventPayload, EventStore, LlmRecord, RecordError};

#[test]
fn parts_are_summed_per_model_provider_agent_and_in_total() {
    let store = EventStore::new();
    let pricing = PricingManager::new().unwrap();
    let anthropic = TokenUsage {
        cache_read_tokens: 6_289,
        cache_write_tokens: 3_000,
        cache_write_1h_tokens: 337,
        ..TokenUsage::new(9_632, 410)
    };
    let openai = TokenUsage {
        cache_read_tokens: 3_712,
        reasoning_tokens: 200,
        ..TokenUsage::new(19_681, 512)
    };
    store
        .record_llm(LlmRecord::priced("claude-3-5-sonnet-20241022", &pricing, anthropic).agent("a"))
        .unwrap();
    store.record_usage(&pricing, "gpt-4o", &openai).unwrap();
    let stats = store.stats();
    assert_eq!(stats.total_input_tokens, 9_632 + 19_681);
    assert_eq!(stats.total_cache_read_tokens, 6_289 + 3_712);
    assert_eq!(
        stats.total_cache_write_tokens, 3_337,
        "5-minute and 1-hour writes"
    );
    assert_eq!(stats.total_reasoning_tokens, 200);
    assert_eq!(stats.by_model["gpt-4o"].cache_read_tokens, 3_712);
    assert_eq!(stats.by_provider["anthropic"].cache_write_tokens, 3_337);
    assert_eq!(stats.by_agent["a"].cache_read_tokens, 6_289);
    assert_eq!(stats.unpriced_requests, 0);
}

#[test]
fn unknown_models_cost_nothing_and_are_counted_unpriced() {
    let store = EventStore::new();
    let pricing = PricingManager::new().unwrap();
    store
        .try_record_llm_completed(&pricing, "my-finetune", 100, 10, None, None)
        .unwrap();
    store
        .try_record_llm_completed(&pricing, "my-finetune", 100, 10, None, None)
        .unwrap();
    store
        .try_record_llm_completed(&pricing, "gpt-4o", 100, 10, None, None)
        .unwrap();
    store
        .try_record_llm_failed("other-unknown", None, None, None, None)
        .unwrap();
    // A cost given by the caller is priced, whatever the model.
    store
        .try_record(AnalyticsEvent::new(EventPayload::LlmRequestCompleted(
            LlmUsageData {
                meta: LlmModelMeta {
                    provider_id: None,
                    provider: "openai".into(),
                    model: "custom".into(),
                },
                input_tokens: 1,
                output_tokens: 1,
                cost_micros: 5,
            },
        )))
        .unwrap();
    let stats = store.stats();
    assert_eq!(stats.unpriced_requests, 2);
    assert_eq!(stats.by_model["my-finetune"].unpriced_requests, 2);
    assert_eq!(stats.by_model["my-finetune"].cost_micros, 0);
    assert_eq!(stats.by_model["gpt-4o"].unpriced_requests, 0);
    assert_eq!(
        stats.by_model["other-unknown"].unpriced_requests, 0,
        "failures are not priced"
    );
    assert_eq!(stats.by_provider["unknown"].unpriced_requests, 2);
}

#[test]
fn parts_larger_than_their_whole_are_refused_before_counting() {
    let store = EventStore::new();
    let pricing = PricingManager::new().unwrap();
    let too_much_cache = TokenUsage {
        cache_read_tokens: 60,
        cache_write_tokens: 50,
        ..TokenUsage::new(100, 1)
    };
    let too_much_reasoning = TokenUsage {
        reasoning_tokens: 2,
        ..TokenUsage::new(100, 1)
    };
    let overflow = TokenUsage {
        cache_read_tokens: u64::MAX,
        cache_write_tokens: 2,
        ..TokenUsage::new(u64::MAX, 0)
    };
    for usage in [too_much_cache, too_much_reasoning, overflow] {
        assert!(matches!(
            store.record_usage(&pricing, "gpt-4o", &usage),
            Err(RecordError::InvalidUsage(_))
        ));
    }
    assert_eq!(store.stats().total_requests, 0);
    assert_eq!(store.accounting().recorded, 0);
}

#[test]
fn totals_saturate_at_the_u64_limit() {
    let store = EventStore::new();
    let big = |input: u64, cost: u64| {
        AnalyticsEvent::new(EventPayload::LlmRequestCompleted(LlmUsageData {
            meta: LlmModelMeta {
                provider_id: None,
                provider: "openai".into(),
                model: "gpt-4o".into(),
            },
            input_tokens: input,
            output_tokens: u64::MAX,
            cost_micros: cost,
        }))
    };
    // Through the API of iron_runtime_analytics 0.4.0 (`record`, which
    // returns nothing), whose totals wrapped around (or panicked in debug).
    store.record(big(u64::MAX - 10, u64::MAX / 2 + 1));
    store.record(big(100, u64::MAX / 2 + 1));
    assert_eq!(store.refused_count(), 0);
    let stats = store.stats();
    assert_eq!(stats.total_input_tokens, u64::MAX);
    assert_eq!(stats.total_output_tokens, u64::MAX);
    assert_eq!(stats.total_cost_micros, u64::MAX);
    assert_eq!(stats.total_cost_usd(), u64::MAX as f64 / 1e6);
    for breakdown in [&stats.by_model["gpt-4o"], &stats.by_provider["openai"]] {
        assert_eq!(breakdown.input_tokens, u64::MAX);
        assert_eq!(breakdown.output_tokens, u64::MAX);
        assert_eq!(breakdown.cost_micros, u64::MAX);
        assert_eq!(breakdown.total_tokens(), u64::MAX);
        assert_eq!(breakdown.request_count, 2);
    }
    assert_eq!(stats.total_tokens(), u64::MAX);
    assert_eq!(stats.total_requests, 2);
    // The final totals of `record_router_stopped` saturate too.
    store.record_router_stopped();
    match store.snapshot_events().pop().map(|e| e.payload) {
        Some(EventPayload::RouterStopped {
            total_requests,
            total_cost_micros,
        }) => assert_eq!((total_requests, total_cost_micros), (2, u64::MAX)),
        other => panic!("{other:?}"),
    }
}
