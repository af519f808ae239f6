//! Stats and events as numbers plus a few strings, for the wrapper to build
//! its objects from: serializing JSON in Rust and parsing it in JS cost ~30×
//! the reading itself. Layouts: `stats` and `events` in `layout.json`.
//!
//! Stats name their rows by key index: the wrapper keeps the names it was
//! sent (bounded by the store's cardinality limit) and says how many of each
//! breakdown it holds, so a name crosses once per store object. Events carry
//! their strings once per reading (names past the limit are not kept, so
//! they cannot be named by index).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iron_runtime_analytics::{
    AnalyticsEvent, Breakdown, EventPayload, LatencyHistogram, ModelStats, SeriesStats, StatsView,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::layout::*;
use crate::to_js_count;

/// A length in UTF-16 units, the unit of JS string indexes.
fn utf16_len(s: &str) -> usize {
    // ASCII (nearly every name) skips the count.
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// Copied into a buffer V8 owns: handing a `Vec` over as an external buffer
/// faulted in fresh pages on every call (it is freed only at a GC).
fn to_js<'env>(env: &'env Env, numbers: &[f64]) -> Result<Float64ArraySlice<'env>> {
    Float64ArraySlice::copy_from(env, numbers)
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

/// Stats as numbers, and the names the wrapper does not hold yet.
#[napi(object)]
pub struct PackedStats<'env> {
    /// The new names, joined; their indices and lengths end `numbers`.
    pub names: String,
    /// Layout: `stats` in layout.json.
    pub numbers: Float64ArraySlice<'env>,
}

const BREAKDOWNS: [Breakdown; 3] = [Breakdown::Model, Breakdown::Provider, Breakdown::Agent];

struct StatsPacker {
    numbers: Vec<f64>,
    saturated: bool,
    names: String,
    /// Per breakdown: the (index, length) of each new name, and the indices sent.
    new_names: [Vec<(u32, usize)>; 3],
    sent: [HashSet<u32>; 3],
    known: [u32; 3],
}

impl StatsPacker {
    fn count(&mut self, n: u64) {
        let v = to_js_count(n, &mut self.saturated);
        self.numbers.push(v);
    }

    fn stats(&mut self, s: &ModelStats) {
        for n in [
            s.request_count,
            s.failed_count,
            s.input_tokens,
            s.output_tokens,
            s.cost_micros,
            s.cache_read_tokens,
            s.cache_write_tokens,
            s.reasoning_tokens,
            s.unpriced_requests,
        ] {
            self.count(n);
        }
    }

    /// The name slot of a row, sending the name if the wrapper lacks it.
    fn name(&mut self, b: usize, index: Option<u32>, name: &Arc<str>) -> f64 {
        let Some(index) = index else {
            return STATS_OVERFLOW_NAME;
        };
        if index >= self.known[b] && self.sent[b].insert(index) {
            self.names.push_str(name);
            self.new_names[b].push((index, utf16_len(name)));
        }
        f64::from(index)
    }

    fn histogram(&mut self, h: &LatencyHistogram) {
        let start = self.numbers.len();
        let [p50, p95, p99] = h
            .quantiles([0.5, 0.95, 0.99])
            .map(|q| q.unwrap_or(f64::NAN));
        self.count(h.count());
        self.count(h.sum_micros);
        self.numbers.extend([p50, p95, p99]);
        debug_assert_eq!(self.numbers.len() - start, HISTOGRAM_LEN);
        for &n in &h.bucket_counts {
            self.count(n);
        }
    }
}

/// Packs a stats view; `known` holds how many names of each breakdown
/// (model, provider, agent) the wrapper already has, by index from 0.
pub(crate) fn pack_stats<'env>(
    env: &'env Env,
    view: &StatsView<'_>,
    known: &[u32],
) -> Result<PackedStats<'env>> {
    let mut p = StatsPacker {
        numbers: Vec::with_capacity(1024),
        saturated: false,
        names: String::new(),
        new_names: Default::default(),
        sent: Default::default(),
        known: std::array::from_fn(|i| known.get(i).copied().unwrap_or(0)),
    };
    p.numbers.resize(STATS_HEADER_LEN, 0.0);
    p.numbers.push(-1.0); // the totals' name
    p.stats(&view.totals());
    for (b, breakdown) in BREAKDOWNS.into_iter().enumerate() {
        let mut rows = 0.0;
        for (index, name, s) in view.indexed_rows(breakdown) {
            rows += 1.0;
            let slot = p.name(b, index, name);
            p.numbers.push(slot);
            p.stats(&s);
        }
        p.numbers[STATS_HEADER_MODEL_ROWS + b] = rows;
    }
    let mut latency_rows = 0.0;
    for (index, name, l) in view.indexed_latency() {
        latency_rows += 1.0;
        let slot = p.name(0, index, name);
        p.numbers.push(slot);
        p.histogram(&l.duration);
        p.histogram(&l.ttft);
    }
    p.numbers[STATS_HEADER_LATENCY_ROWS] = latency_rows;
    for b in 0..BREAKDOWNS.len() {
        p.numbers[STATS_HEADER_NEW_MODEL_NAMES + b] = p.new_names[b].len() as f64;
        let pairs = std::mem::take(&mut p.new_names[b]);
        for (index, len) in pairs {
            p.numbers.extend([f64::from(index), len as f64]);
        }
    }
    p.numbers[STATS_HEADER_SATURATED] = f64::from(u8::from(p.saturated));
    Ok(PackedStats {
        names: p.names,
        numbers: to_js(env, &p.numbers)?,
    })
}

