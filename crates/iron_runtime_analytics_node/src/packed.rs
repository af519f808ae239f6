//! Stats and events as numbers plus a few strings, for the wrapper to build
//! its objects from: serializing JSON in Rust and parsing it in JS cost ~30×
//! the reading itself. A name (model, provider, agent, provider id, error
//! code) crosses once per JS store object, then as an id.

use std::collections::HashMap;

use iron_runtime_analytics::{
    AnalyticsEvent, EventPayload, LatencyHistogram, ModelStats, StatsView, LATENCY_BOUNDS_MICROS,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// The names a JS store object already holds as strings, by id. Sending an
/// id instead of the name spares the wrapper creating (and V8
/// internalizing) a string per row or event on every read.
///
/// Keyed by the text's address: the core hands out one `Arc<str>` per
/// interned name and keeps it for the store's life, so the address names
/// the text. The copy kept beside it is compared on every hit, so even a
/// reused address could only cost a second id, never a wrong name. The core
/// never forgets a name, so neither does this: it grows no further than the
/// core's interners.
#[derive(Default)]
pub(crate) struct SentNames {
    ids: HashMap<usize, (Box<str>, u32), foldhash::fast::RandomState>,
    next: u32,
}

/// The numbers of one reading, and the names it sends for the first time.
struct Packer<'a> {
    sent: &'a mut SentNames,
    new_names: String,
    new_lengths: Vec<f64>,
    numbers: Vec<f64>,
}

/// A length in UTF-16 units, the unit of JS string indexes.
fn utf16_len(s: &str) -> usize {
    // ASCII (nearly every name) skips the count.
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

impl<'a> Packer<'a> {
    fn new(sent: &'a mut SentNames, numbers: usize) -> Self {
        Self {
            sent,
            new_names: String::new(),
            new_lengths: Vec::new(),
            numbers: Vec::with_capacity(numbers),
        }
    }

    /// The id of `name` (sending it if new).
    fn id(&mut self, name: &str) -> f64 {
        let address = name.as_ptr() as usize;
        if let Some((text, id)) = self.sent.ids.get(&address) {
            if **text == *name {
                return f64::from(*id);
            }
        }
        let id = self.sent.next;
        self.sent.next += 1;
        self.sent.ids.insert(address, (name.into(), id));
        self.new_names.push_str(name);
        self.new_lengths.push(utf16_len(name) as f64);
        f64::from(id)
    }

    /// The id of a name, or -1 without one.
    fn opt_id(&mut self, name: Option<&str>) -> f64 {
        name.map_or(-1.0, |n| self.id(n))
    }

    fn counts(&mut self, values: [u64; 5]) {
        self.numbers.extend(values.map(|v| v as f64));
    }

    /// Writes the rows and returns how many there were.
    fn table<'r>(
        &mut self,
        rows: impl Iterator<Item = (&'r std::sync::Arc<str>, ModelStats)>,
    ) -> f64 {
        let mut count = 0.0;
        for (key, s) in rows {
            count += 1.0;
            let id = self.id(key);
            self.numbers.push(id);
            self.counts([
                s.request_count,
                s.failed_count,
                s.input_tokens,
                s.output_tokens,
                s.cost_micros,
            ]);
        }
        count
    }

    fn histogram(&mut self, h: &LatencyHistogram) {
        let start = self.numbers.len();
        let [p50, p95, p99] = h
            .quantiles([0.5, 0.95, 0.99])
            .map(|q| q.unwrap_or(f64::NAN));
        self.numbers
            .extend([h.count() as f64, h.sum_micros as f64, p50, p95, p99]);
        self.numbers
            .extend(h.bucket_counts.iter().map(|&n| n as f64));
        debug_assert_eq!(self.numbers.len() - start, HISTOGRAM_NUMBERS);
    }

    /// Ends with the new names' lengths; `numbers[count_at]` gets their count.
    fn finish(mut self, count_at: usize) -> (String, Vec<f64>) {
        self.numbers[count_at] = self.new_lengths.len() as f64;
        self.numbers.extend_from_slice(&self.new_lengths);
        (self.new_names, self.numbers)
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

/// Stats as numbers, and the names not sent before.
#[napi(object)]
pub struct PackedStats<'env> {
    /// The names this JS object has not been sent before, concatenated; they
    /// take the next name ids, in order.
    pub new_names: String,
    /// Layout (counts as doubles, exact below 2^53): the five totals
    /// (requests, failed, input tokens, output tokens, cost µ$); the row
    /// counts of byModel, byProvider, byAgent and latency; the number of new
    /// names. Then per table row its key's name id and its five numbers in
    /// the totals' order; per latency row its key's name id and two
    /// histograms (duration, TTFT) of `HISTOGRAM_NUMBERS` each. Last, the
    /// length of each new name in UTF-16 units.
    pub numbers: Float64ArraySlice<'env>,
}

/// Per histogram: count, sum µs, p50, p95, p99 (seconds, NaN without
/// observations: quantiles are computed here, once, by the core's
/// `quantiles`), then the bucket counts.
const HISTOGRAM_NUMBERS: usize = 5 + LATENCY_BOUNDS_MICROS.len() + 1;

pub(crate) fn pack_stats<'env>(
    env: &'env Env,
    sent: &mut SentNames,
    view: &StatsView<'_>,
) -> Result<PackedStats<'env>> {
    let mut p = Packer::new(sent, 1024);
    let t = view.totals();
    p.counts([
        t.request_count,
        t.failed_count,
        t.input_tokens,
        t.output_tokens,
        t.cost_micros,
    ]);
    // Row counts and the new-name count, filled in once known.
    p.numbers.extend([0.0; 5]);
    p.numbers[5] = p.table(view.by_model());
    p.numbers[6] = p.table(view.by_provider());
    p.numbers[7] = p.table(view.by_agent());
    let mut latency_rows = 0.0;
    for (model, l) in view.latency_by_model() {
        latency_rows += 1.0;
        let id = p.id(model);
        p.numbers.push(id);
        p.histogram(&l.duration);
        p.histogram(&l.ttft);
    }
    p.numbers[8] = latency_rows;
    let (new_names, numbers) = p.finish(9);
    Ok(PackedStats {
        new_names,
        numbers: to_js(env, &numbers)?,
    })
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// Events as numbers and strings, oldest first.
#[napi(object)]
pub struct PackedEvents<'env> {
    /// As in [`PackedStats`].
    pub new_names: String,
    /// Every event's id, hyphenated (36 characters each), concatenated.
    pub ids: String,
    /// The error messages of the failures that have one, concatenated.
    pub messages: String,
    /// Layout: the event count and the new-name count; then `EVENT_NUMBERS`
    /// per event: kind (0 completed, 1 failed, 2 budget threshold, 3 router
    /// started, 4 router stopped), timestamp ms, then the name ids of agent,
    /// provider, model, provider id (-1: none), then three numbers by kind
    /// (input, output tokens and cost µ$; threshold %, spend and budget µ$;
    /// port; total requests and total cost µ$), the error code's name id and
    /// the message's length in UTF-16 units (-1: none). Last, the length of
    /// each new name.
    pub numbers: Float64ArraySlice<'env>,
}

