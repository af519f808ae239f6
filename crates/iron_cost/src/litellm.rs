//! Reading LiteLLM's `model_prices_and_context_window.json`.
//!
//! That file is one JSON object: model name → entry, where an entry's prices
//! are US dollars per token as floats (`3e-05` = $30 per million tokens) and
//! `litellm_provider` names who sells the model. The fields read are listed
//! on [`PricingManager::from_litellm_json`](crate::PricingManager::from_litellm_json);
//! every other field is ignored.

use serde_json::{Map, Number, Value};

use crate::error::CostError;
use crate::model_index::Seller;
use crate::price_table;
use crate::pricing::{LongContextTier, ModelPricing, Rates};

/// The key of LiteLLM's documentation entry, which describes the fields
/// rather than pricing a model.
const SAMPLE_SPEC_KEY: &str = "sample_spec";

/// US dollars per prompt token.
const INPUT_PRICE_FIELD: &str = "input_cost_per_token";

/// US dollars per completion token.
const OUTPUT_PRICE_FIELD: &str = "output_cost_per_token";

/// US dollars per prompt token read from the cache.
const CACHE_READ_PRICE_FIELD: &str = "cache_read_input_token_cost";

/// DeepSeek's older name for the cache-read price, read when the other is absent.
const CACHE_HIT_PRICE_FIELD: &str = "input_cost_per_token_cache_hit";

/// US dollars per prompt token written to a 5-minute cache.
const CACHE_WRITE_PRICE_FIELD: &str = "cache_creation_input_token_cost";

/// US dollars per prompt token written to a 1-hour cache.
const CACHE_WRITE_1H_PRICE_FIELD: &str = "cache_creation_input_token_cost_above_1hr";

/// The fields that have `…_above_<N>k_tokens` long-context variants.
const TIERED_FIELDS: [&str; 5] = [
    INPUT_PRICE_FIELD,
    OUTPUT_PRICE_FIELD,
    CACHE_READ_PRICE_FIELD,
    CACHE_WRITE_PRICE_FIELD,
    CACHE_WRITE_1H_PRICE_FIELD,
];

/// The provider field: who sells the model.
const PROVIDER_FIELD: &str = "litellm_provider";

/// USD per token → micro-dollars per million tokens: × 1e6 micro-dollars per
/// dollar × 1e6 tokens per price unit.
const MICROS_PER_MTOK_PER_USD_PER_TOKEN: f64 = 1e12;

/// 2^64, the first float that does not fit in a `u64`.
const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

/// Parses the file's text into price entries, in the document's key order
/// (sorted), each with who sells it.
pub(crate) fn parse(text: &str) -> Result<Vec<(ModelPricing, Seller)>, CostError> {
    let document: Value =
        serde_json::from_str(text).map_err(|error| CostError::from_json(&error))?;
    let Value::Object(models) = document else {
        return Err(CostError::InvalidPriceTable {
            reason: format!(
                "expected a JSON object mapping model names to price entries, found {}; \
                 is this LiteLLM's model_prices_and_context_window.json?",
                describe(&document)
            ),
        });
    };

    let makers = price_table::litellm_makers();
    let mut prices = Vec::with_capacity(models.len());
    for (model, entry) in &models {
        if model == SAMPLE_SPEC_KEY {
            continue;
        }
        let Value::Object(fields) = entry else {
            continue;
        };
        if let Some(pricing) = read_entry(model, fields)? {
            let seller = match fields.get(PROVIDER_FIELD).and_then(Value::as_str) {
                Some(provider) if makers.iter().any(|maker| **maker == *provider) => Seller::Maker,
                _ => Seller::Reseller,
            };
            prices.push((pricing, seller));
        }
    }

    if prices.is_empty() {
        return Err(CostError::InvalidPriceTable {
            reason: format!(
                "none of its {} entries has both `{INPUT_PRICE_FIELD}` and `{OUTPUT_PRICE_FIELD}`; \
                 is this LiteLLM's model_prices_and_context_window.json?",
                models.len()
            ),
        });
    }
    Ok(prices)
}

