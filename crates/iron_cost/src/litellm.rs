//! Reading LiteLLM's `model_prices_and_context_window.json`.
//!
//! That file is one JSON object: model name → entry, where an entry's
//! `input_cost_per_token` and `output_cost_per_token` are US dollars per token
//! as floats (`3e-05` = $30 per million tokens). Every other field is ignored.

use serde_json::{Map, Number, Value};

use crate::error::CostError;
use crate::pricing::ModelPricing;

/// The key of LiteLLM's documentation entry, which describes the fields
/// rather than pricing a model.
const SAMPLE_SPEC_KEY: &str = "sample_spec";

/// US dollars per prompt token.
const INPUT_PRICE_FIELD: &str = "input_cost_per_token";

/// US dollars per completion token.
const OUTPUT_PRICE_FIELD: &str = "output_cost_per_token";

/// USD per token → micro-dollars per million tokens: × 1e6 micro-dollars per
/// dollar × 1e6 tokens per price unit.
const MICROS_PER_MTOK_PER_USD_PER_TOKEN: f64 = 1e12;

/// 2^64, the first float that does not fit in a `u64`.
const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;

/// Parses the file's text into price entries, in the document's key order.
pub(crate) fn parse(text: &str) -> Result<Vec<ModelPricing>, CostError> {
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

    let mut prices = Vec::with_capacity(models.len());
    for (model, entry) in &models {
        if model == SAMPLE_SPEC_KEY {
            continue;
        }
        let Value::Object(fields) = entry else {
            continue;
        };
        let (Some(input), Some(output)) = (
            price_field(fields, INPUT_PRICE_FIELD),
            price_field(fields, OUTPUT_PRICE_FIELD),
        ) else {
            continue;
        };
        prices.push(ModelPricing::new(
            model.as_str(),
            usd_per_token_to_micros_per_mtok(model, INPUT_PRICE_FIELD, input)?,
            usd_per_token_to_micros_per_mtok(model, OUTPUT_PRICE_FIELD, output)?,
        ));
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
        let names: Vec<&str> = parsed.iter().map(ModelPricing::model).collect();
        assert_eq!(names, ["b"]);
    }
}
