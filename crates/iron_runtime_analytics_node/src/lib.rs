//! napi-rs binding of `iron_runtime_analytics` for Node.js.
//!
//! Conversions only: every behaviour lives in the Rust core. The TypeScript
//! wrapper (`src/native/`) validates arguments (so errors are the same
//! `TypeError`/`RangeError` as the pure-JS fallback) and interns strings:
//! a model, agent or provider id crosses the boundary once, then as a small
//! integer. Every exported function catches panics (`catch_unwind`), so no
//! Rust panic crosses into Node: it becomes a JS `Error`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{
    LlmFailureData, LlmModelMeta, LlmUsageData, RouterStoppedData,
};
use iron_runtime_analytics::{
    AnalyticsEvent, EventId, EventPayload, EventStore, LlmRecord, ModelKey, NameKey,
    RequestLatency, StreamReceiver,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

mod packed;
use packed::{pack_events, pack_stats, PackedEvents, PackedStats, SentNames};

fn js_error(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

/// Token counts arrive as JS numbers the wrapper has checked to be safe integers.
fn count(n: f64) -> u64 {
    n as u64
}

// ---------------------------------------------------------------------------
// Pricing
// ---------------------------------------------------------------------------

/// A price of one model, as returned to JS.
#[napi(object)]
pub struct JsModelPricing {
    pub model: String,
    pub input_micros_per_million_tokens: f64,
    pub output_micros_per_million_tokens: f64,
}

/// `iron_cost::pricing::PricingManager`.
#[napi]
pub struct NativePricing {
    inner: PricingManager,
}

#[napi]
impl NativePricing {
    /// The embedded price table.
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Result<Self> {
        PricingManager::new()
            .map(|inner| Self { inner })
            .map_err(js_error)
    }

    /// A table in LiteLLM's `model_prices_and_context_window.json` format.
    #[napi(factory, catch_unwind)]
    pub fn from_litellm_json(text: String) -> Result<Self> {
        PricingManager::from_litellm_json(&text)
            .map(|inner| Self { inner })
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn get(&self, model: String) -> Option<JsModelPricing> {
        self.inner.get(&model).map(|p| JsModelPricing {
            model: p.model().to_owned(),
            input_micros_per_million_tokens: p.input_micros_per_million_tokens() as f64,
            output_micros_per_million_tokens: p.output_micros_per_million_tokens() as f64,
        })
    }

    #[napi(catch_unwind)]
    pub fn cost_micros(&self, model: String, input_tokens: f64, output_tokens: f64) -> Option<f64> {
        self.inner
            .cost_micros(&model, count(input_tokens), count(output_tokens))
            .map(|c| c as f64)
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    #[napi(getter)]
    pub fn checked_on(&self) -> String {
        self.inner.prices_checked_on().to_owned()
    }
}

#[napi(catch_unwind)]
pub fn infer_provider(model: String) -> String {
    iron_runtime_analytics::infer_provider(&model)
        .as_str()
        .to_owned()
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// The buffer's accounting, as returned to JS.
#[napi(object)]
pub struct JsAccounting {
    pub recorded: f64,
    pub buffered: f64,
    pub drained: f64,
    pub synced: f64,
    pub rejected: f64,
    pub dropped: f64,
    pub evicted: f64,
}

/// Process-wide stores by name: the addon is loaded once per process, so
/// every worker thread's `EventStore.shared(name)` reaches the same store.
fn shared_stores() -> &'static Mutex<HashMap<String, Arc<EventStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<EventStore>>>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

/// `iron_runtime_analytics::EventStore`, with this JS object's interned keys.
#[napi]
pub struct NativeStore {
    inner: Arc<EventStore>,
    /// Taken by `close_stream`, so that the channel disconnects once pending
    /// `recv_batch` tasks (each holding a clone for at most its timeout) end.
    stream: Mutex<Option<Arc<StreamReceiver>>>,
    /// Behind a mutex, not `&mut self`: napi-rs keeps a shared borrow of the
    /// object alive while a `recv_batch` task is pending, and interning a new
    /// string must still work then.
    keys: Mutex<Keys>,
}

/// What this JS object interned: the wrapper refers to them by index.
#[derive(Default)]
struct Keys {
    models: Vec<ModelKey>,
    /// The name of each model key, for price lookups.
    model_names: Vec<String>,
    names: Vec<NameKey>,
    /// Error codes of batched failures.
    codes: Vec<String>,
    prices: PriceCache,
    /// Stats keys already sent to this object (see [`SentNames`]).
    sent_names: SentNames,
}

/// The registered price tables, and each one's price of each model key,
/// looked up once.
#[derive(Default)]
struct PriceCache {
    pricings: Vec<PricingManager>,
    /// `None` inside: the table does not know the model, so it costs 0.
    prices: Vec<Vec<Option<Option<iron_cost::pricing::ModelPricing>>>>,
}

impl PriceCache {
    /// The cost of a completed request of model key `model` (named
    /// `model_names[model]`) by table `pricing`.
    fn cost(
        &mut self,
        pricing: usize,
        model: usize,
        model_names: &[String],
        input: u64,
        output: u64,
    ) -> Result<u64> {
        let table = self
            .pricings
            .get(pricing)
            .ok_or_else(|| js_error("unknown pricing index"))?;
        let name = model_names
            .get(model)
            .ok_or_else(|| js_error("unknown model key"))?;
        if self.prices.len() <= pricing {
            self.prices.resize_with(pricing + 1, Vec::new);
        }
        let row = &mut self.prices[pricing];
        if row.len() <= model {
            row.resize_with(model + 1, || None);
        }
        let price = row[model].get_or_insert_with(|| table.get(name).cloned());
        Ok(price
            .as_ref()
            .map_or(0, |p| p.calculate_cost_micros(input, output)))
    }
}

impl NativeStore {
    fn receiver(&self) -> Result<Arc<StreamReceiver>> {
        self.stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                js_error("this store has no open stream (not created with streaming, or closed)")
            })
    }

    fn events_packed<'env>(
        &self,
        env: &'env Env,
        events: &[AnalyticsEvent],
    ) -> Result<PackedEvents<'env>> {
        pack_events(env, &mut self.keys().sent_names, events)
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Numbers per record in [`NativeStore::record_batch`]: kind (0 completed,
/// 1 failed), pricing index, model key, input tokens (a failure: the index
/// of its message in `messages`), output tokens, agent key, provider-id key,
/// duration ms, time-to-first-token ms, error-code key (keys, indexes and
/// latencies negative: absent).
const BATCH_STRIDE: usize = 10;

/// Strings joined into one by the wrapper, taken back apart by their
/// lengths in UTF-16 units (JS string lengths).
struct JoinedStrings<'a> {
    rest: &'a str,
    /// All ASCII: a length in UTF-16 units is a length in bytes.
    ascii: bool,
}

impl<'a> JoinedStrings<'a> {
    fn new(joined: &'a str) -> Self {
        Self {
            rest: joined,
            ascii: joined.is_ascii(),
        }
    }

    /// The next `units` UTF-16 units, or `None` past the end. (A lone
    /// surrogate arrives as U+FFFD, also one unit, so lengths still add up.)
    fn next(&mut self, units: usize) -> Option<&'a str> {
        let bytes = if self.ascii {
            units
        } else {
            let mut counted = 0;
            let mut bytes = 0;
            for c in self.rest.chars() {
                if counted >= units {
                    break;
                }
                counted += c.len_utf16();
                bytes += c.len_utf8();
            }
            if counted != units {
                return None;
            }
            bytes
        };
        let (head, tail) = (self.rest.get(..bytes)?, self.rest.get(bytes..)?);
        self.rest = tail;
        Some(head)
    }
}

/// A latency in milliseconds from JS (negative or NaN: not measured).
fn latency_ms(ms: f64) -> Option<Duration> {
    (ms >= 0.0).then(|| Duration::from_micros((ms * 1000.0).round() as u64))
}

fn key_or_none(keys: &[NameKey], index: i32) -> Result<Option<NameKey>> {
    if index < 0 {
        return Ok(None);
    }
    keys.get(index as usize)
        .copied()
        .map(Some)
        .ok_or_else(|| js_error(format!("unknown name key {index}")))
}

#[napi]
impl NativeStore {
    /// A store of `capacity` events; with `channel_size`, a streaming one.
    #[napi(constructor, catch_unwind)]
    pub fn new(capacity: u32, channel_size: Option<u32>) -> Result<Self> {
        let (inner, stream) = match channel_size {
            None => (
                EventStore::with_capacity(capacity as usize).map_err(js_error)?,
                None,
            ),
            Some(size) => {
                let (store, rx) = EventStore::with_streaming(capacity as usize, size as usize)
                    .map_err(js_error)?;
                (store, Some(Arc::new(rx)))
            }
        };
        Ok(Self {
            inner: Arc::new(inner),
            stream: Mutex::new(stream),
            keys: Mutex::default(),
        })
    }

    /// The process-wide store called `name`, created with `capacity` the first time.
    #[napi(factory, catch_unwind)]
    pub fn shared(name: String, capacity: u32) -> Result<Self> {
        let mut stores = shared_stores()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let inner = match stores.get(&name) {
            Some(store) => store.clone(),
            None => {
                let store =
                    Arc::new(EventStore::with_capacity(capacity as usize).map_err(js_error)?);
                stores.insert(name, store.clone());
                store
            }
        };
        Ok(Self {
            inner,
            stream: Mutex::new(None),
            keys: Mutex::default(),
        })
    }

    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.inner.capacity()).unwrap_or(u32::MAX)
    }

    /// Interns a model name; returns its index for the `*Keyed` calls.
    #[napi(catch_unwind)]
    pub fn model_key(&self, model: String) -> Result<u32> {
        let key = self.inner.model_key(&model).map_err(js_error)?;
        let mut keys = self.keys();
        keys.models.push(key);
        keys.model_names.push(model);
        Ok((keys.models.len() - 1) as u32)
    }

    /// Interns an agent id (`kind` 0), a provider id (`kind` 1) or an error
    /// code (`kind` 2, a separate list); returns its index.
    #[napi(catch_unwind)]
    pub fn name_key(&self, kind: u32, name: String) -> u32 {
        let mut keys = self.keys();
        if kind == 2 {
            keys.codes.push(name);
            return (keys.codes.len() - 1) as u32;
        }
        let key = if kind == 0 {
            self.inner.agent_key(&name)
        } else {
            self.inner.provider_id_key(&name)
        };
        keys.names.push(key);
        (keys.names.len() - 1) as u32
    }

    /// Registers a price table for [`NativeStore::record_batch`]; returns its index.
    #[napi(catch_unwind)]
    pub fn register_pricing(&self, pricing: &NativePricing) -> u32 {
        let mut keys = self.keys();
        keys.prices.pricings.push(pricing.inner.clone());
        (keys.prices.pricings.len() - 1) as u32
    }

    /// The hot path: `records` LLM requests packed in `batch` (see
    /// `BATCH_STRIDE`) plus the failures' messages, recorded in order with
    /// one boundary crossing. The wrapper validated every number; a bad key
    /// is still an error, not a panic.
    #[napi(catch_unwind)]
    pub fn record_batch(&self, batch: Float64Array, records: u32, messages: String) -> Result<()> {
        let mut guard = self.keys();
        let keys = &mut *guard;
        let mut out = Vec::with_capacity(records as usize);
        let mut messages = JoinedStrings::new(&messages);
        for r in batch.chunks_exact(BATCH_STRIDE).take(records as usize) {
            let model_index = r[2] as usize;
            let model = *keys
                .models
                .get(model_index)
                .ok_or_else(|| js_error("unknown model key"))?;
            let record = if r[0] == 1.0 {
                let code = if r[9] < 0.0 {
                    None
                } else {
                    Some(
                        keys.codes
                            .get(r[9] as usize)
                            .ok_or_else(|| js_error("unknown error-code key"))?
                            .as_str(),
                    )
                };
                let message = if r[3] < 0.0 {
                    None
                } else {
                    Some(
                        messages
                            .next(r[3] as usize)
                            .ok_or_else(|| js_error("error messages shorter than their lengths"))?,
                    )
                };
                LlmRecord::failed(model, code, message)
            } else {
                let (input, output) = (count(r[3]), count(r[4]));
                let cost = keys.prices.cost(
                    r[1] as usize,
                    model_index,
                    &keys.model_names,
                    input,
                    output,
                )?;
                LlmRecord::completed(model, input, output, cost).latency(RequestLatency {
                    duration: latency_ms(r[7]),
                    time_to_first_token: latency_ms(r[8]),
                })
            };
            let record = match key_or_none(&keys.names, r[5] as i32)? {
                Some(agent) => record.agent(agent),
                None => record,
            };
            out.push(match key_or_none(&keys.names, r[6] as i32)? {
                Some(provider_id) => record.provider_id(provider_id),
                None => record,
            });
        }
        self.inner.record_llm_batch(&out).map_err(js_error)?;
        Ok(())
    }

    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn record_completed_with_provider(
        &self,
        pricing: &NativePricing,
        model: String,
        provider: String,
        input_tokens: f64,
        output_tokens: f64,
        agent: Option<String>,
        provider_id: Option<String>,
    ) -> Result<bool> {
        self.inner
            .record_llm_completed_with_provider(
                &pricing.inner,
                &model,
                &provider,
                count(input_tokens),
                count(output_tokens),
                agent.as_deref(),
                provider_id.as_deref(),
            )
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    /// Low-level: a pre-built completed event.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn record_completed_raw(
        &self,
        provider: String,
        model: String,
        provider_id: Option<String>,
        input_tokens: f64,
        output_tokens: f64,
        cost_micros: f64,
        agent: Option<String>,
    ) -> Result<bool> {
        let mut event = AnalyticsEvent::new(EventPayload::LlmRequestCompleted(LlmUsageData {
            meta: LlmModelMeta {
                provider_id: provider_id.map(Into::into),
                provider: provider.into(),
                model: model.into(),
            },
            input_tokens: count(input_tokens),
            output_tokens: count(output_tokens),
            cost_micros: count(cost_micros),
        }));
        if let Some(agent) = agent {
            event = event.with_agent_id(agent);
        }
        self.inner
            .record(event)
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    /// Low-level: a pre-built failed event.
    #[napi(catch_unwind)]
    pub fn record_failed_raw(
        &self,
        provider: String,
        model: String,
        provider_id: Option<String>,
        error_code: Option<String>,
        error_message: Option<String>,
        agent: Option<String>,
    ) -> Result<bool> {
        let mut event = AnalyticsEvent::new(EventPayload::LlmRequestFailed(LlmFailureData {
            meta: LlmModelMeta {
                provider_id: provider_id.map(Into::into),
                provider: provider.into(),
                model: model.into(),
            },
            error_code: error_code.map(Into::into),
            error_message: error_message.map(Into::into),
        }));
        if let Some(agent) = agent {
            event = event.with_agent_id(agent);
        }
        self.inner
            .record(event)
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn record_budget_threshold(
        &self,
        percent: u32,
        spend: f64,
        budget: f64,
        agent: Option<String>,
    ) -> bool {
        self.inner
            .record_budget_threshold(percent, count(spend), count(budget), agent.as_deref())
            .is_some()
    }

    #[napi(catch_unwind)]
    pub fn record_router_started(&self, port: u32) -> bool {
        self.inner.record_router_started(port as u16).is_some()
    }

    /// Low-level: a pre-built `router_stopped` event with the given totals.
    #[napi(catch_unwind)]
    pub fn record_router_stopped_totals(
        &self,
        total_requests: f64,
        total_cost_micros: f64,
    ) -> Result<bool> {
        let event = AnalyticsEvent::new(EventPayload::RouterStopped(RouterStoppedData {
            total_requests: count(total_requests),
            total_cost_micros: count(total_cost_micros),
        }));
        self.inner
            .record(event)
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn record_router_stopped(&self) -> bool {
        self.inner.record_router_stopped().is_some()
    }

    // -- reading ----------------------------------------------------------

    /// Stats as numbers and names (see [`PackedStats`]).
    #[napi(catch_unwind)]
    pub fn stats_packed<'env>(&self, env: &'env Env) -> Result<PackedStats<'env>> {
        let view = self.inner.stats_view();
        pack_stats(env, &mut self.keys().sent_names, &view)
    }

    /// Buffered events, oldest first (see [`PackedEvents`]).
    #[napi(catch_unwind)]
    pub fn snapshot_packed<'env>(&self, env: &'env Env) -> Result<PackedEvents<'env>> {
        self.events_packed(env, &self.inner.snapshot_events())
    }

    /// The oldest `limit` (default: all) events not yet delivered.
    #[napi(catch_unwind)]
    pub fn unsynced_packed<'env>(
        &self,
        env: &'env Env,
        limit: Option<u32>,
    ) -> Result<PackedEvents<'env>> {
        let events = self
            .inner
            .unsynced_events_limit(limit.map_or(usize::MAX, |l| l as usize));
        self.events_packed(env, &events)
    }

    /// Takes every buffered event out, oldest first.
    #[napi(catch_unwind)]
    pub fn drain_packed<'env>(&self, env: &'env Env) -> Result<PackedEvents<'env>> {
        self.events_packed(env, &self.inner.drain_all())
    }

    #[napi(catch_unwind)]
    pub fn mark_synced(&self, ids: Vec<String>) -> u32 {
        self.inner.mark_synced(&parse_ids(&ids)) as u32
    }

    #[napi(catch_unwind)]
    pub fn mark_rejected(&self, ids: Vec<String>) -> u32 {
        self.inner.mark_rejected(&parse_ids(&ids)) as u32
    }

    #[napi(catch_unwind)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    #[napi(catch_unwind)]
    pub fn len(&self) -> u32 {
        self.inner.len() as u32
    }

    #[napi(catch_unwind)]
    pub fn unsynced_count(&self) -> u32 {
        self.inner.unsynced_count() as u32
    }

    #[napi(catch_unwind)]
    pub fn accounting(&self) -> JsAccounting {
        let a = self.inner.accounting();
        JsAccounting {
            recorded: a.recorded as f64,
            buffered: a.buffered as f64,
            drained: a.drained as f64,
            synced: a.synced as f64,
            rejected: a.rejected as f64,
            dropped: a.dropped as f64,
            evicted: a.evicted as f64,
        }
    }

    #[napi(catch_unwind)]
    pub fn stream_dropped_count(&self) -> f64 {
        self.inner.stream_dropped_count() as f64
    }

    /// Closes the stream: the channel disconnects, so later events are no
    /// longer offered to it (nor counted as dropped).
    #[napi(catch_unwind)]
    pub fn close_stream(&self) {
        self.stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Streamed events already waiting (at most `max`), without waiting.
    #[napi(catch_unwind)]
    pub fn try_recv_json(&self, max: u32) -> Result<String> {
        let rx = self.receiver()?;
        let events: Vec<_> = rx.try_iter().take(max.max(1) as usize).collect();
        Ok(events_json(&events))
    }

    /// Waits (off the event loop, on the libuv pool) up to `timeout_ms` for
    /// streamed events; resolves to a JSON array of at most `max` events.
    #[napi(catch_unwind)]
    pub fn recv_batch(&self, max: u32, timeout_ms: u32) -> Result<AsyncTask<RecvBatch>> {
        let rx = self.receiver()?;
        Ok(AsyncTask::new(RecvBatch {
            rx,
            max: max.max(1) as usize,
            timeout: Duration::from_millis(timeout_ms.into()),
        }))
    }
}

