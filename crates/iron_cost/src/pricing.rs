//! Per-model prices, the table that finds them by model name, and exact
//! integer cost arithmetic.
//!
//! Prices are integers: micro-dollars (millionths of a US dollar) per million
//! tokens, so $30 per million tokens is `30_000_000`. A request's cost is one
//! exact integer sum over the parts of its [`TokenUsage`], floored once (see
//! [`ModelPricing::cost_micros_for`]), computed in 128-bit integers and
//! saturated to `u64::MAX`.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::CostError;
use crate::model_index::{ModelIndex, Seller};
use crate::{litellm, price_table};

pub use crate::model_pricing::{LongContextTier, ModelPricing, Rates, TOKENS_PER_PRICE_UNIT};
pub use crate::usage::{TokenUsage, UsageError};

/// The id the next loaded table gets; ids start at 1.
static NEXT_TABLE_ID: AtomicU64 = AtomicU64::new(1);

/// A table of model prices with fast lookup by model name.
///
/// Cloning is cheap (the table is shared behind an [`Arc`]), and the manager is
/// `Send + Sync`, so one table can serve every thread.
///
/// # Examples
///
/// ```
/// use iron_cost::pricing::PricingManager;
///
/// let pricing = PricingManager::new()?;
/// assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
/// assert_eq!(pricing.cost_micros("openai/gpt-4", 150, 50), Some(7_500));
/// assert_eq!(pricing.cost_micros("no-such-model", 150, 50), None);
/// # Ok::<(), iron_cost::CostError>(())
/// ```
#[derive(Clone)]
pub struct PricingManager {
    table: Arc<PriceTable>,
}

#[derive(Debug)]
struct PriceTable {
    id: u64,
    index: ModelIndex,
    checked_on: Box<str>,
}

/// The embedded table, parsed on first use and shared by later [`PricingManager::new`] calls.
static EMBEDDED: OnceLock<PricingManager> = OnceLock::new();

impl PricingManager {
    /// Loads the price table embedded in this crate (`data/prices.json`).
    ///
    /// The table is parsed once per process; later calls share it. See
    /// [`prices_checked_on`](Self::prices_checked_on) for how current it is.
    ///
    /// # Errors
    ///
    /// Returns a [`CostError`] if the embedded table is malformed, which the
    /// crate's own tests rule out for every released version.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let pricing = PricingManager::new()?;
    /// assert!(pricing.len() >= 40);
    /// let gpt4 = pricing.get("gpt-4").expect("gpt-4 is in the embedded table");
    /// assert_eq!(gpt4.input_micros_per_million_tokens(), 30_000_000);
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    pub fn new() -> Result<Self, CostError> {
        if let Some(embedded) = EMBEDDED.get() {
            return Ok(embedded.clone());
        }
        let parsed = price_table::parse(price_table::EMBEDDED_PRICE_TABLE)?;
        let manager = Self::build(
            parsed
                .models
                .into_iter()
                .map(|entry| (entry, Seller::Maker)),
            parsed.checked_on,
        );
        // Two threads may both parse on first use; either result is the same table.
        Ok(EMBEDDED.get_or_init(|| manager).clone())
    }

    /// Builds a table from your own entries; if a name repeats, the last entry wins.
    ///
    /// [`prices_checked_on`](Self::prices_checked_on) is empty for such a table.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::{ModelPricing, PricingManager};
    ///
    /// let pricing = PricingManager::from_entries([
    ///     ModelPricing::new("in-house-7b", 100_000, 200_000),
    ///     ModelPricing::new("in-house-70b", 900_000, 900_000),
    /// ]);
    /// assert_eq!(pricing.len(), 2);
    /// assert_eq!(pricing.cost_micros("in-house-7b", 1_000_000, 0), Some(100_000));
    /// ```
    #[must_use]
    pub fn from_entries(entries: impl IntoIterator<Item = ModelPricing>) -> Self {
        Self::build(
            entries.into_iter().map(|entry| (entry, Seller::Maker)),
            String::new(),
        )
    }

