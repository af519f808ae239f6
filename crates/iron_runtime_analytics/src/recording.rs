//! High-level recording API for [`EventStore`]: provider inference and cost
//! calculation happen here, so a router records one call per request.
//!
//! # Two forms of each method
//!
//! The methods named as in `iron_runtime_analytics` 0.4.0 (`record`,
//! `record_llm_completed`, `record_llm_completed_with_provider`,
//! `record_llm_failed`, `record_budget_threshold`, `record_router_started`,
//! `record_router_stopped`) return nothing, as they did there. Each has a
//! `try_*` twin that says what happened: the new event's id when it was
//! buffered, `None` when the buffer was full of LLM events (the event still
//! counts in the stats), or the [`RecordError`] that refused it. Local events
//! (lifecycle, budget) are always buffered, and evicted later, oldest first,
//! when an LLM event needs their room. The methods new in this crate
//! ([`EventStore::record_llm`], [`EventStore::record_usage`],
//! [`EventStore::record_llm_completed_with_latency`]) answer like the `try_*` ones.
//!
//! # Bad input
//!
//! Bad input is refused before anything is counted: an empty model or
//! provider name, a name longer than [`MAX_NAME_CHARS`]
//! characters, token parts larger than their whole. A `try_*` method returns
//! the [`RecordError`]; the infallible form never panics and never drops it
//! silently: it counts it in [`EventStore::refused_count`] (and
//! [`Accounting::refused`](crate::Accounting::refused)), keeps the last
//! error ([`EventStore::last_refusal`]) and logs the first one. Error
//! messages longer than [`MAX_ERROR_MESSAGE_CHARS`](crate::MAX_ERROR_MESSAGE_CHARS)
//! are cut at a character boundary and marked, never refused.

use iron_cost::pricing::{PricingManager, TokenUsage};

use crate::event::{AnalyticsEvent, EventId, EventPayload};
use crate::event_storage::{
    Cost, EventStore, Latency, Name, NewEvent, NewPayload, ProviderArg, RecordError, MAX_NAME_CHARS,
};
use crate::provider_utils::Provider;

fn check_name(field: &'static str, name: &str) -> Result<(), RecordError> {
    // A character is at least one byte: a short name needs no count.
    if name.len() > MAX_NAME_CHARS {
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(RecordError::NameTooLong { field, chars });
        }
    }
    Ok(())
}

fn check_model(model: &str) -> Result<(), RecordError> {
    if model.is_empty() {
        return Err(RecordError::EmptyModel);
    }
    check_name("model", model)
}

fn check_provider(provider: &str) -> Result<(), RecordError> {
    if provider.is_empty() {
        return Err(RecordError::EmptyProvider);
    }
    check_name("provider", provider)
}

fn check_optional(field: &'static str, name: Option<&str>) -> Result<(), RecordError> {
    name.map_or(Ok(()), |n| check_name(field, n))
}

fn check_usage(usage: &TokenUsage) -> Result<(), RecordError> {
    usage.validate().map_err(RecordError::InvalidUsage)
}

impl EventStore {
    /// Counts a refusal of an infallible method (see the [module docs](self)).
    fn settle<T>(&self, method: &str, result: Result<T, RecordError>) {
        if let Err(e) = result {
            self.refuse(method, e);
        }
    }

    /// Records a pre-built event (see [`EventStore::try_record`]); an event
    /// with bad input is counted in [`EventStore::refused_count`] instead.
    ///
    /// ```
    /// use iron_runtime_analytics::{AnalyticsEvent, EventPayload, EventStore};
    /// let store = EventStore::new();
    /// store.record(AnalyticsEvent::new(EventPayload::RouterStarted { port: 8080 }));
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn record(&self, event: AnalyticsEvent) {
        self.settle("record", self.record_ref(&event));
    }

