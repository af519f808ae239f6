//! `NativeStore`: the core's `EventStore` as a JS object, with this object's
//! interned keys.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::event::{
    LlmFailureData, LlmModelMeta, LlmUsageData, RouterStoppedData,
};
use iron_runtime_analytics::{
    AnalyticsEvent, EventId, EventPayload, EventStore, ModelKey, NameKey, StreamReceiver,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::packed::{pack_events, pack_stats, PackedEvents, PackedStats, SentNames};
use crate::pricing::NativePricing;
use crate::{count, js_error};

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
    pub replayed: f64,
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
    pub(crate) inner: Arc<EventStore>,
    /// Taken by `close_stream`, so that the channel disconnects once pending
    /// `recv_batch` tasks (each holding a clone for at most its timeout) end.
    pub(crate) stream: Mutex<Option<Arc<StreamReceiver>>>,
    /// Behind a mutex, not `&mut self`: napi-rs keeps a shared borrow of the
    /// object alive while a `recv_batch` task is pending, and interning a new
    /// string must still work then.
    keys: Mutex<Keys>,
}

/// What this JS object interned: the wrapper refers to them by index.
#[derive(Default)]
pub(crate) struct Keys {
    pub(crate) models: Vec<ModelKey>,
    /// The name of each model key, for price lookups.
    pub(crate) model_names: Vec<String>,
    pub(crate) names: Vec<NameKey>,
    /// Error codes of batched failures.
    pub(crate) codes: Vec<String>,
    pub(crate) prices: PriceCache,
    /// Stats keys already sent to this object (see [`SentNames`]).
    pub(crate) sent_names: SentNames,
}

/// The registered price tables, and each one's price of each model key,
/// looked up once.
#[derive(Default)]
pub(crate) struct PriceCache {
    pricings: Vec<PricingManager>,
    /// `None` inside: the table does not know the model, so it costs 0.
    prices: Vec<Vec<Option<Option<iron_cost::pricing::ModelPricing>>>>,
}

impl PriceCache {
    /// The cost of a completed request of model key `model` (named
    /// `model_names[model]`) by table `pricing`.
    pub(crate) fn cost(
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
    pub(crate) fn receiver(&self) -> Result<Arc<StreamReceiver>> {
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

    pub(crate) fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
            replayed: a.replayed as f64,
        }
    }
}

fn parse_ids(ids: &[String]) -> Vec<EventId> {
    // Strings that are not ids cannot name a buffered event: ignored, like unknown ids.
    ids.iter()
        .filter_map(|s| EventId::from_str(s).ok())
        .collect()
}
