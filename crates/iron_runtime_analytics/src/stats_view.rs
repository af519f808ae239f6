//! Statistics read row by row, without building maps: for exporters and
//! language bindings that walk every row once and keep nothing.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event_storage::Names;
use crate::intern::NONE;
use crate::series::{SeriesAttributes, SeriesRows, SeriesStats, UNNAMED_ERROR, UNNAMED_ERROR_TYPE};
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
/// store.record_llm_failed("gpt-4o", Some("agent-1"), None, Some("timeout"), None);
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
    pub(crate) models: Rows,
    pub(crate) providers: Rows,
    pub(crate) agents: Rows,
    pub(crate) latency: Vec<ModelLatency>,
    pub(crate) latency_overflow: ModelLatency,
    pub(crate) series: SeriesRows,
}

/// A breakdown of the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breakdown {
    /// Per model name.
    Model,
    /// Per provider name.
    Provider,
    /// Per agent id.
    Agent,
}

/// The merged counters of one breakdown: per kept symbol, and the overflow row.
#[derive(Default)]
pub(crate) struct Rows {
    pub(crate) kept: Vec<Counters>,
    pub(crate) overflow: Counters,
}

/// The rows of one table: (name, stats) for each symbol with a request,
/// then the overflow row if it has one.
fn rows<'v, 'a: 'v, T>(
    rows: &'v Rows,
    name: impl Fn(u32) -> &'a (Arc<str>, T) + 'v,
    overflow_key: &'a Arc<str>,
) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + 'v
where
    T: 'a,
{
    let overflow =
        (!rows.overflow.is_zero()).then(|| (overflow_key, rows.overflow.to_model_stats()));
    rows.kept
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.is_zero())
        .map(move |(sym, c)| (&name(sym as u32).0, c.to_model_stats()))
        .chain(overflow)
}

impl<'a> StatsView<'a> {
    /// The totals over every LLM request, as one row.
    pub fn totals(&self) -> ModelStats {
        self.totals.to_model_stats()
    }

    /// Per model name (names past the cardinality limit in one row keyed
    /// [`CARDINALITY_OVERFLOW_KEY`](crate::CARDINALITY_OVERFLOW_KEY)).
    pub fn by_model(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(
            &self.models,
            move |sym| names.models.entry(sym),
            &names.overflow_key,
        )
    }

    /// Per provider name.
    pub fn by_provider(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(
            &self.providers,
            move |sym| names.providers.entry(sym),
            &names.overflow_key,
        )
    }

