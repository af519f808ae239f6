//! Per-model prices and exact integer cost arithmetic.
//!
//! Prices are integers: micro-dollars (millionths of a US dollar) per million
//! tokens, so $30 per million tokens is `30_000_000`. A request's cost is
//! `floor((input_tokens * input_price + output_tokens * output_price) / 1_000_000)`
//! micro-dollars, computed in 128-bit integers and saturated to `u64::MAX`.

pub use crate::usage::{TokenUsage, UsageError};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::error::CostError;
use crate::model_index::ModelIndex;
use crate::{litellm, price_table};

/// Prices are quoted per this many tokens (one million).
pub const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

/// The price of one model, in micro-dollars per million tokens.
///
/// # Examples
///
/// ```
/// use iron_cost::pricing::ModelPricing;
///
/// // $30 in / $60 out per million tokens.
/// let gpt4 = ModelPricing::new("gpt-4", 30_000_000, 60_000_000);
/// assert_eq!(gpt4.model(), "gpt-4");
/// assert_eq!(gpt4.calculate_cost_micros(150, 50), 7_500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelPricing {
    model: Box<str>,
    input_micros_per_million_tokens: u64,
    output_micros_per_million_tokens: u64,
}

impl ModelPricing {
    /// Creates a price entry from micro-dollars per million prompt and
    /// completion tokens (USD per million tokens × 1,000,000).
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::ModelPricing;
    ///
    /// // $0.15 in / $0.60 out per million tokens.
    /// let mini = ModelPricing::new("gpt-4o-mini", 150_000, 600_000);
    /// assert_eq!(mini.input_micros_per_million_tokens(), 150_000);
    /// ```
    #[must_use]
    pub fn new(
        model: impl Into<String>,
        input_micros_per_million_tokens: u64,
        output_micros_per_million_tokens: u64,
    ) -> Self {
        Self {
            model: model.into().into_boxed_str(),
            input_micros_per_million_tokens,
            output_micros_per_million_tokens,
        }
    }

    /// The model name this price belongs to.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Micro-dollars per million prompt (input) tokens.
    #[must_use]
    pub fn input_micros_per_million_tokens(&self) -> u64 {
        self.input_micros_per_million_tokens
    }

    /// Micro-dollars per million completion (output) tokens.
    #[must_use]
    pub fn output_micros_per_million_tokens(&self) -> u64 {
        self.output_micros_per_million_tokens
    }

    /// The cost of a request in micro-dollars, rounded down.
    ///
    /// Exact for every pair of `u64` token counts: the products are taken in
    /// 128 bits and a result above `u64::MAX` saturates to `u64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::ModelPricing;
    ///
    /// let opus = ModelPricing::new("claude-3-opus-20240229", 15_000_000, 75_000_000);
    /// // 1,000 prompt tokens at $15/M plus 500 completion tokens at $75/M = $0.0525.
    /// assert_eq!(opus.calculate_cost_micros(1_000, 500), 52_500);
    /// // Fractions of a micro-dollar are dropped, never rounded up.
    /// assert_eq!(opus.calculate_cost_micros(1, 0), 15);
    /// assert_eq!(opus.calculate_cost_micros(u64::MAX, u64::MAX), u64::MAX);
    /// ```
    #[must_use]
    pub fn calculate_cost_micros(&self, input_tokens: u64, output_tokens: u64) -> u64 {
        floor_cost_micros(
            input_tokens,
            self.input_micros_per_million_tokens,
            output_tokens,
            self.output_micros_per_million_tokens,
        )
    }
}