    /// Records a pre-built event; its id if it was buffered, `None` if the
    /// buffer was full of LLM events.
    ///
    /// The event keeps its id if it was made by [`AnalyticsEvent::new`] in this
    /// process (or by this store); an id from elsewhere (e.g. an event read
    /// back with serde) is replaced by a fresh one, stamped with the current
    /// time. An LLM event already marked delivered ([`AnalyticsEvent::set_synced`])
    /// is counted in the stats and settled as synced at once: it is not kept
    /// for delivery.
    ///
    /// ```
    /// use iron_runtime_analytics::{AnalyticsEvent, EventPayload, EventStore, RecordError};
    /// use iron_runtime_analytics::event::{LlmFailureData, LlmModelMeta};
    ///
    /// let store = EventStore::new();
    /// let failed = |model: &str| AnalyticsEvent::new(EventPayload::LlmRequestFailed(LlmFailureData {
    ///     meta: LlmModelMeta { provider_id: None, provider: "openai".into(), model: model.into() },
    ///     error_code: Some("timeout".to_string()),
    ///     error_message: None,
    /// }));
    /// assert!(store.try_record(failed("gpt-4o")).unwrap().is_some());
    /// assert_eq!(store.try_record(failed("")), Err(RecordError::EmptyModel));
    /// assert_eq!(store.stats().failed_requests, 1);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] if an LLM event has an empty model or provider name,
    /// or a name that is too long.
    pub fn try_record(&self, event: AnalyticsEvent) -> Result<Option<EventId>, RecordError> {
        self.record_ref(&event)
    }

    fn record_ref(&self, event: &AnalyticsEvent) -> Result<Option<EventId>, RecordError> {
        let id = self.push(self.new_event(event)?);
        if let (true, Some(id)) = (event.synced, id) {
            self.mark_synced(&[id]);
        }
        Ok(id)
    }