    /// Builds a table from the text of LiteLLM's `model_prices_and_context_window.json`.
    ///
    /// Prices in US dollars per token are converted once to micro-dollars per
    /// million tokens, rounded to the nearest integer. Read per entry:
    ///
    /// - `input_cost_per_token`, `output_cost_per_token` (both required: an
    ///   entry lacking either, or with a `null` one, is skipped, as are
    ///   `sample_spec` and entries that are not objects);
    /// - `cache_read_input_token_cost` (else DeepSeek's
    ///   `input_cost_per_token_cache_hit`), `cache_creation_input_token_cost`
    ///   (5-minute writes), `cache_creation_input_token_cost_above_1hr`;
    /// - a long-context tier from the `…_above_<N>k_tokens` variants of those
    ///   five fields (`input_cost_per_token_above_200k_tokens`,
    ///   `cache_creation_input_token_cost_above_1hr_above_200k_tokens`…),
    ///   threshold N × 1,000 tokens; a price the tier lacks is the base price,
    ///   as LiteLLM charges it. Where an entry lists several thresholds, the
    ///   lowest is read.
    ///
    /// Batch, flex and priority prices, and non-token prices, are ignored.
    ///
    /// Lookup: an entry's `litellm_provider` says who sells it. A bare name
    /// (`gemini-2.5-pro`) prefers the model maker's own entry
    /// (`gemini/gemini-2.5-pro`, provider `gemini`) over a reseller's, even
    /// one named exactly so (LiteLLM's `gemini-2.5-pro` is Vertex AI's); the
    /// full prefixed name (`vertex_ai/gemini-2.5-pro`) still finds the
    /// reseller's. The makers are the LiteLLM providers of the embedded table
    /// (`openai`, `anthropic`, `gemini`, `mistral`, `deepseek`, `xai`). When
    /// no maker's entry answers, a bare name falls back to an exact name, then
    /// to the prefixed entries sharing it, if they agree on every price.
    ///
    /// # Errors
    ///
    /// - [`CostError::InvalidJson`] if `text` is not JSON;
    /// - [`CostError::InvalidPriceTable`] if it is not a JSON object, or no
    ///   entry has both prices;
    /// - [`CostError::InvalidPrice`] if a read price is not a number, or is
    ///   negative or too large, or a tier threshold is too large, naming the
    ///   model and field.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::{PricingManager, TokenUsage};
    ///
    /// let text = r#"{
    ///     "sample_spec": { "input_cost_per_token": 0.0, "output_cost_per_token": 0.0 },
    ///     "gemini-2.5-pro": { "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    ///                         "litellm_provider": "vertex_ai-language-models", "mode": "chat" },
    ///     "vertex_ai/gemini-2.5-pro": { "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    ///                                   "litellm_provider": "vertex_ai-language-models" },
    ///     "gemini/gemini-2.5-pro": {
    ///         "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    ///         "cache_read_input_token_cost": 1.25e-07,
    ///         "input_cost_per_token_above_200k_tokens": 2.5e-06,
    ///         "output_cost_per_token_above_200k_tokens": 1.5e-05,
    ///         "litellm_provider": "gemini", "mode": "chat" },
    ///     "text-embedding-3-small": { "input_cost_per_token": 2e-08 }
    /// }"#;
    /// let pricing = PricingManager::from_litellm_json(text)?;
    /// assert_eq!(pricing.len(), 3);
    /// let pro = pricing.get("gemini-2.5-pro").expect("priced");
    /// assert_eq!(pro.model(), "gemini/gemini-2.5-pro");
    /// assert_eq!(pro.cache_read_micros_per_million_tokens(), Some(125_000));
    /// let tier = pro.long_context().expect("a tier above 200k");
    /// assert_eq!(tier.threshold_tokens(), 200_000);
    /// // Above 200k prompt tokens, the whole request is billed at $2.50 / $15.
    /// assert_eq!(pricing.cost_micros_for("gemini-2.5-pro", &TokenUsage::new(250_000, 1_000)), Some(640_000));
    /// let vertex = pricing.get("vertex_ai/gemini-2.5-pro").expect("priced");
    /// assert_eq!(vertex.model(), "vertex_ai/gemini-2.5-pro");
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    pub fn from_litellm_json(text: &str) -> Result<Self, CostError> {
        Ok(Self::build(litellm::parse(text)?, String::new()))
    }

