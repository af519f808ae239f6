//! The cost of real usage shapes, each expectation worked out from the
//! providers' published per-token prices, and properties of the formula.

use iron_cost::{LongContextTier, ModelPricing, PricingManager, Rates, TokenUsage};
use proptest::prelude::*;

/// USD per million tokens, as written on a price sheet ("2.50") → micro-dollars per million tokens.
fn usd_per_mtok(price: &str) -> u64 {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    assert!(fraction.len() <= 6, "{price}: finer than a micro-dollar");
    let padded = format!("{fraction:0<6}");
    whole.parse::<u64>().expect("digits") * 1_000_000 + padded.parse::<u64>().expect("digits")
}

/// One price tier as a price sheet lists it (USD per million tokens).
struct Sheet {
    input: &'static str,
    output: &'static str,
    cache_read: Option<&'static str>,
    cache_write: Option<&'static str>,
    cache_write_1h: Option<&'static str>,
}

impl Sheet {
    fn rates(&self) -> Rates {
        Rates::from_prices(
            usd_per_mtok(self.input),
            usd_per_mtok(self.output),
            self.cache_read.map(usd_per_mtok),
            self.cache_write.map(usd_per_mtok),
            self.cache_write_1h.map(usd_per_mtok),
        )
    }
}

/// OpenAI, openai.com/api/pricing (and LiteLLM 1.110.2): gpt-4o.
const GPT_4O: Sheet = Sheet {
    input: "2.50",
    output: "10",
    cache_read: Some("1.25"),
    cache_write: None,
    cache_write_1h: None,
};

/// Anthropic, anthropic.com/pricing (and LiteLLM 1.110.2): Claude Sonnet 4.5, prompts up to 200k.
const SONNET_4_5: Sheet = Sheet {
    input: "3",
    output: "15",
    cache_read: Some("0.30"),
    cache_write: Some("3.75"),
    cache_write_1h: Some("6"),
};

/// Anthropic's long-context prices for Claude Sonnet 4 / 4.5 above 200k
/// prompt tokens (anthropic.com/pricing, "long context"; the same in
/// LiteLLM 1.110.2's bedrock and vertex_ai entries and in genai-prices 0.1.8).
const SONNET_4_LONG: Sheet = Sheet {
    input: "6",
    output: "22.50",
    cache_read: Some("0.60"),
    cache_write: Some("7.50"),
    cache_write_1h: Some("12"),
};

/// Google, ai.google.dev/gemini-api/docs/pricing (and LiteLLM 1.110.2):
/// Gemini 2.5 Pro, prompts up to 200k tokens…
const GEMINI_2_5_PRO: Sheet = Sheet {
    input: "1.25",
    output: "10",
    cache_read: Some("0.125"),
    cache_write: None,
    cache_write_1h: None,
};

/// …and above 200k.
const GEMINI_2_5_PRO_LONG: Sheet = Sheet {
    input: "2.50",
    output: "15",
    cache_read: Some("0.25"),
    cache_write: None,
    cache_write_1h: None,
};

/// The cost worked out by hand from a sheet: each part × its per-token price,
/// summed in exact millionths of a micro-dollar, floored once.
fn by_hand(sheet: &Sheet, uncached: u64, read: u64, write: u64, write_1h: u64, output: u64) -> u64 {
    let input = usd_per_mtok(sheet.input);
    let price = |cache: Option<&str>| cache.map_or(input, usd_per_mtok);
    let total = u128::from(uncached) * u128::from(input)
        + u128::from(read) * u128::from(price(sheet.cache_read))
        + u128::from(write) * u128::from(price(sheet.cache_write))
        + u128::from(write_1h) * u128::from(price(sheet.cache_write_1h))
        + u128::from(output) * u128::from(usd_per_mtok(sheet.output));
    u64::try_from(total / 1_000_000).expect("small")
}

fn sonnet_4_x() -> ModelPricing {
    ModelPricing::from_rates("claude-sonnet-4-x", SONNET_4_5.rates())
        .with_long_context(LongContextTier::new(200_000, SONNET_4_LONG.rates()))
}