    /// A pre-built event as the store records it (its key if the id is this
    /// store's), checked as [`EventStore::record`] checks it.
    pub(crate) fn new_event<'a>(
        &self,
        event: &'a AnalyticsEvent,
    ) -> Result<NewEvent<'a>, RecordError> {
        let key = self.key_of(event.id);
        let agent = event.agent_id.as_deref();
        check_optional("agent_id", agent)?;
        let base = |model, provider, provider_id: Option<&'a str>, payload| NewEvent {
            key,
            model: Name::Str(model),
            provider: ProviderArg::Named(provider),
            agent: agent.map(Name::Str),
            provider_id: provider_id.map(Name::Str),
            payload,
            latency: Latency::default(),
            request_model: None,
            operation: None,
        };
        if let Some(meta) = event.payload.meta() {
            check_model(&meta.model)?;
            check_provider(&meta.provider)?;
            check_optional("provider_id", meta.provider_id.as_deref())?;
        }
        let new = match &event.payload {
            EventPayload::LlmRequestCompleted(d) => base(
                &*d.meta.model,
                &*d.meta.provider,
                d.meta.provider_id.as_deref(),
                NewPayload::Completed {
                    usage: TokenUsage::new(d.input_tokens, d.output_tokens),
                    cost: Cost::Given(d.cost_micros),
                },
            ),
            EventPayload::LlmRequestFailed(d) => {
                check_optional("error_code", d.error_code.as_deref())?;
                base(
                    &*d.meta.model,
                    &*d.meta.provider,
                    d.meta.provider_id.as_deref(),
                    NewPayload::Failed {
                        error_code: d.error_code.as_deref().map(Name::Str),
                        error_message: d.error_message.as_deref(),
                    },
                )
            }
            &EventPayload::BudgetThresholdReached {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => base(
                "",
                "",
                None,
                NewPayload::Budget {
                    threshold_percent,
                    current_spend_micros,
                    budget_micros,
                },
            ),
            &EventPayload::RouterStarted { port } => {
                base("", "", None, NewPayload::RouterStarted { port })
            }
            &EventPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => base(
                "",
                "",
                None,
                NewPayload::RouterStopped {
                    total_requests,
                    total_cost_micros,
                },
            ),
        };
        Ok(new)
    }

    /// Records a completed LLM request (see [`EventStore::try_record_llm_completed`]);
    /// bad input is counted in [`EventStore::refused_count`] instead.
    pub fn record_llm_completed(
        &self,
        pricing: &PricingManager,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
    ) {
        self.settle(
            "record_llm_completed",
            self.try_record_llm_completed(
                pricing,
                model,
                input_tokens,
                output_tokens,
                agent_id,
                provider_id,
            ),
        );
    }

    /// Records a completed LLM request: the provider is inferred from the
    /// model name and the cost computed from `pricing` (0 for an unknown
    /// model, which is counted in [`ModelStats::unpriced_requests`](crate::ModelStats::unpriced_requests)).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let id = store.try_record_llm_completed(&pricing, "gpt-4", 150, 50, Some("agent_1"), None).unwrap();
    /// assert!(id.is_some());
    /// let stats = store.stats();
    /// assert_eq!(stats.total_cost_micros, 7_500); // $30/M in, $60/M out
    /// assert_eq!(stats.by_provider["openai"].request_count, 1);
    /// assert_eq!(stats.by_agent["agent_1"].input_tokens, 150);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] for an empty model name or a name that is too long.
    pub fn try_record_llm_completed(
        &self,
        pricing: &PricingManager,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        self.record_llm_completed_with_latency(
            pricing,
            model,
            input_tokens,
            output_tokens,
            agent_id,
            provider_id,
            RequestLatency::default(),
        )
    }

    /// [`EventStore::try_record_llm_completed`] with the request's latency,
    /// which feeds the per-model latency histograms of [`EventStore::stats`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use iron_runtime_analytics::{EventStore, RequestLatency};
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let latency = RequestLatency {
    ///     duration: Some(Duration::from_millis(850)),
    ///     time_to_first_token: Some(Duration::from_millis(120)),
    /// };
    /// store.record_llm_completed_with_latency(&pricing, "gpt-4o", 900, 120, None, None, latency).unwrap();
    /// let h = store.stats().latency_by_model["gpt-4o"].duration;
    /// assert_eq!(h.count(), 1);
    /// assert_eq!(h.sum_seconds(), 0.85);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] for an empty model name or a name that is too long.
    #[allow(clippy::too_many_arguments)]
    pub fn record_llm_completed_with_latency(
        &self,
        pricing: &PricingManager,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
        latency: RequestLatency,
    ) -> Result<Option<EventId>, RecordError> {
        let mut record =
            LlmRecord::priced(model, pricing, TokenUsage::new(input_tokens, output_tokens))
                .latency(latency);
        record.agent_id = agent_id.map(NameRef::Name);
        record.provider_id = provider_id.map(NameRef::Name);
        self.record_llm(record)
    }

    /// Records a completed LLM request from its normalized usage, cache and
    /// reasoning parts included: the cost is priced over the parts (cache
    /// reads and writes at their own rates, long-context tiers), the parts
    /// are summed in the stats. For an agent, a provider id or a latency,
    /// build an [`LlmRecord`] and call [`EventStore::record_llm`].
    ///
    /// ```
    /// use iron_cost::pricing::{PricingManager, TokenUsage};
    /// use iron_runtime_analytics::EventStore;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let usage = TokenUsage { cache_read_tokens: 3_712, ..TokenUsage::new(19_681, 512) };
    /// store.record_usage(&pricing, "gpt-4o", &usage).unwrap();
    /// let stats = store.stats();
    /// assert_eq!(stats.total_input_tokens, 19_681); // every prompt token, cached or not
    /// assert_eq!(stats.total_cache_read_tokens, 3_712);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] for an empty or too long model name, or parts larger
    /// than their whole ([`RecordError::InvalidUsage`]).
    pub fn record_usage(
        &self,
        pricing: &PricingManager,
        model: &str,
        usage: &TokenUsage,
    ) -> Result<Option<EventId>, RecordError> {
        self.record_llm(LlmRecord::priced(model, pricing, *usage))
    }

    /// Records a completed LLM request with an explicit provider, for models
    /// whose name does not tell (e.g. fine-tunes); see
    /// [`EventStore::try_record_llm_completed_with_provider`] for any
    /// provider name. Bad input is counted in [`EventStore::refused_count`].
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, Provider};
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// store.record_llm_completed_with_provider(&pricing, "my-finetune", Provider::OpenAI, 10, 5, None, None);
    /// assert_eq!(store.stats().by_provider["openai"].output_tokens, 5);
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn record_llm_completed_with_provider(
        &self,
        pricing: &PricingManager,
        model: &str,
        provider: Provider,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
    ) {
        self.settle(
            "record_llm_completed_with_provider",
            self.try_record_llm_completed_with_provider(
                pricing,
                model,
                provider.as_str(),
                input_tokens,
                output_tokens,
                agent_id,
                provider_id,
            ),
        );
    }

    /// Records a completed LLM request with an explicit provider name, any
    /// name (a gateway, a self-hosted endpoint) or a [`Provider`]'s
    /// [`as_str`](Provider::as_str).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// store.try_record_llm_completed_with_provider(&pricing, "llama-3-70b", "my-gateway", 10, 5, None, None).unwrap();
    /// assert_eq!(store.stats().by_provider["my-gateway"].output_tokens, 5);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] for an empty model or provider name, or a name that is too long.
    #[allow(clippy::too_many_arguments)]
    pub fn try_record_llm_completed_with_provider(
        &self,
        pricing: &PricingManager,
        model: &str,
        provider: &str,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        check_model(model)?;
        check_provider(provider)?;
        check_optional("agent_id", agent_id)?;
        check_optional("provider_id", provider_id)?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Str(model),
            provider: ProviderArg::Named(provider),
            agent: agent_id.map(Name::Str),
            provider_id: provider_id.map(Name::Str),
            latency: Latency::default(),
            request_model: None,
            operation: None,
            payload: NewPayload::Completed {
                usage: TokenUsage::new(input_tokens, output_tokens),
                cost: Cost::Priced(pricing),
            },
        }))
    }

    /// Records a failed LLM request (see [`EventStore::try_record_llm_failed`]);
    /// bad input is counted in [`EventStore::refused_count`] instead.
    pub fn record_llm_failed(
        &self,
        model: &str,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
        error_code: Option<&str>,
        error_message: Option<&str>,
    ) {
        self.settle(
            "record_llm_failed",
            self.try_record_llm_failed(model, agent_id, provider_id, error_code, error_message),
        );
    }

    /// Records a failed LLM request (provider inferred from the model name).
    ///
    /// # Errors
    /// [`RecordError`] for an empty model name or a name that is too long.
    pub fn try_record_llm_failed(
        &self,
        model: &str,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
        error_code: Option<&str>,
        error_message: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        let mut record = LlmRecord::failed(model, error_code, error_message);
        record.agent_id = agent_id.map(NameRef::Name);
        record.provider_id = provider_id.map(NameRef::Name);
        self.record_llm(record)
    }

    /// Records that an agent's spend crossed a budget threshold (local only,
    /// never synced); an agent id that is too long is counted in
    /// [`EventStore::refused_count`] instead.
    pub fn record_budget_threshold(
        &self,
        threshold_percent: u8,
        current_spend_micros: u64,
        budget_micros: u64,
        agent_id: Option<&str>,
    ) {
        self.settle(
            "record_budget_threshold",
            self.try_record_budget_threshold(
                threshold_percent,
                current_spend_micros,
                budget_micros,
                agent_id,
            ),
        );
    }

    /// Records that an agent's spend crossed a budget threshold (local only,
    /// never synced); returns its id (local events are always buffered).
    ///
    /// # Errors
    /// [`RecordError::NameTooLong`] for an agent id longer than
    /// [`MAX_NAME_CHARS`] characters.
    pub fn try_record_budget_threshold(
        &self,
        threshold_percent: u8,
        current_spend_micros: u64,
        budget_micros: u64,
        agent_id: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        check_optional("agent_id", agent_id)?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: agent_id.map(Name::Str),
            provider_id: None,
            latency: Latency::default(),
            request_model: None,
            operation: None,
            payload: NewPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            },
        }))
    }

    /// Records that the router started on `port` (local only).
    pub fn record_router_started(&self, port: u16) {
        self.try_record_router_started(port);
    }

    /// Records that the router started on `port` (local only); returns its
    /// id (local events are always buffered). Never fails.
    pub fn try_record_router_started(&self, port: u16) -> Option<EventId> {
        self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: None,
            provider_id: None,
            latency: Latency::default(),
            request_model: None,
            operation: None,
            payload: NewPayload::RouterStarted { port },
        })
    }

    /// Records that the router stopped, with the store's final totals (local only).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, EventPayload};
    /// let store = EventStore::new();
    /// store.record_llm_failed("gpt-4", None, None, None, None);
    /// store.record_router_stopped();
    /// let last = store.snapshot_events().pop().unwrap();
    /// match last.payload {
    ///     EventPayload::RouterStopped { total_requests, .. } => assert_eq!(total_requests, 1),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// ```
    pub fn record_router_stopped(&self) {
        self.try_record_router_stopped();
    }

    /// Records that the router stopped (local only); returns its id (local
    /// events are always buffered). Never fails.
    pub fn try_record_router_stopped(&self) -> Option<EventId> {
        let totals = self.totals();
        self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: None,
            provider_id: None,
            latency: Latency::default(),
            request_model: None,
            operation: None,
            payload: NewPayload::RouterStopped {
                total_requests: totals.requests,
                total_cost_micros: totals.cost_micros,
            },
        })
    }
}

