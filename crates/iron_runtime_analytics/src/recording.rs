//! High-level recording API for [`EventStore`]: provider inference and cost
//! calculation happen here, so a router records one call per request.
//!
//! Every `record_*` method of an LLM event returns the new event's id when it
//! was buffered, `None` when the buffer was full of LLM events (the event
//! still counts in the stats). Local events (lifecycle, budget) always return
//! their id: they are recorded, and evicted later, oldest first, when an LLM
//! event needs their room.
//! LLM methods refuse an empty model name with a [`RecordError`] before
//! anything is counted.

use iron_cost::pricing::PricingManager;

use crate::event::{AnalyticsEvent, EventId, EventPayload};
use crate::event_storage::{
    EventStore, Latency, Name, NewEvent, NewPayload, ProviderArg, RecordError,
};

fn check_model(model: &str) -> Result<(), RecordError> {
    if model.is_empty() {
        Err(RecordError::EmptyModel)
    } else {
        Ok(())
    }
}

fn cost_micros(
    pricing: &PricingManager,
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> u64 {
    // Unknown models cost 0: analytics must not fail on a model it does not know.
    pricing
        .get(model)
        .map_or(0, |p| p.calculate_cost_micros(input_tokens, output_tokens))
}

impl EventStore {
    /// Records a pre-built event.
    ///
    /// The event keeps its id if it was made by [`AnalyticsEvent::new`] in this
    /// process (or by this store); an id from elsewhere is replaced by a fresh one.
    ///
    /// # Errors
    /// [`RecordError`] if an LLM event has an empty model or provider name.
    pub fn record(&self, event: AnalyticsEvent) -> Result<Option<EventId>, RecordError> {
        let new = self.new_event(&event)?;
        Ok(self.push(new))
    }

    /// A pre-built event as the store records it (its key if the id is this
    /// store's), checked as [`EventStore::record`] checks it.
    pub(crate) fn new_event<'a>(
        &self,
        event: &'a AnalyticsEvent,
    ) -> Result<NewEvent<'a>, RecordError> {
        let key = self.key_of(event.id);
        let agent = event.agent_id.as_deref().map(Name::Str);
        let base = |model, provider, provider_id: Option<Name<'a>>, payload| NewEvent {
            key,
            model: Name::Str(model),
            provider: ProviderArg::Named(provider),
            agent,
            provider_id,
            payload,
            latency: Latency::default(),
        };
        let new = match &event.payload {
            EventPayload::LlmRequestCompleted(d) => base(
                &*d.meta.model,
                &*d.meta.provider,
                d.meta.provider_id.as_deref().map(Name::Str),
                NewPayload::Completed {
                    input_tokens: d.input_tokens,
                    output_tokens: d.output_tokens,
                    cost_micros: d.cost_micros,
                },
            ),
            EventPayload::LlmRequestFailed(d) => base(
                &*d.meta.model,
                &*d.meta.provider,
                d.meta.provider_id.as_deref().map(Name::Str),
                NewPayload::Failed {
                    error_code: d.error_code.as_deref(),
                    error_message: d.error_message.as_deref(),
                },
            ),
            EventPayload::BudgetThresholdReached(d) => base(
                "",
                "",
                None,
                NewPayload::Budget {
                    threshold_percent: d.threshold_percent,
                    current_spend_micros: d.current_spend_micros,
                    budget_micros: d.budget_micros,
                },
            ),
            EventPayload::RouterStarted(d) => {
                base("", "", None, NewPayload::RouterStarted { port: d.port })
            }
            EventPayload::RouterStopped(d) => base(
                "",
                "",
                None,
                NewPayload::RouterStopped {
                    total_requests: d.total_requests,
                    total_cost_micros: d.total_cost_micros,
                },
            ),
        };
        if let Some(meta) = event.payload.meta() {
            check_model(&meta.model)?;
            if meta.provider.is_empty() {
                return Err(RecordError::EmptyProvider);
            }
        }
        Ok(new)
    }

    /// Records a completed LLM request: the provider is inferred from the
    /// model name and the cost computed from `pricing` (0 for an unknown model).
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// store.record_llm_completed(&pricing, "gpt-4", 150, 50, Some("agent_1"), None).unwrap();
    /// let stats = store.stats();
    /// assert_eq!(stats.total_cost_micros, 7_500); // $30/M in, $60/M out
    /// assert_eq!(stats.by_provider["openai"].request_count, 1);
    /// assert_eq!(stats.by_agent["agent_1"].input_tokens, 150);
    /// ```
    ///
    /// # Errors
    /// [`RecordError::EmptyModel`] for an empty model name.
    pub fn record_llm_completed(
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

    /// [`EventStore::record_llm_completed`] with the request's latency, which
    /// feeds the per-model latency histograms of [`EventStore::stats`].
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
    /// [`RecordError::EmptyModel`] for an empty model name.
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
        check_model(model)?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Str(model),
            provider: ProviderArg::Infer,
            agent: agent_id.map(Name::Str),
            provider_id: provider_id.map(Name::Str),
            latency: latency.micros(),
            payload: NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros: cost_micros(pricing, model, input_tokens, output_tokens),
            },
        }))
    }

    /// Records a completed LLM request with an explicit provider name (for
    /// models whose name does not tell, e.g. fine-tunes or gateways).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, Provider};
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// store
    ///     .record_llm_completed_with_provider(&pricing, "my-finetune", Provider::OpenAI.as_str(), 10, 5, None, None)
    ///     .unwrap();
    /// assert_eq!(store.stats().by_provider["openai"].output_tokens, 5);
    /// ```
    ///
    /// # Errors
    /// [`RecordError`] for an empty model or provider name.
    #[allow(clippy::too_many_arguments)]
    pub fn record_llm_completed_with_provider(
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
        if provider.is_empty() {
            return Err(RecordError::EmptyProvider);
        }
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Str(model),
            provider: ProviderArg::Named(provider),
            agent: agent_id.map(Name::Str),
            provider_id: provider_id.map(Name::Str),
            latency: Latency::default(),
            payload: NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros: cost_micros(pricing, model, input_tokens, output_tokens),
            },
        }))
    }

    /// Records a failed LLM request (provider inferred from the model name).
    ///
    /// # Errors
    /// [`RecordError::EmptyModel`] for an empty model name.
    pub fn record_llm_failed(
        &self,
        model: &str,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
        error_code: Option<&str>,
        error_message: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        check_model(model)?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Str(model),
            provider: ProviderArg::Infer,
            agent: agent_id.map(Name::Str),
            provider_id: provider_id.map(Name::Str),
            latency: Latency::default(),
            payload: NewPayload::Failed {
                error_code,
                error_message,
            },
        }))
    }

    /// Records that an agent's spend crossed a budget threshold (local only, never synced).
    pub fn record_budget_threshold(
        &self,
        threshold_percent: u32,
        current_spend_micros: u64,
        budget_micros: u64,
        agent_id: Option<&str>,
    ) -> Option<EventId> {
        self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: agent_id.map(Name::Str),
            provider_id: None,
            latency: Latency::default(),
            payload: NewPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            },
        })
    }

    /// Records that the router started on `port` (local only).
    pub fn record_router_started(&self, port: u16) -> Option<EventId> {
        self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: None,
            provider_id: None,
            latency: Latency::default(),
            payload: NewPayload::RouterStarted { port },
        })
    }

    /// Records that the router stopped, with the store's final totals (local only).
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, EventPayload};
    /// let store = EventStore::new();
    /// store.record_llm_failed("gpt-4", None, None, None, None).unwrap();
    /// store.record_router_stopped();
    /// let last = store.snapshot_events().pop().unwrap();
    /// match last.payload() {
    ///     EventPayload::RouterStopped(d) => assert_eq!(d.total_requests, 1),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// ```
    pub fn record_router_stopped(&self) -> Option<EventId> {
        let totals = self.totals();
        self.push(NewEvent {
            key: None,
            model: Name::Str(""),
            provider: ProviderArg::Infer,
            agent: None,
            provider_id: None,
            latency: Latency::default(),
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

/// A model name interned in one store (see [`EventStore::model_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelKey {
    store: u64,
    sym: u32,
}

/// An agent id or a label (provider id) interned in one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameKey {
    store: u64,
    sym: u32,
}

impl EventStore {
    /// Interns a model name once, so that [`EventStore::record_llm_completed_keyed`]
    /// records without hashing the string again (for bindings whose string
    /// arguments are costly to pass, and for the hottest loops).
    ///
    /// # Errors
    /// [`RecordError::EmptyModel`] for an empty name.
    pub fn model_key(&self, model: &str) -> Result<ModelKey, RecordError> {
        check_model(model)?;
        let sym = self.names.models.intern(model, || {
            self.names
                .providers
                .intern(crate::provider_utils::infer_provider(model).as_str(), || ())
        });
        Ok(ModelKey {
            store: self.id_prefix(),
            sym,
        })
    }

    /// Interns an agent id (see [`EventStore::model_key`]).
    pub fn agent_key(&self, agent_id: &str) -> NameKey {
        NameKey {
            store: self.id_prefix(),
            sym: self.names.agents.intern(agent_id, || ()),
        }
    }

    /// Interns a provider id (see [`EventStore::model_key`]).
    pub fn provider_id_key(&self, provider_id: &str) -> NameKey {
        NameKey {
            store: self.id_prefix(),
            sym: self.names.labels.intern(provider_id, || ()),
        }
    }

    fn check_keys(&self, model: ModelKey, others: [Option<NameKey>; 2]) -> Result<(), RecordError> {
        let me = self.id_prefix();
        if model.store != me || others.iter().flatten().any(|k| k.store != me) {
            return Err(RecordError::ForeignKey);
        }
        Ok(())
    }

    /// [`EventStore::record_llm_completed`] with interned names.
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    /// use iron_cost::pricing::PricingManager;
    /// let store = EventStore::new();
    /// let pricing = PricingManager::new().unwrap();
    /// let gpt4 = store.model_key("gpt-4").unwrap();
    /// let agent = store.agent_key("agent_1");
    /// store.record_llm_completed_keyed(&pricing, gpt4, 150, 50, Some(agent), None, Default::default()).unwrap();
    /// assert_eq!(store.stats().by_agent["agent_1"].cost_micros, 7_500);
    /// ```
    ///
    /// # Errors
    /// [`RecordError::ForeignKey`] if a key was made by another store.
    #[allow(clippy::too_many_arguments)]
    pub fn record_llm_completed_keyed(
        &self,
        pricing: &PricingManager,
        model: ModelKey,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<NameKey>,
        provider_id: Option<NameKey>,
        latency: RequestLatency,
    ) -> Result<Option<EventId>, RecordError> {
        self.check_keys(model, [agent_id, provider_id])?;
        let name = &self.names.models.entry(model.sym).0;
        let cost = cost_micros(pricing, name, input_tokens, output_tokens);
        self.record_llm_completed_keyed_with_cost(
            model,
            input_tokens,
            output_tokens,
            cost,
            agent_id,
            provider_id,
            latency,
        )
    }

    /// [`EventStore::record_llm_completed_keyed`] with the cost already
    /// computed by the caller (a binding that caches each model's price).
    ///
    /// # Errors
    /// [`RecordError::ForeignKey`] if a key was made by another store.
    #[allow(clippy::too_many_arguments)]
    pub fn record_llm_completed_keyed_with_cost(
        &self,
        model: ModelKey,
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
        agent_id: Option<NameKey>,
        provider_id: Option<NameKey>,
        latency: RequestLatency,
    ) -> Result<Option<EventId>, RecordError> {
        self.check_keys(model, [agent_id, provider_id])?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Sym(model.sym),
            provider: ProviderArg::Infer,
            agent: agent_id.map(|k| Name::Sym(k.sym)),
            provider_id: provider_id.map(|k| Name::Sym(k.sym)),
            latency: latency.micros(),
            payload: NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            },
        }))
    }

    /// [`EventStore::record_llm_failed`] with interned names.
    ///
    /// # Errors
    /// [`RecordError::ForeignKey`] if a key was made by another store.
    pub fn record_llm_failed_keyed(
        &self,
        model: ModelKey,
        agent_id: Option<NameKey>,
        provider_id: Option<NameKey>,
        error_code: Option<&str>,
        error_message: Option<&str>,
    ) -> Result<Option<EventId>, RecordError> {
        self.check_keys(model, [agent_id, provider_id])?;
        Ok(self.push(NewEvent {
            key: None,
            model: Name::Sym(model.sym),
            provider: ProviderArg::Infer,
            agent: agent_id.map(|k| Name::Sym(k.sym)),
            provider_id: provider_id.map(|k| Name::Sym(k.sym)),
            latency: Latency::default(),
            payload: NewPayload::Failed {
                error_code,
                error_message,
            },
        }))
    }

    /// Records many LLM requests at once, in order, with interned names:
    /// one clock reading for the whole batch (every event is stamped with
    /// the time of this call) and one shard lock per 1,024 records, which
    /// roughly halves the cost per request against one call each. Returns how many were buffered;
    /// the rest were dropped (counted), and all are in the stats.
    ///
    /// Every key is checked first: with a foreign one nothing is recorded.
    ///
    /// ```
    /// use iron_runtime_analytics::{EventStore, LlmRecord};
    /// let store = EventStore::new();
    /// let gpt4o = store.model_key("gpt-4o").unwrap();
    /// let agent = store.agent_key("agent_1");
    /// let buffered = store
    ///     .record_llm_batch(&[
    ///         LlmRecord::completed(gpt4o, 100, 20, 450).agent(agent),
    ///         LlmRecord::failed(gpt4o, Some("timeout"), None),
    ///     ])
    ///     .unwrap();
    /// assert_eq!(buffered, 2);
    /// let stats = store.stats();
    /// assert_eq!((stats.total_requests, stats.failed_requests, stats.total_cost_micros), (2, 1, 450));
    /// assert_eq!(stats.by_agent["agent_1"].request_count, 1);
    /// ```
    ///
    /// # Errors
    /// [`RecordError::ForeignKey`] if a key was made by another store.
    pub fn record_llm_batch(&self, records: &[LlmRecord<'_>]) -> Result<usize, RecordError> {
        for r in records {
            self.check_keys(r.model, [r.agent_id, r.provider_id])?;
        }
        Ok(self.push_batch(records.iter().map(|&r| r.to_new_event())))
    }
}

