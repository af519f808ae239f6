//! `NativeStore`: the core's `EventStore` as a JS object.

use std::cell::Cell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use iron_runtime_analytics::{
    AnalyticsEvent, EventId, EventPayload, EventStore, GenAiConventions, LlmFailureData,
    LlmModelMeta, LlmUsageData, StoreConfig, StreamReceiver,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::batch::BatchShared;
use crate::packed::{
    pack_events, pack_series, pack_stats, PackedEvents, PackedSeries, PackedStats,
};
use crate::pricing::NativePricing;
use crate::{count, js_error, to_js_count};

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
    pub lost: f64,
    pub replayed: f64,
}

/// Process-wide stores by name: the addon is loaded once per process, so
/// every worker thread's `EventStore.shared(name)` reaches the same store.
fn shared_stores() -> &'static Mutex<HashMap<String, Arc<EventStore>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<EventStore>>>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

/// `iron_runtime_analytics::EventStore`, with this JS object's record batch.
#[napi]
pub struct NativeStore {
    pub(crate) inner: Arc<EventStore>,
    /// The open stream, taken by `close_stream`: its receiver, and the sender
    /// of the signal that wakes pending `recv_batch` waits when dropped.
    pub(crate) stream: Mutex<Option<OpenStream>>,
    batch: Arc<BatchShared>,
}

impl Drop for NativeStore {
    fn drop(&mut self) {
        // The JS object is collected: what it wrote but never flushed is recorded now.
        self.batch.flush();
    }
}

impl NativeStore {
    pub(crate) fn receiver(
        &self,
    ) -> Result<(Arc<StreamReceiver>, crossbeam_channel::Receiver<()>)> {
        self.stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| (s.events.clone(), s.closed.clone()))
            .ok_or_else(|| {
                js_error("this store has no open stream (not created with streaming, or closed)")
            })
    }

    fn wrap(env: &Env, inner: Arc<EventStore>, stream: Option<StreamReceiver>) -> Result<Self> {
        crate::sync::install_logger();
        Ok(Self {
            batch: BatchShared::new(env, inner.clone())?,
            inner,
            stream: Mutex::new(stream.map(OpenStream::new)),
        })
    }
}

/// A stream the wrapper reads: the events, and a signal that disconnects
/// (its sender dropped) when the stream is closed, so that waits end at once.
pub(crate) struct OpenStream {
    pub(crate) events: Arc<StreamReceiver>,
    pub(crate) closed: crossbeam_channel::Receiver<()>,
    _close: crossbeam_channel::Sender<()>,
}

impl OpenStream {
    fn new(events: StreamReceiver) -> Self {
        let (close, closed) = crossbeam_channel::bounded(0);
        Self {
            events: Arc::new(events),
            closed,
            _close: close,
        }
    }
}

fn config(capacity: u32, cardinality_limit: u32) -> StoreConfig {
    StoreConfig::new()
        .with_capacity(capacity as usize)
        .with_cardinality_limit(cardinality_limit as usize)
}

/// A key index for JS: the index, or -1 past the cardinality limit.
fn key_index(index: Option<u32>) -> i64 {
    index.map_or(-1, i64::from)
}