/// One entry's prices, or `None` if it lacks an input or an output price.
fn read_entry(model: &str, fields: &Map<String, Value>) -> Result<Option<ModelPricing>, CostError> {
    let (Some(input), Some(output)) = (
        price_field(fields, INPUT_PRICE_FIELD),
        price_field(fields, OUTPUT_PRICE_FIELD),
    ) else {
        return Ok(None);
    };
    let read = |field: &str| -> Result<Option<u64>, CostError> {
        price_field(fields, field)
            .map(|value| usd_per_token_to_micros_per_mtok(model, field, value))
            .transpose()
    };
    let base = Rates::from_prices(
        usd_per_token_to_micros_per_mtok(model, INPUT_PRICE_FIELD, input)?,
        usd_per_token_to_micros_per_mtok(model, OUTPUT_PRICE_FIELD, output)?,
        match read(CACHE_READ_PRICE_FIELD)? {
            Some(price) => Some(price),
            None => read(CACHE_HIT_PRICE_FIELD)?,
        },
        read(CACHE_WRITE_PRICE_FIELD)?,
        read(CACHE_WRITE_1H_PRICE_FIELD)?,
    );
    let pricing = ModelPricing::from_rates(model, base);
    let Some(threshold) = lowest_threshold(model, fields)? else {
        return Ok(Some(pricing));
    };
    let above = |field: &str| read(&format!("{field}_above_{}k_tokens", threshold.thousands));
    // A price the tier lacks is the base price, as LiteLLM charges it.
    let tier = Rates::from_prices(
        above(INPUT_PRICE_FIELD)?.unwrap_or(base.input_micros_per_million_tokens()),
        above(OUTPUT_PRICE_FIELD)?.unwrap_or(base.output_micros_per_million_tokens()),
        above(CACHE_READ_PRICE_FIELD)?.or(base.cache_read_micros_per_million_tokens()),
        above(CACHE_WRITE_PRICE_FIELD)?.or(base.cache_write_micros_per_million_tokens()),
        above(CACHE_WRITE_1H_PRICE_FIELD)?.or(base.cache_write_1h_micros_per_million_tokens()),
    );
    Ok(Some(pricing.with_long_context(LongContextTier::new(
        threshold.tokens,
        tier,
    ))))
}

/// A long-context threshold as written in field names (`200` in
/// `…_above_200k_tokens`) and in tokens.
#[derive(Clone, Copy)]
struct Threshold {
    thousands: u64,
    tokens: u64,
}

/// The lowest `N` of the entry's non-null `<tiered field>_above_<N>k_tokens` fields.
fn lowest_threshold(
    model: &str,
    fields: &Map<String, Value>,
) -> Result<Option<Threshold>, CostError> {
    let mut lowest: Option<Threshold> = None;
    for (name, value) in fields {
        if value.is_null() {
            continue;
        }
        let Some((field, digits)) = name
            .strip_suffix("k_tokens")
            .and_then(|rest| rest.rsplit_once("_above_"))
        else {
            continue;
        };
        if !TIERED_FIELDS.contains(&field)
            || digits.is_empty()
            || !digits.bytes().all(|byte| byte.is_ascii_digit())
        {
            continue;
        }
        let threshold = digits
            .parse::<u64>()
            .ok()
            .and_then(|thousands| {
                thousands
                    .checked_mul(1_000)
                    .map(|tokens| Threshold { thousands, tokens })
            })
            .ok_or_else(|| CostError::InvalidPrice {
                model: model.to_owned(),
                field: name.clone(),
                reason: format!("the threshold {digits}k tokens is too large"),
            })?;
        if lowest.is_none_or(|lowest| threshold.tokens < lowest.tokens) {
            lowest = Some(threshold);
        }
    }
    Ok(lowest)
}

