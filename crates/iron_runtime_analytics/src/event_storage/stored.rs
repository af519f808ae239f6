//! Events as the buffer keeps them (strings as symbols, the id as its key),
//! and events being recorded, strings still borrowed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use iron_cost::pricing::{ModelPricing, PricingManager, TokenUsage};

use crate::intern::{is_transient, Interner, SymbolCache, Transient, TransientReader, NONE};
use crate::provider_utils::{infer_provider, Provider};
use crate::series::{self, SeriesIndex, SeriesObservation, UNNAMED_ERROR, WELL_KNOWN_OPERATIONS};
use crate::stats::{Delta, CARDINALITY_OVERFLOW_KEY};

/// An event as the buffer keeps it: strings are symbols, the id is its key.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) key: u64,
    pub(crate) model: u32,
    pub(crate) provider: u32,
    pub(crate) agent: u32,
    pub(crate) provider_id: u32,
    pub(crate) payload: StoredPayload,
}

#[derive(Debug, Clone)]
pub(crate) enum StoredPayload {
    Completed {
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
    Failed {
        error_code: u32,
        error_message: Option<Arc<str>>,
    },
    Budget {
        threshold_percent: u8,
        current_spend_micros: u64,
        budget_micros: u64,
    },
    RouterStarted {
        port: u16,
    },
    RouterStopped {
        total_requests: u64,
        total_cost_micros: u64,
    },
    /// A tombstone left in the outbox by a removal.
    Removed,
}

impl StoredEvent {
    pub(crate) fn is_llm(&self) -> bool {
        matches!(
            self.payload,
            StoredPayload::Completed { .. } | StoredPayload::Failed { .. }
        )
    }

    pub(crate) fn is_removed(&self) -> bool {
        matches!(self.payload, StoredPayload::Removed)
    }

    /// The symbols this event holds (transient ones hold a reference each).
    pub(crate) fn symbols(&self) -> [u32; 5] {
        let code = match self.payload {
            StoredPayload::Failed { error_code, .. } => error_code,
            _ => NONE,
        };
        [
            self.model,
            self.provider,
            self.agent,
            self.provider_id,
            code,
        ]
    }

    /// Whether this event holds any transient string.
    pub(crate) fn holds_transient(&self) -> bool {
        self.symbols().iter().any(|&s| is_transient(s))
    }
}

/// Which interner a symbol belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Model,
    Provider,
    Agent,
    /// Provider ids and error codes.
    Label,
}

/// The strings of a store: one bounded interner per kind (so stats tables
/// stay dense and small), and the transient strings past the limits.
pub(crate) struct Names {
    /// Model name → symbol of its inferred provider.
    pub(crate) models: Interner<u32>,
    pub(crate) providers: Interner<()>,
    pub(crate) agents: Interner<()>,
    /// Provider ids, error codes and operation names.
    pub(crate) labels: Interner<()>,
    /// The GenAI series (see `series.rs`).
    pub(crate) series: SeriesIndex,
    pub(crate) transient: Transient,
    /// The key of the overflow rows, shared by every snapshot.
    pub(crate) overflow_key: Arc<str>,
    /// Kept models already warned about as unpriced (the overflow row as `NONE`).
    unpriced_warned: Mutex<HashSet<u32>>,
    /// The kept symbol of the operation recorded when none is given.
    default_operation: u32,
}

impl Names {
    /// Names with `limit` kept strings per kind. The built-in provider
    /// names are kept first, on top of the limit, so that an inferred
    /// provider always has a kept symbol; so are the well-known operation
    /// names, so that the default operation always names its own series.
    pub(crate) fn new(limit: usize) -> Self {
        let mut names = Self {
            models: Interner::new(limit),
            providers: Interner::new(limit.saturating_add(Provider::ALL.len())),
            agents: Interner::new(limit),
            labels: Interner::new(limit.saturating_add(WELL_KNOWN_OPERATIONS.len())),
            series: SeriesIndex::new(limit),
            transient: Transient::default(),
            overflow_key: Arc::from(CARDINALITY_OVERFLOW_KEY),
            unpriced_warned: Mutex::default(),
            default_operation: NONE,
        };
        for p in Provider::ALL {
            names.providers.intern(p.as_str(), || ());
        }
        for operation in WELL_KNOWN_OPERATIONS {
            names.labels.intern(operation, || ());
        }
        // Looked up once: the hot path must not hash "chat" per request.
        names.default_operation = names
            .labels
            .lookup(series::DEFAULT_OPERATION)
            .expect("INVARIANT: well-known operation names are kept when the store is made");
        names
    }

