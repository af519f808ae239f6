//! Statistics types for analytics aggregation: [`ModelStats`] and
//! [`ComputedStats`], plus the plain counters the store keeps per shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::intern::is_transient;

const MICROS_PER_USD: f64 = 1_000_000.0;

/// The key of the row that sums, per breakdown (model, provider, agent),
/// the requests of every name past the store's cardinality limit (see
/// [`StoreConfig::with_cardinality_limit`](crate::StoreConfig::with_cardinality_limit)).
/// A real name equal to it is counted in that row too.
pub const CARDINALITY_OVERFLOW_KEY: &str = "__overflow__";

/// A breakdown of stats by name (model, provider or agent).
///
/// Keys are shared with the store (`Arc<str>`, no copy per snapshot); the
/// hasher is foldhash's, randomly seeded, so that building a snapshot of a
/// thousand models stays in the tens of microseconds. Index it with a `&str`.
pub type StatsMap = HashMap<Arc<str>, ModelStats, foldhash::fast::RandomState>;

/// Aggregates for one model, provider or agent.
///
/// Token counts follow the normalized usage model: `input_tokens` counts
/// every prompt token processed, cached or not, and `output_tokens` every
/// completion token, reasoning included; the cache and reasoning counts are
/// parts of those. Every count saturates at `u64::MAX` instead of wrapping.
///
/// Serialized (serde) with its field names; the fields beyond those of
/// `iron_runtime_analytics` 0.4.0 default to 0 when read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelStats {
    /// Completed + failed requests.
    pub request_count: u64,
    /// The failed part of `request_count`.
    pub failed_count: u64,
    /// Prompt tokens (cached or not).
    pub input_tokens: u64,
    /// Completion tokens (reasoning included).
    pub output_tokens: u64,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
    /// The part of `input_tokens` read from the provider's prompt cache.
    pub cache_read_tokens: u64,
    /// The part of `input_tokens` written to the prompt cache (5-minute and 1-hour writes).
    pub cache_write_tokens: u64,
    /// The part of `output_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
    /// Completed requests whose model had no price (they cost 0).
    pub unpriced_requests: u64,
}

impl ModelStats {
    /// Cost in US dollars.
    pub fn cost_usd(&self) -> f64 {
        self.cost_micros as f64 / MICROS_PER_USD
    }

    /// `input_tokens + output_tokens` (saturating).
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Completed / total requests, 0..1 (1 when there are none).
    pub fn success_rate(&self) -> f64 {
        success_rate(self.request_count, self.failed_count)
    }
}

/// Per-model counters that many threads add to at once, each a lock-free
/// atomic: the aggregation type of `iron_runtime_analytics` 0.4.0, kept for
/// code that builds its own tables. The [`EventStore`](crate::EventStore)
/// does not use it (its shards keep plain counters under a lock that
/// writers never wait for).
///
/// Every count saturates at `u64::MAX` instead of wrapping.
///
/// ```
/// use iron_runtime_analytics::stats::{AtomicModelStats, ModelStats};
/// let stats = AtomicModelStats::new();
/// stats.add(100, 50, 1_500);
/// stats.add(u64::MAX, 0, 0);
/// let snapshot: ModelStats = stats.snapshot();
/// assert_eq!((snapshot.request_count, snapshot.input_tokens, snapshot.cost_micros), (2, u64::MAX, 1_500));
/// ```
#[derive(Debug, Default)]
pub struct AtomicModelStats {
    request_count: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    cost_micros: AtomicU64,
}

