//! Statistics: totals, per model / provider / agent, helpers.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::{EventStore, ModelStats, Provider};

fn pricing() -> PricingManager {
    PricingManager::new().expect("embedded table")
}

#[test]
fn empty_store_has_neutral_stats() {
    let s = EventStore::new().stats();
    assert_eq!(s.total_requests, 0);
    assert_eq!(s.success_rate(), 1.0);
    assert_eq!(s.avg_cost_per_request_usd(), 0.0);
    assert_eq!(s.avg_tokens_per_request(), 0.0);
    assert!(s.by_model.is_empty() && s.by_provider.is_empty() && s.by_agent.is_empty());
}

#[test]
fn totals_and_breakdowns_add_up() {
    let p = pricing();
    let store = EventStore::new();
    store
        .try_record_llm_completed(&p, "gpt-4", 150, 50, Some("a1"), None)
        .unwrap();
    store
        .try_record_llm_completed(&p, "gpt-4", 1_000, 500, Some("a2"), Some("ip_openai-001"))
        .unwrap();
    store
        .try_record_llm_completed(&p, "claude-3-opus-20240229", 200, 100, Some("a1"), None)
        .unwrap();
    store
        .try_record_llm_failed(
            "claude-3-opus-20240229",
            Some("a1"),
            None,
            Some("overloaded"),
            Some("try later"),
        )
        .unwrap();
    store
        .try_record_llm_completed(&p, "llama-3-70b", 10, 10, None, None)
        .unwrap();

    let s = store.stats();
    assert_eq!(s.total_requests, 5);
    assert_eq!(s.failed_requests, 1);
    assert_eq!(s.total_input_tokens, 1_360);
    assert_eq!(s.total_output_tokens, 660);
    assert_eq!(s.total_tokens(), 2_020);
    // gpt-4 150/50 = 7,500; gpt-4 1000/500 = 60,000; opus 200/100 = 10,500; llama unknown = 0
    assert_eq!(s.total_cost_micros, 78_000);
    assert_eq!(s.total_cost_usd(), 0.078);
    assert_eq!(s.success_rate(), 0.8);
    assert!((s.avg_cost_per_request_usd() - 0.0156).abs() < 1e-12);
    assert_eq!(s.avg_tokens_per_request(), 404.0);

    assert_eq!(
        s.by_model["gpt-4"],
        ModelStats {
            request_count: 2,
            failed_count: 0,
            input_tokens: 1_150,
            output_tokens: 550,
            cost_micros: 67_500,
            ..ModelStats::default()
        }
    );
    assert_eq!(s.by_model["claude-3-opus-20240229"].request_count, 2);
    assert_eq!(s.by_model["claude-3-opus-20240229"].failed_count, 1);
    assert_eq!(s.by_model["claude-3-opus-20240229"].success_rate(), 0.5);
    assert_eq!(s.by_model["llama-3-70b"].cost_micros, 0);
    assert_eq!(s.by_model.len(), 3);

    assert_eq!(s.by_provider["openai"].request_count, 2);
    assert_eq!(s.by_provider["anthropic"].request_count, 2);
    assert_eq!(s.by_provider["unknown"].total_tokens(), 20);
    assert_eq!(s.by_provider.len(), 3);

    assert_eq!(s.by_agent["a1"].request_count, 3);
    assert_eq!(s.by_agent["a1"].cost_micros, 18_000);
    assert_eq!(s.by_agent["a2"].cost_usd(), 0.06);
    assert_eq!(
        s.by_agent.len(),
        2,
        "requests without an agent are not listed"
    );

    // Breakdowns sum to the totals.
    for table in [&s.by_model, &s.by_provider] {
        let sum: u64 = table.values().map(|m| m.cost_micros).sum();
        assert_eq!(sum, s.total_cost_micros);
        let reqs: u64 = table.values().map(|m| m.request_count).sum();
        assert_eq!(reqs, s.total_requests);
    }
    assert_eq!(store.model_stats("gpt-4").map(|m| m.request_count), Some(2));
    assert_eq!(store.model_stats("nope"), None);
}

#[test]
fn explicit_provider_overrides_inference() {
    let p = pricing();
    let store = EventStore::new();
    store
        .try_record_llm_completed_with_provider(
            &p,
            "my-finetune",
            Provider::OpenAI.as_str(),
            10,
            5,
            None,
            None,
        )
        .unwrap();
    store
        .try_record_llm_completed_with_provider(&p, "gpt-4", "azure", 1, 1, None, None)
        .unwrap();
    let s = store.stats();
    assert_eq!(s.by_provider["openai"].request_count, 1);
    assert_eq!(s.by_provider["azure"].request_count, 1);
    assert_eq!(
        s.by_model["gpt-4"].cost_micros, 90,
        "priced by model whatever the provider"
    );
    let e = &store.snapshot_events()[1];
    assert_eq!(e.payload().meta().map(|m| &*m.provider), Some("azure"));
}