    /// The kept symbol of the operation recorded when none is given.
    fn default_operation(&self) -> u32 {
        self.default_operation
    }

    /// The kept symbol of a built-in provider name.
    pub(crate) fn provider_sym(&self, provider: Provider) -> u32 {
        self.providers
            .lookup(provider.as_str())
            .expect("INVARIANT: built-in provider names are kept when the store is made")
    }

    /// The provider inferred from a model's name (kept symbol).
    pub(crate) fn inferred_provider(&self, model: u32, name: &str) -> u32 {
        if is_transient(model) {
            self.provider_sym(infer_provider(name))
        } else {
            self.models.entry(model).1
        }
    }

    /// The string of a symbol of `kind`, or `None` for [`NONE`].
    pub(crate) fn name(
        &self,
        reader: &mut TransientReader<'_>,
        kind: Kind,
        sym: u32,
    ) -> Option<Arc<str>> {
        if sym == NONE {
            return None;
        }
        if is_transient(sym) {
            return Some(reader.name(sym));
        }
        Some(match kind {
            Kind::Model => self.models.entry(sym).0.clone(),
            Kind::Provider => self.providers.entry(sym).0.clone(),
            Kind::Agent => self.agents.entry(sym).0.clone(),
            Kind::Label => self.labels.entry(sym).0.clone(),
        })
    }

    /// Logs, once per model (once for all models past the cardinality
    /// limit), that a model has no price.
    fn warn_unpriced(&self, model: u32, name: &str) {
        let key = if is_transient(model) { NONE } else { model };
        let first = self
            .unpriced_warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        if !first {
            return;
        }
        if key == NONE {
            log::warn!(
                "no price for model {name:?} (and maybe other models past the cardinality limit): \
                 their requests cost 0 and are counted in unpriced_requests; not logged again"
            );
        } else {
            log::warn!(
                "no price for model {name:?} in the price table: its requests cost 0 and are \
                 counted in unpriced_requests; load a current table (PricingManager::from_litellm_json) \
                 or add the model (not logged again for this model)"
            );
        }
    }

    /// Gives back the transient strings of an event leaving the buffer.
    pub(crate) fn release(&self, event: &StoredEvent) {
        if event.holds_transient() {
            self.transient.release(&event.symbols());
        }
    }
}

/// Where a new event's provider comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ProviderArg<'a> {
    /// Inferred from the model name.
    Infer,
    /// Given by the caller.
    Named(&'a str),
}

/// How a completed request's cost is known.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cost<'a> {
    /// Computed by the caller.
    Given(u64),
    /// To be computed from this price table (0 and counted unpriced if it
    /// does not know the model).
    Priced(&'a PricingManager),
}

/// The payload of an event being recorded, strings still borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewPayload<'a> {
    Completed {
        usage: TokenUsage,
        cost: Cost<'a>,
    },
    Failed {
        error_code: Option<Name<'a>>,
        error_message: Option<&'a str>,
    },
    Budget {
        threshold_percent: u8,
        current_spend_micros: u64,
        budget_micros: u64,
    },
    RouterStarted {
        port: u16,
    },
    RouterStopped {
        total_requests: u64,
        total_cost_micros: u64,
    },
}

/// A string argument: borrowed, or already kept (a key from this store).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name<'a> {
    Str(&'a str),
    Sym(u32),
}