/// How long a completed request took (both optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestLatency {
    /// The whole request, as the router measured it.
    pub duration: Option<std::time::Duration>,
    /// Time to the first token (streamed responses).
    pub time_to_first_token: Option<std::time::Duration>,
}

impl RequestLatency {
    fn micros(self) -> Latency {
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Latency {
            duration_micros: self.duration.map(micros),
            ttft_micros: self.time_to_first_token.map(micros),
        }
    }
}

/// A model name kept by one store (see [`EventStore::model_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelKey {
    store: u64,
    sym: u32,
}

/// Which table a [`NameKey`] names into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NameKind {
    Agent,
    /// Provider ids and error codes.
    Label,
}

/// An agent id or a label (provider id, error code) kept by one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameKey {
    store: u64,
    kind: NameKind,
    sym: u32,
}

impl ModelKey {
    /// The key's index in its store, for a binding that hands keys across a
    /// boundary as numbers (see [`EventStore::model_key_at`]).
    pub const fn index(self) -> u32 {
        self.sym
    }
}

impl NameKey {
    /// The key's index in its store (see [`EventStore::agent_key_at`]).
    pub const fn index(self) -> u32 {
        self.sym
    }
}

/// A model as an [`LlmRecord`] names it: a key, or the name itself.
#[derive(Debug, Clone, Copy)]
pub enum ModelRef<'a> {
    /// A name kept by the recording store.
    Key(ModelKey),
    /// The name (checked when recorded).
    Name(&'a str),
}

