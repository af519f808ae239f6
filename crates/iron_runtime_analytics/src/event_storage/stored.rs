//! Events as the buffer keeps them (strings as symbols, the id as its key),
//! and events being recorded, strings still borrowed.

use std::sync::Arc;

use crate::intern::{Interner, SymbolCache, NONE};
use crate::provider_utils::infer_provider;
use crate::stats::Delta;

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
        threshold_percent: u32,
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

    pub(crate) fn delta(&self) -> Option<Delta> {
        match self.payload {
            StoredPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            } => Some(Delta {
                failed: false,
                input_tokens,
                output_tokens,
                cost_micros,
            }),
            StoredPayload::Failed { .. } => Some(Delta {
                failed: true,
                input_tokens: 0,
                output_tokens: 0,
                cost_micros: 0,
            }),
            _ => None,
        }
    }
}

/// The strings of a store, one interner per kind so stats tables stay dense.
pub(crate) struct Names {
    /// Model name → symbol of its inferred provider.
    pub(crate) models: Interner<u32>,
    pub(crate) providers: Interner<()>,
    pub(crate) agents: Interner<()>,
    /// Provider ids and error codes.
    pub(crate) labels: Interner<()>,
}

/// Where a new event's provider comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ProviderArg<'a> {
    /// Inferred from the model name.
    Infer,
    /// Given by the caller.
    Named(&'a str),
}

/// The payload of an event being recorded, strings still borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NewPayload<'a> {
    Completed {
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: u64,
    },
    Failed {
        error_code: Option<&'a str>,
        error_message: Option<&'a str>,
    },
    Budget {
        threshold_percent: u32,
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

/// A string argument: borrowed, or already interned (a key from this store).
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
    /// Request duration and time to first token (completed requests only).
    pub(crate) latency: Latency,
}

/// Latency of one request, microseconds: recorded in the stats, not in the event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Latency {
    pub(crate) duration_micros: Option<u64>,
    pub(crate) ttft_micros: Option<u64>,
}

/// Looks strings up: through a shard's private cache, or the shared interners.
pub(super) trait Resolve {
    fn model(&mut self, names: &Names, s: &str) -> u32;
    fn provider(&mut self, names: &Names, s: &str) -> u32;
    fn agent(&mut self, names: &Names, s: &str) -> u32;
    fn label(&mut self, names: &Names, s: &str) -> u32;
}

fn inferred_provider(names: &Names, model: &str) -> u32 {
    names
        .providers
        .intern(infer_provider(model).as_str(), || ())
}

/// The shared interners, for the overflow path.
pub(super) struct Shared;

impl Resolve for Shared {
    fn model(&mut self, names: &Names, s: &str) -> u32 {
        names.models.intern(s, || inferred_provider(names, s))
    }
    fn provider(&mut self, names: &Names, s: &str) -> u32 {
        names.providers.intern(s, || ())
    }
    fn agent(&mut self, names: &Names, s: &str) -> u32 {
        names.agents.intern(s, || ())
    }
    fn label(&mut self, names: &Names, s: &str) -> u32 {
        names.labels.intern(s, || ())
    }
}

#[derive(Default)]
pub(super) struct Caches {
    models: SymbolCache,
    providers: SymbolCache,
    agents: SymbolCache,
    labels: SymbolCache,
}

impl Resolve for Caches {
    fn model(&mut self, names: &Names, s: &str) -> u32 {
        self.models
            .get_or_intern(&names.models, s, || inferred_provider(names, s))
    }
    fn provider(&mut self, names: &Names, s: &str) -> u32 {
        self.providers.get_or_intern(&names.providers, s, || ())
    }
    fn agent(&mut self, names: &Names, s: &str) -> u32 {
        self.agents.get_or_intern(&names.agents, s, || ())
    }
    fn label(&mut self, names: &Names, s: &str) -> u32 {
        self.labels.get_or_intern(&names.labels, s, || ())
    }
}

impl NewEvent<'_> {
    pub(super) fn resolve(&self, r: &mut impl Resolve, names: &Names, key: u64) -> StoredEvent {
        let llm = matches!(
            self.payload,
            NewPayload::Completed { .. } | NewPayload::Failed { .. }
        );
        let (model, provider) = if llm {
            let model = match self.model {
                Name::Str(s) => r.model(names, s),
                Name::Sym(sym) => sym,
            };
            let provider = match self.provider {
                ProviderArg::Infer => names.models.entry(model).1,
                ProviderArg::Named(p) => r.provider(names, p),
            };
            (model, provider)
        } else {
            (NONE, NONE)
        };
        let agent = match self.agent {
            Some(Name::Str(s)) => r.agent(names, s),
            Some(Name::Sym(sym)) => sym,
            None => NONE,
        };
        let mut label = |s: Option<Name<'_>>| match s {
            Some(Name::Str(s)) => r.label(names, s),
            Some(Name::Sym(sym)) => sym,
            None => NONE,
        };
        let provider_id = if llm { label(self.provider_id) } else { NONE };
        let payload = match self.payload {
            NewPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            } => StoredPayload::Completed {
                input_tokens,
                output_tokens,
                cost_micros,
            },
            NewPayload::Failed {
                error_code,
                error_message,
            } => StoredPayload::Failed {
                error_code: label(error_code.map(Name::Str)),
                error_message: error_message.map(Arc::from),
            },
            NewPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            } => StoredPayload::Budget {
                threshold_percent,
                current_spend_micros,
                budget_micros,
            },
            NewPayload::RouterStarted { port } => StoredPayload::RouterStarted { port },
            NewPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            } => StoredPayload::RouterStopped {
                total_requests,
                total_cost_micros,
            },
        };
        StoredEvent {
            key,
            model,
            provider,
            agent,
            provider_id,
            payload,
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
}
