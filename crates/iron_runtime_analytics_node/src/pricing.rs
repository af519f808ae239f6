//! `NativePricing`: the core's price table as a JS object.

use iron_cost::pricing::PricingManager;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{count, js_error};

/// A price of one model, as returned to JS.
#[napi(object)]
pub struct JsModelPricing {
    pub model: String,
    pub input_micros_per_million_tokens: f64,
    pub output_micros_per_million_tokens: f64,
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
        self.inner.get(&model).map(|p| JsModelPricing {
            model: p.model().to_owned(),
            input_micros_per_million_tokens: p.input_micros_per_million_tokens() as f64,
            output_micros_per_million_tokens: p.output_micros_per_million_tokens() as f64,
        })
    }

    #[napi(catch_unwind)]
    pub fn cost_micros(&self, model: String, input_tokens: f64, output_tokens: f64) -> Option<f64> {
        self.inner
            .cost_micros(&model, count(input_tokens), count(output_tokens))
            .map(|c| c as f64)
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
