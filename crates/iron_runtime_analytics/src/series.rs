//! The OpenTelemetry GenAI series: per operation, provider, request model,
//! response model and error type, what the GenAI semantic conventions'
//! client metrics need — the operation duration of every request (failed
//! ones included), the time to first chunk, the input and output token
//! counts as histograms — and the request count, cost and unpriced count
//! the `iron_*` metrics carry.
//!
//! Bucket boundaries, from the conventions (`docs/gen-ai/gen-ai-metrics.md`
//! of open-telemetry/semantic-conventions, v1.36.0 and v1.41.1, and of
//! open-telemetry/semantic-conventions-genai since the move):
//! - `gen_ai.client.operation.duration`, `s`: 0.01 doubling to 81.92
//!   ([`LATENCY_BOUNDS_MICROS`](crate::LATENCY_BOUNDS_MICROS));
//! - `gen_ai.client.operation.time_to_first_chunk`, `s` (from v1.41.0): the
//!   same list, [`TIME_TO_FIRST_CHUNK_BOUNDS_MICROS`];
//! - `gen_ai.client.token.usage`, `{token}`: 1, 4, 16, … 67,108,864
//!   ([`TOKEN_BOUNDS`]).
//!
//! Series are bounded like every breakdown: a store keeps its first
//! `cardinality_limit` series whose names are all kept; the requests of any
//! other series (or of one naming a string past a limit) are summed in one
//! overflow series, which the exposition marks `otel_metric_overflow="true"`
//! as the OpenTelemetry SDK marks its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::event_storage::EventStore;
use crate::intern::{is_transient, NONE};
use crate::stats::{LatencyHistogram, LATENCY_BOUNDS_MICROS};

type Hasher = foldhash::fast::RandomState;

/// Upper bounds of the time-to-first-chunk buckets, in microseconds: the
/// boundaries the conventions give `gen_ai.client.operation.time_to_first_chunk`
/// (0.01 s doubling to 81.92 s, the same list as the operation duration's;
/// the server metric `gen_ai.server.time_to_first_token` has others).
pub const TIME_TO_FIRST_CHUNK_BOUNDS_MICROS: [u64; 14] = LATENCY_BOUNDS_MICROS;

/// Upper bounds of the token-usage buckets: the boundaries the conventions
/// give `gen_ai.client.token.usage` (powers of 4 from 1 to 67,108,864). A
/// last, unbounded bucket (`+Inf`) follows them.
pub const TOKEN_BOUNDS: [u64; 14] = [
    1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216,
    67_108_864,
];

/// The `gen_ai.operation.name` of a request recorded without one.
pub const DEFAULT_OPERATION: &str = "chat";

/// The `error.type` of a failed request recorded without an error code: the
/// conventions' fallback value.
pub const UNNAMED_ERROR_TYPE: &str = "_OTHER";

/// The well-known `gen_ai.operation.name` values of the conventions
/// (v1.36.0), kept by every store on top of its cardinality limit so that
/// they always name their own series.
pub const WELL_KNOWN_OPERATIONS: [&str; 7] = [
    "chat",
    "create_agent",
    "embeddings",
    "execute_tool",
    "generate_content",
    "invoke_agent",
    "text_completion",
];

/// The error symbol of a failed request without an error code. Kept label
/// symbols stay below the cardinality limit plus the built-in labels (far
/// below 2^31 − 1) and transient ones have the top bit set: it names none.
pub(crate) const UNNAMED_ERROR: u32 = (1 << 31) - 1;

/// Index of the bucket holding `value`: the first bound at or above it, else
/// the unbounded one (OpenTelemetry explicit buckets are upper-inclusive, as
/// Prometheus's `le`).
fn bucket_of(bounds: &[u64], value: u64) -> usize {
    bounds.partition_point(|&bound| bound < value)
}

/// A token-count histogram with the [`TOKEN_BOUNDS`] buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHistogram {
    /// Observations per bucket (not cumulative); the last is the `+Inf` bucket.
    pub bucket_counts: [u64; TOKEN_BOUNDS.len() + 1],
    /// Sum of all observations, tokens (saturating).
    pub sum: u64,
}