/// The blocking part of [`NativeStore::recv_batch`].
pub struct RecvBatch {
    rx: Arc<StreamReceiver>,
    max: usize,
    timeout: Duration,
}

impl Task for RecvBatch {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut events = Vec::new();
        if let Ok(first) = self.rx.recv_timeout(self.timeout) {
            events.push(first);
            events.extend(self.rx.try_iter().take(self.max - 1));
        }
        Ok(events_json(&events))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

fn parse_ids(ids: &[String]) -> Vec<EventId> {
    // Strings that are not ids cannot name a buffered event: ignored, like unknown ids.
    ids.iter()
        .filter_map(|s| EventId::from_str(s).ok())
        .collect()
}

fn events_json(events: &[AnalyticsEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned())
}

// ---------------------------------------------------------------------------
// Sync
// ---------------------------------------------------------------------------

pub mod sync_binding {
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::time::Duration;

    use iron_runtime_analytics::{SyncClient, SyncConfig, SyncHandle, SyncReport};
    use napi::bindgen_prelude::*;
    use napi_derive::napi;

    use super::{js_error, NativeStore};

    /// The addon's own tokio runtime: sync loops, JSON and HTTP run on its
    /// threads, never on the JS event loop.
    fn runtime() -> Result<&'static tokio::runtime::Runtime> {
        static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
            OnceLock::new();
        RUNTIME
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("iron-analytics-sync")
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| js_error(format!("cannot start the sync runtime: {e}")))
    }

    /// Durations and sizes of a `SyncConfig`, as the wrapper passes them (ms).
    #[napi(object)]
    pub struct JsSyncSettings {
        pub interval_ms: f64,
        pub batch_threshold: u32,
        pub timeout_ms: f64,
        pub max_in_flight: u32,
        pub backoff_initial_ms: f64,
        pub backoff_max_ms: f64,
        pub stop_deadline_ms: f64,
        pub max_batch: u32,
        pub threshold_check_ms: f64,
    }

    /// A delivery report.
    #[napi(object)]
    pub struct JsSyncReport {
        pub delivered: f64,
        pub rejected: f64,
        pub remaining: f64,
    }

    impl From<SyncReport> for JsSyncReport {
        fn from(r: SyncReport) -> Self {
            Self {
                delivered: r.delivered as f64,
                rejected: r.rejected as f64,
                remaining: r.remaining as f64,
            }
        }
    }

    /// An event the server refused (400/422).
    #[napi(object)]
    pub struct JsRejectedEvent {
        pub event_id: String,
        pub status: u32,
        pub error_code: Option<String>,
        pub message: String,
    }

    /// A transient failure of the last pass, as the JS `SyncError` wants it.
    #[napi(object)]
    pub struct JsSyncFailure {
        pub kind: String,
        pub message: String,
        pub status: Option<u32>,
        pub retry_after_ms: Option<f64>,
    }

    /// Warnings of the core's `log` output, kept for the wrapper to hand to
    /// `console.warn` (the JS thread owns the console; these come from tokio's).
    struct WarningQueue(Mutex<std::collections::VecDeque<String>>);

    /// Warnings kept at most: the core warns once per kind, so this is plenty.
    const MAX_WARNINGS: usize = 256;

    impl log::Log for WarningQueue {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
                && metadata.target().starts_with("iron_runtime_analytics")
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.len() == MAX_WARNINGS {
                    queue.pop_front();
                }
                queue.push_back(format!("iron-runtime-analytics: {}", record.args()));
            }
        }

        fn flush(&self) {}
    }

    fn warnings() -> &'static WarningQueue {
        static QUEUE: OnceLock<WarningQueue> = OnceLock::new();
        QUEUE.get_or_init(|| WarningQueue(Mutex::default()))
    }

    fn install_logger() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            // Another logger may own `log` in this process (an embedding addon): then
            // the warnings go there instead, which is fine.
            if log::set_logger(warnings()).is_ok() {
                log::set_max_level(log::LevelFilter::Warn);
            }
        });
    }

    /// Warnings logged by the sync loops since the last call, oldest first.
    #[napi(catch_unwind)]
    pub fn take_warnings() -> Vec<String> {
        warnings()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect()
    }

    fn ms(v: f64) -> Duration {
        Duration::from_millis(v as u64)
    }

    /// `iron_runtime_analytics::SyncClient` over a native store.
    #[napi]
    pub struct NativeSyncClient {
        client: SyncClient,
    }

    #[napi]
    impl NativeSyncClient {
        #[napi(constructor, catch_unwind)]
        pub fn new(
            store: &NativeStore,
            server_url: String,
            ic_token: String,
            s: JsSyncSettings,
        ) -> Result<Self> {
            let config = SyncConfig::new(server_url, ic_token)
                .with_interval(ms(s.interval_ms))
                .with_batch_threshold(s.batch_threshold as usize)
                .with_timeout(ms(s.timeout_ms))
                .with_max_in_flight(s.max_in_flight as usize)
                .with_backoff(ms(s.backoff_initial_ms), ms(s.backoff_max_ms))
                .with_stop_deadline(ms(s.stop_deadline_ms))
                .with_max_batch(s.max_batch as usize)
                .with_threshold_check(ms(s.threshold_check_ms));
            install_logger();
            let client = SyncClient::new(store.inner.clone(), config).map_err(js_error)?;
            Ok(Self { client })
        }

        /// One pass, off the event loop; resolves to the number delivered.
        #[napi(catch_unwind)]
        pub fn sync_events(&self) -> AsyncTask<SyncPass> {
            AsyncTask::new(SyncPass {
                client: self.client.clone(),
            })
        }

        /// The first transient failure of the last pass (manual or background), if any.
        #[napi(catch_unwind)]
        pub fn last_error(&self) -> Option<JsSyncFailure> {
            self.client.last_failure().map(|f| JsSyncFailure {
                kind: f.kind.to_owned(),
                message: f.message,
                status: f.status.map(u32::from),
                retry_after_ms: f.retry_after.map(|d| d.as_millis() as f64),
            })
        }

        /// Starts the background loop on the addon's runtime.
        #[napi(catch_unwind)]
        pub fn start(&self) -> Result<NativeSyncHandle> {
            let handle = self.client.start(runtime()?.handle());
            Ok(NativeSyncHandle {
                handle: Arc::new(Mutex::new(Some(handle))),
            })
        }

        #[napi(catch_unwind)]
        pub fn rejected_events(&self) -> Vec<JsRejectedEvent> {
            self.client
                .rejected_events()
                .into_iter()
                .map(|r| JsRejectedEvent {
                    event_id: r.event_id.to_string(),
                    status: u32::from(r.status),
                    error_code: r.error_code,
                    message: r.message,
                })
                .collect()
        }

        #[napi(catch_unwind)]
        pub fn delivered_count(&self) -> f64 {
            self.client.delivered_count() as f64
        }

        #[napi(catch_unwind)]
        pub fn rejected_count(&self) -> f64 {
            self.client.rejected_count() as f64
        }
    }

    /// The blocking part of [`NativeSyncClient::sync_events`], on the libuv pool.
    pub struct SyncPass {
        client: SyncClient,
    }

    impl Task for SyncPass {
        type Output = u32;
        type JsValue = u32;

        fn compute(&mut self) -> Result<Self::Output> {
            // A transient failure is not an exception in JS: what was delivered
            // before it counts, and `lastError()` says what went wrong.
            Ok(runtime()?.block_on(self.client.sync_pass()).delivered as u32)
        }

        fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
            Ok(output)
        }
    }

    /// A running background loop.
    #[napi]
    pub struct NativeSyncHandle {
        handle: Arc<Mutex<Option<SyncHandle>>>,
    }

    #[napi]
    impl NativeSyncHandle {
        /// Flushes and stops (bounded by the stop deadline), off the event loop.
        #[napi(catch_unwind)]
        pub fn stop(&self) -> AsyncTask<StopTask> {
            AsyncTask::new(StopTask {
                handle: self.handle.clone(),
            })
        }

        #[napi(catch_unwind)]
        pub fn report(&self) -> JsSyncReport {
            let guard = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
            guard
                .as_ref()
                .map(SyncHandle::report)
                .unwrap_or_default()
                .into()
        }
    }

    /// The blocking part of [`NativeSyncHandle::stop`].
    pub struct StopTask {
        handle: Arc<Mutex<Option<SyncHandle>>>,
    }

    impl Task for StopTask {
        type Output = SyncReport;
        type JsValue = JsSyncReport;

        fn compute(&mut self) -> Result<Self::Output> {
            let handle = self
                .handle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            Ok(handle.map(SyncHandle::stop).unwrap_or_default())
        }

        fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
            Ok(output.into())
        }
    }
}