// ---------------------------------------------------------------------------
// GenAI series
// ---------------------------------------------------------------------------

/// The GenAI series as numbers and their names.
#[napi(object)]
pub struct PackedSeries<'env> {
    /// The reading's names, joined; their lengths end `numbers`.
    pub strings: String,
    /// Layout: `series` in layout.json.
    pub numbers: Float64ArraySlice<'env>,
}

/// Packs sorted series; `start_ms` is when the store began counting.
pub(crate) fn pack_series<'env>(
    env: &'env Env,
    series: &[SeriesStats],
    start_ms: u64,
) -> Result<PackedSeries<'env>> {
    let per_row = SERIES_ROW_LEN + SERIES_HISTOGRAM_LEN * SERIES_BUCKETS;
    let mut numbers = Vec::with_capacity(SERIES_HEADER_LEN + series.len() * per_row + 64);
    numbers.resize(SERIES_HEADER_LEN, 0.0);
    let mut strings = Strings::default();
    let mut saturated = false;
    for s in series {
        let start = numbers.len();
        numbers.resize(start + SERIES_ROW_LEN, -1.0);
        let row = &mut numbers[start..];
        match &s.attributes {
            None => row[SERIES_ROW_OVERFLOW] = 1.0,
            Some(a) => {
                row[SERIES_ROW_OVERFLOW] = 0.0;
                row[SERIES_ROW_OPERATION] = strings.slot(Some(&*a.operation));
                row[SERIES_ROW_PROVIDER] = strings.slot(Some(&*a.provider));
                row[SERIES_ROW_REQUEST_MODEL] = strings.slot(Some(&*a.request_model));
                row[SERIES_ROW_RESPONSE_MODEL] = strings.slot(a.response_model.as_deref());
                row[SERIES_ROW_ERROR_TYPE] = strings.slot(a.error_type.as_deref());
            }
        }
        let mut n = |v| to_js_count(v, &mut saturated);
        row[SERIES_ROW_REQUEST_COUNT] = n(s.request_count);
        row[SERIES_ROW_COST_MICROS] = n(s.cost_micros);
        row[SERIES_ROW_UNPRICED_REQUESTS] = n(s.unpriced_requests);
        row[SERIES_ROW_DURATION_SUM_MICROS] = n(s.duration.sum_micros);
        row[SERIES_ROW_TIME_TO_FIRST_CHUNK_SUM_MICROS] = n(s.time_to_first_chunk.sum_micros);
        row[SERIES_ROW_INPUT_TOKENS_SUM] = n(s.input_tokens.sum);
        row[SERIES_ROW_OUTPUT_TOKENS_SUM] = n(s.output_tokens.sum);
        // The order of `series.histograms` in layout.json.
        let histograms: [&[u64]; SERIES_HISTOGRAM_LEN] = [
            &s.duration.bucket_counts,
            &s.time_to_first_chunk.bucket_counts,
            &s.input_tokens.bucket_counts,
            &s.output_tokens.bucket_counts,
        ];
        for counts in histograms {
            debug_assert_eq!(counts.len(), SERIES_BUCKETS);
            numbers.extend(counts.iter().map(|&c| to_js_count(c, &mut saturated)));
        }
    }
    numbers[SERIES_HEADER_SERIES] = series.len() as f64;
    numbers[SERIES_HEADER_STRINGS] = strings.lengths.len() as f64;
    numbers[SERIES_HEADER_SATURATED] = f64::from(u8::from(saturated));
    numbers[SERIES_HEADER_START_TIME_MS] = to_js_count(start_ms, &mut saturated);
    numbers.extend_from_slice(&strings.lengths);
    Ok(PackedSeries {
        strings: strings.joined,
        numbers: to_js(env, &numbers)?,
    })
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// Events as numbers and strings, oldest first.
#[napi(object)]
pub struct PackedEvents<'env> {
    /// The reading's strings (names, codes, messages), joined; their
    /// lengths end `numbers`.
    pub strings: String,
    /// Every event's id, hyphenated (36 characters each), concatenated.
    pub ids: String,
    /// Layout: `events` in layout.json.
    pub numbers: Float64ArraySlice<'env>,
}

/// The strings of one reading, each sent once.
#[derive(Default)]
struct Strings {
    joined: String,
    lengths: Vec<f64>,
    /// By the text's address and length: a name shared by many events is
    /// one `Arc<str>` in the core.
    index: HashMap<(usize, usize), u32, foldhash::fast::RandomState>,
}

