//! Prometheus text exposition (format 0.0.4) of a store's statistics on the
//! OpenTelemetry GenAI semantic conventions, versioned as the conventions'
//! transition plan asks of instrumentations (`docs/gen-ai/README.md` of
//! open-telemetry/semantic-conventions v1.41.1): the conventions as of
//! v1.36.0 by default, the latest experimental ones when
//! `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`.
//!
//! Metric and attribute names follow OpenTelemetry's Prometheus
//! compatibility rules: dots become underscores, a unit `s` becomes a
//! `_seconds` suffix, an annotation unit (`{token}`) adds none, a monotonic
//! sum ends in `_total`. The JS fallback renders the same bytes
//! (`src/shared/prometheus.ts`).

use std::fmt::Write as _;

use crate::event_storage::{Accounting, EventStore};
use crate::series::{SeriesStats, TIME_TO_FIRST_CHUNK_BOUNDS_MICROS, TOKEN_BOUNDS};
use crate::stats::LATENCY_BOUNDS_MICROS;

// `OTEL_VALUES`, from data/providers.json (shared with the JS fallback).
include!(concat!(env!("OUT_DIR"), "/otel_values.rs"));

/// Which version of the OpenTelemetry GenAI semantic conventions an
/// exposition follows.
///
/// What differs: v1.36.0 names the provider `gen_ai.system` (well-known
/// values `openai`, `anthropic`, `gcp.gemini`, `mistral_ai`, `deepseek`,
/// `xai`, …); from v1.37.0 it is `gen_ai.provider.name` (`xai` became
/// `x_ai`). The metrics — `gen_ai.client.operation.duration`,
/// `gen_ai.client.token.usage`, both histograms — and their bucket
/// boundaries are the same in both; the client's time to first chunk
/// (`gen_ai.client.operation.time_to_first_chunk`, v1.41.0) has no
/// v1.36.0 counterpart on the client side and is exposed under its own
/// name in both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GenAiConventions {
    /// The conventions as of v1.36.0 (the default of the transition plan).
    #[default]
    V1_36,
    /// The latest experimental conventions this library knows: v1.41.1 of
    /// open-telemetry/semantic-conventions, the last release before the
    /// GenAI conventions moved to open-telemetry/semantic-conventions-genai
    /// (whose documents keep these metrics and values).
    LatestExperimental,
}

impl GenAiConventions {
    /// The environment variable of the transition plan.
    pub const OPT_IN_ENV: &'static str = "OTEL_SEMCONV_STABILITY_OPT_IN";

    /// The conventions a value of `OTEL_SEMCONV_STABILITY_OPT_IN` asks for:
    /// the latest experimental ones when its comma-separated list holds
    /// `gen_ai_latest_experimental`, else v1.36.0.
    ///
    /// ```
    /// use iron_runtime_analytics::GenAiConventions;
    /// assert_eq!(GenAiConventions::from_opt_in("http, gen_ai_latest_experimental"), GenAiConventions::LatestExperimental);
    /// assert_eq!(GenAiConventions::from_opt_in("http"), GenAiConventions::V1_36);
    /// ```
    pub fn from_opt_in(value: &str) -> Self {
        if value
            .split(',')
            .any(|item| item.trim() == "gen_ai_latest_experimental")
        {
            Self::LatestExperimental
        } else {
            Self::V1_36
        }
    }

    /// The conventions the process's `OTEL_SEMCONV_STABILITY_OPT_IN` asks for.
    pub fn from_env() -> Self {
        std::env::var(Self::OPT_IN_ENV).map_or(Self::V1_36, |v| Self::from_opt_in(&v))
    }