#[napi]
impl NativeStore {
    /// A store of `capacity` events keeping `cardinality_limit` names per
    /// breakdown; with `channel_size`, a streaming one.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        capacity: u32,
        cardinality_limit: u32,
        channel_size: Option<u32>,
    ) -> Result<Self> {
        let config = config(capacity, cardinality_limit);
        match channel_size {
            None => {
                let store = EventStore::with_config(config).map_err(js_error)?;
                Self::wrap(&env, Arc::new(store), None)
            }
            Some(size) => {
                let (store, rx) =
                    EventStore::with_config_streaming(config, size as usize).map_err(js_error)?;
                Self::wrap(&env, Arc::new(store), Some(rx))
            }
        }
    }

    /// The process-wide store called `name`, created with this configuration
    /// the first time.
    #[napi(factory, catch_unwind)]
    pub fn shared(env: Env, name: String, capacity: u32, cardinality_limit: u32) -> Result<Self> {
        let inner = {
            let mut stores = shared_stores()
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match stores.get(&name) {
                Some(store) => store.clone(),
                None => {
                    let store = Arc::new(
                        EventStore::with_config(config(capacity, cardinality_limit))
                            .map_err(js_error)?,
                    );
                    stores.insert(name, store.clone());
                    store
                }
            }
        };
        Self::wrap(&env, inner, None)
    }

    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.inner.capacity()).unwrap_or(u32::MAX)
    }

    #[napi(getter)]
    pub fn cardinality_limit(&self) -> u32 {
        u32::try_from(self.inner.cardinality_limit()).unwrap_or(u32::MAX)
    }

    /// Keeps a model name; its key index for batched records, or -1 past
    /// the cardinality limit (then records carry the name itself).
    #[napi(catch_unwind)]
    pub fn model_key(&self, model: String) -> Result<i64> {
        let key = self.inner.model_key(&model).map_err(js_error)?;
        Ok(key_index(key.map(|k| k.index())))
    }

    /// Keeps an agent id (`kind` 0) or a provider id / error code (`kind`
    /// 1); its key index, or -1 past the cardinality limit.
    #[napi(catch_unwind)]
    pub fn name_key(&self, kind: u32, name: String) -> Result<i64> {
        let key = if kind == 0 {
            self.inner.agent_key(&name)
        } else {
            self.inner.label_key(&name)
        };
        Ok(key_index(key.map_err(js_error)?.map(|k| k.index())))
    }

    /// Registers a price table for batched records; returns its index.
    #[napi(catch_unwind)]
    pub fn register_pricing(&self, pricing: &NativePricing) -> u32 {
        let mut pricings = self
            .batch
            .pricings
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pricings.push(pricing.inner.clone());
        (pricings.len() - 1) as u32
    }

    /// The record batch this addon owns, as an `ArrayBuffer` (layout:
    /// `batch` in layout.json). Call once per store object.
    #[napi(catch_unwind)]
    pub fn batch_buffer<'env>(&self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
        self.batch.array_buffer(env)
    }

    /// Whether the wrapper's writes to the batch buffer reach the addon
    /// (false where the runtime copies external buffers: then it flushes
    /// with `flushBatchCopy`).
    #[napi(catch_unwind)]
    pub fn batch_is_shared(&self) -> bool {
        self.batch.is_shared()
    }

    /// Records the batched records and empties the batch (a record that
    /// cannot be recorded is counted in `accounting().lost`, with
    /// `lostReason()`); returns how many warnings wait for `takeWarnings()`
    /// (an unpriced model is warned about from here).
    #[napi(catch_unwind)]
    pub fn flush_batch(&self) -> u32 {
        self.batch.flush();
        crate::sync::warnings_pending() as u32
    }

    /// `flushBatch` from the wrapper's own copy of the batch.
    #[napi(catch_unwind)]
    pub fn flush_batch_copy(&self, slots: Float64Array, bytes: Uint8Array) -> u32 {
        self.batch.flush_copy(&slots, &bytes);
        crate::sync::warnings_pending() as u32
    }

    /// Why records were last lost, if ever.
    #[napi(catch_unwind)]
    pub fn lost_reason(&self) -> Option<String> {
        self.inner.lost_reason()
    }

    /// A completed request with an explicit provider and its usage parts.
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
            .try_record_llm_completed_with_provider(
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
        let event = AnalyticsEvent::new(EventPayload::LlmRequestCompleted(LlmUsageData {
            meta: LlmModelMeta {
                provider_id: provider_id.map(Into::into),
                provider: provider.into(),
                model: model.into(),
            },
            input_tokens: count(input_tokens),
            output_tokens: count(output_tokens),
            cost_micros: count(cost_micros),
        }))
        .with_agent_id(agent);
        self.inner
            .try_record(event)
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
        let event = AnalyticsEvent::new(EventPayload::LlmRequestFailed(LlmFailureData {
            meta: LlmModelMeta {
                provider_id: provider_id.map(Into::into),
                provider: provider.into(),
                model: model.into(),
            },
            error_code,
            error_message,
        }))
        .with_agent_id(agent);
        self.inner
            .try_record(event)
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    /// `percent` above 255 is refused: the core's `threshold_percent` is a
    /// `u8`, as in iron_runtime_analytics 0.4.0.
    #[napi(catch_unwind)]
    pub fn record_budget_threshold(
        &self,
        percent: u32,
        spend: f64,
        budget: f64,
        agent: Option<String>,
    ) -> Result<bool> {
        let percent = u8::try_from(percent).map_err(|_| {
            js_error(format!(
                "thresholdPercent must be an integer from 0 to 255, got {percent}"
            ))
        })?;
        self.inner
            .try_record_budget_threshold(percent, count(spend), count(budget), agent.as_deref())
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn record_router_started(&self, port: u32) -> bool {
        self.inner.try_record_router_started(port as u16).is_some()
    }

    /// Low-level: a pre-built `router_stopped` event with the given totals.
    #[napi(catch_unwind)]
    pub fn record_router_stopped_totals(
        &self,
        total_requests: f64,
        total_cost_micros: f64,
    ) -> Result<bool> {
        let event = AnalyticsEvent::new(EventPayload::RouterStopped {
            total_requests: count(total_requests),
            total_cost_micros: count(total_cost_micros),
        });
        self.inner
            .try_record(event)
            .map(|id| id.is_some())
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn record_router_stopped(&self) -> bool {
        self.inner.try_record_router_stopped().is_some()
    }

    // -- reading ----------------------------------------------------------

    /// Stats as numbers and names (see [`PackedStats`]); `known` is how
    /// many model, provider and agent names the wrapper holds.
    #[napi(catch_unwind)]
    pub fn stats_packed<'env>(&self, env: &'env Env, known: Vec<u32>) -> Result<PackedStats<'env>> {
        pack_stats(env, &self.inner.stats_view(), &known)
    }

    /// The GenAI series, sorted (see [`PackedSeries`]).
    #[napi(catch_unwind)]
    pub fn series_packed<'env>(&self, env: &'env Env) -> Result<PackedSeries<'env>> {
        pack_series(env, &self.inner.series(), self.inner.created_at_ms())
    }

    /// The Prometheus exposition the core renders, on the latest
    /// experimental GenAI conventions or v1.36.0.
    #[napi(catch_unwind)]
    pub fn prometheus<'env>(&self, env: &'env Env, latest: bool) -> Result<napi::JsString<'env>> {
        let mut text = exposition_buffer();
        self.inner.render_prometheus_into(
            &mut text,
            if latest {
                GenAiConventions::LatestExperimental
            } else {
                GenAiConventions::V1_36
            },
        );
        // Megabytes of text with 200 models. ASCII (the usual case) is
        // handed to V8 as an external Latin-1 string: no UTF-8 decoding and
        // no copy into fresh large-object pages of the JS heap; V8 hands the
        // buffer back (to be reused) when it collects the string. Fresh
        // pages on either side were over half the time of a call.
        if text.is_ascii() && !text.is_empty() {
            // V8 learns what the strings it holds cost, as for Node's own
            // large strings: it then collects them (and this returns their
            // buffers) before megabytes of them pile up on fresh pages.
            let returned = RETURNED_EXPOSITION_BYTES.with(|r| r.replace(0));
            env.adjust_external_memory(
                i64::try_from(text.capacity()).unwrap_or(i64::MAX) - returned,
            )?;
            let bytes = text.into_bytes();
            let (data, len) = (bytes.as_ptr(), bytes.len());
            // SAFETY: `data..data + len` is the heap buffer of `bytes`, which
            // moves (the buffer itself does not) into the finalize hint: it
            // stays allocated and unchanged until V8 calls the finalizer,
            // when the string is collected or at once if V8 copied it.
            let string = unsafe {
                napi::JsStringLatin1::from_external(env, data, len, bytes, |_, bytes| {
                    let freed = i64::try_from(bytes.capacity()).unwrap_or(i64::MAX);
                    RETURNED_EXPOSITION_BYTES.with(|r| r.set(r.get().saturating_add(freed)));
                    recycle_exposition_buffer(bytes)
                })
            }?;
            Ok(string.into_value())
        } else {
            let string = env.create_string(&text);
            recycle_exposition_buffer(text.into_bytes());
            string
        }
    }

    /// Buffered events, oldest first (see [`PackedEvents`]).
    #[napi(catch_unwind)]
    pub fn snapshot_packed<'env>(&self, env: &'env Env) -> Result<PackedEvents<'env>> {
        pack_events(env, &self.inner.snapshot_events())
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
        pack_events(env, &events)
    }

    /// Takes every buffered event out, oldest first.
    #[napi(catch_unwind)]
    pub fn drain_packed<'env>(&self, env: &'env Env) -> Result<PackedEvents<'env>> {
        pack_events(env, &self.inner.drain_all())
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
    pub fn len(&self) -> u32 {
        self.inner.len() as u32
    }

    #[napi(catch_unwind)]
    pub fn unsynced_count(&self) -> u32 {
        u32::try_from(self.inner.unsynced_count()).unwrap_or(u32::MAX)
    }

    #[napi(catch_unwind)]
    pub fn accounting(&self) -> JsAccounting {
        let a = self.inner.accounting();
        let mut saturated = false;
        let mut n = |v| to_js_count(v, &mut saturated);
        JsAccounting {
            recorded: n(a.recorded),
            buffered: n(a.buffered),
            drained: n(a.drained),
            synced: n(a.synced),
            rejected: n(a.rejected),
            dropped: n(a.dropped),
            evicted: n(a.evicted),
            lost: n(a.lost),
            replayed: n(a.replayed),
        }
    }
}

