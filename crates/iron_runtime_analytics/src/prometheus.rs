//! Prometheus text exposition (format 0.0.4) of a store's statistics, with
//! OpenTelemetry GenAI names where they exist.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::event_storage::EventStore;
use crate::stats::{LatencyHistogram, ModelStats, CARDINALITY_OVERFLOW_KEY, LATENCY_BOUNDS_MICROS};

/// A per-model counter family: name, help, and how to read its value.
type PerModel = (&'static str, &'static str, fn(&ModelStats) -> String);

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &LatencyHistogram) {
    let mut cumulative = 0;
    for (i, n) in h.bucket_counts.iter().enumerate() {
        cumulative += n;
        let le = LATENCY_BOUNDS_MICROS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |&b| format!("{}", b as f64 / 1e6));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_seconds());
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
}

impl EventStore {
    /// The store's statistics as Prometheus text, for a `/metrics` endpoint.
    ///
    /// Families: `gen_ai_client_operation_duration_seconds` and
    /// `gen_ai_server_time_to_first_token_seconds` (histograms per model),
    /// `gen_ai_client_token_usage` (tokens by model and `gen_ai_token_type`),
    /// `iron_analytics_requests_total`, `iron_analytics_request_failures_total`
    /// and `iron_analytics_cost_usd_total` per model (labelled with the
    /// provider inferred from the model name), `iron_analytics_provider_requests_total`
    /// per recorded provider, and the outbox counters (dropped, evicted,
    /// buffered, unsynced, delivered, rejected).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    /// let store = EventStore::new();
    /// store.record_llm_completed(&PricingManager::new().unwrap(), "gpt-4", 150, 50, None, None);
    /// let text = store.render_prometheus();
    /// assert!(text.contains(r#"gen_ai_client_token_usage{gen_ai_request_model="gpt-4",gen_ai_provider_name="openai",gen_ai_token_type="input"} 150"#));
    /// ```
    pub fn render_prometheus(&self) -> String {
        let stats = self.stats();
        let accounting = self.accounting();
        let mut models: Vec<(&Arc<str>, &ModelStats)> = stats.by_model.iter().collect();
        models.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let model_labels = |model: &str| {
            // The overflow row's own attributes are gone: only the OpenTelemetry
            // SDK's overflow mark stays.
            if model == CARDINALITY_OVERFLOW_KEY {
                return "otel_metric_overflow=\"true\"".to_owned();
            }
            let provider = self
                .inferred_provider_of(model)
                .unwrap_or_else(|| "unknown".into());
            format!(
                "gen_ai_request_model=\"{}\",gen_ai_provider_name=\"{}\"",
                escape(model),
                escape(&provider)
            )
        };
        let mut out = String::with_capacity(512 + models.len() * 2_048);

        let mut latency: Vec<_> = stats.latency_by_model.iter().collect();
        latency.sort_unstable_by(|a, b| a.0.cmp(b.0));
        family(
            &mut out,
            "gen_ai_client_operation_duration_seconds",
            "histogram",
            "Duration of LLM requests, by model.",
        );
        for (model, l) in latency.iter().filter(|(_, l)| l.duration.count() > 0) {
            histogram(
                &mut out,
                "gen_ai_client_operation_duration_seconds",
                &model_labels(model),
                &l.duration,
            );
        }
        family(
            &mut out,
            "gen_ai_server_time_to_first_token_seconds",
            "histogram",
            "Time to the first token of streamed LLM responses, by model.",
        );
        for (model, l) in latency.iter().filter(|(_, l)| l.ttft.count() > 0) {
            histogram(
                &mut out,
                "gen_ai_server_time_to_first_token_seconds",
                &model_labels(model),
                &l.ttft,
            );
        }

        family(
            &mut out,
            "gen_ai_client_token_usage",
            "counter",
            "Tokens used by LLM requests, by model and token type.",
        );
        for (model, s) in &models {
            let labels = model_labels(model);
            let _ = writeln!(
                out,
                "gen_ai_client_token_usage{{{labels},gen_ai_token_type=\"input\"}} {}",
                s.input_tokens
            );
            let _ = writeln!(
                out,
                "gen_ai_client_token_usage{{{labels},gen_ai_token_type=\"output\"}} {}",
                s.output_tokens
            );
        }
        let per_model: [PerModel; 4] = [
            (
                "iron_analytics_requests_total",
                "LLM requests (completed and failed), by model.",
                |s| s.request_count.to_string(),
            ),
            (
                "iron_analytics_request_failures_total",
                "Failed LLM requests, by model.",
                |s| s.failed_count.to_string(),
            ),
            (
                "iron_analytics_cost_usd_total",
                "Cost of LLM requests in US dollars, by model.",
                |s| s.cost_usd().to_string(),
            ),
            (
                "iron_analytics_unpriced_requests_total",
                "Completed LLM requests whose model had no price (they cost 0), by model.",
                |s| s.unpriced_requests.to_string(),
            ),
        ];
        for (name, help, value) in per_model {
            family(&mut out, name, "counter", help);
            for (model, s) in &models {
                let _ = writeln!(out, "{name}{{{}}} {}", model_labels(model), value(s));
            }
        }
        family(
            &mut out,
            "iron_analytics_provider_requests_total",
            "counter",
            "LLM requests (completed and failed), by recorded provider.",
        );
        let mut providers: Vec<_> = stats.by_provider.iter().collect();
        providers.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (provider, s) in providers {
            let labels = if &**provider == CARDINALITY_OVERFLOW_KEY {
                "otel_metric_overflow=\"true\"".to_owned()
            } else {
                format!("gen_ai_provider_name=\"{}\"", escape(provider))
            };
            let _ = writeln!(
                out,
                "iron_analytics_provider_requests_total{{{labels}}} {}",
                s.request_count
            );
        }
        let outbox: [(&str, &str, &str, u64); 7] = [
            (
                "iron_analytics_events_dropped_total",
                "counter",
                "LLM events dropped because the buffer was full.",
                accounting.dropped,
            ),
            (
                "iron_analytics_events_evicted_total",
                "counter",
                "Local events evicted to make room.",
                accounting.evicted,
            ),
            (
                "iron_analytics_events_buffered",
                "gauge",
                "Events in the buffer.",
                accounting.buffered,
            ),
            (
                "iron_analytics_events_unsynced",
                "gauge",
                "LLM events waiting to be delivered.",
                self.unsynced_count(),
            ),
            (
                "iron_analytics_events_delivered_total",
                "counter",
                "Events delivered to the Control API.",
                accounting.synced,
            ),
            (
                "iron_analytics_events_rejected_total",
                "counter",
                "Events the Control API rejected as invalid.",
                accounting.rejected,
            ),
            (
                "iron_analytics_records_lost_total",
                "counter",
                "Records accepted by a binding but never recorded.",
                accounting.lost,
            ),
        ];
        for (name, kind, help, value) in outbox {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("line\nbreak"), "line\\nbreak");
        assert_eq!(escape("plain"), "plain");
    }
}
