//! Checks on the data in `data/prices.json`, read both as raw JSON (as the
//! JavaScript build reads it) and through the public API.

use std::collections::HashSet;

use iron_cost::pricing::PricingManager;
use serde_json::Value;

const RAW: &str = include_str!("../data/prices.json");

const ALLOWED_PROVIDERS: [&str; 6] = [
    "openai",
    "anthropic",
    "google",
    "mistral",
    "deepseek",
    "xai",
];

const MIN_MODELS: usize = 40;

fn raw() -> Value {
    serde_json::from_str(RAW).expect("data/prices.json is valid JSON")
}

fn models(raw: &Value) -> &Vec<Value> {
    raw["models"].as_array().expect("`models` is an array")
}

#[test]
fn has_the_documented_top_level_fields() {
    let raw = raw();
    assert_eq!(raw["schema"], 1);
    let checked_on = raw["checked_on"]
        .as_str()
        .expect("`checked_on` is a string");
    assert_eq!(checked_on.len(), 10, "{checked_on}");
    assert!(raw["note"]
        .as_str()
        .is_some_and(|note| note.contains("floor(")));
    let keys: HashSet<&str> = raw
        .as_object()
        .expect("top level is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["schema", "checked_on", "note", "sources", "models"])
    );
}

#[test]
fn has_enough_unique_models() {
    let raw = raw();
    let models = models(&raw);
    assert!(models.len() >= MIN_MODELS, "only {} models", models.len());
    let mut seen = HashSet::new();
    for entry in models {
        let name = entry["model"].as_str().expect("`model` is a string");
        assert!(!name.is_empty());
        assert_eq!(name, name.trim(), "stray whitespace in {name:?}");
        assert!(seen.insert(name), "{name} is listed twice");
    }
}

#[test]
fn every_price_is_a_positive_integer() {
    let raw = raw();
    for entry in models(&raw) {
        for field in ["input_micros_per_mtok", "output_micros_per_mtok"] {
            let price = entry[field].as_u64();
            assert!(price.is_some_and(|price| price > 0), "{entry}: {field}");
        }
        assert_eq!(
            entry.as_object().map(serde_json::Map::len),
            Some(4),
            "{entry}"
        );
    }
}

#[test]
fn every_provider_is_allowed_present_and_sourced() {
    let raw = raw();
    let sources = raw["sources"].as_object().expect("`sources` is an object");
    for entry in models(&raw) {
        let provider = entry["provider"].as_str().expect("`provider` is a string");
        assert!(ALLOWED_PROVIDERS.contains(&provider), "{entry}");
    }
    for provider in ALLOWED_PROVIDERS {
        let url = sources[provider].as_str().unwrap_or_default();
        assert!(
            url.starts_with("https://"),
            "no pricing page for {provider}"
        );
        assert!(
            models(&raw)
                .iter()
                .any(|entry| entry["provider"] == provider),
            "no {provider} model"
        );
    }
    assert_eq!(sources.len(), ALLOWED_PROVIDERS.len());
}

#[test]
fn anchor_prices() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let expect = |model: &str, input: u64, output: u64| {
        let price = pricing
            .get(model)
            .unwrap_or_else(|| panic!("{model} missing"));
        assert_eq!(price.model(), model);
        assert_eq!(
            (
                price.input_micros_per_million_tokens(),
                price.output_micros_per_million_tokens()
            ),
            (input, output),
            "{model}"
        );
    };
    expect("gpt-4", 30_000_000, 60_000_000);
    expect("claude-3-opus-20240229", 15_000_000, 75_000_000);
    expect("gpt-4o", 2_500_000, 10_000_000);
    expect("gpt-4o-mini", 150_000, 600_000);
    expect("claude-3-5-sonnet-20241022", 3_000_000, 15_000_000);
    assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
}

#[test]
fn the_models_named_in_the_brief_are_present() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let required = [
        "gpt-4",
        "gpt-4-0613",
        "gpt-4-32k",
        "gpt-4-turbo",
        "gpt-4-turbo-2024-04-09",
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-11-20",
        "gpt-4o-2024-05-13",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "o1",
        "o1-2024-12-17",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "claude-3-opus-20240229",
        "claude-3-sonnet-20240229",
        "claude-3-haiku-20240307",
        "claude-3-5-sonnet-20240620",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-opus-4-1-20250805",
        "claude-3-5-sonnet-latest",
        "claude-3-opus-latest",
        "claude-sonnet-4-0",
        "claude-opus-4-0",
        "gemini-1.5-pro",
        "gemini-1.5-flash",
        "gemini-2.0-flash",
        "gemini-2.0-flash-lite",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "codestral-latest",
        "pixtral-large-latest",
        "deepseek-chat",
        "deepseek-reasoner",
        "grok-2",
        "grok-3",
        "grok-3-mini",
        "grok-4",
    ];
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|model| pricing.get(model).map(|price| price.model()) != Some(*model))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
}

#[test]
fn api_and_raw_json_agree() {
    let raw = raw();
    let pricing = PricingManager::new().expect("embedded table parses");
    assert_eq!(pricing.len(), models(&raw).len());
    assert_eq!(pricing.prices_checked_on(), raw["checked_on"]);
    for (price, entry) in pricing.iter().zip(models(&raw)) {
        assert_eq!(price.model(), entry["model"]);
        assert_eq!(
            price.input_micros_per_million_tokens(),
            entry["input_micros_per_mtok"]
        );
        assert_eq!(
            price.output_micros_per_million_tokens(),
            entry["output_micros_per_mtok"]
        );
    }
}

#[test]
fn dated_snapshots_cost_the_same_as_their_alias() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let pairs = [
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4.1", "gpt-4.1-2025-04-14"),
        ("o3", "o3-2025-04-16"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
        ("claude-opus-4-0", "claude-opus-4-20250514"),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        ("grok-4", "grok-4-0709"),
    ];
    for (alias, dated) in pairs {
        assert_eq!(
            pricing.cost_micros(alias, 12_345, 6_789),
            pricing.cost_micros(dated, 12_345, 6_789),
            "{alias} vs {dated}"
        );
    }
}
