//! One model's prices (base rates, cache rates, a long-context tier) and the
//! exact integer cost of a request at those prices.

use crate::usage::TokenUsage;

/// Prices are quoted per this many tokens (one million).
pub const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

/// The per-token rates of one price tier, in micro-dollars per million tokens.
///
/// A cache rate the provider does not publish is `None`; the cost then
/// charges those tokens at this tier's input rate.
///
/// # Examples
///
/// ```
/// use iron_cost::Rates;
///
/// // gpt-4o: $2.50 in, $10 out, cached input $1.25 per million tokens.
/// let rates = Rates::new(2_500_000, 10_000_000).with_cache_read(1_250_000);
/// assert_eq!(rates.cache_read_micros_per_million_tokens(), Some(1_250_000));
/// assert_eq!(rates.cache_write_micros_per_million_tokens(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rates {
    input: u64,
    output: u64,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    cache_write_1h: Option<u64>,
}

impl Rates {
    /// Rates with an input and an output price and no cache prices.
    #[must_use]
    pub const fn new(
        input_micros_per_million_tokens: u64,
        output_micros_per_million_tokens: u64,
    ) -> Self {
        Self::from_prices(
            input_micros_per_million_tokens,
            output_micros_per_million_tokens,
            None,
            None,
            None,
        )
    }

    /// Rates with every price given at once; `None` for a cache price the
    /// provider does not publish.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::Rates;
    ///
    /// let sonnet = Rates::from_prices(3_000_000, 15_000_000, Some(300_000), Some(3_750_000), Some(6_000_000));
    /// assert_eq!(sonnet, Rates::new(3_000_000, 15_000_000)
    ///     .with_cache_read(300_000)
    ///     .with_cache_write(3_750_000)
    ///     .with_cache_write_1h(6_000_000));
    /// ```
    #[must_use]
    pub const fn from_prices(
        input_micros_per_million_tokens: u64,
        output_micros_per_million_tokens: u64,
        cache_read_micros_per_million_tokens: Option<u64>,
        cache_write_micros_per_million_tokens: Option<u64>,
        cache_write_1h_micros_per_million_tokens: Option<u64>,
    ) -> Self {
        Self {
            input: input_micros_per_million_tokens,
            output: output_micros_per_million_tokens,
            cache_read: cache_read_micros_per_million_tokens,
            cache_write: cache_write_micros_per_million_tokens,
            cache_write_1h: cache_write_1h_micros_per_million_tokens,
        }
    }

    /// Sets the price of prompt tokens read from the cache (micro-dollars per million tokens).
    #[must_use]
    pub const fn with_cache_read(mut self, micros_per_million_tokens: u64) -> Self {
        self.cache_read = Some(micros_per_million_tokens);
        self
    }

    /// Sets the price of prompt tokens written to a 5-minute cache.
    #[must_use]
    pub const fn with_cache_write(mut self, micros_per_million_tokens: u64) -> Self {
        self.cache_write = Some(micros_per_million_tokens);
        self
    }

    /// Sets the price of prompt tokens written to a 1-hour cache.
    #[must_use]
    pub const fn with_cache_write_1h(mut self, micros_per_million_tokens: u64) -> Self {
        self.cache_write_1h = Some(micros_per_million_tokens);
        self
    }

    /// Micro-dollars per million prompt tokens not read from or written to a cache.
    #[must_use]
    pub const fn input_micros_per_million_tokens(&self) -> u64 {
        self.input
    }

    /// Micro-dollars per million completion tokens (reasoning included).
    #[must_use]
    pub const fn output_micros_per_million_tokens(&self) -> u64 {
        self.output
    }

    /// Micro-dollars per million cache-read prompt tokens, if published.
    #[must_use]
    pub const fn cache_read_micros_per_million_tokens(&self) -> Option<u64> {
        self.cache_read
    }

    /// Micro-dollars per million prompt tokens written to a 5-minute cache, if published.
    #[must_use]
    pub const fn cache_write_micros_per_million_tokens(&self) -> Option<u64> {
        self.cache_write
    }

    /// Micro-dollars per million prompt tokens written to a 1-hour cache, if published.
    #[must_use]
    pub const fn cache_write_1h_micros_per_million_tokens(&self) -> Option<u64> {
        self.cache_write_1h
    }