    /// Reads LiteLLM's `model_prices_and_context_window.json` from `path`.
    ///
    /// # Errors
    ///
    /// [`CostError::Io`] if the file cannot be read, otherwise as
    /// [`from_litellm_json`](Self::from_litellm_json).
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    /// use iron_cost::CostError;
    ///
    /// let missing = PricingManager::from_litellm_file("/nonexistent/prices.json");
    /// assert!(matches!(missing, Err(CostError::Io { .. })));
    /// ```
    pub fn from_litellm_file(path: impl AsRef<Path>) -> Result<Self, CostError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CostError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_litellm_json(&text)
    }

    fn build(
        entries: impl IntoIterator<Item = (ModelPricing, Seller)>,
        checked_on: String,
    ) -> Self {
        Self {
            table: Arc::new(PriceTable {
                // Relaxed: the counter only hands out distinct numbers; no
                // other memory is published through it.
                id: NEXT_TABLE_ID.fetch_add(1, Ordering::Relaxed),
                index: ModelIndex::new(entries),
                checked_on: checked_on.into_boxed_str(),
            }),
        }
    }

    /// Finds a model's price: by exact name, then with a leading `provider/`
    /// removed (`openai/gpt-4` → `gpt-4`), then ignoring ASCII case.
    ///
    /// Returns `None` for a model the table does not know. An exact match does
    /// not allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let pricing = PricingManager::new()?;
    /// let opus = pricing.get("Anthropic/Claude-3-Opus-20240229").expect("known model");
    /// assert_eq!(opus.model(), "claude-3-opus-20240229");
    /// assert_eq!(opus.output_micros_per_million_tokens(), 75_000_000);
    /// assert!(pricing.get("gpt-17").is_none());
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    #[must_use]
    pub fn get(&self, model: &str) -> Option<&ModelPricing> {
        self.table.index.get(model)
    }

    /// The cost of a request in micro-dollars, or `None` for an unknown model.
    ///
    /// Same lookup as [`get`](Self::get), same arithmetic as
    /// [`ModelPricing::calculate_cost_micros`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let pricing = PricingManager::new()?;
    /// assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
    /// // Callers that must always record a number treat unknown models as free.
    /// let cost = pricing.cost_micros("my-fine-tune", 150, 50).unwrap_or(0);
    /// assert_eq!(cost, 0);
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    #[must_use]
    pub fn cost_micros(&self, model: &str, input_tokens: u64, output_tokens: u64) -> Option<u64> {
        self.get(model)
            .map(|pricing| pricing.calculate_cost_micros(input_tokens, output_tokens))
    }

    /// The exact cost of a request's usage in micro-dollars, or `None` for an
    /// unknown model.
    ///
    /// Same lookup as [`get`](Self::get), same arithmetic as
    /// [`ModelPricing::cost_micros_for`]: cache parts at their prices, the
    /// long-context tier above its threshold. Validate the usage first
    /// ([`TokenUsage::validate`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::{PricingManager, TokenUsage};
    ///
    /// let pricing = PricingManager::new()?;
    /// // gpt-4o: 19,681 prompt tokens of which 3,712 cached, 512 completion tokens.
    /// let usage = TokenUsage::new(19_681, 512).with_cache_read_tokens(3_712);
    /// usage.validate()?;
    /// // 15,969 × $2.50 + 3,712 × $1.25 + 512 × $10 per million tokens.
    /// assert_eq!(pricing.cost_micros_for("gpt-4o", &usage), Some(49_682));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn cost_micros_for(&self, model: &str, usage: &TokenUsage) -> Option<u64> {
        self.get(model)
            .map(|pricing| pricing.cost_micros_for(usage))
    }

    /// A number that identifies this loaded table within the process: every
    /// load ([`new`](Self::new) once per process, each
    /// [`from_litellm_json`](Self::from_litellm_json), each
    /// [`from_entries`](Self::from_entries)) gets a new one, and clones share
    /// it. Callers that cache prices per table key their cache with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::{ModelPricing, PricingManager};
    ///
    /// let embedded = PricingManager::new()?;
    /// assert_eq!(embedded.table_id(), PricingManager::new()?.table_id());
    /// assert_eq!(embedded.table_id(), embedded.clone().table_id());
    /// let custom = PricingManager::from_entries([ModelPricing::new("m", 1, 1)]);
    /// assert_ne!(custom.table_id(), embedded.table_id());
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    #[must_use]
    pub fn table_id(&self) -> u64 {
        self.table.id
    }

    /// How many models the table prices.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.index.entries().len()
    }

    /// Whether the table prices no model at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every model's price, in table order.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let pricing = PricingManager::new()?;
    /// let tiered = pricing.iter().filter(|p| p.long_context().is_some()).count();
    /// assert!(tiered > 0 && tiered < pricing.len());
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, ModelPricing> {
        self.table.index.entries().iter()
    }

    /// The date (`YYYY-MM-DD`) the embedded table was last generated from
    /// LiteLLM's price file (`litellm_version` in `data/prices.json` says which
    /// release); empty for tables built from LiteLLM or your own entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let checked_on = PricingManager::new()?.prices_checked_on().to_owned();
    /// assert_eq!(checked_on.len(), "2025-01-31".len());
    /// assert!(PricingManager::from_entries([]).prices_checked_on().is_empty());
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    #[must_use]
    pub fn prices_checked_on(&self) -> &str {
        &self.table.checked_on
    }
}

impl<'a> IntoIterator for &'a PricingManager {
    type Item = &'a ModelPricing;
    type IntoIter = std::slice::Iter<'a, ModelPricing>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for PricingManager {
    /// Summarises the table instead of printing every price.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PricingManager")
            .field("models", &self.len())
            .field("checked_on", &self.prices_checked_on())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_is_parsed_once_and_shared() {
        let first = PricingManager::new().expect("embedded table parses");
        let second = PricingManager::new().expect("embedded table parses");
        assert!(Arc::ptr_eq(&first.table, &second.table));
    }

    #[test]
    fn every_load_gets_its_own_table_id() {
        let text = r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#;
        let a = PricingManager::from_litellm_json(text).expect("valid");
        let b = PricingManager::from_litellm_json(text).expect("valid");
        assert_ne!(a.table_id(), b.table_id());
        assert_eq!(a.table_id(), a.clone().table_id());
        assert_ne!(a.table_id(), 0);
    }

    #[test]
    fn debug_summarises_the_table() {
        let pricing = PricingManager::from_entries([ModelPricing::new("m", 1, 2)]);
        let text = format!("{pricing:?}");
        assert!(text.contains("models: 1"), "{text}");
        assert!(!text.contains("ModelPricing"), "{text}");
    }
}