/// Adds to an atomic counter, saturating.
fn saturating_add(counter: &AtomicU64, n: u64) {
    // Relaxed: independent statistics; readers take no decision on their order.
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

impl AtomicModelStats {
    /// All counts at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one completed request of `input` and `output` tokens costing `cost` micro-dollars.
    pub fn add(&self, input: u64, output: u64, cost: u64) {
        saturating_add(&self.request_count, 1);
        saturating_add(&self.input_tokens, input);
        saturating_add(&self.output_tokens, output);
        saturating_add(&self.cost_micros, cost);
    }

    /// The counts now (each read on its own: a concurrent `add` may be half seen).
    pub fn snapshot(&self) -> ModelStats {
        self.into()
    }
}

impl From<&AtomicModelStats> for ModelStats {
    fn from(atomic: &AtomicModelStats) -> Self {
        // Relaxed: see `saturating_add`.
        Self {
            request_count: atomic.request_count.load(Ordering::Relaxed),
            input_tokens: atomic.input_tokens.load(Ordering::Relaxed),
            output_tokens: atomic.output_tokens.load(Ordering::Relaxed),
            cost_micros: atomic.cost_micros.load(Ordering::Relaxed),
            ..Self::default()
        }
    }
}

/// A snapshot of the store's statistics.
///
/// Totals count every LLM event recorded, including those the buffer had to
/// drop: the stats describe traffic, the buffer is only the outbox. Each
/// breakdown (model, provider, agent) holds at most the store's cardinality
/// limit of names; requests of names past it are summed in one row keyed
/// [`CARDINALITY_OVERFLOW_KEY`].
///
/// Serialized (serde) with its field names; the breakdowns are maps from
/// name to [`ModelStats`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComputedStats {
    /// Completed + failed requests.
    pub total_requests: u64,
    /// Failed requests.
    pub failed_requests: u64,
    /// Prompt tokens over all requests (cached or not).
    pub total_input_tokens: u64,
    /// Completion tokens over all requests (reasoning included).
    pub total_output_tokens: u64,
    /// Total cost, micro-dollars.
    pub total_cost_micros: u64,
    /// The part of `total_input_tokens` read from prompt caches.
    pub total_cache_read_tokens: u64,
    /// The part of `total_input_tokens` written to prompt caches.
    pub total_cache_write_tokens: u64,
    /// The part of `total_output_tokens` spent on reasoning.
    pub total_reasoning_tokens: u64,
    /// Completed requests whose model had no price (they cost 0).
    pub unpriced_requests: u64,
    /// Per model name.
    pub by_model: StatsMap,
    /// Per provider name (`openai`, `anthropic`, …, `unknown`).
    pub by_provider: StatsMap,
    /// Per agent id (requests without an agent are not listed).
    pub by_agent: StatsMap,
    /// Latency histograms per model (only models recorded with a latency are listed).
    pub latency_by_model: HashMap<Arc<str>, ModelLatency, foldhash::fast::RandomState>,
}

impl ComputedStats {
    /// Total cost in US dollars.
    pub fn total_cost_usd(&self) -> f64 {
        self.total_cost_micros as f64 / MICROS_PER_USD
    }

    /// Completed / total requests as a fraction 0..1 (1 when there are none).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// let store = EventStore::new();
    /// assert_eq!(store.stats().success_rate(), 1.0);
    /// store.record_llm_failed("gpt-4", None, None, Some("rate_limit"), None);
    /// assert_eq!(store.stats().success_rate(), 0.0);
    /// ```
    pub fn success_rate(&self) -> f64 {
        success_rate(self.total_requests, self.failed_requests)
    }

    /// Average cost per request in US dollars (0 when there are none).
    pub fn avg_cost_per_request_usd(&self) -> f64 {
        if self.total_requests == 0 {
            0.0
        } else {
            self.total_cost_usd() / self.total_requests as f64
        }
    }

    /// `total_input_tokens + total_output_tokens` (saturating).
    pub fn total_tokens(&self) -> u64 {
        self.total_input_tokens
            .saturating_add(self.total_output_tokens)
    }

    /// Average tokens per request (0 when there are none).
    pub fn avg_tokens_per_request(&self) -> f64 {
        if self.total_requests == 0 {
            0.0
        } else {
            self.total_tokens() as f64 / self.total_requests as f64
        }
    }
}

fn success_rate(total: u64, failed: u64) -> f64 {
    if total == 0 {
        1.0
    } else {
        total.saturating_sub(failed) as f64 / total as f64
    }
}

/// Upper bounds of the latency buckets, in microseconds: the OpenTelemetry
/// GenAI boundaries for `gen_ai.client.operation.duration`, 0.01 s doubling
/// to 81.92 s. A last, unbounded bucket (`+Inf`) follows them.
pub const LATENCY_BOUNDS_MICROS: [u64; 14] = [
    10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 2_560_000, 5_120_000,
    10_240_000, 20_480_000, 40_960_000, 81_920_000,
];

/// A latency histogram with the [`LATENCY_BOUNDS_MICROS`] buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Observations per bucket (not cumulative); the last is the `+Inf` bucket.
    pub bucket_counts: [u64; LATENCY_BOUNDS_MICROS.len() + 1],
    /// Sum of all observations, microseconds.
    pub sum_micros: u64,
}