impl TokenHistogram {
    fn observe(&mut self, tokens: u64) {
        let bucket = bucket_of(&TOKEN_BOUNDS, tokens);
        self.bucket_counts[bucket] = self.bucket_counts[bucket].saturating_add(1);
        self.sum = self.sum.saturating_add(tokens);
    }

    fn merge(&mut self, other: &TokenHistogram) {
        for (a, b) in self.bucket_counts.iter_mut().zip(other.bucket_counts) {
            *a = a.saturating_add(b);
        }
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.bucket_counts
            .iter()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }
}

/// The names of a series, as the conventions' attributes carry them (the
/// provider by the name the stats keep: the exposition maps it to the
/// conventions' well-known value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesAttributes {
    /// `gen_ai.operation.name` (`chat` unless recorded otherwise).
    pub operation: Arc<str>,
    /// The provider name (`openai`, `google`, …, or one given explicitly).
    pub provider: Arc<str>,
    /// `gen_ai.request.model`: the model asked for (the recorded model when
    /// no request model was given).
    pub request_model: Arc<str>,
    /// `gen_ai.response.model`: the model that answered (`None` for a failed request).
    pub response_model: Option<Arc<str>>,
    /// `error.type`: the error code of a failed request ([`UNNAMED_ERROR_TYPE`]
    /// without one); `None` for a completed request.
    pub error_type: Option<Arc<str>>,
}

/// The aggregates of one series (serialized with its field names, as
/// [`ComputedStats`](crate::ComputedStats) is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// The series' names; `None` for the overflow series (every series past
    /// the cardinality limit, summed).
    pub attributes: Option<SeriesAttributes>,
    /// Requests (completed and failed).
    pub request_count: u64,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
    /// Completed requests whose model had no price (they cost 0).
    pub unpriced_requests: u64,
    /// Operation duration of the requests recorded with one, failed ones included.
    pub duration: LatencyHistogram,
    /// Time to the first chunk of the streamed requests recorded with one.
    pub time_to_first_chunk: LatencyHistogram,
    /// Input tokens per completed request.
    pub input_tokens: TokenHistogram,
    /// Output tokens per completed request.
    pub output_tokens: TokenHistogram,
}

/// A series key: the symbols of its names ([`NONE`] for an absent response
/// model or error type; [`UNNAMED_ERROR`] for a failure without a code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesKey {
    pub(crate) operation: u32,
    pub(crate) provider: u32,
    pub(crate) request_model: u32,
    pub(crate) response_model: u32,
    pub(crate) error_type: u32,
}

impl SeriesKey {
    /// Whether a name of the key is past its limit: such a series can only
    /// be counted in the overflow series (a transient symbol is reused once
    /// its events are gone).
    fn names_a_transient(&self) -> bool {
        [
            self.operation,
            self.provider,
            self.request_model,
            self.response_model,
            self.error_type,
        ]
        .iter()
        .any(|&s| is_transient(s))
    }
}

/// What one request adds to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesObservation {
    pub(crate) key: SeriesKey,
    pub(crate) duration_micros: Option<u64>,
    pub(crate) ttfc_micros: Option<u64>,
    /// Input and output tokens of a completed request.
    pub(crate) tokens: Option<(u64, u64)>,
    pub(crate) cost_micros: u64,
    pub(crate) unpriced: bool,
}

/// The counters of one series in one shard (or merged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SeriesRow {
    requests: u64,
    cost_micros: u64,
    unpriced: u64,
    duration: LatencyHistogram,
    ttfc: LatencyHistogram,
    input_tokens: TokenHistogram,
    output_tokens: TokenHistogram,
}

impl SeriesRow {
    fn observe(&mut self, o: &SeriesObservation) {
        self.requests = self.requests.saturating_add(1);
        self.cost_micros = self.cost_micros.saturating_add(o.cost_micros);
        self.unpriced = self.unpriced.saturating_add(u64::from(o.unpriced));
        if let Some(micros) = o.duration_micros {
            self.duration.observe(micros);
        }
        if let Some(micros) = o.ttfc_micros {
            self.ttfc.observe(micros);
        }
        if let Some((input, output)) = o.tokens {
            self.input_tokens.observe(input);
            self.output_tokens.observe(output);
        }
    }

