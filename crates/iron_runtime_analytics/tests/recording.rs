//! The recording API: validation, pre-built events, ids, and Protocol 012 fields.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{LlmFailureData, LlmModelMeta, LlmUsageData};
use iron_runtime_analytics::{
    AnalyticsEvent, EventId, EventPayload, EventStore, Provider, RecordError, MAX_NAME_CHARS,
};
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
        store.try_record_llm_completed(&p, "", 1, 1, None, None),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.try_record_llm_failed("", None, None, None, None),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.try_record_llm_completed_with_provider(&p, "m", "", 1, 1, None, None),
        Err(RecordError::EmptyProvider)
    );
    assert_eq!(
        store.try_record(AnalyticsEvent::new(usage("", "openai"))),
        Err(RecordError::EmptyModel)
    );
    assert_eq!(
        store.try_record(AnalyticsEvent::new(usage("m", ""))),
        Err(RecordError::EmptyProvider)
    );
    assert_eq!(store.stats().total_requests, 0);
    assert_eq!(store.accounting().recorded, 0);
    assert!(store.is_empty());
}

#[test]
fn prebuilt_events_keep_their_id_and_fields() {
    let store = EventStore::new();
    let event = AnalyticsEvent::new(usage("gpt-4", "openai")).with_agent_id(Some("agent_9"));
    let id = event.event_id();
    assert_eq!(store.try_record(event.clone()), Ok(Some(id)));
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
                .try_record_llm_completed(&p, "gpt-4", 1, 1, None, None)
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
        .try_record_llm_completed(
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
        .try_record_llm_failed("gpt-4", None, None, Some("rate_limit"), None)
        .unwrap();
    store
        .try_record_llm_failed("gpt-4", None, Some("ip_1"), None, Some("boom"))
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
        events[0].payload,
        EventPayload::BudgetThresholdReached {
            threshold_percent: 80,
            current_spend_micros: 8_000_000,
            budget_micros: 10_000_000
        }
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

#[test]
fn infallible_forms_count_bad_input_instead_of_failing() {
    let p = pricing();
    let store = EventStore::new();
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    store.record_llm_completed(&p, "", 1, 1, None, None);
    store.record_llm_completed_with_provider(&p, "m", Provider::OpenAI, 1, 1, Some(&long), None);
    store.record_llm_failed("gpt-4", None, Some(&long), None, None);
    store.record_budget_threshold(80, 8, 10, Some(&long));
    store.record(AnalyticsEvent::new(usage("m", "")));
    assert_eq!(store.refused_count(), 5);
    assert_eq!(store.last_refusal(), Some(RecordError::EmptyProvider));
    let accounting = store.accounting();
    assert_eq!((accounting.refused, accounting.recorded), (5, 0));
    assert!(accounting.is_balanced());
    assert_eq!(store.stats().total_requests, 0);
    assert!(store.is_empty());

    // Good input goes through as with the try_* forms.
    store.record_llm_completed(&p, "gpt-4", 150, 50, Some("a"), None);
    store.record_llm_completed_with_provider(
        &p,
        "ft:custom",
        Provider::Anthropic,
        1,
        1,
        None,
        None,
    );
    store.record_llm_failed("gpt-4", None, None, Some("timeout"), None);
    store.record_budget_threshold(255, 8, 10, Some("a"));
    store.record_router_started(1);
    store.record_router_stopped();
    let stats = store.stats();
    assert_eq!((stats.total_requests, stats.failed_requests), (3, 1));
    assert_eq!(stats.by_provider["anthropic"].request_count, 1);
    assert_eq!(store.len(), 6);
    assert_eq!(store.refused_count(), 5);
}

#[test]
fn budget_agent_ids_that_are_too_long_are_refused() {
    let store = EventStore::new();
    let long = "x".repeat(MAX_NAME_CHARS + 1);
    assert!(matches!(
        store.try_record_budget_threshold(80, 8, 10, Some(&long)),
        Err(RecordError::NameTooLong {
            field: "agent_id",
            ..
        })
    ));
    assert!(store.is_empty());
    assert!(store
        .try_record_budget_threshold(80, 8, 10, Some("agent"))
        .unwrap()
        .is_some());
}

#[test]
fn an_event_marked_synced_is_counted_but_not_kept_for_delivery() {
    let store = EventStore::new();
    let mut event = AnalyticsEvent::new(usage("gpt-4", "openai"));
    assert!(!event.is_synced());
    event.set_synced(true);
    assert!(event.is_synced());
    store.record(event);
    assert_eq!(store.stats().total_requests, 1);
    assert_eq!(store.unsynced_count(), 0);
    assert!(store.is_empty());
    let accounting = store.accounting();
    assert_eq!((accounting.recorded, accounting.synced), (1, 1));
    assert!(accounting.is_balanced());
}

#[test]
fn events_read_back_from_json_including_0_4_0_variant_names() {
    let store = EventStore::new();
    store
        .try_record_llm_failed(
            "gpt-4",
            Some("agent_1"),
            Some("ip_1"),
            Some("timeout"),
            Some("slow"),
        )
        .unwrap();
    store.record_budget_threshold(90, 9, 10, None);
    for event in store.snapshot_events() {
        let json = serde_json::to_string(&event).unwrap();
        let back: AnalyticsEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{json}");
    }
    // 0.4.0 wrote the variant name as `event_type`, and `null` for absent error fields.
    let old = json!({
        "event_id": "8c5e2f2a-3c1d-4a4b-9e1f-0a2b3c4d5e6f",
        "timestamp_ms": 1_700_000_000_000_u64,
        "event_type": "LlmRequestFailed",
        "provider_id": null,
        "provider": "openai",
        "model": "gpt-4",
        "error_code": "rate_limit",
        "error_message": null,
    });
    let event: AnalyticsEvent = serde_json::from_value(old).unwrap();
    assert_eq!(
        event.event_id().to_string(),
        "8c5e2f2a-3c1d-4a4b-9e1f-0a2b3c4d5e6f"
    );
    assert_eq!(event.timestamp_ms(), 1_700_000_000_000);
    assert_eq!(event.agent_id(), None);
    match &event.payload {
        EventPayload::LlmRequestFailed(d) => {
            assert_eq!(d.error_code.as_deref(), Some("rate_limit"));
            assert_eq!(d.error_message, None);
            assert_eq!(d.meta.provider_id, None);
        }
        other => panic!("{other:?}"),
    }
    // Missing id and time: a fresh id, the current time.
    let minimal: AnalyticsEvent =
        serde_json::from_value(json!({"event_type": "router_started", "port": 80})).unwrap();
    assert_eq!(minimal.payload, EventPayload::RouterStarted { port: 80 });
    assert!(minimal.timestamp_ms() > 1_700_000_000_000);
    // A threshold that does not fit a u8 is an error, not a wrap.
    assert!(serde_json::from_value::<AnalyticsEvent>(json!({
        "event_type": "budget_threshold_reached",
        "threshold_percent": 256,
        "current_spend_micros": 1,
        "budget_micros": 1,
    }))
    .is_err());
}

#[test]
fn event_ids_from_the_0_4_0_api() {
    let a = EventId::new();
    let b = EventId::default();
    assert_ne!(a, b);
    assert_eq!(a.to_uuid_string(), a.to_string());
    assert_eq!(a.to_uuid_string().parse::<EventId>().unwrap(), a);
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), a);
    assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
}