/// An event being recorded: what the `record_*` methods hand to the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEvent<'a> {
    /// A key the event already has (a pre-built event), else a fresh one is made.
    pub(crate) key: Option<u64>,
    pub(crate) model: Name<'a>,
    pub(crate) provider: ProviderArg<'a>,
    pub(crate) agent: Option<Name<'a>>,
    pub(crate) provider_id: Option<Name<'a>>,
    pub(crate) payload: NewPayload<'a>,
    /// Request duration (every LLM request) and time to first token
    /// (completed requests only).
    pub(crate) latency: Latency,
    /// The model asked for, when it differs from `model` (the model that
    /// answered, or that failed); LLM events only.
    pub(crate) request_model: Option<Name<'a>>,
    /// `gen_ai.operation.name`; [`series::DEFAULT_OPERATION`] when absent.
    pub(crate) operation: Option<Name<'a>>,
}

/// Latency of one request, microseconds: recorded in the stats, not in the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Latency {
    pub(crate) duration_micros: Option<u64>,
    pub(crate) ttft_micros: Option<u64>,
}

/// A resolved event, ready for a shard: the compact event, what it adds to
/// the stats (LLM events only), its latency (completed requests only: the
/// per-model histograms) and what it adds to its GenAI series.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) event: StoredEvent,
    pub(crate) delta: Option<Delta>,
    pub(crate) latency: Latency,
    pub(crate) series: Option<SeriesObservation>,
}

/// Looks strings up: through a shard's private cache, or the shared
/// interners; past a kind's limit, as a transient string. Prices a model.
pub(super) trait Resolve {
    fn kept(&mut self, names: &Names, kind: Kind, s: &str) -> Option<u32>;

    /// The cost of `usage` of model `model` (symbol; named `name`) by
    /// `pricing`, `None` if the table does not know the model.
    fn cost(
        &mut self,
        pricing: &PricingManager,
        _model: u32,
        name: &str,
        usage: &TokenUsage,
    ) -> Option<u64> {
        pricing.get(name).map(|price| cost_at(price, usage))
    }

    /// A completed request of `model` had no price: warn once per model.
    fn unpriced(&mut self, names: &Names, model: u32, name: &str) {
        names.warn_unpriced(model, name);
    }

    fn resolve(&mut self, names: &Names, kind: Kind, s: &str) -> u32 {
        self.kept(names, kind, s)
            .unwrap_or_else(|| names.transient.acquire(s))
    }
}

pub(super) fn intern_kept(names: &Names, kind: Kind, s: &str) -> Option<u32> {
    match kind {
        Kind::Model => names
            .models
            .intern(s, || names.provider_sym(infer_provider(s))),
        Kind::Provider => names.providers.intern(s, || ()),
        Kind::Agent => names.agents.intern(s, || ()),
        Kind::Label => names.labels.intern(s, || ()),
    }
}

/// The shared interners, for the overflow path.
pub(super) struct Shared;

impl Resolve for Shared {
    fn kept(&mut self, names: &Names, kind: Kind, s: &str) -> Option<u32> {
        intern_kept(names, kind, s)
    }
}

/// A shard's caches of kept symbols, one per kind, and of the prices of
/// kept models in the last price table used.
#[derive(Default)]
pub(super) struct Caches {
    models: SymbolCache,
    providers: SymbolCache,
    agents: SymbolCache,
    labels: SymbolCache,
    prices: PriceCache,
    /// Kept models this shard knows were warned about as unpriced.
    unpriced_warned: Vec<bool>,
}

/// Each kept model's price in one table, looked up once: a lookup by name
/// hashes the name, a cached one indexes by symbol. Holding a clone of the
/// table keeps its id unique while cached.
#[derive(Default)]
struct PriceCache {
    table: Option<PricingManager>,
    /// By kept model symbol; `Some(None)`: the table does not know it.
    prices: Vec<Option<Option<ModelPricing>>>,
}

impl Resolve for Caches {
    fn kept(&mut self, names: &Names, kind: Kind, s: &str) -> Option<u32> {
        match kind {
            Kind::Model => self
                .models
                .get_or_intern(&names.models, s, || names.provider_sym(infer_provider(s))),
            Kind::Provider => self.providers.get_or_intern(&names.providers, s, || ()),
            Kind::Agent => self.agents.get_or_intern(&names.agents, s, || ()),
            Kind::Label => self.labels.get_or_intern(&names.labels, s, || ()),
        }
    }

