//! Property tests: no input panics, and cost arithmetic is exact.

use iron_cost::pricing::{ModelPricing, PricingManager};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// The cost formula as documented, with a single u128 sum (`None` on
/// overflow, which can only mean the true cost is above `u64::MAX`).
fn reference_cost(
    input_tokens: u64,
    input_price: u64,
    output_tokens: u64,
    output_price: u64,
) -> u64 {
    let input = u128::from(input_tokens) * u128::from(input_price);
    let output = u128::from(output_tokens) * u128::from(output_price);
    match input.checked_add(output) {
        Some(sum) => u64::try_from(sum / 1_000_000).unwrap_or(u64::MAX),
        None => u64::MAX,
    }
}

/// Keys that matter to the LiteLLM reader, mixed with arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("input_cost_per_token".to_owned()),
        Just("output_cost_per_token".to_owned()),
        Just("sample_spec".to_owned()),
        Just("cache_read_input_token_cost".to_owned()),
        Just("input_cost_per_token_cache_hit".to_owned()),
        Just("cache_creation_input_token_cost".to_owned()),
        Just("cache_creation_input_token_cost_above_1hr".to_owned()),
        Just("input_cost_per_token_above_200k_tokens".to_owned()),
        Just("output_cost_per_token_above_128k_tokens".to_owned()),
        Just("cache_creation_input_token_cost_above_1hr_above_200k_tokens".to_owned()),
        Just("input_cost_per_token_above_99999999999999999999k_tokens".to_owned()),
        Just("litellm_provider".to_owned()),
        Just("gemini".to_owned()),
        Just("gpt-4".to_owned()),
        Just("openai/gpt-4".to_owned()),
        Just(String::new()),
        ".{0,12}",
    ]
}

/// Numbers across every range the reader distinguishes.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0.0..1e-3_f64).prop_map(Value::from),
        (-1e-3..0.0_f64).prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(1.8e7)),
        Just(Value::from(1.9e7)),
    ]
}

/// Arbitrary JSON, biased towards LiteLLM-shaped objects.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A LiteLLM-like document: model name → entry object, most entries carrying
/// both prices, most prices valid.
fn litellm_document() -> impl Strategy<Value = Value> {
    let valid_price = (0.0..1e-3_f64).prop_map(Value::from);
    let price = prop_oneof![8 => valid_price, 1 => number(), 1 => json()];
    let entry = (
        prop::option::weighted(0.9, price.clone()),
        prop::option::weighted(0.9, price),
        prop::collection::vec((key(), json()), 0..3),
    )
        .prop_map(|(input, output, extra)| {
            let mut fields: Map<String, Value> = extra.into_iter().collect();
            if let Some(input) = input {
                fields.insert("input_cost_per_token".to_owned(), input);
            }
            if let Some(output) = output {
                fields.insert("output_cost_per_token".to_owned(), output);
            }
            Value::Object(fields)
        });
    prop::collection::vec((key(), prop_oneof![4 => entry, 1 => json()]), 0..6)
        .prop_map(|models| Value::Object(models.into_iter().collect::<Map<_, _>>()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cost_is_exact_for_any_u64s(
        input_tokens in any::<u64>(),
        output_tokens in any::<u64>(),
        input_price in any::<u64>(),
        output_price in any::<u64>(),
    ) {
        let price = ModelPricing::new("m", input_price, output_price);
        prop_assert_eq!(
            price.calculate_cost_micros(input_tokens, output_tokens),
            reference_cost(input_tokens, input_price, output_tokens, output_price)
        );
    }

    #[test]
    fn cost_is_exact_for_realistic_sizes(
        input_tokens in 0..10_000_000_u64,
        output_tokens in 0..10_000_000_u64,
        input_price in 0..1_000_000_000_u64,
        output_price in 0..1_000_000_000_u64,
    ) {
        let price = ModelPricing::new("m", input_price, output_price);
        let cost = price.calculate_cost_micros(input_tokens, output_tokens);
        prop_assert_eq!(cost, reference_cost(input_tokens, input_price, output_tokens, output_price));
        // Costs are additive up to the one micro-dollar lost to each floor.
        let split = price.calculate_cost_micros(input_tokens, 0) + price.calculate_cost_micros(0, output_tokens);
        prop_assert!(split <= cost && cost <= split + 1);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = PricingManager::from_litellm_json(&text);
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = PricingManager::from_litellm_json(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(document in json()) {
        let _ = PricingManager::from_litellm_json(&document.to_string());
    }

    #[test]
    fn litellm_shaped_json_never_panics_and_keeps_only_valid_prices(document in litellm_document()) {
        let text = document.to_string();
        if let Ok(pricing) = PricingManager::from_litellm_json(&text) {
            prop_assert!(!pricing.is_empty());
            for price in &pricing {
                prop_assert_ne!(price.model(), "sample_spec");
                let entry = &document[price.model()];
                let expected = |field: &str| {
                    entry[field].as_f64().map(|usd| (usd * 1e12).round() as u64)
                };
                prop_assert_eq!(Some(price.input_micros_per_million_tokens()), expected("input_cost_per_token"));
                prop_assert_eq!(Some(price.output_micros_per_million_tokens()), expected("output_cost_per_token"));
                let _ = pricing.cost_micros(price.model(), u64::MAX, u64::MAX);
            }
        }
    }

    #[test]
    fn lookups_of_any_name_never_panic(name in "(?s).{0,300}") {
        let pricing = PricingManager::new().expect("embedded table parses");
        if let Some(price) = pricing.get(&name) {
            prop_assert!(price.model().eq_ignore_ascii_case(&name) || name.contains('/'));
        }
        let _ = pricing.cost_micros(&name, u64::MAX, 1);
    }

    #[test]
    fn every_embedded_model_is_found_in_any_ascii_case(index in any::<prop::sample::Index>(), upper in any::<bool>()) {
        let pricing = PricingManager::new().expect("embedded table parses");
        let models: Vec<&ModelPricing> = pricing.iter().collect();
        let model = models[index.index(models.len())];
        let name = if upper { model.model().to_ascii_uppercase() } else { format!("provider/{}", model.model()) };
        prop_assert_eq!(pricing.get(&name), Some(model));
    }
}
