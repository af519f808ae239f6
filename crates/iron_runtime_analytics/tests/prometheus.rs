//! The Prometheus exposition parses with a maintained parser and carries the stats.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use std::time::Duration;

use iron_cost::pricing::{PricingManager, TokenUsage};
use iron_runtime_analytics::{
    EventStore, GenAiConventions, LlmRecord, RequestLatency, StoreConfig,
};
use prometheus_parse::{Scrape, Value};

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{metric}: unexpected {other:?}"),
        })
}

/// The bucket counts of the one histogram series of `metric` with these labels.
fn histogram(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}");
    match &found[0].value {
        Value::Histogram(buckets) => buckets.iter().map(|b| (b.less_than, b.count)).collect(),
        other => panic!("{metric}: unexpected {other:?}"),
    }
}

#[test]
fn series_outbox_and_histograms_are_exposed() {
    let pricing = PricingManager::new().unwrap();
    let store = EventStore::with_capacity(4);
    let ms = |d: u64, t: Option<u64>| RequestLatency {
        duration: Some(Duration::from_millis(d)),
        time_to_first_token: t.map(Duration::from_millis),
    };
    store
        .record_llm_completed_with_latency(&pricing, "gpt-4", 150, 50, None, None, ms(30, Some(5)))
        .unwrap();
    store
        .record_llm_completed_with_latency(&pricing, "gpt-4", 150, 50, None, None, ms(900, None))
        .unwrap();
    store
        .record_llm(
            LlmRecord::failed("claude-3-opus-20240229", Some("rate_limit"), None)
                .latency(ms(120, Some(1))),
        )
        .unwrap();
    store
        .record_llm(
            LlmRecord::priced("gpt-4o-2024-08-06", &pricing, TokenUsage::new(1_000, 20))
                .request_model("gpt-4o")
                .operation("text_completion"),
        )
        .unwrap();
    store
        .try_record_llm_completed(&pricing, "we\"ird\\model", 1, 2, None, None)
        .unwrap(); // dropped: buffer full
    let id = store.unsynced_events()[0].event_id();
    store.mark_synced(&[id]);

    let text = store.render_prometheus_with(GenAiConventions::V1_36);
    let s = scrape(&text);
    let gpt4 = [
        ("gen_ai_operation_name", "chat"),
        ("gen_ai_system", "openai"),
        ("gen_ai_request_model", "gpt-4"),
        ("gen_ai_response_model", "gpt-4"),
    ];
    assert_eq!(value(&s, "iron_analytics_requests_total", &gpt4), Some(2.0));
    assert_eq!(
        value(&s, "iron_analytics_cost_usd_total", &gpt4),
        Some(0.015)
    );
    let input = [gpt4[0], gpt4[1], gpt4[2], ("gen_ai_token_type", "input")];
    let tokens = histogram(&s, "gen_ai_client_token_usage", &input);
    assert_eq!(
        tokens.last(),
        Some(&(f64::INFINITY, 2.0)),
        "one observation per request"
    );
    assert!(text.contains(
        "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4\",gen_ai_response_model=\"gpt-4\",gen_ai_token_type=\"input\"} 300"
    ));
    assert!(
        tokens.contains(&(64.0, 0.0)) && tokens.contains(&(256.0, 2.0)),
        "150 tokens: (64, 256]"
    );

    // A failure: no response model, its error type, its duration counted.
    let opus = [
        ("gen_ai_system", "anthropic"),
        ("gen_ai_request_model", "claude-3-opus-20240229"),
        ("error_type", "rate_limit"),
    ];
    assert_eq!(value(&s, "iron_analytics_requests_total", &opus), Some(1.0));
    assert_eq!(
        histogram(&s, "gen_ai_client_operation_duration_seconds", &opus).last(),
        Some(&(f64::INFINITY, 1.0))
    );
    assert!(!text.contains("gen_ai_response_model=\"claude-3-opus-20240229\""));
    assert!(
        !text.contains("time_to_first_chunk_seconds_count{gen_ai_operation_name=\"chat\",gen_ai_system=\"anthropic\""),
        "no first chunk for a failure"
    );

    // Request and response model apart; priced by the response model.
    let completion = [
        ("gen_ai_operation_name", "text_completion"),
        ("gen_ai_request_model", "gpt-4o"),
        ("gen_ai_response_model", "gpt-4o-2024-08-06"),
    ];
    assert!(value(&s, "iron_analytics_cost_usd_total", &completion).unwrap() > 0.0);

    // The parser keeps escapes as written; the text must carry them per the format.
    assert!(text.contains(
        r#"iron_analytics_requests_total{gen_ai_operation_name="chat",gen_ai_system="_OTHER",gen_ai_request_model="we\"ird\\model",gen_ai_response_model="we\"ird\\model"} 1"#
    ));
    assert_eq!(
        value(&s, "iron_analytics_events_dropped_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "iron_analytics_events_delivered_total", &[]),
        Some(1.0)
    );
    assert_eq!(value(&s, "iron_analytics_events_unsynced", &[]), Some(3.0));
    assert_eq!(value(&s, "iron_analytics_events_buffered", &[]), Some(3.0));

    let duration = histogram(&s, "gen_ai_client_operation_duration_seconds", &gpt4);
    let at = |le: f64| {
        duration
            .iter()
            .find(|b| b.0 == le || (b.0 - le).abs() < 1e-9)
            .unwrap_or_else(|| panic!("{le} in {duration:?}"))
            .1
    };
    assert_eq!(at(0.02), 0.0);
    assert_eq!(at(0.04), 1.0, "30 ms lands in (0.02, 0.04]");
    assert_eq!(at(0.64), 1.0);
    assert_eq!(at(1.28), 2.0, "900 ms lands in (0.64, 1.28]");
    assert_eq!(at(f64::INFINITY), 2.0);
    assert!(text.contains("gen_ai_client_operation_duration_seconds_sum{gen_ai_operation_name=\"chat\",gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4\",gen_ai_response_model=\"gpt-4\"} 0.93"));
    assert!(text.contains("gen_ai_client_operation_time_to_first_chunk_seconds_count{gen_ai_operation_name=\"chat\",gen_ai_system=\"openai\",gen_ai_request_model=\"gpt-4\",gen_ai_response_model=\"gpt-4\"} 1"));
    assert!(
        !text.contains("gen_ai_server_"),
        "a client measures no server metric"
    );
}

#[test]
fn the_latest_conventions_name_the_provider_otherwise() {
    let store = EventStore::new();
    for model in [
        "grok-4",
        "gemini-2.5-pro",
        "mistral-large-latest",
        "openai/gpt-4o",
        "llama-3",
    ] {
        store
            .try_record_llm_failed(model, None, None, Some("timeout"), None)
            .unwrap();
    }
    let old = store.render_prometheus_with(GenAiConventions::V1_36);
    let new = store.render_prometheus_with(GenAiConventions::LatestExperimental);
    for (v136, latest) in [
        ("gen_ai_system=\"xai\"", "gen_ai_provider_name=\"x_ai\""),
        (
            "gen_ai_system=\"gcp.gemini\"",
            "gen_ai_provider_name=\"gcp.gemini\"",
        ),
        (
            "gen_ai_system=\"mistral_ai\"",
            "gen_ai_provider_name=\"mistral_ai\"",
        ),
        (
            "gen_ai_system=\"openai\"",
            "gen_ai_provider_name=\"openai\"",
        ),
        (
            "gen_ai_system=\"_OTHER\"",
            "gen_ai_provider_name=\"_OTHER\"",
        ),
    ] {
        assert!(old.contains(v136) && !new.contains(v136), "{v136}");
        assert!(new.contains(latest) && !old.contains(latest), "{latest}");
    }
    assert!(!old.contains("gen_ai_provider_name") && !new.contains("gen_ai_system"));
}

#[test]
fn series_past_the_limit_share_the_overflow_series() {
    let store = EventStore::with_config(StoreConfig::new().with_cardinality_limit(2)).unwrap();
    for model in ["gpt-4o", "gpt-4o", "o3", "claude-3-haiku", "claude-3-opus"] {
        store
            .try_record_llm_failed(model, None, None, Some("timeout"), None)
            .unwrap();
    }
    let text = store.render_prometheus_with(GenAiConventions::V1_36);
    let s = scrape(&text);
    assert_eq!(
        value(
            &s,
            "iron_analytics_requests_total",
            &[("otel_metric_overflow", "true")]
        ),
        Some(2.0)
    );
    let overflow_lines: Vec<_> = text
        .lines()
        .filter(|l| l.contains("otel_metric_overflow"))
        .collect();
    assert!(
        overflow_lines
            .iter()
            .all(|l| l.contains("{otel_metric_overflow=\"true\"}")),
        "{overflow_lines:?}"
    );
    let series = store.series();
    assert_eq!(series.len(), 3);
    assert!(
        series[2].attributes.is_none(),
        "the overflow series comes last"
    );
    assert_eq!(series.iter().map(|s| s.request_count).sum::<u64>(), 5);
}

#[test]
fn latency_percentiles_interpolate_within_buckets() {
    let pricing = PricingManager::new().unwrap();
    let store = EventStore::new();
    for d in [15u64, 15, 15, 15, 15, 15, 15, 15, 15, 3_000] {
        let latency = RequestLatency {
            duration: Some(Duration::from_millis(d)),
            time_to_first_token: None,
        };
        store
            .record_llm_completed_with_latency(&pricing, "gpt-4o", 1, 1, None, None, latency)
            .unwrap();
    }
    let h = store.stats().latency_by_model["gpt-4o"].duration;
    assert_eq!(h.count(), 10);
    // 9 of 10 in (0.01, 0.02]: rank 5 → 0.01 + 0.01 × 5/9.
    assert!((h.quantile(0.5).unwrap() - (0.01 + 0.01 * 5.0 / 9.0)).abs() < 1e-12);
    // rank 9.9 falls in the (2.56, 5.12] bucket holding the 3 s request.
    assert!((h.quantile(0.99).unwrap() - (2.56 + 2.56 * 0.9)).abs() < 1e-12);
    assert_eq!(store.stats().latency_by_model.get("gpt-4"), None);
}
