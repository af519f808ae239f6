//! Bounded memory whatever names callers send: each stats breakdown keeps at
//! most `cardinality_limit` names, the rest go to one overflow row; events
//! keep their own names while buffered, and those names are released with
//! the last event that uses them; names over 256 characters are refused.

use std::sync::Arc;

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::{
    EventStore, RecordError, StoreConfig, StoreError, CARDINALITY_OVERFLOW_KEY,
    DEFAULT_CARDINALITY_LIMIT, MAX_ERROR_MESSAGE_CHARS, TRUNCATION_MARK,
};

fn store(capacity: usize, limit: usize) -> EventStore {
    EventStore::with_config(
        StoreConfig::new()
            .with_capacity(capacity)
            .with_cardinality_limit(limit),
    )
    .expect("a valid configuration")
}

#[test]
fn names_past_the_limit_share_one_overflow_row_per_breakdown() {
    let store = store(1_000, 3);
    let pricing = PricingManager::new().unwrap();
    for i in 0..10 {
        let model = format!("attacker-model-{i}");
        let agent = format!("agent-{i}");
        store
            .try_record_llm_completed(
                &pricing,
                &model,
                10,
                1,
                Some(&agent),
                Some(&format!("key-{i}")),
            )
            .unwrap();
    }
    store
        .try_record_llm_completed_with_provider(&pricing, "x", "custom-provider", 1, 1, None, None)
        .unwrap();
    let stats = store.stats();
    assert_eq!(stats.total_requests, 11);
    assert_eq!(
        stats.by_model.len(),
        4,
        "three kept models and the overflow row"
    );
    assert_eq!(stats.by_model[CARDINALITY_OVERFLOW_KEY].request_count, 8);
    assert_eq!(stats.by_model[CARDINALITY_OVERFLOW_KEY].input_tokens, 71);
    assert_eq!(stats.by_agent.len(), 4);
    assert_eq!(stats.by_agent[CARDINALITY_OVERFLOW_KEY].request_count, 7);
    // Built-in provider names are kept on top of the limit.
    assert_eq!(stats.by_provider["unknown"].request_count, 10);
    assert_eq!(stats.by_provider["custom-provider"].request_count, 1);
    let totals: u64 = stats.by_model.values().map(|s| s.request_count).sum();
    assert_eq!(totals, stats.total_requests, "nothing lost in the overflow");

    // Every event keeps its real names for delivery.
    let events = store.snapshot_events();
    for (i, e) in events.iter().take(10).enumerate() {
        let meta = e.payload().meta().unwrap();
        assert_eq!(&*meta.model, format!("attacker-model-{i}"));
        assert_eq!(
            e.agent_id().map(|a| &**a),
            Some(format!("agent-{i}").as_str())
        );
        assert_eq!(
            meta.provider_id.as_deref(),
            Some(format!("key-{i}").as_str())
        );
    }
}

#[test]
fn transient_names_are_released_with_their_last_event() {
    let store = store(100_000, 10);
    let pricing = PricingManager::new().unwrap();
    for i in 0..5_000 {
        let model = format!("m-{i}");
        store
            .try_record_llm_failed(
                &model,
                Some(&format!("a-{i}")),
                None,
                Some(&format!("code-{i}")),
                Some("boom"),
            )
            .unwrap();
    }
    store
        .try_record_llm_completed(&pricing, "m-0", 1, 1, None, None)
        .unwrap();
    let counts = store.name_counts();
    // Labels: the limit, plus the well-known operation names every store keeps.
    assert_eq!(
        (counts.models, counts.agents, counts.labels),
        (
            10,
            10,
            10 + iron_runtime_analytics::WELL_KNOWN_OPERATIONS.len()
        )
    );
    assert!(counts.transient >= 3 * 4_990, "{counts:?}");
    // Half delivered, the rest drained: every transient name goes.
    let ids: Vec<_> = store
        .unsynced_events()
        .iter()
        .step_by(2)
        .map(|e| e.event_id())
        .collect();
    store.mark_synced(&ids);
    assert!(store.name_counts().transient > 0);
    let drained = store.drain_all();
    assert_eq!(drained.len() + ids.len(), 5_001);
    assert_eq!(store.name_counts().transient, 0);
    // The stats still have everything, in bounded rows.
    let stats = store.stats();
    assert_eq!(stats.total_requests, 5_001);
    assert_eq!(
        stats.by_model[CARDINALITY_OVERFLOW_KEY].request_count,
        4_990
    );
}

#[test]
fn dropped_and_rejected_events_release_their_names_too() {
    let store = store(5, 1);
    for i in 0..50 {
        store
            .try_record_llm_failed(&format!("model-{i}"), None, None, None, None)
            .unwrap();
    }
    let a = store.accounting();
    assert_eq!((a.buffered, a.dropped), (5, 45));
    assert_eq!(
        store.name_counts().transient,
        4,
        "only buffered events hold names"
    );
    let ids: Vec<_> = store
        .unsynced_events()
        .iter()
        .map(|e| e.event_id())
        .collect();
    assert_eq!(store.mark_rejected(&ids), 5);
    assert_eq!(store.name_counts().transient, 0);
    assert!(store.accounting().is_balanced());
}