impl From<ModelKey> for ModelRef<'_> {
    fn from(key: ModelKey) -> Self {
        ModelRef::Key(key)
    }
}

impl<'a> From<&'a str> for ModelRef<'a> {
    fn from(name: &'a str) -> Self {
        ModelRef::Name(name)
    }
}

/// An agent id, provider id or error code as an [`LlmRecord`] names it.
#[derive(Debug, Clone, Copy)]
pub enum NameRef<'a> {
    /// A name kept by the recording store.
    Key(NameKey),
    /// The name (checked when recorded).
    Name(&'a str),
}

impl From<NameKey> for NameRef<'_> {
    fn from(key: NameKey) -> Self {
        NameRef::Key(key)
    }
}

impl<'a> From<&'a str> for NameRef<'a> {
    fn from(name: &'a str) -> Self {
        NameRef::Name(name)
    }
}

/// What [`EventStore::record_llm_batch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchOutcome {
    /// Records buffered (the others were dropped by a full buffer, and
    /// counted; all valid records are in the stats).
    pub buffered: usize,
    /// Records refused before anything was counted, by index in the batch,
    /// with the reason. A refused record never affects the others.
    pub refused: Vec<(usize, RecordError)>,
}

impl EventStore {
    /// Keeps a model name once, so that records name it by key: no hashing
    /// of the string again (for bindings whose string arguments are costly
    /// to pass, and for the hottest loops). `Ok(None)` once the store keeps
    /// [`cardinality_limit`](EventStore::cardinality_limit) models and this
    /// is not one of them: record with the name itself.
    ///
    /// # Errors
    /// [`RecordError`] for an empty or too long name.
    pub fn model_key(&self, model: &str) -> Result<Option<ModelKey>, RecordError> {
        check_model(model)?;
        Ok(self
            .keep(crate::event_storage::Kind::Model, model)
            .map(|sym| ModelKey {
                store: self.id_prefix(),
                sym,
            }))
    }

    /// Keeps an agent id (see [`EventStore::model_key`]).
    ///
    /// # Errors
    /// [`RecordError::NameTooLong`].
    pub fn agent_key(&self, agent_id: &str) -> Result<Option<NameKey>, RecordError> {
        check_name("agent_id", agent_id)?;
        Ok(self.name_key(NameKind::Agent, agent_id))
    }