/// `floor((input_tokens * input_price + output_tokens * output_price) / 1e6)`,
/// saturated to `u64::MAX`.
fn floor_cost_micros(
    input_tokens: u64,
    input_price: u64,
    output_tokens: u64,
    output_price: u64,
) -> u64 {
    // Realistic counts and prices fit in u64, where dividing by the constant
    // is a multiply and a shift; the u128 path calls a division routine.
    if let (Some(input), Some(output)) = (
        input_tokens.checked_mul(input_price),
        output_tokens.checked_mul(output_price),
    ) {
        if let Some(sum) = input.checked_add(output) {
            return sum / TOKENS_PER_PRICE_UNIT;
        }
    }
    const UNIT: u128 = TOKENS_PER_PRICE_UNIT as u128;
    // A u64 × u64 product always fits in u128, but the sum of two may not, so
    // divide each product first and carry the two remainders (each < UNIT).
    let input = u128::from(input_tokens) * u128::from(input_price);
    let output = u128::from(output_tokens) * u128::from(output_price);
    let whole = input / UNIT + output / UNIT + (input % UNIT + output % UNIT) / UNIT;
    u64::try_from(whole).unwrap_or(u64::MAX)
}

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
        let manager = Self::build(parsed.models, parsed.checked_on);
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
        Self::build(entries, String::new())
    }

    /// Builds a table from the text of LiteLLM's `model_prices_and_context_window.json`.
    ///
    /// Each entry's `input_cost_per_token` and `output_cost_per_token` (US
    /// dollars per token) are converted once to micro-dollars per million
    /// tokens, rounded to the nearest integer. The `sample_spec` entry, entries
    /// that are not objects, and entries lacking either price (or with a `null`
    /// price) are skipped. A model named with a provider prefix, such as
    /// `mistral/codestral-latest`, can also be found by its bare name, unless
    /// other prefixed entries share that bare name at a different price (LiteLLM
    /// lists `azure/…` and `mistral/…` copies of some models): then only the
    /// prefixed names match.
    ///
    /// # Errors
    ///
    /// - [`CostError::InvalidJson`] if `text` is not JSON;
    /// - [`CostError::InvalidPriceTable`] if it is not a JSON object, or no
    ///   entry has both prices;
    /// - [`CostError::InvalidPrice`] if a used price is not a number, or is
    ///   negative or too large, naming the model and field.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::pricing::PricingManager;
    ///
    /// let text = r#"{
    ///     "sample_spec": { "input_cost_per_token": 0.0, "output_cost_per_token": 0.0 },
    ///     "gpt-4": { "input_cost_per_token": 3e-05, "output_cost_per_token": 6e-05,
    ///                "litellm_provider": "openai", "mode": "chat" },
    ///     "text-embedding-3-small": { "input_cost_per_token": 2e-08 }
    /// }"#;
    /// let pricing = PricingManager::from_litellm_json(text)?;
    /// assert_eq!(pricing.len(), 1);
    /// assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
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

    fn build(entries: impl IntoIterator<Item = ModelPricing>, checked_on: String) -> Self {
        Self {
            table: Arc::new(PriceTable {
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

    /// Identifies the loaded table, for callers that cache prices per table:
    /// clones of one manager share it; two tables alive at once never do.
    #[must_use]
    pub fn table_id(&self) -> u64 {
        Arc::as_ptr(&self.table) as usize as u64
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
    /// let cheapest = pricing
    ///     .iter()
    ///     .min_by_key(|p| p.input_micros_per_million_tokens())
    ///     .expect("the embedded table is not empty");
    /// assert!(cheapest.input_micros_per_million_tokens() > 0);
    /// # Ok::<(), iron_cost::CostError>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, ModelPricing> {
        self.table.index.entries().iter()
    }

    /// The date (`YYYY-MM-DD`) at which the embedded prices were the providers'
    /// published prices; empty for tables built from LiteLLM or your own entries.
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

    /// The formula as the data file states it, with one u128 sum.
    fn reference(
        input_tokens: u64,
        input_price: u64,
        output_tokens: u64,
        output_price: u64,
    ) -> u64 {
        let input = u128::from(input_tokens) * u128::from(input_price);
        let output = u128::from(output_tokens) * u128::from(output_price);
        input.checked_add(output).map_or(u64::MAX, |sum| {
            u64::try_from(sum / 1_000_000).unwrap_or(u64::MAX)
        })
    }

    #[test]
    fn cost_matches_the_reference_at_the_edges() {
        let values = [
            0,
            1,
            999_999,
            1_000_000,
            1_000_001,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &a in &values {
            for &b in &values {
                for &c in &values {
                    for &d in &values {
                        assert_eq!(
                            floor_cost_micros(a, b, c, d),
                            reference(a, b, c, d),
                            "{a} {b} {c} {d}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn remainders_from_both_sides_carry_into_the_result() {
        // 0.6 + 0.6 micro-dollars = 1.2, so the floor is 1, not 0 + 0.
        assert_eq!(floor_cost_micros(1, 600_000, 1, 600_000), 1);
        assert_eq!(floor_cost_micros(1, 400_000, 1, 500_000), 0);
    }

    #[test]
    fn anchor_costs() {
        let gpt4 = ModelPricing::new("gpt-4", 30_000_000, 60_000_000);
        assert_eq!(gpt4.calculate_cost_micros(150, 50), 7_500);
        assert_eq!(gpt4.calculate_cost_micros(0, 0), 0);
        assert_eq!(gpt4.calculate_cost_micros(1_000_000, 1_000_000), 90_000_000);
    }

    #[test]
    fn embedded_table_is_parsed_once_and_shared() {
        let first = PricingManager::new().expect("embedded table parses");
        let second = PricingManager::new().expect("embedded table parses");
        assert!(Arc::ptr_eq(&first.table, &second.table));
    }

    #[test]
    fn debug_summarises_the_table() {
        let pricing = PricingManager::from_entries([ModelPricing::new("m", 1, 2)]);
        let text = format!("{pricing:?}");
        assert!(text.contains("models: 1"), "{text}");
        assert!(!text.contains("ModelPricing"), "{text}");
    }
}