    /// The attribute that names the provider, as a Prometheus label.
    pub fn provider_label(self) -> &'static str {
        match self {
            Self::V1_36 => "gen_ai_system",
            Self::LatestExperimental => "gen_ai_provider_name",
        }
    }

    /// The conventions' well-known value for a provider name of the stats
    /// (`google` → `gcp.gemini`, `unknown` → `_OTHER`, …); any other name
    /// (given explicitly when recording) as it is.
    ///
    /// ```
    /// use iron_runtime_analytics::GenAiConventions;
    /// assert_eq!(GenAiConventions::V1_36.provider_value("xai"), "xai");
    /// assert_eq!(GenAiConventions::LatestExperimental.provider_value("xai"), "x_ai");
    /// assert_eq!(GenAiConventions::LatestExperimental.provider_value("my-gateway"), "my-gateway");
    /// ```
    pub fn provider_value(self, name: &str) -> &str {
        match OTEL_VALUES.iter().find(|(n, _, _)| *n == name) {
            Some((_, system, _)) if self == Self::V1_36 => system,
            Some((_, _, provider)) => provider,
            None => name,
        }
    }
}

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

/// Appends `n` in decimal (the exposition writes ~70 numbers per series:
/// `write!`'s formatting machinery costs more than the digits).
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// One histogram family's shape: its name and the `le` text of each bound
/// (ready to append: `,le="0.01"} `).
struct Histogram {
    name: &'static str,
    le: Vec<String>,
}

impl Histogram {
    fn new(name: &'static str, bounds: impl Iterator<Item = String>) -> Self {
        let le = bounds
            .chain(std::iter::once("+Inf".to_owned()))
            .map(|b| format!(",le=\"{b}\"}} "))
            .collect();
        Self { name, le }
    }

    fn seconds(name: &'static str, bounds_micros: &[u64]) -> Self {
        Self::new(
            name,
            bounds_micros.iter().map(|&b| (b as f64 / 1e6).to_string()),
        )
    }

    fn tokens(name: &'static str) -> Self {
        Self::new(name, TOKEN_BOUNDS.iter().map(u64::to_string))
    }

