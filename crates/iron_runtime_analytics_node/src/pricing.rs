//! `NativePricing`: the core's price table as a JS object.

use iron_cost::pricing::{PricingManager, Rates, TokenUsage};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{count, js_error};

/// A price of one model, as returned to JS (`None` = unpublished / no tier;
/// the wrapper turns a missing field into `null`).
#[napi(object)]
pub struct JsModelPricing {
    pub model: String,
    pub input_micros_per_million_tokens: f64,
    pub output_micros_per_million_tokens: f64,
    pub cache_read_micros_per_million_tokens: Option<f64>,
    pub cache_write_micros_per_million_tokens: Option<f64>,
    #[napi(js_name = "cacheWrite1hMicrosPerMillionTokens")]
    pub cache_write_1h_micros_per_million_tokens: Option<f64>,
    pub long_context: Option<JsLongContext>,
}

/// A model's long-context tier, as returned to JS.
#[napi(object)]
pub struct JsLongContext {
    pub threshold_tokens: f64,
    pub input_micros_per_million_tokens: f64,
    pub output_micros_per_million_tokens: f64,
    pub cache_read_micros_per_million_tokens: Option<f64>,
    pub cache_write_micros_per_million_tokens: Option<f64>,
    #[napi(js_name = "cacheWrite1hMicrosPerMillionTokens")]
    pub cache_write_1h_micros_per_million_tokens: Option<f64>,
}

/// A request's normalized usage, from JS (counts the wrapper has checked to be
/// safe integers, with every part no larger than its whole).
#[napi(object)]
pub struct JsTokenCounts {
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub cache_read_tokens: f64,
    pub cache_write_tokens: f64,
    #[napi(js_name = "cacheWrite1hTokens")]
    pub cache_write_1h_tokens: f64,
    pub reasoning_tokens: f64,
}

impl From<&JsTokenCounts> for TokenUsage {
    fn from(usage: &JsTokenCounts) -> Self {
        TokenUsage::new(count(usage.input_tokens), count(usage.output_tokens))
            .with_cache_read_tokens(count(usage.cache_read_tokens))
            .with_cache_write_tokens(count(usage.cache_write_tokens))
            .with_cache_write_1h_tokens(count(usage.cache_write_1h_tokens))
            .with_reasoning_tokens(count(usage.reasoning_tokens))
    }
}

/// `Number.MAX_SAFE_INTEGER`: a cost above it is not exact in a JS number.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A `u64` price or count as a JS number, rounded to the nearest double
/// (exact up to 2^53, as every real price is).
fn js_number(value: u64) -> f64 {
    value as f64
}

/// The optional cache prices of one tier.
fn cache_prices(rates: &Rates) -> [Option<f64>; 3] {
    [
        rates.cache_read_micros_per_million_tokens(),
        rates.cache_write_micros_per_million_tokens(),
        rates.cache_write_1h_micros_per_million_tokens(),
    ]
    .map(|price| price.map(js_number))
}

/// `iron_cost::pricing::PricingManager`.
#[napi]
pub struct NativePricing {
    pub(crate) inner: PricingManager,
}

#[napi]
impl NativePricing {
    /// The embedded price table.
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Result<Self> {
        PricingManager::new()
            .map(|inner| Self { inner })
            .map_err(js_error)
    }

    /// A table in LiteLLM's `model_prices_and_context_window.json` format.
    #[napi(factory, catch_unwind)]
    pub fn from_litellm_json(text: String) -> Result<Self> {
        PricingManager::from_litellm_json(&text)
            .map(|inner| Self { inner })
            .map_err(js_error)
    }

    #[napi(catch_unwind)]
    pub fn get(&self, model: String) -> Option<JsModelPricing> {
        self.inner.get(&model).map(|p| {
            let [cache_read, cache_write, cache_write_1h] = cache_prices(p.rates());
            JsModelPricing {
                model: p.model().to_owned(),
                input_micros_per_million_tokens: js_number(p.input_micros_per_million_tokens()),
                output_micros_per_million_tokens: js_number(p.output_micros_per_million_tokens()),
                cache_read_micros_per_million_tokens: cache_read,
                cache_write_micros_per_million_tokens: cache_write,
                cache_write_1h_micros_per_million_tokens: cache_write_1h,
                long_context: p.long_context().map(|tier| {
                    let rates = tier.rates();
                    let [cache_read, cache_write, cache_write_1h] = cache_prices(rates);
                    JsLongContext {
                        threshold_tokens: js_number(tier.threshold_tokens()),
                        input_micros_per_million_tokens: js_number(
                            rates.input_micros_per_million_tokens(),
                        ),
                        output_micros_per_million_tokens: js_number(
                            rates.output_micros_per_million_tokens(),
                        ),
                        cache_read_micros_per_million_tokens: cache_read,
                        cache_write_micros_per_million_tokens: cache_write,
                        cache_write_1h_micros_per_million_tokens: cache_write_1h,
                    }
                }),
            }
        })
    }

    #[napi(catch_unwind)]
    pub fn cost_micros(&self, model: String, input_tokens: f64, output_tokens: f64) -> Option<f64> {
        self.inner
            .cost_micros(&model, count(input_tokens), count(output_tokens))
            .map(|c| c as f64)
    }

    /// The exact cost of a usage (`iron_cost::PricingManager::cost_micros_for`),
    /// saturated at `Number.MAX_SAFE_INTEGER` like the fallback's
    /// `usageCostMicros`; `None` for an unknown model.
    #[napi(catch_unwind)]
    pub fn cost_micros_for(&self, model: String, usage: JsTokenCounts) -> Option<f64> {
        self.inner
            .cost_micros_for(&model, &TokenUsage::from(&usage))
            .map(|cost| js_number(cost.min(MAX_SAFE_INTEGER)))
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    #[napi(getter)]
    pub fn checked_on(&self) -> String {
        self.inner.prices_checked_on().to_owned()
    }
}
