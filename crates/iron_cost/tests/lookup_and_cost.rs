//! The public lookup and cost API, as other crates call it.

use iron_cost::pricing::{ModelPricing, PricingManager};
use iron_cost::CostError;

fn embedded() -> PricingManager {
    PricingManager::new().expect("embedded table parses")
}

#[test]
fn manager_is_send_sync_clone_debug() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_traits::<PricingManager>();
    assert_traits::<ModelPricing>();
    fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<CostError>();
    assert_error::<iron_cost::error::CostError>();
}

#[test]
fn cost_of_the_anchor_models() {
    let pricing = embedded();
    assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
    // claude-3-opus: $15 / $75 per million tokens.
    assert_eq!(
        pricing.cost_micros("claude-3-opus-20240229", 1_000_000, 1_000_000),
        Some(90_000_000)
    );
    assert_eq!(
        pricing.cost_micros("claude-3-opus-20240229", 2_000, 1_000),
        Some(105_000)
    );
}

#[test]
fn unknown_models_are_none_not_errors() {
    let pricing = embedded();
    for model in [
        "", "gpt-17", "openai/", "/", "////", "gpt-4 ", " gpt-4", "gpt_4", "\u{0}",
    ] {
        assert_eq!(pricing.cost_micros(model, 1, 1), None, "{model:?}");
    }
}

#[test]
fn provider_prefixes_and_case_are_forgiven() {
    let pricing = embedded();
    for model in [
        "openai/gpt-4",
        "GPT-4",
        "OpenAI/GPT-4",
        "openrouter/openai/gpt-4",
        "azure/gpt-4",
    ] {
        let price = pricing
            .get(model)
            .unwrap_or_else(|| panic!("{model} not found"));
        assert_eq!(price.model(), "gpt-4", "{model}");
    }
    let opus = pricing
        .get("anthropic/claude-3-opus-20240229")
        .expect("prefixed name found");
    assert_eq!(opus.model(), "claude-3-opus-20240229");
}

#[test]
fn len_iter_and_into_iter_agree() {
    let pricing = embedded();
    assert!(!pricing.is_empty());
    assert_eq!(pricing.iter().count(), pricing.len());
    assert_eq!((&pricing).into_iter().count(), pricing.len());
    for price in &pricing {
        assert_eq!(pricing.get(price.model()), Some(price));
    }
}

#[test]
fn clones_share_the_same_prices() {
    let pricing = embedded();
    let clone = pricing.clone();
    let from_thread = std::thread::spawn(move || clone.cost_micros("gpt-4o", 1_000, 1_000))
        .join()
        .expect("lookup thread does not panic");
    assert_eq!(from_thread, pricing.cost_micros("gpt-4o", 1_000, 1_000));
    assert_eq!(from_thread, Some(12_500));
}

#[test]
fn custom_tables_from_entries() {
    let pricing = PricingManager::from_entries(vec![
        ModelPricing::new("local-llama", 0, 0),
        ModelPricing::new(String::from("premium"), 100_000_000, 400_000_000),
        ModelPricing::new("premium", 50_000_000, 200_000_000),
    ]);
    assert_eq!(pricing.len(), 2, "the repeated name is replaced, not added");
    assert_eq!(
        pricing.cost_micros("local-llama", u64::MAX, u64::MAX),
        Some(0)
    );
    assert_eq!(pricing.cost_micros("premium", 10, 10), Some(2_500));
    assert_eq!(pricing.prices_checked_on(), "");

    let empty = PricingManager::from_entries(std::iter::empty());
    assert!(empty.is_empty());
    assert_eq!(empty.cost_micros("gpt-4", 1, 1), None);
}

#[test]
fn costs_saturate_instead_of_overflowing() {
    let pricing = PricingManager::from_entries([ModelPricing::new("max", u64::MAX, u64::MAX)]);
    assert_eq!(
        pricing.cost_micros("max", u64::MAX, u64::MAX),
        Some(u64::MAX)
    );
    assert_eq!(pricing.cost_micros("max", 1, 0), Some(u64::MAX / 1_000_000));
    assert_eq!(pricing.cost_micros("max", 0, 0), Some(0));
}

#[test]
fn debug_output_is_short() {
    let text = format!("{:?}", embedded());
    assert!(text.starts_with("PricingManager"), "{text}");
    assert!(text.len() < 200, "{text}");
}