#[test]
fn a_streaming_store_sends_the_names_of_events_it_drops() {
    let (store, rx) = EventStore::with_config_streaming(
        StoreConfig::new()
            .with_capacity(1)
            .with_cardinality_limit(1),
        10,
    )
    .unwrap();
    for model in ["kept", "past-1", "past-2"] {
        store
            .try_record_llm_failed(model, None, None, None, None)
            .unwrap();
    }
    let streamed: Vec<String> = rx
        .try_iter()
        .map(|e| e.payload().meta().unwrap().model.to_string())
        .collect();
    assert_eq!(streamed, ["kept", "past-1", "past-2"]);
    assert_eq!(store.name_counts().transient, 0);
}

#[test]
fn many_threads_with_distinct_names_balance_and_free_everything() {
    let store = Arc::new(store(2_000, 50));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    let model = format!("t{t}-m{}", i % 700);
                    store
                        .try_record_llm_failed(
                            &model,
                            Some(&format!("agent-{}", i % 90)),
                            None,
                            None,
                            None,
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut drained = 0;
            for _ in 0..300 {
                drained += store.drain_all().len();
                assert!(store.accounting().is_balanced());
                std::thread::yield_now();
            }
            drained
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    store.drain_all();
    let stats = store.stats();
    assert_eq!(stats.total_requests, 20_000);
    assert!(stats.by_model.len() <= 51);
    assert_eq!(
        stats
            .by_model
            .values()
            .map(|s| s.request_count)
            .sum::<u64>(),
        20_000
    );
    assert_eq!(store.name_counts().transient, 0);
    assert!(store.name_counts().models <= 50);
}

#[test]
fn long_names_are_refused_and_long_messages_cut() {
    let store = EventStore::new();
    let pricing = PricingManager::new().unwrap();
    let at_limit = "é".repeat(256);
    let over = "é".repeat(257);
    store
        .try_record_llm_completed(&pricing, &at_limit, 1, 1, Some(&at_limit), Some(&at_limit))
        .unwrap();
    assert_eq!(
        store.try_record_llm_completed(&pricing, &over, 1, 1, None, None),
        Err(RecordError::NameTooLong {
            field: "model",
            chars: 257
        })
    );
    assert!(matches!(
        store.try_record_llm_failed("gpt-4o", Some(&over), None, None, None),
        Err(RecordError::NameTooLong {
            field: "agent_id",
            ..
        })
    ));
    assert!(matches!(
        store.try_record_llm_failed("gpt-4o", None, None, Some(&over), None),
        Err(RecordError::NameTooLong {
            field: "error_code",
            ..
        })
    ));
    assert_eq!(
        store.stats().total_requests,
        1,
        "refused records are not counted"
    );

    let message = "x".repeat(10 * 1024 * 1024);
    store
        .try_record_llm_failed("gpt-4o", None, None, Some("upstream"), Some(&message))
        .unwrap();
    let events = store.snapshot_events();
    let kept = match events.last().unwrap().payload() {
        iron_runtime_analytics::EventPayload::LlmRequestFailed(f) => {
            f.error_message.clone().unwrap()
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(kept.chars().count(), MAX_ERROR_MESSAGE_CHARS);
    assert!(kept.ends_with(TRUNCATION_MARK));
}

#[test]
fn bad_configurations_are_errors() {
    assert_eq!(
        EventStore::with_config(StoreConfig::new().with_cardinality_limit(0)).err(),
        Some(StoreError::InvalidCardinalityLimit(0))
    );
    assert_eq!(
        EventStore::with_config(StoreConfig::new().with_capacity(0)).err(),
        Some(StoreError::InvalidCapacity(0))
    );
    assert_eq!(
        EventStore::new().cardinality_limit(),
        DEFAULT_CARDINALITY_LIMIT
    );
}

#[test]
fn local_events_never_take_a_kept_name_from_counted_requests() {
    let store = store(10, 1);
    store.record_budget_threshold(80, 8, 10, Some("budget-only-agent"));
    store
        .try_record_llm_failed("gpt-4o", Some("agent-with-requests"), None, None, None)
        .unwrap();
    let stats = store.stats();
    assert_eq!(stats.by_agent.len(), 1);
    assert_eq!(stats.by_agent["agent-with-requests"].request_count, 1);
    assert_eq!(
        store.snapshot_events()[0].agent_id().map(|a| &**a),
        Some("budget-only-agent")
    );
    store.drain_all();
    assert_eq!(store.name_counts().transient, 0);
}