impl Strings {
    fn slot(&mut self, s: Option<&str>) -> f64 {
        let Some(s) = s else {
            return -1.0;
        };
        let key = (s.as_ptr() as usize, s.len());
        let next = self.lengths.len() as u32;
        let index = *self.index.entry(key).or_insert_with(|| {
            self.joined.push_str(s);
            self.lengths.push(utf16_len(s) as f64);
            next
        });
        f64::from(index)
    }
}

/// The kind number of an event in a reading (`events.kinds` in layout.json).
fn kind_of(payload: &EventPayload) -> usize {
    // Exhaustive: a kind added to the core fails to compile here until
    // layout.json has it.
    match payload {
        EventPayload::LlmRequestCompleted(_) => EVENT_KIND_LLM_REQUEST_COMPLETED,
        EventPayload::LlmRequestFailed(_) => EVENT_KIND_LLM_REQUEST_FAILED,
        EventPayload::BudgetThresholdReached { .. } => EVENT_KIND_BUDGET_THRESHOLD_REACHED,
        EventPayload::RouterStarted { .. } => EVENT_KIND_ROUTER_STARTED,
        EventPayload::RouterStopped { .. } => EVENT_KIND_ROUTER_STOPPED,
    }
}

/// Events packed into a buffer V8 owns.
pub(crate) fn pack_events<'env>(
    env: &'env Env,
    events: &[AnalyticsEvent],
) -> Result<PackedEvents<'env>> {
    let (strings, ids, numbers) = events_parts(events)?;
    Ok(PackedEvents {
        strings,
        ids,
        numbers: to_js(env, &numbers)?,
    })
}

/// [`PackedEvents`] for a reading finished off the JS thread (the stream's
/// waits), whose numbers cannot be copied into V8's heap yet.
#[napi(object)]
pub struct PackedEventsOwned {
    /// As in [`PackedEvents`].
    pub strings: String,
    /// As in [`PackedEvents`].
    pub ids: String,
    /// As in [`PackedEvents`].
    pub numbers: Float64Array,
}

/// Events packed into a buffer handed over to V8.
pub(crate) fn pack_events_owned(events: &[AnalyticsEvent]) -> Result<PackedEventsOwned> {
    let (strings, ids, numbers) = events_parts(events)?;
    Ok(PackedEventsOwned {
        strings,
        ids,
        numbers: Float64Array::new(numbers),
    })
}

fn events_parts(events: &[AnalyticsEvent]) -> Result<(String, String, Vec<f64>)> {
    let mut numbers = Vec::with_capacity(EVENTS_HEADER_LEN + events.len() * EVENT_LEN);
    numbers.resize(EVENTS_HEADER_LEN, 0.0);
    let mut strings = Strings::default();
    let mut saturated = false;
    let mut ids = String::with_capacity(events.len() * uuid::fmt::Hyphenated::LENGTH);
    let mut id_buffer = uuid::Uuid::encode_buffer();
    for e in events {
        ids.push_str(
            e.event_id()
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut id_buffer),
        );
        let mut slots = [-1.0; EVENT_LEN];
        slots[EVENT_KIND] = kind_of(&e.payload) as f64;
        slots[EVENT_TIMESTAMP_MS] = to_js_count(e.timestamp_ms(), &mut saturated);
        slots[EVENT_AGENT] = strings.slot(e.agent_id().map(|a| &**a));
        if let Some(meta) = e.payload.meta() {
            slots[EVENT_PROVIDER] = strings.slot(Some(&meta.provider));
            slots[EVENT_MODEL] = strings.slot(Some(&meta.model));
            slots[EVENT_PROVIDER_ID] = strings.slot(meta.provider_id.as_deref());
        }
        let values = match &e.payload {
            EventPayload::LlmRequestCompleted(u) => {
                [u.input_tokens, u.output_tokens, u.cost_micros]
            }
            EventPayload::LlmRequestFailed(f) => {
                slots[EVENT_ERROR_CODE] = strings.slot(f.error_code.as_deref());
                slots[EVENT_MESSAGE] = strings.slot(f.error_message.as_deref());
                [0; 3]
            }
            &EventPayload::BudgetThresholdReached {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => [
                u64::from(threshold_percent),
                current_spend_micros,
                budget_micros,
            ],
            &EventPayload::RouterStarted { port } => [u64::from(port), 0, 0],
            &EventPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => [total_requests, total_cost_micros, 0],
        };
        slots[EVENT_A] = to_js_count(values[0], &mut saturated);
        slots[EVENT_B] = to_js_count(values[1], &mut saturated);
        slots[EVENT_C] = to_js_count(values[2], &mut saturated);
        numbers.extend_from_slice(&slots);
    }
    numbers[EVENTS_HEADER_EVENTS] = events.len() as f64;
    numbers[EVENTS_HEADER_STRINGS] = strings.lengths.len() as f64;
    numbers[EVENTS_HEADER_SATURATED] = f64::from(u8::from(saturated));
    numbers.extend_from_slice(&strings.lengths);
    Ok((strings.joined, ids, numbers))
}
