//! napi-rs binding of `iron_runtime_analytics` for Node.js.
//!
//! Conversions only: every behaviour lives in the Rust core. The TypeScript
//! wrapper (`src/native/`) validates arguments (so errors are the same
//! `TypeError`/`RangeError` as the pure-JS fallback), writes records into a
//! batch buffer this addon owns (`batch.rs`), and decodes readings packed as
//! numbers plus a few strings (`packed.rs`). Every layout shared with the
//! wrapper comes from `layout.json` (`layout.rs`). Every exported function
//! catches panics (`catch_unwind`), so no Rust panic crosses into Node: it
//! becomes a JS `Error`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

mod batch;
mod layout;
mod packed;
mod pricing;
mod store;
mod stream;
pub mod sync; // pub: `take_warnings` is a free function the addon exports

fn js_error(e: impl std::fmt::Display) -> Error {
    Error::new(Status::GenericFailure, e.to_string())
}

/// A count from JS the wrapper has checked to be a non-negative safe integer
/// (anything else is clamped: NaN and negatives to 0).
fn count(n: f64) -> u64 {
    n as u64
}

/// A count for JS: exact below 2^53; above, `Number.MAX_SAFE_INTEGER`, and
/// `saturated` is set so that the wrapper can say so.
fn to_js_count(n: u64, saturated: &mut bool) -> f64 {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    if n > MAX_SAFE {
        *saturated = true;
        MAX_SAFE as f64
    } else {
        n as f64
    }
}

#[napi(catch_unwind)]
pub fn infer_provider(model: String) -> String {
    iron_runtime_analytics::infer_provider(&model)
        .as_str()
        .to_owned()
}

/// The digest of the `layout.json` this addon was built from; the wrapper
/// refuses an addon whose layouts differ from its own.
#[napi(catch_unwind)]
pub fn layout_hash() -> u32 {
    layout::LAYOUT_HASH
}