fn gemini_2_5_pro() -> ModelPricing {
    ModelPricing::from_rates("gemini-2.5-pro", GEMINI_2_5_PRO.rates())
        .with_long_context(LongContextTier::new(200_000, GEMINI_2_5_PRO_LONG.rates()))
}

#[test]
fn the_published_prices_are_the_embedded_ones() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let rates = |model: &str| *pricing.get(model).expect("priced").rates();
    assert_eq!(rates("gpt-4o"), GPT_4O.rates());
    assert_eq!(rates("claude-sonnet-4-5"), SONNET_4_5.rates());
    assert_eq!(
        *pricing.get("gemini-2.5-pro").expect("priced"),
        gemini_2_5_pro()
    );
}

/// (case, pricing, usage, cost worked out by hand, the same from the sheet).
fn cases() -> Vec<(&'static str, ModelPricing, TokenUsage, u64, u64)> {
    let gpt_4o = ModelPricing::from_rates("gpt-4o", GPT_4O.rates());
    let sonnet = sonnet_4_x();
    let gemini = gemini_2_5_pro();
    vec![
        (
            // 15,969 × $2.50 + 3,712 × $1.25 + 512 × $10 per million = $0.0496825.
            "OpenAI chat, 19,681 prompt tokens of which 3,712 cached",
            gpt_4o.clone(),
            TokenUsage::new(19_681, 512).with_cache_read_tokens(3_712),
            49_682,
            by_hand(&GPT_4O, 15_969, 3_712, 0, 0, 512),
        ),
        (
            // Reasoning tokens are part of the output and cost the output price.
            "OpenAI responses with reasoning, no cache",
            gpt_4o,
            TokenUsage::new(1_000, 2_000).with_reasoning_tokens(1_500),
            22_500,
            by_hand(&GPT_4O, 1_000, 0, 0, 0, 2_000),
        ),
        (
            // 6 × $3 + 6,289 × $0.30 + 3,337 × $3.75 + 410 × $15 per million = $0.02056845.
            "Anthropic stream, 5-minute cache write and cache read",
            sonnet.clone(),
            TokenUsage::new(9_632, 410)
                .with_cache_read_tokens(6_289)
                .with_cache_write_tokens(3_337),
            20_568,
            by_hand(&SONNET_4_5, 6, 6_289, 3_337, 0, 410),
        ),
        (
            // 100 × $3 + 500 × $0.30 + 2,000 × $6 + 300 × $15 per million = $0.01695.
            "Anthropic, 1-hour cache write",
            sonnet.clone(),
            TokenUsage::new(2_600, 300)
                .with_cache_read_tokens(500)
                .with_cache_write_1h_tokens(2_000),
            16_950,
            by_hand(&SONNET_4_5, 100, 500, 0, 2_000, 300),
        ),
        (
            // 10 × $3 + 1,000 × $3.75 + 1,000 × $6 + 50 × $15 per million = $0.01053.
            "Anthropic, 5-minute and 1-hour writes in one request",
            sonnet.clone(),
            TokenUsage::new(2_010, 50)
                .with_cache_write_tokens(1_000)
                .with_cache_write_1h_tokens(1_000),
            10_530,
            by_hand(&SONNET_4_5, 10, 0, 1_000, 1_000, 50),
        ),
        (
            // 30,000 × $6 + 250,000 × $0.60 + 20,000 × $7.50 + 2,000 × $22.50 per million = $0.525.
            "Claude Sonnet 4.x above 200k prompt tokens: the whole request at long-context prices",
            sonnet.clone(),
            TokenUsage::new(300_000, 2_000)
                .with_cache_read_tokens(250_000)
                .with_cache_write_tokens(20_000),
            525_000,
            by_hand(&SONNET_4_LONG, 30_000, 250_000, 20_000, 0, 2_000),
        ),
        (
            // 200,000 × $3 + 1,000 × $15 per million = $0.615: the threshold itself is not above it.
            "Claude Sonnet 4.x at exactly 200k prompt tokens",
            sonnet,
            TokenUsage::new(200_000, 1_000),
            615_000,
            by_hand(&SONNET_4_5, 200_000, 0, 0, 0, 1_000),
        ),
        (
            // 250,000 × $2.50 + 1,000 × $15 per million = $0.64.
            "Gemini 2.5 Pro, 250,000 prompt tokens",
            gemini.clone(),
            TokenUsage::new(250_000, 1_000),
            640_000,
            by_hand(&GEMINI_2_5_PRO_LONG, 250_000, 0, 0, 0, 1_000),
        ),
        (
            // 150,000 × $2.50 + 100,000 × $0.25 + 1,000 × $15 per million = $0.415.
            "Gemini 2.5 Pro above 200k with cached tokens (they count towards the threshold)",
            gemini.clone(),
            TokenUsage::new(250_000, 1_000).with_cache_read_tokens(100_000),
            415_000,
            by_hand(&GEMINI_2_5_PRO_LONG, 150_000, 100_000, 0, 0, 1_000),
        ),
        (
            // 100,000 × $1.25 + 100,000 × $0.125 + 1,000 × $10 per million = $0.1475.
            "Gemini 2.5 Pro at 200k prompt tokens, half cached",
            gemini,
            TokenUsage::new(200_000, 1_000).with_cache_read_tokens(100_000),
            147_500,
            by_hand(&GEMINI_2_5_PRO, 100_000, 100_000, 0, 0, 1_000),
        ),
    ]
}