/// One LLM request of a batch for [`EventStore::record_llm_batch`], with
/// interned names; build it with [`LlmRecord::completed`] or
/// [`LlmRecord::failed`].
#[derive(Debug, Clone, Copy)]
pub struct LlmRecord<'a> {
    model: ModelKey,
    agent_id: Option<NameKey>,
    provider_id: Option<NameKey>,
    latency: RequestLatency,
    /// Only `Completed` or `Failed`.
    payload: NewPayload<'a>,
}

impl<'a> LlmRecord<'a> {
    /// A completed request and its cost, already computed (e.g. with
    /// [`PricingManager::cost_micros`] or a cached price).
    pub fn completed(
        model: ModelKey,
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    ) -> Self {
        Self::new(
            model,
            NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            },
        )
    }

    /// A failed request with its error code and message, if any.
    pub fn failed(
        model: ModelKey,
        error_code: Option<&'a str>,
        error_message: Option<&'a str>,
    ) -> Self {
        Self::new(
            model,
            NewPayload::Failed {
                error_code,
                error_message,
            },
        )
    }

    fn new(model: ModelKey, payload: NewPayload<'a>) -> Self {
        Self {
            model,
            agent_id: None,
            provider_id: None,
            latency: RequestLatency::default(),
            payload,
        }
    }

    /// The agent that made the request.
    pub fn agent(mut self, agent_id: NameKey) -> Self {
        self.agent_id = Some(agent_id);
        self
    }

    /// The provider key (credential) id the request used.
    pub fn provider_id(mut self, provider_id: NameKey) -> Self {
        self.provider_id = Some(provider_id);
        self
    }

    /// The measured latency, for the model's histograms (completed requests).
    pub fn latency(mut self, latency: RequestLatency) -> Self {
        self.latency = latency;
        self
    }

    fn to_new_event(self) -> NewEvent<'a> {
        // As record_llm_failed_keyed: a failure carries no latency (and
        // `latency()` can only be set on a completed record anyway).
        let latency = match self.payload {
            NewPayload::Completed { .. } => self.latency.micros(),
            _ => Latency::default(),
        };
        NewEvent {
            key: None,
            model: Name::Sym(self.model.sym),
            provider: ProviderArg::Infer,
            agent: self.agent_id.map(|k| Name::Sym(k.sym)),
            provider_id: self.provider_id.map(|k| Name::Sym(k.sym)),
            latency,
            payload: self.payload,
        }
    }
}
