//! [`StoreConfig`]: a store's capacity and cardinality limit.

use super::{StoreError, DEFAULT_CAPACITY, MAX_CAPACITY};

/// Default number of distinct names each stats breakdown (model, provider,
/// agent) keeps: 2,000.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2_000;
/// Largest accepted cardinality limit.
pub const MAX_CARDINALITY_LIMIT: usize = 1_000_000;
/// The longest name accepted (model, provider, agent id, provider id, error
/// code), in characters: names are stats keys and labels, not free text.
pub const MAX_NAME_CHARS: usize = 256;

/// How to build an [`EventStore`](super::EventStore): the outbox's capacity
/// and the cardinality limit of its statistics.
///
/// The limit bounds memory whatever names callers send (model names often
/// come straight from a request body): each breakdown keeps its first
/// `cardinality_limit` names; requests of any further name are summed in one
/// row keyed [`CARDINALITY_OVERFLOW_KEY`](crate::CARDINALITY_OVERFLOW_KEY),
/// while their events keep their real names for delivery (held only while
/// buffered). Provider ids and error codes are kept up to the same limit.
///
/// ```
/// use iron_runtime_analytics::{EventStore, StoreConfig};
///
/// let config = StoreConfig::new().with_capacity(50_000).with_cardinality_limit(500);
/// let store = EventStore::with_config(config).unwrap();
/// assert_eq!((store.capacity(), store.cardinality_limit()), (50_000, 500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    capacity: usize,
    cardinality_limit: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreConfig {
    /// [`DEFAULT_CAPACITY`] events and [`DEFAULT_CARDINALITY_LIMIT`] names per breakdown.
    pub const fn new() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
        }
    }

    /// The most events the outbox holds (1 to [`MAX_CAPACITY`]).
    #[must_use]
    pub const fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The most distinct names per stats breakdown (1 to [`MAX_CARDINALITY_LIMIT`]).
    #[must_use]
    pub const fn with_cardinality_limit(mut self, cardinality_limit: usize) -> Self {
        self.cardinality_limit = cardinality_limit;
        self
    }

    /// The capacity.
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cardinality limit.
    pub const fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }

    /// Checks both settings.
    ///
    /// # Errors
    /// [`StoreError::InvalidCapacity`] or [`StoreError::InvalidCardinalityLimit`].
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(StoreError::InvalidCapacity(self.capacity));
        }
        if self.cardinality_limit == 0 || self.cardinality_limit > MAX_CARDINALITY_LIMIT {
            return Err(StoreError::InvalidCardinalityLimit(self.cardinality_limit));
        }
        Ok(())
    }
}

/// How many names a store holds (see [`EventStore::name_counts`](super::EventStore::name_counts)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameCounts {
    /// Kept model names.
    pub models: usize,
    /// Kept provider names (the built-in ones included).
    pub providers: usize,
    /// Kept agent ids.
    pub agents: usize,
    /// Kept provider ids, error codes and operation names (the well-known
    /// operations included).
    pub labels: usize,
    /// Names past a limit, held while buffered events use them.
    pub transient: usize,
}