    /// The exact cost of `usage` at these rates, floored once; a missing cache
    /// rate charges the input rate.
    fn cost_micros(&self, usage: &TokenUsage) -> u64 {
        let parts = usage.cached_parts();
        floor_cost_micros([
            (parts.uncached, self.input),
            (parts.cache_read, self.cache_read.unwrap_or(self.input)),
            (parts.cache_write, self.cache_write.unwrap_or(self.input)),
            (
                parts.cache_write_1h,
                self.cache_write_1h.unwrap_or(self.input),
            ),
            (usage.output_tokens, self.output),
        ])
    }
}

/// Higher rates that apply to a whole request once its prompt is longer than
/// a threshold (Gemini 2.5 Pro above 200k prompt tokens, GPT-5.4 above 272k…).
///
/// # Examples
///
/// ```
/// use iron_cost::{LongContextTier, Rates};
///
/// let tier = LongContextTier::new(200_000, Rates::new(2_500_000, 15_000_000));
/// assert_eq!(tier.threshold_tokens(), 200_000);
/// assert_eq!(tier.rates().output_micros_per_million_tokens(), 15_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LongContextTier {
    threshold_tokens: u64,
    rates: Rates,
}

impl LongContextTier {
    /// A tier whose `rates` apply when a request's `input_tokens` (all prompt
    /// tokens, cached ones included) is more than `threshold_tokens`.
    #[must_use]
    pub const fn new(threshold_tokens: u64, rates: Rates) -> Self {
        Self {
            threshold_tokens,
            rates,
        }
    }

    /// The tier applies to prompts of more than this many tokens.
    #[must_use]
    pub const fn threshold_tokens(&self) -> u64 {
        self.threshold_tokens
    }

    /// The rates of this tier.
    #[must_use]
    pub const fn rates(&self) -> &Rates {
        &self.rates
    }
}

/// The prices of one model, in micro-dollars per million tokens.
///
/// # Examples
///
/// ```
/// use iron_cost::{ModelPricing, TokenUsage};
///
/// // $30 in / $60 out per million tokens.
/// let gpt4 = ModelPricing::new("gpt-4", 30_000_000, 60_000_000);
/// assert_eq!(gpt4.model(), "gpt-4");
/// assert_eq!(gpt4.calculate_cost_micros(150, 50), 7_500);
/// assert_eq!(gpt4.cost_micros_for(&TokenUsage::new(150, 50)), 7_500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelPricing {
    model: Box<str>,
    rates: Rates,
    long_context: Option<LongContextTier>,
}