    fn merge(&mut self, other: &SeriesRow) {
        self.requests = self.requests.saturating_add(other.requests);
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
        self.unpriced = self.unpriced.saturating_add(other.unpriced);
        self.duration.merge(&other.duration);
        self.ttfc.merge(&other.ttfc);
        self.input_tokens.merge(&other.input_tokens);
        self.output_tokens.merge(&other.output_tokens);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requests == 0
    }

    pub(crate) fn to_stats(self, attributes: Option<SeriesAttributes>) -> SeriesStats {
        SeriesStats {
            attributes,
            request_count: self.requests,
            cost_micros: self.cost_micros,
            unpriced_requests: self.unpriced,
            duration: self.duration,
            time_to_first_chunk: self.ttfc,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }
}

/// The series keys of a store: the first `limit` keys naming only kept
/// strings each get a dense symbol, for the store's life.
pub(crate) struct SeriesIndex {
    map: DashMap<SeriesKey, u32, Hasher>,
    keys: boxcar::Vec<SeriesKey>,
    /// Symbols handed out or promised: never above `limit`.
    reserved: AtomicUsize,
    limit: usize,
}

impl SeriesIndex {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            map: DashMap::with_hasher(Hasher::default()),
            keys: boxcar::Vec::new(),
            reserved: AtomicUsize::new(0),
            limit,
        }
    }

    /// The symbol of `key`, made the first time while there is room; `None`
    /// past the limit, or for a key naming a transient string.
    fn intern(&self, key: SeriesKey) -> Option<u32> {
        if key.names_a_transient() {
            return None;
        }
        if let Some(sym) = self.map.get(&key) {
            return Some(*sym);
        }
        let entry = self.map.entry(key);
        if let dashmap::Entry::Occupied(e) = &entry {
            return Some(*e.get());
        }
        // Relaxed: the counter only bounds how many series exist; the entry
        // lock held here orders the insertion of the key itself.
        if self.reserved.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.reserved.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let sym = u32::try_from(self.keys.push(key))
            .expect("INVARIANT: at most the cardinality limit (10^6) of series");
        entry.or_insert(sym);
        Some(sym)
    }

    /// The key of a symbol this index made.
    pub(crate) fn key(&self, sym: u32) -> SeriesKey {
        *self
            .keys
            .get(sym as usize)
            .expect("INVARIANT: series symbols only come from this index")
    }
}

/// One shard's series: rows by series symbol, the overflow row, and a
/// private cache of symbols so that the hot path hashes a key once in memory
/// no other thread writes.
#[derive(Default)]
pub(crate) struct SeriesTable {
    cache: HashMap<SeriesKey, u32, Hasher>,
    rows: Vec<SeriesRow>,
    overflow: SeriesRow,
}

impl SeriesTable {
    /// Adds one request to its series.
    pub(crate) fn observe(&mut self, index: &SeriesIndex, o: &SeriesObservation) {
        let sym = match self.cache.get(&o.key) {
            Some(&sym) => Some(sym),
            None => {
                let sym = index.intern(o.key);
                if let Some(sym) = sym {
                    self.cache.insert(o.key, sym);
                }
                sym
            }
        };
        let Some(sym) = sym else {
            self.overflow.observe(o);
            return;
        };
        let i = sym as usize;
        if i >= self.rows.len() {
            self.rows.resize(i + 1, SeriesRow::default());
        }
        self.rows[i].observe(o);
    }

    /// Adds this shard's rows into `out`.
    pub(crate) fn merge_into(&self, out: &mut SeriesRows) {
        if out.kept.len() < self.rows.len() {
            out.kept.resize(self.rows.len(), SeriesRow::default());
        }
        for (acc, row) in out.kept.iter_mut().zip(&self.rows) {
            acc.merge(row);
        }
        out.overflow.merge(&self.overflow);
    }
}

/// The merged series rows of a reading: per series symbol, and the overflow row.
#[derive(Default)]
pub(crate) struct SeriesRows {
    pub(crate) kept: Vec<SeriesRow>,
    pub(crate) overflow: SeriesRow,
}

