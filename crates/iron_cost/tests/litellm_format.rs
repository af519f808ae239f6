//! Loading LiteLLM's `model_prices_and_context_window.json`.

use std::path::PathBuf;

use iron_cost::pricing::{ModelPricing, PricingManager, Rates, TokenUsage};
use iron_cost::CostError;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/litellm_sample.json")
}

fn load(text: &str) -> Result<PricingManager, CostError> {
    PricingManager::from_litellm_json(text)
}

#[test]
fn loads_the_sample_file() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    let mut names: Vec<&str> = pricing.iter().map(|p| p.model()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "azure/gpt-x",
            "azure/mistral-large-latest",
            "bedrock/gpt-x",
            "claude-3-7-sonnet-latest",
            "claude-3-opus-20240229",
            "deepinfra/anthropic/claude-3-7-sonnet-latest",
            "free-tier-model",
            "gemini-2.0-flash",
            "gemini/gemini-1.5-flash-8b",
            "gemini/gemini-2.0-flash",
            "gemini/gemini-2.5-pro",
            "gpt-4",
            "gpt-4o-mini",
            "mistral/codestral-latest",
            "mistral/mistral-large-latest",
            "text-embedding-3-small",
            "vertex_ai/gemini-2.0-flash",
        ]
    );
    assert_eq!(pricing.prices_checked_on(), "");
}

#[test]
fn prices_are_converted_once_to_integer_micros() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    let micros = |model: &str| {
        let price = pricing
            .get(model)
            .unwrap_or_else(|| panic!("{model} missing"));
        (
            price.input_micros_per_million_tokens(),
            price.output_micros_per_million_tokens(),
        )
    };
    assert_eq!(micros("gpt-4"), (30_000_000, 60_000_000));
    assert_eq!(micros("claude-3-opus-20240229"), (15_000_000, 75_000_000));
    assert_eq!(micros("gpt-4o-mini"), (150_000, 600_000));
    assert_eq!(micros("gemini/gemini-1.5-flash-8b"), (37_500, 150_000));
    assert_eq!(micros("text-embedding-3-small"), (20_000, 0));
    assert_eq!(micros("free-tier-model"), (0, 0));
    assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
}

#[test]
fn prefixed_litellm_names_answer_to_their_bare_name() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    assert_eq!(
        pricing.cost_micros("codestral-latest", 1_000_000, 0),
        Some(300_000)
    );
    assert_eq!(
        pricing.cost_micros("gemini-1.5-flash-8b", 0, 1_000_000),
        Some(150_000)
    );
    assert_eq!(pricing.cost_micros("openai/gpt-4", 150, 50), Some(7_500));
}

#[test]
fn a_bare_name_prefers_the_makers_own_entry_over_resellers() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    let model = |name: &str| pricing.get(name).map(ModelPricing::model);
    // `gemini-2.0-flash` itself is Vertex AI's entry in LiteLLM's file.
    assert_eq!(model("gemini-2.0-flash"), Some("gemini/gemini-2.0-flash"));
    assert_eq!(model("Gemini-2.0-Flash"), Some("gemini/gemini-2.0-flash"));
    assert_eq!(
        model("google/gemini-2.0-flash"),
        Some("gemini/gemini-2.0-flash")
    );
    assert_eq!(
        model("claude-3-7-sonnet-latest"),
        Some("claude-3-7-sonnet-latest")
    );
    assert_eq!(
        model("anthropic/claude-3-7-sonnet-latest"),
        Some("claude-3-7-sonnet-latest")
    );
    assert_eq!(
        model("mistral-large-latest"),
        Some("mistral/mistral-large-latest")
    );
    // The full prefixed name still finds the reseller's entry.
    assert_eq!(
        model("vertex_ai/gemini-2.0-flash"),
        Some("vertex_ai/gemini-2.0-flash")
    );
    assert_eq!(
        model("deepinfra/anthropic/claude-3-7-sonnet-latest"),
        Some("deepinfra/anthropic/claude-3-7-sonnet-latest")
    );
    assert_eq!(
        model("azure/mistral-large-latest"),
        Some("azure/mistral-large-latest")
    );
    assert_eq!(
        pricing.cost_micros("azure/mistral-large-latest", 1_000_000, 0),
        Some(8_000_000)
    );
}

#[test]
fn a_bare_name_only_resellers_price_differently_is_not_guessed() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    assert_eq!(pricing.get("gpt-x"), None);
    assert_eq!(
        pricing.cost_micros("bedrock/gpt-x", 1_000_000, 0),
        Some(2_200_000)
    );
}