impl ModelPricing {
    /// Creates a price entry from micro-dollars per million prompt and
    /// completion tokens (USD per million tokens × 1,000,000), with no cache
    /// prices and no long-context tier.
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
        Self::from_rates(
            model,
            Rates::new(
                input_micros_per_million_tokens,
                output_micros_per_million_tokens,
            ),
        )
    }

    /// Creates a price entry from its base rates, cache prices included.
    #[must_use]
    pub fn from_rates(model: impl Into<String>, rates: Rates) -> Self {
        Self {
            model: model.into().into_boxed_str(),
            rates,
            long_context: None,
        }
    }

    /// Adds a long-context tier.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::{LongContextTier, ModelPricing, Rates};
    ///
    /// // gemini-2.5-pro: $1.25 / $10, and $2.50 / $15 above 200k prompt tokens.
    /// let pro = ModelPricing::new("gemini-2.5-pro", 1_250_000, 10_000_000)
    ///     .with_long_context(LongContextTier::new(200_000, Rates::new(2_500_000, 15_000_000)));
    /// assert_eq!(pro.calculate_cost_micros(200_000, 0), 250_000);
    /// assert_eq!(pro.calculate_cost_micros(200_001, 0), 500_002);
    /// ```
    #[must_use]
    pub const fn with_long_context(mut self, tier: LongContextTier) -> Self {
        self.long_context = Some(tier);
        self
    }

    /// The model name this price belongs to.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The base rates (prompts up to the long-context threshold, if any).
    #[must_use]
    pub const fn rates(&self) -> &Rates {
        &self.rates
    }

    /// The long-context tier, if the provider publishes one.
    #[must_use]
    pub const fn long_context(&self) -> Option<&LongContextTier> {
        self.long_context.as_ref()
    }

    /// The rates a request with `input_tokens` prompt tokens (cached ones
    /// included) is billed at: the long-context tier's when the prompt is
    /// longer than its threshold, the base rates otherwise.
    #[must_use]
    pub const fn rates_for(&self, input_tokens: u64) -> &Rates {
        match &self.long_context {
            Some(tier) if input_tokens > tier.threshold_tokens => &tier.rates,
            _ => &self.rates,
        }
    }

    /// Micro-dollars per million prompt tokens (base tier).
    #[must_use]
    pub const fn input_micros_per_million_tokens(&self) -> u64 {
        self.rates.input
    }

    /// Micro-dollars per million completion tokens (base tier).
    #[must_use]
    pub const fn output_micros_per_million_tokens(&self) -> u64 {
        self.rates.output
    }

    /// Micro-dollars per million cache-read prompt tokens (base tier), if published.
    #[must_use]
    pub const fn cache_read_micros_per_million_tokens(&self) -> Option<u64> {
        self.rates.cache_read
    }

    /// Micro-dollars per million 5-minute cache-write tokens (base tier), if published.
    #[must_use]
    pub const fn cache_write_micros_per_million_tokens(&self) -> Option<u64> {
        self.rates.cache_write
    }

    /// Micro-dollars per million 1-hour cache-write tokens (base tier), if published.
    #[must_use]
    pub const fn cache_write_1h_micros_per_million_tokens(&self) -> Option<u64> {
        self.rates.cache_write_1h
    }

    /// The cost in micro-dollars of a request with only totals (no cached tokens).
    ///
    /// The same as [`cost_micros_for`](Self::cost_micros_for) with
    /// `TokenUsage::new(input_tokens, output_tokens)`: the long-context tier
    /// applies when `input_tokens` is above its threshold.
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
        self.cost_micros_for(&TokenUsage::new(input_tokens, output_tokens))
    }

    /// The exact cost of a request in micro-dollars, rounded down once:
    ///
    /// ```text
    /// floor(( (input − cache_read − cache_write − cache_write_1h) × in
    ///       + cache_read × read + cache_write × write + cache_write_1h × write_1h
    ///       + output × out ) / 1_000_000)
    /// ```
    ///
    /// at the long-context tier's rates when `usage.input_tokens` is above its
    /// threshold (the whole request moves to the tier), a missing cache price
    /// charging the input price of the tier in use. The sum is taken in 128
    /// bits and saturates at `u64::MAX`, so no usage overflows or panics.
    ///
    /// `usage` should be valid ([`TokenUsage::validate`]); if its cached
    /// parts exceed `input_tokens`, they are clamped in order (read, 5-minute
    /// write, 1-hour write) to what is left of `input_tokens`, so an invalid
    /// usage costs no more than the same prompt with fewer cached tokens
    /// counted, and never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use iron_cost::{ModelPricing, Rates, TokenUsage};
    ///
    /// // claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 5-minute cache write.
    /// let sonnet = ModelPricing::from_rates(
    ///     "claude-sonnet-4-5",
    ///     Rates::new(3_000_000, 15_000_000).with_cache_read(300_000).with_cache_write(3_750_000),
    /// );
    /// let usage = TokenUsage::new(9_632, 410).with_cache_read_tokens(6_289).with_cache_write_tokens(3_337);
    /// // (6 × 3 + 6,289 × 0.30 + 3,337 × 3.75 + 410 × 15) micro-dollars = 20,568.45.
    /// assert_eq!(sonnet.cost_micros_for(&usage), 20_568);
    /// ```
    #[must_use]
    pub fn cost_micros_for(&self, usage: &TokenUsage) -> u64 {
        self.rates_for(usage.input_tokens).cost_micros(usage)
    }

    /// Whether two entries charge the same for every usage (names aside).
    pub(crate) fn same_prices(&self, other: &Self) -> bool {
        self.rates == other.rates && self.long_context == other.long_context
    }
}