    fn write(&self, out: &mut String, labels: &str, counts: &[u64], sum: &str) {
        let name = self.name;
        let mut cumulative = 0u64;
        for (n, le) in counts.iter().zip(&self.le) {
            cumulative = cumulative.saturating_add(*n);
            out.push_str(name);
            out.push_str("_bucket{");
            out.push_str(labels);
            out.push_str(le);
            push_u64(out, cumulative);
            out.push('\n');
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = write!(out, "{name}_count{{{labels}}} ");
        push_u64(out, cumulative);
        out.push('\n');
    }
}

/// The label sets of one series: with `error_type` (duration, counters),
/// without it (time to first chunk, token usage).
fn series_labels(s: &SeriesStats, conventions: GenAiConventions) -> (String, String) {
    let Some(a) = &s.attributes else {
        // The overflow series' own attributes are gone: only the
        // OpenTelemetry SDK's overflow mark stays.
        let mark = "otel_metric_overflow=\"true\"".to_owned();
        return (mark.clone(), mark);
    };
    let mut base = format!(
        "gen_ai_operation_name=\"{}\",{}=\"{}\",gen_ai_request_model=\"{}\"",
        escape(&a.operation),
        conventions.provider_label(),
        escape(conventions.provider_value(&a.provider)),
        escape(&a.request_model),
    );
    if let Some(model) = &a.response_model {
        let _ = write!(base, ",gen_ai_response_model=\"{}\"", escape(model));
    }
    let with_error = match &a.error_type {
        Some(error) => format!("{base},error_type=\"{}\"", escape(error)),
        None => base.clone(),
    };
    (with_error, base)
}

/// Appends the exposition of `series` (sorted: [`ComputedStats::series`]
/// order) and the outbox counters.
///
/// [`ComputedStats::series`]: crate::ComputedStats::series
pub(crate) fn render_into(
    out: &mut String,
    series: &[SeriesStats],
    accounting: &Accounting,
    unsynced: u64,
    conventions: GenAiConventions,
) {
    let labels: Vec<(String, String)> = series
        .iter()
        .map(|s| series_labels(s, conventions))
        .collect();
    // Up to 71 lines a series (4 histograms of 17, 3 counters), each its
    // labels and under 96 bytes more: one allocation, never a regrowth that
    // copies megabytes.
    let estimate: usize = labels
        .iter()
        .map(|(with_error, _)| 71 * (with_error.len() + 96))
        .sum();
    out.reserve(4_096 + estimate);

    let duration = Histogram::seconds(
        "gen_ai_client_operation_duration_seconds",
        &LATENCY_BOUNDS_MICROS,
    );
    family(out, duration.name, "histogram", "GenAI operation duration.");
    for (s, (with_error, _)) in series.iter().zip(&labels) {
        if s.duration.count() > 0 {
            let sum = s.duration.sum_seconds().to_string();
            duration.write(out, with_error, &s.duration.bucket_counts, &sum);
        }
    }

    let ttfc = Histogram::seconds(
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        &TIME_TO_FIRST_CHUNK_BOUNDS_MICROS,
    );
    family(
        out,
        ttfc.name,
        "histogram",
        "Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.",
    );
    for (s, (_, base)) in series.iter().zip(&labels) {
        if s.time_to_first_chunk.count() > 0 {
            let sum = s.time_to_first_chunk.sum_seconds().to_string();
            ttfc.write(out, base, &s.time_to_first_chunk.bucket_counts, &sum);
        }
    }

    let tokens = Histogram::tokens("gen_ai_client_token_usage");
    family(
        out,
        tokens.name,
        "histogram",
        "Number of input and output tokens used.",
    );
    for (s, (_, base)) in series.iter().zip(&labels) {
        for (kind, h) in [("input", &s.input_tokens), ("output", &s.output_tokens)] {
            if h.count() > 0 {
                let labels = format!("{base},gen_ai_token_type=\"{kind}\"");
                tokens.write(out, &labels, &h.bucket_counts, &h.sum.to_string());
            }
        }
    }

    type PerSeries = (&'static str, &'static str, fn(&SeriesStats) -> String);
    let per_series: [PerSeries; 3] = [
        (
            "iron_analytics_requests_total",
            "LLM requests, completed and failed (error_type), by GenAI series.",
            |s| s.request_count.to_string(),
        ),
        (
            "iron_analytics_cost_usd_total",
            "Cost of LLM requests in US dollars, by GenAI series.",
            |s| (s.cost_micros as f64 / 1e6).to_string(),
        ),
        (
            "iron_analytics_unpriced_requests_total",
            "Completed LLM requests whose model had no price (they cost 0), by GenAI series.",
            |s| s.unpriced_requests.to_string(),
        ),
    ];
    for (name, help, value) in per_series {
        family(out, name, "counter", help);
        for (s, (with_error, _)) in series.iter().zip(&labels) {
            let _ = writeln!(out, "{name}{{{with_error}}} {}", value(s));
        }
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
            unsynced,
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
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

impl EventStore {
    /// The store's statistics as Prometheus text, for a `/metrics` endpoint,
    /// on the OpenTelemetry GenAI conventions the process asks for
    /// ([`GenAiConventions::from_env`]; see
    /// [`render_prometheus_with`](Self::render_prometheus_with)).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    /// let store = EventStore::new();
    /// store.record_llm_completed(&PricingManager::new().unwrap(), "gpt-4", 150, 50, None, None);
    /// let text = store.render_prometheus();
    /// assert!(text.contains(r#"iron_analytics_requests_total{gen_ai_operation_name="chat",gen_ai_system="openai",gen_ai_request_model="gpt-4",gen_ai_response_model="gpt-4"} 1"#));
    /// ```
    pub fn render_prometheus(&self) -> String {
        self.render_prometheus_with(GenAiConventions::from_env())
    }

    /// The store's statistics as Prometheus text on the given conventions.
    ///
    /// Families, one series per [`SeriesStats`] (the overflow series
    /// labelled `otel_metric_overflow="true"` alone):
    /// - `gen_ai_client_operation_duration_seconds` (histogram): every
    ///   request recorded with a duration, failed ones with `error_type`;
    /// - `gen_ai_client_operation_time_to_first_chunk_seconds` (histogram);
    /// - `gen_ai_client_token_usage` (histogram, by `gen_ai_token_type`):
    ///   tokens per completed request;
    /// - `iron_analytics_requests_total`, `iron_analytics_cost_usd_total`,
    ///   `iron_analytics_unpriced_requests_total`;
    /// - the outbox: `iron_analytics_events_{dropped,evicted,delivered,rejected}_total`,
    ///   `iron_analytics_records_lost_total`, and the gauges
    ///   `iron_analytics_events_buffered` and `iron_analytics_events_unsynced`.
    ///
    /// Series labels: `gen_ai_operation_name`, `gen_ai_system` (v1.36.0) or
    /// `gen_ai_provider_name` (latest), `gen_ai_request_model`,
    /// `gen_ai_response_model` (completed requests), `error_type` (failed ones).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, GenAiConventions};
    /// let store = EventStore::new();
    /// store.record_llm_failed("grok-4", None, None, None, None);
    /// let text = store.render_prometheus_with(GenAiConventions::LatestExperimental);
    /// assert!(text.contains(r#"iron_analytics_requests_total{gen_ai_operation_name="chat",gen_ai_provider_name="x_ai",gen_ai_request_model="grok-4",error_type="_OTHER"} 1"#));
    /// ```
    pub fn render_prometheus_with(&self, conventions: GenAiConventions) -> String {
        let mut out = String::new();
        self.render_prometheus_into(&mut out, conventions);
        out
    }

    /// [`render_prometheus_with`](Self::render_prometheus_with), appended to
    /// `out`: a caller rendering every scrape can reuse one buffer (the text
    /// is megabytes with a few hundred series, and fresh pages cost more
    /// than writing them).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, GenAiConventions};
    /// let store = EventStore::new();
    /// let mut out = String::new();
    /// store.render_prometheus_into(&mut out, GenAiConventions::V1_36);
    /// assert_eq!(out, store.render_prometheus_with(GenAiConventions::V1_36));
    /// ```
    pub fn render_prometheus_into(&self, out: &mut String, conventions: GenAiConventions) {
        let series = self.series();
        let accounting = self.accounting();
        render_into(
            out,
            &series,
            &accounting,
            self.unsynced_count(),
            conventions,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("line\nbreak"), "line\\nbreak");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn the_opt_in_list_is_read_item_by_item() {
        use GenAiConventions::*;
        assert_eq!(GenAiConventions::from_opt_in(""), V1_36);
        assert_eq!(
            GenAiConventions::from_opt_in("gen_ai_latest_experimental"),
            LatestExperimental
        );
        assert_eq!(
            GenAiConventions::from_opt_in("http/dup , gen_ai_latest_experimental "),
            LatestExperimental
        );
        assert_eq!(
            GenAiConventions::from_opt_in("gen_ai_latest_experimental_not"),
            V1_36
        );
    }

    #[test]
    fn every_built_in_provider_has_a_value_in_each_version() {
        use crate::Provider;
        for p in Provider::ALL {
            let latest = GenAiConventions::LatestExperimental.provider_value(p.as_str());
            assert_eq!(latest, p.otel_name(), "{p}");
            let v136 = GenAiConventions::V1_36.provider_value(p.as_str());
            assert!(!v136.is_empty());
        }
        assert_eq!(GenAiConventions::V1_36.provider_value("unknown"), "_OTHER");
        assert_eq!(
            GenAiConventions::V1_36.provider_value("google"),
            "gcp.gemini"
        );
    }
}
