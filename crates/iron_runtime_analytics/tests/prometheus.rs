//! The Prometheus exposition parses with a maintained parser and carries the stats.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use std::time::Duration;

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::{EventStore, RequestLatency};
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

#[test]
fn stats_outbox_and_histograms_are_exposed() {
    let pricing = PricingManager::new().unwrap();
    let store = EventStore::with_capacity(3);
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
        .try_record_llm_failed(
            "claude-3-opus-20240229",
            None,
            None,
            Some("rate_limit"),
            None,
        )
        .unwrap();
    store
        .try_record_llm_completed(&pricing, "we\"ird\\model", 1, 2, None, None)
        .unwrap(); // dropped: buffer full
    let id = store.unsynced_events()[0].event_id();
    store.mark_synced(&[id]);

    let text = store.render_prometheus();
    let s = scrape(&text);
    let gpt4 = [
        ("gen_ai_request_model", "gpt-4"),
        ("gen_ai_provider_name", "openai"),
    ];
    assert_eq!(value(&s, "iron_analytics_requests_total", &gpt4), Some(2.0));
    assert_eq!(
        value(&s, "iron_analytics_cost_usd_total", &gpt4),
        Some(0.015)
    );
    let input = [gpt4[0], gpt4[1], ("gen_ai_token_type", "input")];
    assert_eq!(value(&s, "gen_ai_client_token_usage", &input), Some(300.0));
    let opus = [
        ("gen_ai_request_model", "claude-3-opus-20240229"),
        ("gen_ai_provider_name", "anthropic"),
    ];
    assert_eq!(
        value(&s, "iron_analytics_request_failures_total", &opus),
        Some(1.0)
    );
    // The parser keeps escapes as written; the text must carry them per the format.
    assert!(text.contains(
        r#"iron_analytics_requests_total{gen_ai_request_model="we\"ird\\model",gen_ai_provider_name="unknown"} 1"#
    ));
    assert_eq!(
        value(
            &s,
            "iron_analytics_provider_requests_total",
            &[("gen_ai_provider_name", "openai")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "iron_analytics_events_dropped_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "iron_analytics_events_delivered_total", &[]),
        Some(1.0)
    );
    assert_eq!(value(&s, "iron_analytics_events_unsynced", &[]), Some(2.0));
    assert_eq!(value(&s, "iron_analytics_events_buffered", &[]), Some(2.0));

    let duration = s
        .samples
        .iter()
        .find(|x| {
            x.metric == "gen_ai_client_operation_duration_seconds"
                && x.labels.get("gen_ai_request_model") == Some("gpt-4")
        })
        .unwrap();
    match &duration.value {
        Value::Histogram(buckets) => {
            let at = |le: f64| {
                buckets
                    .iter()
                    .find(|b| b.less_than == le || (b.less_than - le).abs() < 1e-9)
                    .unwrap()
                    .count
            };
            assert_eq!(at(0.02), 0.0);
            assert_eq!(at(0.04), 1.0, "30 ms lands in (0.02, 0.04]");
            assert_eq!(at(0.64), 1.0);
            assert_eq!(at(1.28), 2.0, "900 ms lands in (0.64, 1.28]");
            assert_eq!(at(f64::INFINITY), 2.0);
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("gen_ai_client_operation_duration_seconds_sum{gen_ai_request_model=\"gpt-4\",gen_ai_provider_name=\"openai\"} 0.93"));
    assert!(text.contains("gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model=\"gpt-4\",gen_ai_provider_name=\"openai\"} 1"));
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