/// `floor(Σ tokens × price / 1e6)`, exact, saturated to `u64::MAX`.
fn floor_cost_micros(terms: [(u64, u64); 5]) -> u64 {
    // Realistic counts and prices fit in u64, where dividing by the constant
    // is a multiply and a shift; the u128 path calls a division routine.
    let fast = terms.iter().try_fold(0_u64, |sum, &(tokens, price)| {
        tokens
            .checked_mul(price)
            .and_then(|product| sum.checked_add(product))
    });
    if let Some(sum) = fast {
        return sum / TOKENS_PER_PRICE_UNIT;
    }
    const UNIT: u128 = TOKENS_PER_PRICE_UNIT as u128;
    // Each u64 × u64 product fits in u128, but a sum of five may not: add the
    // quotients (each below 2^128 / 1e6, so five of them fit) and carry the
    // remainders (each below 1e6).
    let (whole, carry) = terms
        .iter()
        .fold((0_u128, 0_u128), |(whole, carry), &(tokens, price)| {
            let product = u128::from(tokens) * u128::from(price);
            (whole + product / UNIT, carry + product % UNIT)
        });
    u64::try_from(whole + carry / UNIT).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula with one big-integer sum: two u128 limbs, so nothing overflows.
    fn reference(terms: [(u64, u64); 5]) -> u64 {
        let (mut high, mut low) = (0_u128, 0_u128);
        for (tokens, price) in terms {
            let product = u128::from(tokens) * u128::from(price);
            let (sum, overflow) = low.overflowing_add(product);
            low = sum;
            high += u128::from(overflow);
        }
        if high > 0 {
            return u64::MAX;
        }
        u64::try_from(low / 1_000_000).unwrap_or(u64::MAX)
    }

    #[test]
    fn cost_matches_the_reference_at_the_edges() {
        let values = [0, 1, 999_999, 1_000_001, u64::MAX / 2, u64::MAX];
        for &a in &values {
            for &b in &values {
                for &c in &values {
                    for &d in &values {
                        let terms = [(a, b), (c, d), (a, d), (c, b), (b, a)];
                        assert_eq!(
                            floor_cost_micros(terms),
                            reference(terms),
                            "{a} {b} {c} {d}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn remainders_from_every_part_carry_into_the_result() {
        // 5 × 0.6 micro-dollars = 3, not 5 × 0.
        assert_eq!(floor_cost_micros([(1, 600_000); 5]), 3);
        assert_eq!(floor_cost_micros([(1, 199_999); 5]), 0);
    }

    #[test]
    fn the_long_context_tier_starts_after_its_threshold() {
        let pricing = ModelPricing::new("m", 1_000_000, 2_000_000)
            .with_long_context(LongContextTier::new(10, Rates::new(3_000_000, 4_000_000)));
        assert_eq!(pricing.rates_for(10), pricing.rates());
        assert_eq!(
            pricing.rates_for(11).input_micros_per_million_tokens(),
            3_000_000
        );
        assert_eq!(pricing.calculate_cost_micros(10, 1), 10 + 2);
        assert_eq!(pricing.calculate_cost_micros(11, 1), 33 + 4);
    }

    #[test]
    fn missing_cache_prices_charge_the_input_price_of_the_tier_in_use() {
        let pricing = ModelPricing::from_rates("m", Rates::new(1_000_000, 0).with_cache_read(0))
            .with_long_context(LongContextTier::new(10, Rates::new(5_000_000, 0)));
        let cached = |input| {
            TokenUsage::new(input, 0)
                .with_cache_read_tokens(4)
                .with_cache_write_tokens(2)
                .with_cache_write_1h_tokens(1)
        };
        // Base: 3 uncached + 0 (read is free) + 2 + 1 at the input price.
        assert_eq!(pricing.cost_micros_for(&cached(10)), 6);
        // Tier: every part at the tier's input price, the base's free read too.
        assert_eq!(pricing.cost_micros_for(&cached(11)), 55);
    }

    #[test]
    fn invalid_usage_is_clamped_not_a_panic() {
        let pricing = ModelPricing::from_rates(
            "m",
            Rates::new(10_000_000, 0)
                .with_cache_read(1_000_000)
                .with_cache_write(20_000_000),
        );
        let invalid = TokenUsage::new(3, 0)
            .with_cache_read_tokens(2)
            .with_cache_write_tokens(u64::MAX)
            .with_cache_write_1h_tokens(u64::MAX);
        // 2 read + 1 written (what is left of 3).
        assert_eq!(pricing.cost_micros_for(&invalid), 2 + 20);
    }
}