impl EventStore {
    /// The OpenTelemetry GenAI series with a request: per operation,
    /// provider, request model, response model and error type, sorted by
    /// those names, the overflow series (attributes `None`) last. Apart from
    /// [`stats`](Self::stats), which does not build them: a series carries
    /// four histograms, and a dashboard reading totals should not pay for them.
    pub fn series(&self) -> Vec<SeriesStats> {
        let mut series: Vec<SeriesStats> = self.stats_view().series().collect();
        sort(&mut series);
        series
    }
}

/// Sorts series by their names (operation, provider, request model,
/// response model, error type; an absent name first), the overflow series last.
///
/// The names are sorted, not the series: a series is over 500 bytes, and
/// moving each one O(log n) times cost more than comparing the names.
pub(crate) fn sort(series: &mut Vec<SeriesStats>) {
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (&series[a].attributes, &series[b].attributes);
        (a.is_none(), a).cmp(&(b.is_none(), b))
    });
    let mut taken: Vec<Option<SeriesStats>> = series.drain(..).map(Some).collect();
    series.extend(order.into_iter().filter_map(|i| taken[i].take()));
}

/// The key of a request: [`NONE`]s where a name is absent.
pub(crate) fn key_of(
    operation: u32,
    provider: u32,
    request_model: u32,
    response_model: Option<u32>,
    error_type: Option<u32>,
) -> SeriesKey {
    SeriesKey {
        operation,
        provider,
        request_model,
        response_model: response_model.unwrap_or(NONE),
        error_type: error_type.unwrap_or(NONE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(key: SeriesKey, tokens: Option<(u64, u64)>) -> SeriesObservation {
        SeriesObservation {
            key,
            duration_micros: Some(25_000),
            ttfc_micros: None,
            tokens,
            cost_micros: 7,
            unpriced: false,
        }
    }

    #[test]
    fn token_buckets_are_upper_inclusive() {
        let mut h = TokenHistogram::default();
        for tokens in [0, 1, 2, 4, 5, 67_108_864, 67_108_865] {
            h.observe(tokens);
        }
        assert_eq!(h.bucket_counts[0], 2, "0 and 1 fall in le=1");
        assert_eq!(h.bucket_counts[1], 2, "2 and 4 in le=4");
        assert_eq!(h.bucket_counts[2], 1, "5 in le=16");
        assert_eq!(h.bucket_counts[13], 1, "the last bound holds itself");
        assert_eq!(h.bucket_counts[14], 1, "past it: +Inf");
        assert_eq!((h.count(), h.sum), (7, 134_217_741));
    }

    #[test]
    fn keys_past_the_limit_or_naming_transients_overflow() {
        let index = SeriesIndex::new(2);
        let mut a = SeriesTable::default();
        let mut b = SeriesTable::default();
        let key = |m| key_of(0, 1, m, Some(m), None);
        a.observe(&index, &observation(key(10), Some((3, 4))));
        b.observe(&index, &observation(key(11), Some((3, 4))));
        b.observe(&index, &observation(key(10), Some((300, 4))));
        // Past the limit: overflow, in whichever shard sees it.
        a.observe(&index, &observation(key(12), None));
        // A transient request model never gets a series of its own.
        let transient = crate::intern::Transient::default().acquire("past the limit");
        b.observe(
            &index,
            &observation(key_of(0, 1, transient, None, Some(UNNAMED_ERROR)), None),
        );
        let mut rows = SeriesRows::default();
        a.merge_into(&mut rows);
        b.merge_into(&mut rows);
        assert_eq!(rows.kept.len(), 2);
        assert_eq!(index.key(0), key(10));
        assert_eq!(rows.kept[0].requests, 2);
        assert_eq!(
            rows.kept[0].input_tokens.bucket_counts[1], 1,
            "3 tokens: le=4"
        );
        assert_eq!(
            rows.kept[0].input_tokens.bucket_counts[5], 1,
            "300 tokens: le=1024"
        );
        assert_eq!(rows.kept[0].duration.count(), 2);
        assert_eq!((rows.overflow.requests, rows.overflow.cost_micros), (2, 14));
        assert_eq!(
            rows.overflow.input_tokens.count(),
            0,
            "failures and unmeasured requests add no tokens"
        );
    }
}