impl LatencyHistogram {
    pub(crate) fn observe(&mut self, micros: u64) {
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.bucket_counts[bucket] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    pub(crate) fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.bucket_counts.iter_mut().zip(other.bucket_counts) {
            *a += b;
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.bucket_counts.iter().sum()
    }

    /// Sum of all observations in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// The `q`-quantile (0..=1) in seconds, estimated as Prometheus's
    /// `histogram_quantile` does: linear interpolation inside the bucket that
    /// holds the rank; the `+Inf` bucket answers its lower bound (81.92 s).
    /// `None` without observations.
    ///
    /// ```
    /// use iron_runtime_analytics::stats::LatencyHistogram;
    /// let h = LatencyHistogram { bucket_counts: [0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], sum_micros: 120_000 };
    /// // Four observations in (0.02 s, 0.04 s]: the median is halfway.
    /// assert_eq!(h.quantile(0.5), Some(0.03));
    /// ```
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let [estimate] = self.quantiles([q]);
        estimate
    }

    /// Several quantiles at once, each as [`quantile`](Self::quantile)
    /// answers it, counting the observations once.
    ///
    /// ```
    /// use iron_runtime_analytics::stats::LatencyHistogram;
    /// let h = LatencyHistogram { bucket_counts: [0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], sum_micros: 120_000 };
    /// assert_eq!(h.quantiles([0.5, 1.0]), [Some(0.03), Some(0.04)]);
    /// ```
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        let count = self.count();
        qs.map(|q| (count > 0).then(|| self.quantile_of(count, q)).flatten())
    }

    fn quantile_of(&self, count: u64, q: f64) -> Option<f64> {
        let rank = q.clamp(0.0, 1.0) * count as f64;
        let mut cumulative = 0u64;
        for (i, &n) in self.bucket_counts.iter().enumerate() {
            let previous = cumulative;
            cumulative += n;
            if n > 0 && cumulative as f64 >= rank {
                let Some(&upper) = LATENCY_BOUNDS_MICROS.get(i) else {
                    return Some(
                        LATENCY_BOUNDS_MICROS[LATENCY_BOUNDS_MICROS.len() - 1] as f64 / 1e6,
                    );
                };
                let lower = if i == 0 {
                    0.0
                } else {
                    LATENCY_BOUNDS_MICROS[i - 1] as f64 / 1e6
                };
                let upper = upper as f64 / 1e6;
                return Some(lower + (upper - lower) * ((rank - previous as f64) / n as f64));
            }
        }
        None
    }
}

/// Request duration and time to first token of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLatency {
    /// Whole-request duration (`gen_ai.client.operation.duration`).
    pub duration: LatencyHistogram,
    /// Time to the first token of streamed responses.
    pub ttft: LatencyHistogram,
}

impl ModelLatency {
    pub(crate) fn merge(&mut self, other: &ModelLatency) {
        self.duration.merge(&other.duration);
        self.ttft.merge(&other.ttft);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.duration.count() == 0 && self.ttft.count() == 0
    }
}

/// Plain counters, updated under the owning shard's lock; every sum saturates.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_micros: u64,
    pub(crate) cache_read_tokens: u64,
    pub(crate) cache_write_tokens: u64,
    pub(crate) reasoning_tokens: u64,
    pub(crate) unpriced: u64,
}

/// What one LLM event adds to the counters it touches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) failed: bool,
    pub(crate) unpriced: bool,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_micros: u64,
    pub(crate) cache_read_tokens: u64,
    /// 5-minute and 1-hour writes together.
    pub(crate) cache_write_tokens: u64,
    pub(crate) reasoning_tokens: u64,
}

impl Delta {
    /// A failed request: counted, with no tokens.
    pub(crate) const FAILED: Delta = Delta {
        failed: true,
        unpriced: false,
        input_tokens: 0,
        output_tokens: 0,
        cost_micros: 0,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    };
}

