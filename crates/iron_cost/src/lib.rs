//! LLM pricing with exact integer costs.
//!
//! `iron_cost` answers one question: what did a request cost? It keeps a table
//! of per-model prices and multiplies token counts by them in integers, so
//! costs add up exactly however many requests are summed.
//!
//! - **Units.** Prices are micro-dollars (millionths of a US dollar) per
//!   million tokens: $30 per million tokens is `30_000_000`. Costs are
//!   micro-dollars, rounded down once, computed in 128-bit integers and
//!   saturated to `u64::MAX`, so no input overflows or panics.
//! - **Usage.** A [`TokenUsage`] counts every prompt token as `input_tokens`
//!   (cached or not) and every completion token as `output_tokens` (reasoning
//!   included); cache reads, 5-minute and 1-hour cache writes are parts of the
//!   input, reasoning a part of the output ([`TokenUsage::validate`] checks
//!   that the parts fit).
//! - **Cost.** [`ModelPricing::cost_micros_for`] is one exact sum over the
//!   parts, floored once:
//!   `floor(((input − cache_read − cache_write − cache_write_1h) × in +
//!   cache_read × read + cache_write × write + cache_write_1h × write_1h +
//!   output × out) / 1_000_000)`. A missing cache price is the input price.
//! - **Long-context tiers.** Where a provider charges more for long prompts
//!   (Gemini 2.5 Pro above 200k tokens, GPT-5.4 above 272k), the whole request
//!   moves to the [`LongContextTier`]'s prices once `input_tokens` is above its
//!   threshold.
//! - **Prices.** [`PricingManager::new`] loads the table embedded in the
//!   crate: `data/prices.json`, over 300 OpenAI, Anthropic, Google, Mistral,
//!   DeepSeek and xAI chat models with their cache prices and tiers,
//!   generated from LiteLLM's price file (see `data/README.md` for the format
//!   and how to regenerate it, and [`PricingManager::prices_checked_on`] for
//!   how current it is). [`PricingManager::from_litellm_file`] loads LiteLLM's
//!   community-maintained `model_prices_and_context_window.json` instead, and
//!   [`PricingManager::from_entries`] takes your own prices.
//! - **Lookup.** [`PricingManager::get`] matches the exact model name, then the
//!   name without a `provider/` prefix, then ignoring ASCII case; in a LiteLLM
//!   table, a bare name prefers the model maker's own entry to a reseller's.
//!   An unknown model gives `None`, never an error.
//!
//! # Examples
//!
//! ```
//! use iron_cost::{ModelPricing, PricingManager, TokenUsage};
//!
//! let pricing = PricingManager::new()?;
//!
//! // gpt-4: $30 in / $60 out per million tokens.
//! assert_eq!(pricing.cost_micros("gpt-4", 150, 50), Some(7_500));
//! assert_eq!(pricing.cost_micros("openai/gpt-4", 150, 50), Some(7_500));
//!
//! // claude-sonnet-4-5: 6 uncached, 6,289 cache-read and 3,337 cache-write
//! // prompt tokens, 410 completion tokens.
//! let usage = TokenUsage::new(6 + 6_289 + 3_337, 410)
//!     .with_cache_read_tokens(6_289)
//!     .with_cache_write_tokens(3_337);
//! usage.validate()?;
//! assert_eq!(pricing.cost_micros_for("claude-sonnet-4-5", &usage), Some(20_568));
//!
//! let opus: &ModelPricing = pricing.get("claude-3-opus-20240229").expect("known model");
//! assert_eq!(opus.input_micros_per_million_tokens(), 15_000_000);
//! assert_eq!(opus.output_micros_per_million_tokens(), 75_000_000);
//!
//! // Unknown models are not an error; decide yourself what they cost.
//! assert_eq!(pricing.cost_micros("my-fine-tune", 150, 50), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
mod litellm;
mod model_index;
mod model_pricing;
mod price_table;
pub mod pricing;
mod usage;

pub use error::CostError;
pub use pricing::{LongContextTier, ModelPricing, PricingManager, Rates, TokenUsage, UsageError};