    fn cost(
        &mut self,
        pricing: &PricingManager,
        model: u32,
        name: &str,
        usage: &TokenUsage,
    ) -> Option<u64> {
        if is_transient(model) {
            return pricing.get(name).map(|price| cost_at(price, usage));
        }
        let cache = &mut self.prices;
        if cache.table.as_ref().map(PricingManager::table_id) != Some(pricing.table_id()) {
            cache.table = Some(pricing.clone());
            cache.prices.clear();
        }
        let i = model as usize;
        if i >= cache.prices.len() {
            cache.prices.resize(i + 1, None);
        }
        cache.prices[i]
            .get_or_insert_with(|| pricing.get(name).cloned())
            .as_ref()
            .map(|price| cost_at(price, usage))
    }

    fn unpriced(&mut self, names: &Names, model: u32, name: &str) {
        if is_transient(model) {
            return names.warn_unpriced(model, name);
        }
        let i = model as usize;
        if self.unpriced_warned.get(i) == Some(&true) {
            return;
        }
        if i >= self.unpriced_warned.len() {
            self.unpriced_warned.resize(i + 1, false);
        }
        self.unpriced_warned[i] = true;
        names.warn_unpriced(model, name);
    }
}

/// The most characters of an error message kept; a longer one is cut at a
/// character boundary and ends with [`TRUNCATION_MARK`].
pub const MAX_ERROR_MESSAGE_CHARS: usize = 2_048;
/// What ends a truncated error message.
pub const TRUNCATION_MARK: char = '…';

/// `message` cut to at most [`MAX_ERROR_MESSAGE_CHARS`] characters (the
/// last one the mark), or as it is.
pub(crate) fn bounded_message(message: &str) -> Arc<str> {
    // A char is at least one byte: a short message needs no count.
    if message.len() <= MAX_ERROR_MESSAGE_CHARS {
        return Arc::from(message);
    }
    match message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS - 1) {
        Some((cut, _)) if message[cut..].chars().nth(1).is_some() => {
            let mut out = String::with_capacity(cut + TRUNCATION_MARK.len_utf8());
            out.push_str(&message[..cut]);
            out.push(TRUNCATION_MARK);
            Arc::from(out)
        }
        _ => Arc::from(message),
    }
}

/// The cost of `usage` at `price`: cache parts at their rates, long-context tiers.
fn cost_at(price: &ModelPricing, usage: &TokenUsage) -> u64 {
    price.cost_micros_for(usage)
}