#[test]
fn real_usage_shapes_cost_what_the_price_sheets_say() {
    for (case, pricing, usage, worked_out, from_sheet) in cases() {
        usage.validate().expect("a valid usage");
        assert_eq!(worked_out, from_sheet, "{case}: the hand calculation");
        assert_eq!(pricing.cost_micros_for(&usage), worked_out, "{case}");
    }
}

#[test]
fn the_embedded_table_prices_the_three_quoted_shapes() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let anthropic = TokenUsage::new(6 + 6_289 + 3_337, 410)
        .with_cache_read_tokens(6_289)
        .with_cache_write_tokens(3_337);
    assert_eq!(
        pricing.cost_micros_for("claude-sonnet-4-5", &anthropic),
        Some(20_568)
    );
    let openai = TokenUsage::new(19_681, 512).with_cache_read_tokens(3_712);
    assert_eq!(pricing.cost_micros_for("gpt-4o", &openai), Some(49_682));
    let gemini = TokenUsage::new(250_000, 1_000);
    assert_eq!(
        pricing.cost_micros_for("gemini-2.5-pro", &gemini),
        Some(640_000)
    );
    // The totals-only call charges the tier too.
    assert_eq!(
        pricing.cost_micros("gemini-2.5-pro", 250_000, 1_000),
        Some(640_000)
    );
}

/// The formula with clamped parts in one exact sum of two u128 limbs.
fn reference(pricing: &ModelPricing, usage: &TokenUsage) -> u64 {
    let rates = pricing.rates_for(usage.input_tokens);
    let input = rates.input_micros_per_million_tokens();
    let read = usage.cache_read_tokens.min(usage.input_tokens);
    let write = usage.cache_write_tokens.min(usage.input_tokens - read);
    let write_1h = usage
        .cache_write_1h_tokens
        .min(usage.input_tokens - read - write);
    let terms = [
        (usage.input_tokens - read - write - write_1h, input),
        (
            read,
            rates
                .cache_read_micros_per_million_tokens()
                .unwrap_or(input),
        ),
        (
            write,
            rates
                .cache_write_micros_per_million_tokens()
                .unwrap_or(input),
        ),
        (
            write_1h,
            rates
                .cache_write_1h_micros_per_million_tokens()
                .unwrap_or(input),
        ),
        (
            usage.output_tokens,
            rates.output_micros_per_million_tokens(),
        ),
    ];
    let (mut high, mut low) = (0_u128, 0_u128);
    for (tokens, price) in terms {
        let (sum, carried) = low.overflowing_add(u128::from(tokens) * u128::from(price));
        low = sum;
        high += u128::from(carried);
    }
    if high > 0 {
        u64::MAX
    } else {
        u64::try_from(low / 1_000_000).unwrap_or(u64::MAX)
    }
}