impl Counters {
    pub(crate) fn apply(&mut self, d: &Delta) {
        self.requests = self.requests.saturating_add(1);
        self.failed = self.failed.saturating_add(u64::from(d.failed));
        self.unpriced = self.unpriced.saturating_add(u64::from(d.unpriced));
        self.input_tokens = self.input_tokens.saturating_add(d.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(d.output_tokens);
        self.cost_micros = self.cost_micros.saturating_add(d.cost_micros);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(d.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(d.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(d.reasoning_tokens);
    }

    pub(crate) fn merge(&mut self, other: &Counters) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failed = self.failed.saturating_add(other.failed);
        self.unpriced = self.unpriced.saturating_add(other.unpriced);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
        self.cache_read_tokens = self
            .cache_read_tokens
            .saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(other.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.requests == 0
    }

    pub(crate) fn from_model_stats(s: ModelStats) -> Self {
        Self {
            requests: s.request_count,
            failed: s.failed_count,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cost_micros: s.cost_micros,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            reasoning_tokens: s.reasoning_tokens,
            unpriced: s.unpriced_requests,
        }
    }

    pub(crate) fn to_model_stats(self) -> ModelStats {
        ModelStats {
            request_count: self.requests,
            failed_count: self.failed,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: self.cost_micros,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            unpriced_requests: self.unpriced,
        }
    }
}

/// Counters per kept key (model, provider or agent), indexed by symbol,
/// and one overflow row for every transient key (names past the limit).
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Counters>,
    overflow: Counters,
}

impl Table {
    pub(crate) fn apply(&mut self, sym: u32, d: &Delta) {
        if is_transient(sym) {
            self.overflow.apply(d);
            return;
        }
        let i = sym as usize;
        if i >= self.rows.len() {
            self.rows.resize(i + 1, Counters::default());
        }
        self.rows[i].apply(d);
    }

    pub(crate) fn merge_into(&self, out: &mut Vec<Counters>, overflow: &mut Counters) {
        if out.len() < self.rows.len() {
            out.resize(self.rows.len(), Counters::default());
        }
        for (acc, c) in out.iter_mut().zip(&self.rows) {
            acc.merge(c);
        }
        overflow.merge(&self.overflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_averages() {
        let mut s = ComputedStats {
            total_requests: 4,
            failed_requests: 1,
            total_input_tokens: 300,
            total_output_tokens: 100,
            total_cost_micros: 2_000_000,
            ..ComputedStats::default()
        };
        assert_eq!(s.success_rate(), 0.75);
        assert_eq!(s.total_cost_usd(), 2.0);
        assert_eq!(s.avg_cost_per_request_usd(), 0.5);
        assert_eq!(s.total_tokens(), 400);
        assert_eq!(s.avg_tokens_per_request(), 100.0);
        s = ComputedStats::default();
        assert_eq!(s.success_rate(), 1.0);
        assert_eq!(s.avg_cost_per_request_usd(), 0.0);
        assert_eq!(s.avg_tokens_per_request(), 0.0);
    }

    #[test]
    fn tables_grow_merge_and_send_transient_keys_to_the_overflow_row() {
        let mut a = Table::default();
        a.apply(3, &Delta::FAILED);
        let mut b = Table::default();
        let completed = Delta {
            input_tokens: 5,
            output_tokens: 6,
            cost_micros: 7,
            cache_read_tokens: 2,
            ..Delta::default()
        };
        b.apply(1, &completed);
        b.apply(
            crate::intern::Transient::default().acquire("past the limit"),
            &completed,
        );
        let (mut out, mut overflow) = (Vec::new(), Counters::default());
        a.merge_into(&mut out, &mut overflow);
        b.merge_into(&mut out, &mut overflow);
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[3].to_model_stats(),
            ModelStats {
                request_count: 1,
                failed_count: 1,
                ..ModelStats::default()
            }
        );
        assert_eq!(out[1].to_model_stats().cost_usd(), 7e-6);
        assert_eq!(overflow.to_model_stats().cache_read_tokens, 2);
        assert!(out[0].is_zero());
    }

    #[test]
    fn counters_saturate_instead_of_wrapping() {
        let mut c = Counters::default();
        let huge = Delta {
            input_tokens: u64::MAX - 1,
            cost_micros: u64::MAX,
            ..Delta::default()
        };
        c.apply(&huge);
        c.apply(&huge);
        let mut merged = c;
        merged.merge(&c);
        assert_eq!(merged.input_tokens, u64::MAX);
        assert_eq!(merged.cost_micros, u64::MAX);
        assert_eq!(merged.requests, 4);
        let s = ComputedStats {
            total_input_tokens: u64::MAX,
            total_output_tokens: 1,
            ..ComputedStats::default()
        };
        assert_eq!(s.total_tokens(), u64::MAX);
    }
}
