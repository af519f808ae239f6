//! LLM pricing with exact integer costs.
//!
//! `iron_cost` answers one question: what did a request cost? It keeps a table
//! of per-model prices and multiplies token counts by them in integers, so
//! costs add up exactly however many requests are summed.
//!
//! - **Units.** Prices are micro-dollars (millionths of a US dollar) per
//!   million tokens: $30 per million tokens is `30_000_000`. Costs are
//!   micro-dollars, rounded down:
//!   `floor((input_tokens * input_price + output_tokens * output_price) / 1_000_000)`,
//!   computed in 128-bit integers and saturated to `u64::MAX`, so no input
//!   overflows or panics.
//! - **Prices.** [`PricingManager::new`] loads the table embedded in the
//!   crate (`data/prices.json`: over 100 OpenAI, Anthropic, Google, Mistral,
//!   DeepSeek and xAI models; see [`PricingManager::prices_checked_on`] for how
//!   current it is). [`PricingManager::from_litellm_file`] loads LiteLLM's
//!   community-maintained `model_prices_and_context_window.json` instead, and
//!   [`PricingManager::from_entries`] takes your own prices.
//! - **Lookup.** [`PricingManager::get`] matches the exact model name, then the
//!   name without a `provider/` prefix, then ignoring ASCII case; an unknown
//!   model gives `None`, never an error.
//!
//! # Examples
//!
//! ```
//! use iron_cost::pricing::{ModelPricing, PricingManager};
//!
//! let pricing = PricingManager::new()?;
//!
//! // gpt-4: $30 in / $60 out per million tokens.
//! assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
//! assert_eq!(pricing.cost_micros("openai/gpt-4", 150, 50), Some(7_500));
//!
//! let opus: &ModelPricing = pricing.get("claude-3-opus-20240229").expect("known model");
//! assert_eq!(opus.input_micros_per_million_tokens(), 15_000_000);
//! assert_eq!(opus.output_micros_per_million_tokens(), 75_000_000);
//!
//! // Unknown models are not an error; decide yourself what they cost.
//! assert_eq!(pricing.cost_micros("my-fine-tune", 150, 50), None);
//! # Ok::<(), iron_cost::CostError>(())
//! ```

pub mod error;
mod litellm;
mod model_index;
mod price_table;
pub mod pricing;
mod usage;

pub use error::CostError;
pub use pricing::{ModelPricing, PricingManager};
pub use usage::{TokenUsage, UsageError};
