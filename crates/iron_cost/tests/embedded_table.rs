//! Checks on the data in `data/prices.json`, read both as raw JSON (as the
//! JavaScript build reads it) and through the public API.

use std::collections::HashSet;

use iron_cost::pricing::{PricingManager, Rates};
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

const MIN_MODELS: usize = 300;

fn raw() -> Value {
    serde_json::from_str(RAW).expect("data/prices.json is valid JSON")
}

fn models(raw: &Value) -> &Vec<Value> {
    raw["models"].as_array().expect("`models` is an array")
}

#[test]
fn has_the_documented_top_level_fields() {
    let raw = raw();
    assert_eq!(raw["schema"], 2);
    let checked_on = raw["checked_on"]
        .as_str()
        .expect("`checked_on` is a string");
    assert_eq!(checked_on.len(), 10, "{checked_on}");
    let version = raw["litellm_version"]
        .as_str()
        .expect("`litellm_version` is a string");
    assert!(
        version.split('.').all(|part| part.parse::<u32>().is_ok()),
        "{version}"
    );
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
        HashSet::from([
            "schema",
            "checked_on",
            "litellm_version",
            "note",
            "sources",
            "litellm_providers",
            "models"
        ])
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
        assert!(!name.contains('/'), "{name} keeps a provider prefix");
        assert!(seen.insert(name), "{name} is listed twice");
    }
}

const RATE_FIELDS: [&str; 5] = [
    "input_micros_per_mtok",
    "output_micros_per_mtok",
    "cache_read_micros_per_mtok",
    "cache_write_micros_per_mtok",
    "cache_write_1h_micros_per_mtok",
];

/// Every price is an integer (zero only for models their maker serves free,
/// such as Gemma on the Gemini API); a cache price is a discount or a
/// surcharge on the input price, never absurd; a tier is dearer than the base.
#[test]
fn every_price_is_a_sane_integer() {
    let raw = raw();
    for entry in models(&raw) {
        let object = entry.as_object().expect("an entry is an object");
        for (key, value) in object {
            match key.as_str() {
                "model" | "provider" | "priced_from" => assert!(value.is_string(), "{entry}"),
                "long_context" => {}
                field => {
                    assert!(RATE_FIELDS.contains(&field), "{entry}: unknown {field}");
                    assert!(value.as_u64().is_some(), "{entry}: {field}");
                }
            }
        }
        let input = entry["input_micros_per_mtok"].as_u64().unwrap_or_default();
        for field in &RATE_FIELDS[2..] {
            if let Some(price) = entry[field].as_u64() {
                assert!(
                    price <= input * 2,
                    "{entry}: {field} above twice the input price"
                );
            }
        }
        if let Some(tier) = entry.get("long_context") {
            let threshold = tier["threshold_tokens"].as_u64().expect("a threshold");
            assert!((32_000..=1_000_000).contains(&threshold), "{entry}");
            for field in &RATE_FIELDS[..2] {
                assert!(
                    tier[field].as_u64() >= entry[field].as_u64(),
                    "{entry}: {field}"
                );
            }
        }
    }
}

#[test]
fn every_entry_says_where_its_price_comes_from() {
    let raw = raw();
    let version = raw["litellm_version"].as_str().expect("a version");
    let current = format!("litellm {version}");
    let mut from_current = 0;
    for entry in models(&raw) {
        let from = entry["priced_from"]
            .as_str()
            .expect("`priced_from` is a string");
        assert!(
            from.starts_with("litellm ") || from == "hand-checked 2025-11-30",
            "{entry}"
        );
        from_current += usize::from(from == current);
    }
    assert!(
        from_current >= 200,
        "only {from_current} models from {current}"
    );
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
    let litellm = raw["litellm_providers"]
        .as_object()
        .expect("`litellm_providers` is an object");
    let mapped: HashSet<&str> = litellm.values().filter_map(Value::as_str).collect();
    assert_eq!(mapped, HashSet::from(ALLOWED_PROVIDERS));
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
        // Routers send these today.
        "gpt-5",
        "gpt-5-mini",
        "gpt-5.1",
        "gpt-5.2",
        "gpt-5.4",
        "gpt-5.5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-6",
        "claude-opus-4-5",
        "claude-opus-4-6",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
        "gemini-2.5-flash-lite",
        "gemini-3-flash-preview",
        "gemini-3.1-pro-preview",
        "mistral-large-latest",
        "deepseek-v4-pro",
        "grok-4.20",
        "grok-code-fast-1",
    ];
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|model| pricing.get(model).map(|price| price.model()) != Some(*model))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
}

