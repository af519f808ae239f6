//! Statistics read row by row, without building maps: for exporters and
//! language bindings that walk every row once and keep nothing.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event_storage::Names;
use crate::stats::{ComputedStats, Counters, ModelLatency, ModelStats};

/// One consistent reading of a store's statistics ([`EventStore::stats_view`]),
/// holding the merged counters by name symbol. [`ComputedStats`] is built
/// from it (`ComputedStats::from(view)`); walking the rows here skips
/// hashing every name into maps, which is most of `stats()`'s cost when the
/// reader only copies the rows out.
///
/// Rows come in no particular order; rows with no request (and models with
/// no latency) are skipped, as in [`ComputedStats`].
///
/// ```
/// use iron_runtime_analytics::{ComputedStats, EventStore};
///
/// let store = EventStore::new();
/// store.record_llm_failed("gpt-4o", Some("agent-1"), None, Some("timeout"), None).unwrap();
/// let view = store.stats_view();
/// assert_eq!(view.totals().failed_count, 1);
/// let agents: Vec<_> = view.by_agent().map(|(name, s)| (name.to_string(), s.request_count)).collect();
/// assert_eq!(agents, [("agent-1".to_string(), 1)]);
/// assert_eq!(ComputedStats::from(view), store.stats());
/// ```
///
/// [`EventStore::stats_view`]: crate::EventStore::stats_view
pub struct StatsView<'a> {
    pub(crate) names: &'a Names,
    pub(crate) totals: Counters,
    pub(crate) models: Vec<Counters>,
    pub(crate) providers: Vec<Counters>,
    pub(crate) agents: Vec<Counters>,
    pub(crate) latency: Vec<ModelLatency>,
}

/// The rows of one table: (name, stats) for each symbol with a request.
fn rows<'v, 'a: 'v, T>(
    counters: &'v [Counters],
    name: impl Fn(u32) -> &'a (Arc<str>, T) + 'v,
) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + 'v
where
    T: 'a,
{
    counters
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_zero())
        .map(move |(sym, c)| (&name(sym as u32).0, c.to_model_stats()))
}

impl<'a> StatsView<'a> {
    /// The totals over every LLM request, as one row.
    pub fn totals(&self) -> ModelStats {
        self.totals.to_model_stats()
    }

    /// Per model name.
    pub fn by_model(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(&self.models, move |sym| names.models.entry(sym))
    }

    /// Per provider name.
    pub fn by_provider(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(&self.providers, move |sym| names.providers.entry(sym))
    }

    /// Per agent id.
    pub fn by_agent(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(&self.agents, move |sym| names.agents.entry(sym))
    }

    /// Latency histograms of each model recorded with a latency.
    pub fn latency_by_model(&self) -> impl Iterator<Item = (&'a Arc<str>, &ModelLatency)> + '_ {
        let names = self.names;
        self.latency
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(move |(sym, l)| (&names.models.entry(sym as u32).0, l))
    }
}

/// A map of rows, sized for `capacity` (an upper bound) up front.
fn map_of<'a, V>(
    rows: impl Iterator<Item = (&'a Arc<str>, V)>,
    capacity: usize,
) -> HashMap<Arc<str>, V, foldhash::fast::RandomState> {
    let mut map = HashMap::with_capacity_and_hasher(capacity, Default::default());
    map.extend(rows.map(|(k, v)| (k.clone(), v)));
    map
}

impl From<StatsView<'_>> for ComputedStats {
    fn from(view: StatsView<'_>) -> Self {
        let totals = view.totals();
        ComputedStats {
            total_requests: totals.request_count,
            failed_requests: totals.failed_count,
            total_input_tokens: totals.input_tokens,
            total_output_tokens: totals.output_tokens,
            total_cost_micros: totals.cost_micros,
            by_model: map_of(view.by_model(), view.models.len()),
            by_provider: map_of(view.by_provider(), view.providers.len()),
            by_agent: map_of(view.by_agent(), view.agents.len()),
            latency_by_model: map_of(
                view.latency_by_model().map(|(k, l)| (k, *l)),
                view.latency.len(),
            ),
        }
    }
}
