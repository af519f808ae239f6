//! napi-rs binding of `iron_runtime_analytics` for Node.js.
//!
//! Conversions only: every behaviour lives in the Rust core. The TypeScript
//! wrapper (`src/native/`) validates arguments (so errors are the same
//! `TypeError`/`RangeError` as the pure-JS fallback) and interns strings:
//! a model, agent or provider id crosses the boundary once, then as a small
//! integer. Every exported function catches panics (`catch_unwind`), so no
//! Rust panic crosses into Node: it becomes a JS `Error`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

mod batch;
mod packed;
mod pricing;
mod store;
mod stream;
pub mod sync; // pub: `take_warnings` is a free function the addon exports

fn js_error(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

/// Token counts arrive as JS numbers the wrapper has checked to be safe integers.
fn count(n: f64) -> u64 {
    n as u64
}

#[napi(catch_unwind)]
pub fn infer_provider(model: String) -> String {
    iron_runtime_analytics::infer_provider(&model)
        .as_str()
        .to_owned()
}
