//! Statistics types for analytics aggregation: [`ModelStats`] and
//! [`ComputedStats`], plus the plain counters the store keeps per shard.

use std::collections::HashMap;
use std::sync::Arc;

const MICROS_PER_USD: f64 = 1_000_000.0;

/// A breakdown of stats by name (model, provider or agent).
///
/// Keys are shared with the store (`Arc<str>`, no copy per snapshot); the
/// hasher is foldhash's, randomly seeded, so that building a snapshot of a
/// thousand models stays in the tens of microseconds. Index it with a `&str`.
pub type StatsMap = HashMap<Arc<str>, ModelStats, foldhash::fast::RandomState>;

/// Aggregates for one model, provider or agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Completed + failed requests.
    pub request_count: u64,
    /// The failed part of `request_count`.
    pub failed_count: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
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

/// A snapshot of the store's statistics.
///
/// Totals count every LLM event recorded, including those the buffer had to
/// drop: the stats describe traffic, the buffer is only the outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComputedStats {
    /// Completed + failed requests.
    pub total_requests: u64,
    /// Failed requests.
    pub failed_requests: u64,
    /// Prompt tokens over all requests.
    pub total_input_tokens: u64,
    /// Completion tokens over all requests.
    pub total_output_tokens: u64,
    /// Total cost, micro-dollars.
    pub total_cost_micros: u64,
    /// Per model name.
    pub by_model: StatsMap,
    /// Per provider name (`openai`, `anthropic`, …, `unknown`).
    pub by_provider: StatsMap,
    /// Per agent id (requests without an agent are not listed).
    pub by_agent: StatsMap,
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
    /// store.record_llm_failed("gpt-4", None, None, Some("rate_limit"), None).unwrap();
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

/// Plain counters, updated under the owning shard's lock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_micros: u64,
}

/// What one LLM event adds to the counters it touches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delta {
    pub(crate) failed: bool,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_micros: u64,
}

impl Counters {
    pub(crate) fn apply(&mut self, d: &Delta) {
        self.requests = self.requests.wrapping_add(1);
        self.failed = self.failed.wrapping_add(u64::from(d.failed));
        self.input_tokens = self.input_tokens.wrapping_add(d.input_tokens);
        self.output_tokens = self.output_tokens.wrapping_add(d.output_tokens);
        self.cost_micros = self.cost_micros.wrapping_add(d.cost_micros);
    }

    pub(crate) fn merge(&mut self, other: &Counters) {
        self.requests = self.requests.wrapping_add(other.requests);
        self.failed = self.failed.wrapping_add(other.failed);
        self.input_tokens = self.input_tokens.wrapping_add(other.input_tokens);
        self.output_tokens = self.output_tokens.wrapping_add(other.output_tokens);
        self.cost_micros = self.cost_micros.wrapping_add(other.cost_micros);
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.requests == 0
    }

    pub(crate) fn to_model_stats(self) -> ModelStats {
        ModelStats {
            request_count: self.requests,
            failed_count: self.failed,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: self.cost_micros,
        }
    }
}

/// Counters per interned key (model, provider or agent), indexed by symbol.
#[derive(Debug, Default)]
pub(crate) struct Table(Vec<Counters>);

impl Table {
    pub(crate) fn apply(&mut self, sym: u32, d: &Delta) {
        let i = sym as usize;
        if i >= self.0.len() {
            self.0.resize(i + 1, Counters::default());
        }
        self.0[i].apply(d);
    }

    pub(crate) fn merge_into(&self, out: &mut Vec<Counters>) {
        if out.len() < self.0.len() {
            out.resize(self.0.len(), Counters::default());
        }
        for (acc, c) in out.iter_mut().zip(&self.0) {
            acc.merge(c);
        }
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
    fn tables_grow_and_merge() {
        let d = Delta {
            failed: true,
            input_tokens: 0,
            output_tokens: 0,
            cost_micros: 0,
        };
        let mut a = Table::default();
        a.apply(3, &d);
        let mut b = Table::default();
        b.apply(
            1,
            &Delta {
                failed: false,
                input_tokens: 5,
                output_tokens: 6,
                cost_micros: 7,
            },
        );
        let mut out = Vec::new();
        a.merge_into(&mut out);
        b.merge_into(&mut out);
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
        assert!(out[0].is_zero());
    }
}