/// A price field's value, treating `null` like a missing field.
fn price_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|value| !value.is_null())
}

/// Converts one price, rejecting anything that is not a finite, non-negative
/// number small enough for a `u64`.
fn usd_per_token_to_micros_per_mtok(
    model: &str,
    field: &str,
    value: &Value,
) -> Result<u64, CostError> {
    let invalid = |reason: String| CostError::InvalidPrice {
        model: model.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let Value::Number(number) = value else {
        return Err(invalid(format!(
            "expected a number of US dollars per token (like 3e-05), found {}",
            describe(value)
        )));
    };
    let usd_per_token =
        as_finite_f64(number).ok_or_else(|| invalid(format!("{number} is not a finite number")))?;
    if usd_per_token < 0.0 {
        return Err(invalid(format!(
            "is negative ({number}); a price must be zero or more"
        )));
    }
    let micros = (usd_per_token * MICROS_PER_MTOK_PER_USD_PER_TOKEN).round();
    if micros >= U64_LIMIT {
        return Err(invalid(format!(
            "{number} US dollars per token is too large (at most about 1.8e7 fits \
             in micro-dollars per million tokens); is the unit right?"
        )));
    }
    // Finite, non-negative, integral and below 2^64: the cast is exact.
    Ok(micros as u64)
}

fn as_finite_f64(number: &Number) -> Option<f64> {
    number.as_f64().filter(|value| value.is_finite())
}

/// "a string", "an array"… for error messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(value: Value) -> Result<u64, CostError> {
        usd_per_token_to_micros_per_mtok("m", INPUT_PRICE_FIELD, &value)
    }

    #[test]
    fn converts_usd_per_token_to_micros_per_million_tokens() {
        assert_eq!(micros(serde_json::json!(3e-05)).ok(), Some(30_000_000));
        assert_eq!(micros(serde_json::json!(6e-05)).ok(), Some(60_000_000));
        assert_eq!(micros(serde_json::json!(1.5e-07)).ok(), Some(150_000));
        assert_eq!(micros(serde_json::json!(3.75e-08)).ok(), Some(37_500));
        assert_eq!(micros(serde_json::json!(0)).ok(), Some(0));
        assert_eq!(micros(serde_json::json!(-0.0)).ok(), Some(0));
        assert_eq!(micros(serde_json::json!(1)).ok(), Some(1_000_000_000_000));
    }

    #[test]
    fn rounds_to_the_nearest_micro_dollar_per_million_tokens() {
        assert_eq!(micros(serde_json::json!(1.4e-12)).ok(), Some(1));
        assert_eq!(micros(serde_json::json!(1.6e-12)).ok(), Some(2));
        assert_eq!(micros(serde_json::json!(1e-20)).ok(), Some(0));
    }

    #[test]
    fn rejects_negative_and_oversized_prices() {
        for value in [
            serde_json::json!(-1e-06),
            serde_json::json!(1e8),
            serde_json::json!(1e300),
        ] {
            let err = micros(value.clone()).expect_err("the price is out of range");
            assert!(
                matches!(&err, CostError::InvalidPrice { model, field, .. }
                    if model == "m" && field == INPUT_PRICE_FIELD),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn largest_price_below_the_limit_is_accepted() {
        // 1.8e7 USD/token → 1.8e19 micros per million tokens, just under 2^64.
        assert_eq!(
            micros(serde_json::json!(1.8e7)).ok(),
            Some(18_000_000_000_000_000_000)
        );
    }

    #[test]
    fn rejects_non_numbers_and_says_what_was_found() {
        let err = micros(serde_json::json!("3e-05")).expect_err("a string is not a price");
        assert!(err.to_string().contains("found a string"), "{err}");
        let err = micros(serde_json::json!([1])).expect_err("an array is not a price");
        assert!(err.to_string().contains("found an array"), "{err}");
    }

    #[test]
    fn null_prices_count_as_missing() {
        let parsed = parse(
            r#"{"a": {"input_cost_per_token": null, "output_cost_per_token": 1e-06},
                "b": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}"#,
        )
        .expect("b is priced");
        let names: Vec<&str> = parsed.iter().map(|(entry, _)| entry.model()).collect();
        assert_eq!(names, ["b"]);
    }

    fn only(text: &str) -> ModelPricing {
        let mut parsed = parse(text).expect("valid");
        assert_eq!(parsed.len(), 1);
        parsed.remove(0).0
    }

    #[test]
    fn cache_prices_are_read_with_deepseeks_older_name_as_a_fallback() {
        let claude = only(
            r#"{"c": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                      "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
                      "cache_creation_input_token_cost_above_1hr": 6e-06,
                      "input_cost_per_token_cache_hit": 1e-09,
                      "cache_creation_input_token_cost_batches": 1e-09}}"#,
        );
        assert_eq!(
            *claude.rates(),
            Rates::new(3_000_000, 15_000_000)
                .with_cache_read(300_000)
                .with_cache_write(3_750_000)
                .with_cache_write_1h(6_000_000)
        );
        let deepseek = only(
            r#"{"d": {"input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07,
                      "input_cost_per_token_cache_hit": 2.8e-08, "cache_read_input_token_cost": null}}"#,
        );
        assert_eq!(
            deepseek.cache_read_micros_per_million_tokens(),
            Some(28_000)
        );
        assert_eq!(deepseek.cache_write_micros_per_million_tokens(), None);
    }

    #[test]
    fn the_lowest_threshold_makes_the_tier_and_missing_tier_prices_are_the_base() {
        let pricing = only(
            r#"{"q": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                      "cache_read_input_token_cost": 1e-07,
                      "cache_creation_input_token_cost_above_1hr": 3e-06,
                      "input_cost_per_token_above_256k_tokens": 9e-06,
                      "input_cost_per_token_above_32k_tokens": 4e-06,
                      "cache_creation_input_token_cost_above_1hr_above_32k_tokens": 5e-06,
                      "output_cost_per_token_above_32k_tokens_batches": 1e-09,
                      "input_cost_per_audio_token_above_8k_tokens": 1e-09,
                      "output_cost_per_token_above_16k_tokens": null}}"#,
        );
        let tier = pricing.long_context().expect("a tier");
        assert_eq!(tier.threshold_tokens(), 32_000);
        assert_eq!(
            *tier.rates(),
            Rates::new(4_000_000, 2_000_000)
                .with_cache_read(100_000)
                .with_cache_write_1h(5_000_000)
        );
    }

    #[test]
    fn bad_cache_and_tier_prices_are_errors_naming_the_field() {
        for (field, value) in [
            ("cache_read_input_token_cost", "\"0.1\""),
            ("cache_creation_input_token_cost_above_1hr", "-1e-06"),
            ("output_cost_per_token_above_200k_tokens", "1e9"),
            (
                "input_cost_per_token_above_99999999999999999999k_tokens",
                "1e-06",
            ),
        ] {
            let text = format!(
                r#"{{"m": {{"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "{field}": {value}}}}}"#
            );
            let err = parse(&text).expect_err("a bad price");
            assert!(
                matches!(&err, CostError::InvalidPrice { model, field: f, .. } if model == "m" && f == field),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn sellers_come_from_litellm_provider() {
        let parsed = parse(
            r#"{"a": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "litellm_provider": "gemini"},
                "b": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "litellm_provider": "vertex_ai-language-models"},
                "c": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "litellm_provider": 7},
                "d": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#,
        )
        .expect("valid");
        let sellers: Vec<Seller> = parsed.iter().map(|(_, seller)| *seller).collect();
        assert_eq!(
            sellers,
            [
                Seller::Maker,
                Seller::Reseller,
                Seller::Reseller,
                Seller::Reseller
            ]
        );
    }
}