#[test]
fn provider_inference_reaches_every_vendor() {
    let store = EventStore::new();
    for model in [
        "gpt-4o",
        "o3-mini",
        "claude-3-5-haiku-20241022",
        "gemini-2.0-flash",
        "mistral-large-latest",
        "deepseek-chat",
        "grok-3",
        "llama",
    ] {
        store
            .try_record_llm_failed(model, None, None, None, None)
            .unwrap();
    }
    let s = store.stats();
    for (provider, n) in [
        ("openai", 2),
        ("anthropic", 1),
        ("google", 1),
        ("mistral", 1),
        ("deepseek", 1),
        ("xai", 1),
        ("unknown", 1),
    ] {
        assert_eq!(s.by_provider[provider].failed_count, n, "{provider}");
    }
    assert_eq!(s.by_provider.len(), 7);
}

#[test]
fn costs_are_exact_integers_and_never_overflow() {
    let p = pricing();
    let store = EventStore::new();
    store
        .try_record_llm_completed(&p, "gpt-4", u64::MAX, u64::MAX, None, None)
        .unwrap();
    assert_eq!(
        store.stats().total_cost_micros,
        u64::MAX,
        "saturates instead of wrapping"
    );
    let store = EventStore::new();
    store
        .try_record_llm_completed(&p, "gpt-4o-mini", 1, 1, None, None)
        .unwrap();
    // $0.15/M in + $0.60/M out for 2 tokens = 0.75 micro-dollars, floored once.
    assert_eq!(store.stats().total_cost_micros, 0);
    store
        .try_record_llm_completed(&p, "gpt-4o-mini", 1_000_000, 1_000_000, None, None)
        .unwrap();
    assert_eq!(store.stats().total_cost_micros, 750_000);
}

#[test]
fn router_stopped_carries_the_final_totals() {
    let p = pricing();
    let store = EventStore::new();
    store
        .try_record_llm_completed(&p, "gpt-4", 150, 50, None, None)
        .unwrap();
    store
        .try_record_llm_failed("gpt-4", None, None, None, None)
        .unwrap();
    store.try_record_router_stopped().expect("buffered");
    let json = serde_json::to_value(store.snapshot_events().last().unwrap()).unwrap();
    assert_eq!(json["event_type"], "router_stopped");
    assert_eq!(json["total_requests"], 2);
    assert_eq!(json["total_cost_micros"], 7_500);
}

#[test]
fn local_events_do_not_touch_stats() {
    let store = EventStore::new();
    store.record_router_started(1);
    store.record_budget_threshold(50, 5, 10, Some("agent"));
    store.record_router_stopped();
    let s = store.stats();
    assert_eq!(s.total_requests, 0);
    assert!(s.by_agent.is_empty());
}

#[test]
fn many_models_are_all_reported() {
    let p = pricing();
    let store = EventStore::new();
    for m in 0..1_000 {
        store
            .try_record_llm_completed(&p, &format!("model-{m}"), m, 1, None, None)
            .unwrap();
    }
    let s = store.stats();
    assert_eq!(s.by_model.len(), 1_000);
    assert_eq!(s.by_model["model-999"].input_tokens, 999);
    assert_eq!(s.total_input_tokens, (0..1_000).sum::<u64>());
}

#[test]
fn stats_serialize_and_read_back_including_the_0_4_0_shape() {
    let p = pricing();
    let store = EventStore::new();
    store.record_llm_completed(&p, "gpt-4", 150, 50, Some("agent_1"), None);
    store.record_llm_failed("claude-3-opus-20240229", None, None, Some("timeout"), None);
    let stats = store.stats();
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["total_requests"], 2);
    assert_eq!(json["by_model"]["gpt-4"]["cost_micros"], 7_500);
    let back: iron_runtime_analytics::ComputedStats = serde_json::from_value(json).unwrap();
    assert_eq!(back, stats);
    // 0.4.0 wrote fewer fields: the others read as 0.
    let old: iron_runtime_analytics::ComputedStats = serde_json::from_str(
        r#"{"total_requests":1,"failed_requests":0,"total_input_tokens":10,"total_output_tokens":5,
            "total_cost_micros":42,"by_model":{"gpt-4":{"request_count":1,"input_tokens":10,
            "output_tokens":5,"cost_micros":42}},"by_provider":{}}"#,
    )
    .unwrap();
    assert_eq!(old.by_model["gpt-4"].cost_micros, 42);
    assert_eq!(old.by_model["gpt-4"].failed_count, 0);
    assert_eq!(old.success_rate(), 1.0);
}