    /// Per agent id.
    pub fn by_agent(&self) -> impl Iterator<Item = (&'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        rows(
            &self.agents,
            move |sym| names.agents.entry(sym),
            &names.overflow_key,
        )
    }

    /// The rows of a breakdown with their key index, for a binding that
    /// caches names across readings: `Some(index)` is the index of a kept
    /// name ([`ModelKey::index`](crate::ModelKey::index)), in increasing
    /// order; `None`, last, is the overflow row.
    pub fn indexed_rows(
        &self,
        breakdown: Breakdown,
    ) -> impl Iterator<Item = (Option<u32>, &'a Arc<str>, ModelStats)> + '_ {
        let names = self.names;
        let rows = self.rows(breakdown);
        let overflow = (!rows.overflow.is_zero())
            .then(|| (None, &names.overflow_key, rows.overflow.to_model_stats()));
        rows.kept
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_zero())
            .map(move |(i, c)| {
                let i = i as u32;
                let name = match breakdown {
                    Breakdown::Model => &names.models.entry(i).0,
                    Breakdown::Provider => &names.providers.entry(i).0,
                    Breakdown::Agent => &names.agents.entry(i).0,
                };
                (Some(i), name, c.to_model_stats())
            })
            .chain(overflow)
    }

    /// The latency rows with their model key index (as [`StatsView::indexed_rows`]).
    pub fn indexed_latency(
        &self,
    ) -> impl Iterator<Item = (Option<u32>, &'a Arc<str>, &ModelLatency)> + '_ {
        let names = self.names;
        let overflow = (!self.latency_overflow.is_empty()).then_some((
            None,
            &names.overflow_key,
            &self.latency_overflow,
        ));
        self.latency
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(move |(i, l)| (Some(i as u32), &names.models.entry(i as u32).0, l))
            .chain(overflow)
    }

    /// The OpenTelemetry GenAI series with a request, in no particular
    /// order, the overflow series (attributes `None`) last.
    ///
    /// ```
    /// use iron_runtime_analytics::EventStore;
    ///
    /// let store = EventStore::new();
    /// store.record_llm_failed("gpt-4o", None, None, Some("timeout"), None);
    /// let series: Vec<_> = store.stats_view().series().collect();
    /// let names = series[0].attributes.as_ref().unwrap();
    /// assert_eq!((&*names.operation, &*names.provider, &*names.request_model), ("chat", "openai", "gpt-4o"));
    /// assert_eq!((names.response_model.as_deref(), names.error_type.as_deref()), (None, Some("timeout")));
    /// ```
    pub fn series(&self) -> impl Iterator<Item = SeriesStats> + '_ {
        let names = self.names;
        let overflow =
            (!self.series.overflow.is_empty()).then(|| self.series.overflow.to_stats(None));
        self.series
            .kept
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.is_empty())
            .map(move |(sym, row)| {
                let key = names.series.key(sym as u32);
                let model = |sym: u32| names.models.entry(sym).0.clone();
                let attributes = SeriesAttributes {
                    operation: names.labels.entry(key.operation).0.clone(),
                    provider: names.providers.entry(key.provider).0.clone(),
                    request_model: model(key.request_model),
                    response_model: (key.response_model != NONE).then(|| model(key.response_model)),
                    error_type: match key.error_type {
                        NONE => None,
                        UNNAMED_ERROR => Some(Arc::from(UNNAMED_ERROR_TYPE)),
                        code => Some(names.labels.entry(code).0.clone()),
                    },
                };
                row.to_stats(Some(attributes))
            })
            .chain(overflow)
    }

    fn rows(&self, breakdown: Breakdown) -> &Rows {
        match breakdown {
            Breakdown::Model => &self.models,
            Breakdown::Provider => &self.providers,
            Breakdown::Agent => &self.agents,
        }
    }

    /// Latency histograms of each model recorded with a latency.
    pub fn latency_by_model(&self) -> impl Iterator<Item = (&'a Arc<str>, &ModelLatency)> + '_ {
        let names = self.names;
        let overflow = (!self.latency_overflow.is_empty())
            .then_some((&names.overflow_key, &self.latency_overflow));
        self.latency
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(move |(sym, l)| (&names.models.entry(sym as u32).0, l))
            .chain(overflow)
    }
}

/// A map of rows, sized for `capacity` (an upper bound) up front. A kept
/// name equal to the overflow key shares its row: `merge` adds them up.
fn map_of<'a, V>(
    rows: impl Iterator<Item = (&'a Arc<str>, V)>,
    capacity: usize,
    merge: impl Fn(&mut V, &V),
) -> HashMap<Arc<str>, V, foldhash::fast::RandomState> {
    let mut map: HashMap<Arc<str>, V, _> =
        HashMap::with_capacity_and_hasher(capacity, Default::default());
    for (key, value) in rows {
        match map.get_mut(key) {
            Some(existing) => merge(existing, &value),
            None => {
                map.insert(key.clone(), value);
            }
        }
    }
    map
}

fn merge_stats(a: &mut ModelStats, b: &ModelStats) {
    let mut counters = Counters::from_model_stats(*a);
    counters.merge(&Counters::from_model_stats(*b));
    *a = counters.to_model_stats();
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
            total_cache_read_tokens: totals.cache_read_tokens,
            total_cache_write_tokens: totals.cache_write_tokens,
            total_reasoning_tokens: totals.reasoning_tokens,
            unpriced_requests: totals.unpriced_requests,
            by_model: map_of(view.by_model(), view.models.kept.len() + 1, merge_stats),
            by_provider: map_of(
                view.by_provider(),
                view.providers.kept.len() + 1,
                merge_stats,
            ),
            by_agent: map_of(view.by_agent(), view.agents.kept.len() + 1, merge_stats),
            latency_by_model: map_of(
                view.latency_by_model().map(|(k, l)| (k, *l)),
                view.latency.len() + 1,
                ModelLatency::merge,
            ),
        }
    }
}