impl NewEvent<'_> {
    /// Resolves the strings, computes the cost, and says what the event adds
    /// to the stats.
    pub(super) fn resolve(&self, r: &mut impl Resolve, names: &Names, key: u64) -> Admission {
        let llm = matches!(
            self.payload,
            NewPayload::Completed { .. } | NewPayload::Failed { .. }
        );
        let mut sym = |kind, name: Option<Name<'_>>| match name {
            Some(Name::Str(s)) => r.resolve(names, kind, s),
            Some(Name::Sym(sym)) => sym,
            None => NONE,
        };
        let (model, provider) = if llm {
            let model = sym(Kind::Model, Some(self.model));
            let provider = match self.provider {
                ProviderArg::Infer => {
                    let name = match self.model {
                        Name::Str(s) => s,
                        Name::Sym(_) => "",
                    };
                    names.inferred_provider(model, name)
                }
                ProviderArg::Named(p) => sym(Kind::Provider, Some(Name::Str(p))),
            };
            (model, provider)
        } else {
            (NONE, NONE)
        };
        // A local event's agent is not a stats key: it must not take a kept
        // slot from the agents whose requests are counted.
        let agent = match self.agent {
            Some(Name::Str(s)) if !llm => names
                .agents
                .lookup(s)
                .unwrap_or_else(|| names.transient.acquire(s)),
            other => sym(Kind::Agent, other),
        };
        let provider_id = if llm {
            sym(Kind::Label, self.provider_id)
        } else {
            NONE
        };
        // The series' own names (LLM events only), interned after the
        // event's: a request model with the models, an operation with the labels.
        let (request_model, operation) = if llm {
            (
                self.request_model
                    .map_or(model, |name| sym(Kind::Model, Some(name))),
                self.operation.map_or_else(
                    || names.default_operation(),
                    |name| sym(Kind::Label, Some(name)),
                ),
            )
        } else {
            (NONE, NONE)
        };
        let (payload, delta) = match self.payload {
            NewPayload::Completed { usage, cost } => {
                let (cost_micros, unpriced) = match cost {
                    Cost::Given(cost) => (cost, false),
                    Cost::Priced(pricing) => {
                        let name = match self.model {
                            Name::Str(s) => s,
                            Name::Sym(sym) => &names.models.entry(sym).0,
                        };
                        match r.cost(pricing, model, name, &usage) {
                            Some(cost) => (cost, false),
                            None => {
                                r.unpriced(names, model, name);
                                (0, true)
                            }
                        }
                    }
                };
                let delta = Delta {
                    failed: false,
                    unpriced,
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cost_micros,
                    cache_read_tokens: usage.cache_read_tokens,
                    cache_write_tokens: usage
                        .cache_write_tokens
                        .saturating_add(usage.cache_write_1h_tokens),
                    reasoning_tokens: usage.reasoning_tokens,
                };
                (
                    StoredPayload::Completed {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                        cost_micros,
                    },
                    Some(delta),
                )
            }
            NewPayload::Failed {
                error_code,
                error_message,
            } => (
                StoredPayload::Failed {
                    error_code: sym(Kind::Label, error_code),
                    error_message: error_message.map(bounded_message),
                },
                Some(Delta::FAILED),
            ),
            NewPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => (
                StoredPayload::Budget {
                    threshold_percent,
                    current_spend_micros,
                    budget_micros,
                },
                None,
            ),
            NewPayload::RouterStarted { port } => (StoredPayload::RouterStarted { port }, None),
            NewPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => (
                StoredPayload::RouterStopped {
                    total_requests,
                    total_cost_micros,
                },
                None,
            ),
        };
        let series = delta.map(|d| {
            let (response_model, error_type) = match &payload {
                &StoredPayload::Failed { error_code, .. } => (
                    None,
                    Some(if error_code == NONE {
                        UNNAMED_ERROR
                    } else {
                        error_code
                    }),
                ),
                _ => (Some(model), None),
            };
            SeriesObservation {
                key: series::key_of(
                    operation,
                    provider,
                    request_model,
                    response_model,
                    error_type,
                ),
                duration_micros: self.latency.duration_micros,
                ttfc_micros: if d.failed {
                    None
                } else {
                    self.latency.ttft_micros
                },
                tokens: (!d.failed).then_some((d.input_tokens, d.output_tokens)),
                cost_micros: d.cost_micros,
                unpriced: d.unpriced,
            }
        });
        let completed = matches!(payload, StoredPayload::Completed { .. });
        Admission {
            event: StoredEvent {
                key,
                model,
                provider,
                agent,
                provider_id,
                payload,
            },
            delta,
            latency: if completed {
                self.latency
            } else {
                Latency::default()
            },
            series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_events_are_compact() {
        // The memory target (≤ 64 heap bytes per buffered event) rests on this.
        assert_eq!(std::mem::size_of::<StoredEvent>(), 56);
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary_and_marked() {
        assert_eq!(&*bounded_message("short"), "short");
        let exact = "é".repeat(MAX_ERROR_MESSAGE_CHARS);
        assert_eq!(&*bounded_message(&exact), exact, "2,048 characters fit");
        let long = format!("{}😀tail", "é".repeat(MAX_ERROR_MESSAGE_CHARS - 1));
        let cut = bounded_message(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_MESSAGE_CHARS);
        assert!(cut.ends_with(TRUNCATION_MARK));
        assert!(cut.starts_with(&"é".repeat(MAX_ERROR_MESSAGE_CHARS - 1)));
    }
}