    /// Keeps a provider id or an error code (see [`EventStore::model_key`]).
    ///
    /// # Errors
    /// [`RecordError::NameTooLong`].
    pub fn label_key(&self, label: &str) -> Result<Option<NameKey>, RecordError> {
        check_name("provider_id", label)?;
        Ok(self.name_key(NameKind::Label, label))
    }

    fn name_key(&self, kind: NameKind, name: &str) -> Option<NameKey> {
        let table = match kind {
            NameKind::Agent => crate::event_storage::Kind::Agent,
            NameKind::Label => crate::event_storage::Kind::Label,
        };
        self.keep(table, name).map(|sym| NameKey {
            store: self.id_prefix(),
            kind,
            sym,
        })
    }

    /// The model key of index `index` ([`ModelKey::index`]) in this store, if it exists.
    pub fn model_key_at(&self, index: u32) -> Option<ModelKey> {
        self.names.models.get(index).map(|_| ModelKey {
            store: self.id_prefix(),
            sym: index,
        })
    }

    /// The agent key of index `index` in this store, if it exists.
    pub fn agent_key_at(&self, index: u32) -> Option<NameKey> {
        self.names.agents.get(index).map(|_| NameKey {
            store: self.id_prefix(),
            kind: NameKind::Agent,
            sym: index,
        })
    }

    /// The label key (provider id, error code) of index `index`, if it exists.
    pub fn label_key_at(&self, index: u32) -> Option<NameKey> {
        self.names.labels.get(index).map(|_| NameKey {
            store: self.id_prefix(),
            kind: NameKind::Label,
            sym: index,
        })
    }

    fn check_name_ref(
        &self,
        field: &'static str,
        kind: NameKind,
        name: Option<NameRef<'_>>,
    ) -> Result<(), RecordError> {
        match name {
            Some(NameRef::Key(k)) if k.store != self.id_prefix() || k.kind != kind => {
                Err(RecordError::ForeignKey)
            }
            Some(NameRef::Name(n)) => check_name(field, n),
            _ => Ok(()),
        }
    }

    /// Checks a record against this store before anything is counted.
    fn check_record(&self, r: &LlmRecord<'_>) -> Result<(), RecordError> {
        match r.model {
            ModelRef::Key(k) if k.store != self.id_prefix() => return Err(RecordError::ForeignKey),
            ModelRef::Name(n) => check_model(n)?,
            ModelRef::Key(_) => {}
        }
        match r.request_model {
            Some(ModelRef::Key(k)) if k.store != self.id_prefix() => {
                return Err(RecordError::ForeignKey)
            }
            Some(ModelRef::Name(n)) => check_model(n)?,
            _ => {}
        }
        self.check_name_ref("agent_id", NameKind::Agent, r.agent_id)?;
        self.check_name_ref("provider_id", NameKind::Label, r.provider_id)?;
        if let Some(NameRef::Name("")) = r.operation {
            return Err(RecordError::EmptyOperation);
        }
        self.check_name_ref("operation", NameKind::Label, r.operation)?;
        match &r.kind {
            RecordKind::Completed { usage, .. } => check_usage(usage),
            RecordKind::Failed { error_code, .. } => {
                self.check_name_ref("error_code", NameKind::Label, *error_code)
            }
        }
    }

    /// Records one LLM request described by an [`LlmRecord`]: keys or
    /// names, usage with its parts, a cost given or priced by a table, a
    /// latency.
    ///
    /// ```
    /// use iron_cost::pricing::{PricingManager, TokenUsage};
    /// use iron_runtime_analytics::{EventStore, LlmRecord};
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let usage = TokenUsage { reasoning_tokens: 300, ..TokenUsage::new(1_000, 800) };
    /// store.record_llm(LlmRecord::priced("o3-mini", &pricing, usage).agent("agent_7")).unwrap();
    /// assert_eq!(store.stats().by_agent["agent_7"].reasoning_tokens, 300);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] as [`EventStore::record_llm_batch`] refuses a record.
    pub fn record_llm(&self, record: LlmRecord<'_>) -> Result<Option<EventId>, RecordError> {
        self.check_record(&record)?;
        Ok(self.push(record.new_event()))
    }