fn price() -> impl Strategy<Value = u64> {
    prop_oneof![0..100_000_000_u64, any::<u64>()]
}

fn cache_price() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(price())
}

fn rates() -> impl Strategy<Value = Rates> {
    (
        price(),
        price(),
        cache_price(),
        cache_price(),
        cache_price(),
    )
        .prop_map(|(input, output, read, write, write_1h)| {
            let mut rates = Rates::new(input, output);
            if let Some(p) = read {
                rates = rates.with_cache_read(p);
            }
            if let Some(p) = write {
                rates = rates.with_cache_write(p);
            }
            if let Some(p) = write_1h {
                rates = rates.with_cache_write_1h(p);
            }
            rates
        })
}

fn pricing() -> impl Strategy<Value = ModelPricing> {
    (rates(), prop::option::of((any::<u64>(), rates()))).prop_map(|(base, tier)| {
        let pricing = ModelPricing::from_rates("m", base);
        match tier {
            Some((threshold, rates)) => {
                pricing.with_long_context(LongContextTier::new(threshold, rates))
            }
            None => pricing,
        }
    })
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![0..1_000_000_u64, any::<u64>(), Just(u64::MAX)]
}

/// Any usage, valid or not.
fn usage() -> impl Strategy<Value = TokenUsage> {
    (count(), count(), count(), count(), count(), count()).prop_map(
        |(input, output, read, write, write_1h, reasoning)| TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: read,
            cache_write_tokens: write,
            cache_write_1h_tokens: write_1h,
            reasoning_tokens: reasoning,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cost_is_the_exact_formula_for_any_usage_valid_or_not(pricing in pricing(), usage in usage()) {
        prop_assert_eq!(pricing.cost_micros_for(&usage), reference(&pricing, &usage));
    }

    #[test]
    fn validate_accepts_exactly_the_usages_whose_parts_fit(usage in usage()) {
        let cached = u128::from(usage.cache_read_tokens)
            + u128::from(usage.cache_write_tokens)
            + u128::from(usage.cache_write_1h_tokens);
        let fits = cached <= u128::from(usage.input_tokens) && usage.reasoning_tokens <= usage.output_tokens;
        prop_assert_eq!(usage.validate().is_ok(), fits);
    }

    /// More tokens never cost less: a larger output, more uncached prompt
    /// tokens, or more cached tokens of any kind. Holds within a tier, and
    /// across the threshold when the tier is at least as dear as the base, as
    /// every published tier is.
    #[test]
    fn cost_is_monotone_in_every_part(
        base in rates(),
        markup in (1..4_u64, 1..4_u64),
        threshold in 0..4_000_000_u64,
        parts in prop::array::uniform5(0..1_000_000_u64),
        extra in 0..1_000_000_u64,
        part in 0..5_usize,
    ) {
        let pricing = ModelPricing::from_rates("m", base)
            .with_long_context(LongContextTier::new(threshold, scaled(&base, markup.0, markup.1)));
        let usage = |[uncached, read, write, write_1h, output]: [u64; 5]| {
            let usage = TokenUsage::new(uncached + read + write + write_1h, output)
                .with_cache_read_tokens(read)
                .with_cache_write_tokens(write)
                .with_cache_write_1h_tokens(write_1h);
            assert_eq!(usage.validate(), Ok(()));
            usage
        };
        let mut more = parts;
        more[part] += extra;
        prop_assert!(pricing.cost_micros_for(&usage(more)) >= pricing.cost_micros_for(&usage(parts)));
    }
}

/// `base` with its input and cache prices × `input_factor` and its output price × `output_factor`.
fn scaled(base: &Rates, input_factor: u64, output_factor: u64) -> Rates {
    let up = |price: u64| price.saturating_mul(input_factor);
    Rates::from_prices(
        up(base.input_micros_per_million_tokens()),
        base.output_micros_per_million_tokens()
            .saturating_mul(output_factor),
        base.cache_read_micros_per_million_tokens().map(up),
        base.cache_write_micros_per_million_tokens().map(up),
        base.cache_write_1h_micros_per_million_tokens().map(up),
    )
}