#[test]
fn cache_prices_and_the_long_context_tier_are_read() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    let sonnet = pricing.get("claude-3-7-sonnet-latest").expect("priced");
    assert_eq!(
        *sonnet.rates(),
        Rates::new(3_000_000, 15_000_000)
            .with_cache_read(300_000)
            .with_cache_write(3_750_000)
            .with_cache_write_1h(6_000_000)
    );
    assert!(sonnet.long_context().is_none());
    let pro = pricing.get("gemini-2.5-pro").expect("priced");
    assert_eq!(pro.cache_read_micros_per_million_tokens(), Some(125_000));
    let tier = pro.long_context().expect("a tier");
    assert_eq!(tier.threshold_tokens(), 200_000);
    assert_eq!(
        *tier.rates(),
        Rates::new(2_500_000, 15_000_000).with_cache_read(250_000)
    );
    let usage = TokenUsage::new(250_000, 1_000).with_cache_read_tokens(50_000);
    // 200,000 × $2.50 + 50,000 × $0.25 + 1,000 × $15 per million tokens.
    assert_eq!(
        pricing.cost_micros_for("gemini-2.5-pro", &usage),
        Some(500_000 + 12_500 + 15_000)
    );
}

#[test]
fn sample_spec_and_unpriced_entries_are_skipped() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    for model in ["sample_spec", "dall-e-3", "whisper-1", "not-an-object"] {
        assert!(pricing.get(model).is_none(), "{model}");
    }
}

#[test]
fn a_document_that_is_not_an_object_is_a_shape_error() {
    for text in ["[]", "42", "\"prices\"", "null", "true"] {
        let err = load(text).expect_err("not an object");
        assert!(
            matches!(err, CostError::InvalidPriceTable { .. }),
            "{text}: {err}"
        );
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
    }
}

#[test]
fn broken_json_is_a_syntax_error() {
    for text in [
        "",
        "{",
        "{\"gpt-4\": {\"input_cost_per_token\": 3e-05,}}",
        "not json",
    ] {
        let err = load(text).expect_err("not JSON");
        assert!(
            matches!(err, CostError::InvalidJson { .. }),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn a_document_without_any_price_is_refused() {
    for text in [
        "{}",
        r#"{"sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0}}"#,
    ] {
        let err = load(text).expect_err("nothing priced");
        assert!(
            matches!(err, CostError::InvalidPriceTable { .. }),
            "{text}: {err}"
        );
    }
}

#[test]
fn wrongly_typed_prices_name_the_model_and_field() {
    let text = r#"{
        "good": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "bad-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": "2e-06"}
    }"#;
    let err = load(text).expect_err("a string price");
    let CostError::InvalidPrice {
        model,
        field,
        reason,
    } = &err
    else {
        panic!("expected InvalidPrice, got {err:?}");
    };
    assert_eq!(model, "bad-model");
    assert_eq!(field, "output_cost_per_token");
    assert!(reason.contains("found a string"), "{reason}");
    let message = err.to_string();
    assert!(
        message.contains("bad-model") && message.contains("output_cost_per_token"),
        "{message}"
    );
}

#[test]
fn negative_and_huge_prices_are_refused() {
    for (price, words) in [
        ("-3e-05", "negative"),
        ("1e30", "too large"),
        ("2e7", "too large"),
    ] {
        let text =
            format!(r#"{{"m": {{"input_cost_per_token": {price}, "output_cost_per_token": 0}}}}"#);
        let err = load(&text).expect_err("out of range");
        assert!(
            matches!(&err, CostError::InvalidPrice { model, field, .. }
                if model == "m" && field == "input_cost_per_token"),
            "{price}: {err}"
        );
        assert!(err.to_string().contains(words), "{price}: {err}");
    }
}

#[test]
fn entries_with_one_price_are_skipped_even_if_it_is_malformed() {
    let text = r#"{
        "half": {"input_cost_per_token": "oops"},
        "whole": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}
    }"#;
    let pricing = load(text).expect("only `whole` is used");
    assert_eq!(pricing.len(), 1);
}

#[test]
fn a_missing_file_is_an_io_error_naming_the_path() {
    let path = fixture().with_file_name("does-not-exist.json");
    let err = PricingManager::from_litellm_file(&path).expect_err("no such file");
    assert!(
        matches!(&err, CostError::Io { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("does-not-exist.json"), "{err}");
}

#[test]
fn a_directory_is_an_io_error() {
    let dir = fixture().with_file_name("");
    assert!(matches!(
        PricingManager::from_litellm_file(dir),
        Err(CostError::Io { .. })
    ));
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(load(&text).is_err());
    let text = format!(
        "{{\"m\": {}1{}}}",
        "{\"a\":".repeat(depth),
        "}".repeat(depth)
    );
    assert!(load(&text).is_err());
}