/// A tier's prices as the raw JSON has them, `None` for an absent cache price.
fn raw_rates(raw: &Value) -> [Option<u64>; 5] {
    RATE_FIELDS.map(|field| raw[field].as_u64())
}

fn api_rates(rates: &Rates) -> [Option<u64>; 5] {
    [
        Some(rates.input_micros_per_million_tokens()),
        Some(rates.output_micros_per_million_tokens()),
        rates.cache_read_micros_per_million_tokens(),
        rates.cache_write_micros_per_million_tokens(),
        rates.cache_write_1h_micros_per_million_tokens(),
    ]
}

#[test]
fn api_and_raw_json_agree() {
    let raw = raw();
    let pricing = PricingManager::new().expect("embedded table parses");
    assert_eq!(pricing.len(), models(&raw).len());
    assert_eq!(pricing.prices_checked_on(), raw["checked_on"]);
    for (price, entry) in pricing.iter().zip(models(&raw)) {
        assert_eq!(price.model(), entry["model"]);
        assert_eq!(api_rates(price.rates()), raw_rates(entry), "{entry}");
        match (price.long_context(), entry.get("long_context")) {
            (None, None) => {}
            (Some(tier), Some(raw_tier)) => {
                assert_eq!(tier.threshold_tokens(), raw_tier["threshold_tokens"]);
                assert_eq!(api_rates(tier.rates()), raw_rates(raw_tier), "{entry}");
            }
            _ => panic!("{entry}: the tier differs"),
        }
        assert_eq!(pricing.get(price.model()), Some(price));
    }
}

/// Prices of today's models as the providers publish them (USD per million
/// tokens × 1e6), and as LiteLLM 1.110.2 lists them.
#[test]
fn current_models_carry_cache_prices_and_tiers() {
    let pricing = PricingManager::new().expect("embedded table parses");
    let rates = |model: &str| {
        let price = pricing
            .get(model)
            .unwrap_or_else(|| panic!("{model} missing"));
        assert_eq!(price.model(), model);
        (api_rates(price.rates()), price.long_context().copied())
    };
    // openai.com/api/pricing: gpt-4o $2.50 in, $1.25 cached in, $10 out.
    assert_eq!(
        rates("gpt-4o"),
        (
            [
                Some(2_500_000),
                Some(10_000_000),
                Some(1_250_000),
                None,
                None
            ],
            None
        )
    );
    // anthropic.com/pricing: Sonnet 4.5 $3 in, $3.75 5-min write, $6 1-h write, $0.30 read, $15 out.
    assert_eq!(
        rates("claude-sonnet-4-5").0,
        [
            Some(3_000_000),
            Some(15_000_000),
            Some(300_000),
            Some(3_750_000),
            Some(6_000_000)
        ]
    );
    // ai.google.dev/gemini-api/docs/pricing: 2.5 Pro $1.25 / $10 (cache $0.125) up to 200k
    // prompt tokens, $2.50 / $15 (cache $0.25) above.
    let (base, tier) = rates("gemini-2.5-pro");
    assert_eq!(
        base,
        [Some(1_250_000), Some(10_000_000), Some(125_000), None, None]
    );
    let tier = tier.expect("a long-context tier");
    assert_eq!(tier.threshold_tokens(), 200_000);
    assert_eq!(
        api_rates(tier.rates()),
        [Some(2_500_000), Some(15_000_000), Some(250_000), None, None]
    );
    // GPT-5.4: $2.50 / $15 (cached $0.25) up to 272k prompt tokens, $5 / $22.50 (cached $0.50) above.
    let (_, tier) = rates("gpt-5.4");
    let tier = tier.expect("a long-context tier");
    assert_eq!(tier.threshold_tokens(), 272_000);
    assert_eq!(tier.rates().input_micros_per_million_tokens(), 5_000_000);
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