const EVENT_NUMBERS: usize = 11;

pub(crate) fn pack_events<'env>(
    env: &'env Env,
    sent: &mut SentNames,
    events: &[AnalyticsEvent],
) -> Result<PackedEvents<'env>> {
    let mut p = Packer::new(sent, 2 + events.len() * EVENT_NUMBERS);
    let mut ids = String::with_capacity(events.len() * uuid::fmt::Hyphenated::LENGTH);
    let mut messages = String::new();
    let mut id_buffer = uuid::Uuid::encode_buffer();
    p.numbers.extend([events.len() as f64, 0.0]);
    for e in events {
        ids.push_str(
            e.event_id()
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut id_buffer),
        );
        let start = p.numbers.len();
        let agent = p.opt_id(e.agent_id());
        let (kind, meta, values, code, message) = match e.payload() {
            EventPayload::LlmRequestCompleted(u) => (
                0.0,
                Some(&u.meta),
                [u.input_tokens, u.output_tokens, u.cost_micros],
                None,
                None,
            ),
            EventPayload::LlmRequestFailed(f) => (
                1.0,
                Some(&f.meta),
                [0; 3],
                f.error_code.as_deref(),
                f.error_message.as_deref(),
            ),
            EventPayload::BudgetThresholdReached(b) => (
                2.0,
                None,
                [
                    u64::from(b.threshold_percent),
                    b.current_spend_micros,
                    b.budget_micros,
                ],
                None,
                None,
            ),
            EventPayload::RouterStarted(r) => (3.0, None, [u64::from(r.port), 0, 0], None, None),
            EventPayload::RouterStopped(r) => (
                4.0,
                None,
                [r.total_requests, r.total_cost_micros, 0],
                None,
                None,
            ),
            // `EventPayload` is non-exhaustive: a kind added later fails loudly.
            _ => {
                return Err(Error::from_reason(
                    "an event kind the binding does not know",
                ))
            }
        };
        let (provider, model, provider_id) = match meta {
            Some(m) => (
                p.id(&m.provider),
                p.id(&m.model),
                p.opt_id(m.provider_id.as_deref()),
            ),
            None => (-1.0, -1.0, -1.0),
        };
        let code = p.opt_id(code);
        let message_len = message.map_or(-1.0, |m| {
            messages.push_str(m);
            utf16_len(m) as f64
        });
        p.numbers.extend([
            kind,
            e.timestamp_ms() as f64,
            agent,
            provider,
            model,
            provider_id,
            values[0] as f64,
            values[1] as f64,
            values[2] as f64,
            code,
            message_len,
        ]);
        debug_assert_eq!(p.numbers.len() - start, EVENT_NUMBERS);
    }
    let (new_names, numbers) = p.finish(1);
    Ok(PackedEvents {
        new_names,
        ids,
        messages,
        numbers: to_js(env, &numbers)?,
    })
}