    /// Records many LLM requests at once, in order: one clock reading for
    /// the whole batch (every event is stamped with the time of this call)
    /// and one shard lock per 1,024 records, which roughly halves the cost
    /// per request against one call each. Every record is checked first; a
    /// refused one is reported in [`BatchOutcome::refused`] and never
    /// affects the others.
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, LlmRecord};
    /// let store = EventStore::new();
    /// let gpt4o = store.model_key("gpt-4o").unwrap().unwrap();
    /// let agent = store.agent_key("agent_1").unwrap().unwrap();
    /// let outcome = store.record_llm_batch(&[
    ///     LlmRecord::completed(gpt4o, 100, 20, 450).agent(agent),
    ///     LlmRecord::failed(gpt4o, Some("timeout"), None),
    ///     LlmRecord::failed("", None, None), // refused: empty model
    /// ]);
    /// assert_eq!(outcome.buffered, 2);
    /// assert_eq!(outcome.refused.len(), 1);
    /// let stats = store.stats();
    /// assert_eq!((stats.total_requests, stats.failed_requests, stats.total_cost_micros), (2, 1, 450));
    /// assert_eq!(stats.by_agent["agent_1"].request_count, 1);
    /// ```
    pub fn record_llm_batch(&self, records: &[LlmRecord<'_>]) -> BatchOutcome {
        self.record_llm_batch_at(records, crate::current_time_ms())
    }

    /// [`EventStore::record_llm_batch`] with every event stamped `unix_ms`
    /// instead of now: for a binding that accepted the batch's records
    /// earlier than it hands them over (events keep their ids in order
    /// whatever the stamp).
    pub fn record_llm_batch_at(&self, records: &[LlmRecord<'_>], unix_ms: u64) -> BatchOutcome {
        let mut refused = Vec::new();
        for (i, r) in records.iter().enumerate() {
            if let Err(e) = self.check_record(r) {
                refused.push((i, e));
            }
        }
        let buffered = if refused.is_empty() {
            self.push_batch(records.iter().map(LlmRecord::new_event), unix_ms)
        } else {
            let mut skip = refused.iter().map(|(i, _)| *i).peekable();
            let valid = records.iter().enumerate().filter_map(move |(i, r)| {
                if skip.peek() == Some(&i) {
                    skip.next();
                    None
                } else {
                    Some(r.new_event())
                }
            });
            self.push_batch(valid, unix_ms)
        };
        BatchOutcome { buffered, refused }
    }
}

/// What an [`LlmRecord`] records.
#[derive(Debug, Clone, Copy)]
enum RecordKind<'a> {
    Completed {
        usage: TokenUsage,
        cost: Cost<'a>,
    },
    Failed {
        error_code: Option<NameRef<'a>>,
        error_message: Option<&'a str>,
    },
}

/// One LLM request for [`EventStore::record_llm`] or
/// [`EventStore::record_llm_batch`]; build it with [`LlmRecord::completed`],
/// [`LlmRecord::priced`] or [`LlmRecord::failed`], then the optional parts.
/// Names are keys of the recording store or plain strings.
#[derive(Debug, Clone, Copy)]
pub struct LlmRecord<'a> {
    model: ModelRef<'a>,
    agent_id: Option<NameRef<'a>>,
    provider_id: Option<NameRef<'a>>,
    latency: RequestLatency,
    kind: RecordKind<'a>,
    request_model: Option<ModelRef<'a>>,
    operation: Option<NameRef<'a>>,
}

impl<'a> LlmRecord<'a> {
    /// A completed request and its cost, already computed by the caller.
    pub fn completed(
        model: impl Into<ModelRef<'a>>,
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    ) -> Self {
        Self::new(
            model.into(),
            RecordKind::Completed {
                usage: TokenUsage::new(input_tokens, output_tokens),
                cost: Cost::Given(cost_micros),
            },
        )
    }

    /// A completed request priced by `pricing` over its normalized `usage`
    /// (0, and counted unpriced, when the table does not know the model).
    pub fn priced(
        model: impl Into<ModelRef<'a>>,
        pricing: &'a PricingManager,
        usage: TokenUsage,
    ) -> Self {
        Self::new(
            model.into(),
            RecordKind::Completed {
                usage,
                cost: Cost::Priced(pricing),
            },
        )
    }

    /// A failed request with its error code and message, if any.
    pub fn failed(
        model: impl Into<ModelRef<'a>>,
        error_code: Option<&'a str>,
        error_message: Option<&'a str>,
    ) -> Self {
        Self::new(
            model.into(),
            RecordKind::Failed {
                error_code: error_code.map(NameRef::Name),
                error_message,
            },
        )
    }

