//! The recording API: validation, pre-built events, ids, and Protocol 012 fields.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{
    BudgetThresholdData, LlmFailureData, LlmModelMeta, LlmUsageData,
};
use iron_runtime_analytics::{AnalyticsEvent, EventId, EventPayload, EventStore, RecordError};
use serde_json::{json, Value};

fn pricing() -> PricingManager {
    PricingManager::new().expect("embedded table")
}

fn usage(model: &str, provider: &str) -> EventPayload {
    EventPayload::LlmRequestCompleted(LlmUsageData {
        meta: LlmModelMeta {
            provider_id: None,
            provider: provider.into(),
            model: model.into(),
        },
        input_tokens: 1,
        output_tokens: 2,
        cost_micros: 3,
    })
}

#[test]
fn empty_names_are_refused_before_anything_is_counted() {
    let p = pricing();
    let store = EventStore::new();
    assert_eq!(
        store.record_llm_completed(&p, "", 1, 1, None, None),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.record_llm_failed("", None, None, None, None),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.record_llm_completed_with_provider(&p, "m", "", 1, 1, None, None),
        Err(RecordError::EmptyProvider)
    );
    assert_eq!(
        store.record(AnalyticsEvent::new(usage("", "openai"))),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.record(AnalyticsEvent::new(usage("m", ""))),
        Err(RecordError::EmptyProvider)
    );
    assert_eq!(store.stats().total_requests, 0);
    assert_eq!(store.accounting().recorded, 0);
    assert!(store.is_empty());
}

#[test]
fn prebuilt_events_keep_their_id_and_fields() {
    let store = EventStore::new();
    let event = AnalyticsEvent::new(usage("gpt-4", "openai")).with_agent_id("agent_9");
    let id = event.event_id();
    assert_eq!(store.record(event.clone()), Ok(Some(id)));
    let stored = &store.snapshot_events()[0];
    assert_eq!(stored, &event);
    assert_eq!(store.stats().by_agent["agent_9"].cost_micros, 3);
    assert_eq!(store.mark_synced(&[id]), 1);
}

#[test]
fn ids_are_unique_uuids_with_unix_ms_timestamps() {
    let p = pricing();
    let store = EventStore::new();
    let before = iron_runtime_analytics::current_time_ms();
    let ids: Vec<EventId> = (0..5_000)
        .map(|_| {
            store
                .record_llm_completed(&p, "gpt-4", 1, 1, None, None)
                .unwrap()
                .unwrap()
        })
        .collect();
    let after = iron_runtime_analytics::current_time_ms();
    let unique: std::collections::HashSet<_> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(unique.len(), 5_000);
    for id in [ids[0], ids[4_999]] {
        let text = id.to_string();
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert_eq!(id.as_uuid().get_version_num(), 8);
        assert!(id.timestamp_ms() >= before && id.timestamp_ms() <= after + 1);
    }
}

#[test]
fn completed_events_serialize_to_protocol_012_fields() {
    let p = pricing();
    let store = EventStore::new();
    store
        .record_llm_completed(
            &p,
            "claude-3-opus-20240229",
            200,
            100,
            Some("agent_123"),
            Some("ip_anthropic-001"),
        )
        .unwrap();
    let event = &store.snapshot_events()[0];
    let v = serde_json::to_value(event).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "agent_id",
            "cost_micros",
            "event_id",
            "event_type",
            "input_tokens",
            "model",
            "output_tokens",
            "provider",
            "provider_id",
            "timestamp_ms"
        ]
    );
    assert_eq!(v["event_type"], "llm_request_completed");
    assert_eq!(v["provider"], "anthropic");
    assert_eq!(v["model"], "claude-3-opus-20240229");
    assert_eq!(v["input_tokens"], 200);
    assert_eq!(v["output_tokens"], 100);
    assert_eq!(v["cost_micros"], 10_500);
    assert_eq!(v["agent_id"], "agent_123");
    assert_eq!(v["provider_id"], "ip_anthropic-001");
    assert_eq!(v["event_id"], Value::String(event.event_id().to_string()));
    assert_eq!(v["timestamp_ms"], json!(event.timestamp_ms()));
}

#[test]
fn failed_events_omit_absent_optionals() {
    let store = EventStore::new();
    store
        .record_llm_failed("gpt-4", None, None, Some("rate_limit"), None)
        .unwrap();
    store
        .record_llm_failed("gpt-4", None, Some("ip_1"), None, Some("boom"))
        .unwrap();
    let events = store.snapshot_events();
    let a = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(a["event_type"], "llm_request_failed");
    assert_eq!(a["error_code"], "rate_limit");
    for absent in [
        "error_message",
        "agent_id",
        "provider_id",
        "input_tokens",
        "output_tokens",
        "cost_micros",
    ] {
        assert!(
            a.get(absent).is_none(),
            "{absent} must be omitted, not null"
        );
    }
    let b = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(b["error_message"], "boom");
    assert_eq!(b["provider_id"], "ip_1");
    assert!(b.get("error_code").is_none());
    match events[1].payload() {
        EventPayload::LlmRequestFailed(LlmFailureData { error_message, .. }) => {
            assert_eq!(error_message.as_deref(), Some("boom"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn local_events_serialize_their_fields() {
    let store = EventStore::new();
    store.record_budget_threshold(80, 8_000_000, 10_000_000, Some("agent_123"));
    store.record_router_started(8080);
    let events = store.snapshot_events();
    let budget = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(budget["event_type"], "budget_threshold_reached");
    assert_eq!(budget["threshold_percent"], 80);
    assert_eq!(budget["current_spend_micros"], 8_000_000);
    assert_eq!(budget["budget_micros"], 10_000_000);
    assert_eq!(budget["agent_id"], "agent_123");
    assert_eq!(
        events[0].payload(),
        &EventPayload::BudgetThresholdReached(BudgetThresholdData {
            threshold_percent: 80,
            current_spend_micros: 8_000_000,
            budget_micros: 10_000_000
        })
    );
    let started = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(started["port"], 8080);
    assert!(started.get("agent_id").is_none());
    assert!(!events[1].event_type().is_synced());
}

#[test]
fn record_errors_say_what_to_fix() {
    assert_eq!(
        RecordError::EmptyModel.to_string(),
        "model name must not be empty"
    );
    assert!("x"
        .parse::<EventId>()
        .unwrap_err()
        .to_string()
        .contains("expected a UUID"));
}
