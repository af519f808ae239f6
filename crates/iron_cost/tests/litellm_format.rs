//! Loading LiteLLM's `model_prices_and_context_window.json`.

use std::path::PathBuf;

use iron_cost::pricing::PricingManager;
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
            "azure/mistral-large-latest",
            "claude-3-opus-20240229",
            "free-tier-model",
            "gemini/gemini-1.5-flash-8b",
            "gpt-4",
            "gpt-4o-mini",
            "mistral/codestral-latest",
            "mistral/mistral-large-latest",
            "text-embedding-3-small",
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
fn a_bare_name_priced_differently_by_two_prefixes_is_not_guessed() {
    let pricing = PricingManager::from_litellm_file(fixture()).expect("fixture is valid");
    assert_eq!(pricing.get("mistral-large-latest"), None);
    assert_eq!(
        pricing.cost_micros("mistral/mistral-large-latest", 1_000_000, 0),
        Some(2_000_000)
    );
    assert_eq!(
        pricing.cost_micros("azure/mistral-large-latest", 1_000_000, 0),
        Some(8_000_000)
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