fn parse_ids(ids: &[String]) -> Vec<EventId> {
    // Strings that are not ids cannot name a buffered event: ignored, like unknown ids.
    ids.iter()
        .filter_map(|s| EventId::from_str(s).ok())
        .collect()
}

/// Exposition buffers V8 handed back: a scrape writes into pages already
/// mapped (see `NativeStore::prometheus`).
static EXPOSITION_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// How many buffers are kept for reuse (a scrape, and one still held by JS).
const KEPT_EXPOSITION_BUFFERS: usize = 2;
/// The largest buffer kept: 200 series take ~3 MB; a store at the default
/// cardinality limit (2,001 series) ~20 MB, which is freed instead of held.
const KEPT_EXPOSITION_BUFFER_BYTES: usize = 8 << 20;

/// An empty buffer for an exposition: a recycled one when there is one.
fn exposition_buffer() -> String {
    let kept = EXPOSITION_BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    // An empty `Vec` is valid UTF-8: the conversion only checks zero bytes.
    kept.and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

thread_local! {
    /// Bytes of external strings this thread's V8 isolate has collected
    /// since it was last told: `adjust_external_memory` is called from JS
    /// only, never from a finalizer (which may run inside a collection).
    /// Per thread because each worker thread is an isolate of its own, and
    /// a string's finalizer runs on the thread whose isolate held it.
    static RETURNED_EXPOSITION_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// Keeps a buffer for the next exposition, unless enough are kept or it is large.
fn recycle_exposition_buffer(mut bytes: Vec<u8>) {
    if bytes.capacity() > KEPT_EXPOSITION_BUFFER_BYTES {
        return;
    }
    bytes.clear();
    let mut kept = EXPOSITION_BUFFERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if kept.len() < KEPT_EXPOSITION_BUFFERS {
        kept.push(bytes);
    }
}