    fn new(model: ModelRef<'a>, kind: RecordKind<'a>) -> Self {
        Self {
            model,
            agent_id: None,
            provider_id: None,
            latency: RequestLatency::default(),
            kind,
            request_model: None,
            operation: None,
        }
    }

    /// The agent that made the request.
    #[must_use]
    pub fn agent(mut self, agent_id: impl Into<NameRef<'a>>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// The provider key (credential) id the request used.
    #[must_use]
    pub fn provider_id(mut self, provider_id: impl Into<NameRef<'a>>) -> Self {
        self.provider_id = Some(provider_id.into());
        self
    }

    /// The error code of a failed request, as a key or a name (replaces the
    /// one given to [`LlmRecord::failed`]); ignored on a completed request.
    #[must_use]
    pub fn error_code(mut self, code: impl Into<NameRef<'a>>) -> Self {
        if let RecordKind::Failed { error_code, .. } = &mut self.kind {
            *error_code = Some(code.into());
        }
        self
    }

    /// The whole usage of a completed request, cache and reasoning parts
    /// included (replaces the token counts given); ignored on a failure.
    #[must_use]
    pub fn usage(mut self, usage: TokenUsage) -> Self {
        if let RecordKind::Completed { usage: u, .. } = &mut self.kind {
            *u = usage;
        }
        self
    }

    /// The measured latency: the duration of every request feeds its GenAI
    /// series' `gen_ai.client.operation.duration`; a completed request's
    /// latency also feeds its model's histograms, and its time to first
    /// token the series' time to first chunk.
    #[must_use]
    pub fn latency(mut self, latency: RequestLatency) -> Self {
        self.latency = latency;
        self
    }

    /// The model the request asked for (`gen_ai.request.model`), when the
    /// recorded model is the one that answered (`gen_ai.response.model`,
    /// which prices the request) or failed. Without it the recorded model is
    /// both.
    ///
    /// ```
    /// use iron_cost::pricing::{PricingManager, TokenUsage};
    /// use iron_runtime_analytics::{EventStore, LlmRecord};
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let record = LlmRecord::priced("gpt-4o-2024-08-06", &pricing, TokenUsage::new(10, 5))
    ///     .request_model("gpt-4o")
    ///     .operation("text_completion");
    /// store.record_llm(record).unwrap();
    /// let series = &store.series()[0];
    /// let names = series.attributes.as_ref().unwrap();
    /// assert_eq!((&*names.request_model, &*names.operation), ("gpt-4o", "text_completion"));
    /// assert_eq!(names.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
    /// ```
    #[must_use]
    pub fn request_model(mut self, model: impl Into<ModelRef<'a>>) -> Self {
        self.request_model = Some(model.into());
        self
    }

    /// The GenAI operation (`gen_ai.operation.name`: `chat`, the default,
    /// `text_completion`, `embeddings`, `generate_content`, …).
    #[must_use]
    pub fn operation(mut self, operation: impl Into<NameRef<'a>>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    fn new_event(&self) -> NewEvent<'a> {
        let name = |n: NameRef<'a>| match n {
            NameRef::Key(k) => Name::Sym(k.sym),
            NameRef::Name(s) => Name::Str(s),
        };
        let (payload, latency) = match self.kind {
            RecordKind::Completed { usage, cost } => {
                (NewPayload::Completed { usage, cost }, self.latency.micros())
            }
            // A failure has a duration (its series' histogram), no first token.
            RecordKind::Failed {
                error_code,
                error_message,
            } => (
                NewPayload::Failed {
                    error_code: error_code.map(name),
                    error_message,
                },
                Latency {
                    ttft_micros: None,
                    ..self.latency.micros()
                },
            ),
        };
        let model = |m: ModelRef<'a>| match m {
            ModelRef::Key(k) => Name::Sym(k.sym),
            ModelRef::Name(s) => Name::Str(s),
        };
        NewEvent {
            key: None,
            model: model(self.model),
            provider: ProviderArg::Infer,
            agent: self.agent_id.map(name),
            provider_id: self.provider_id.map(name),
            latency,
            payload,
            request_model: self.request_model.map(model),
            operation: self.operation.map(name),
        }
    }
}
