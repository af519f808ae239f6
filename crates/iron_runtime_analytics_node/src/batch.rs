//! The hot path: records packed by the wrapper, decoded and handed to the
//! core in one call per batch.

use std::time::Duration;

use iron_runtime_analytics::{LlmRecord, NameKey, RequestLatency};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::store::NativeStore;
use crate::{count, js_error};

/// Numbers per record in [`NativeStore::record_batch`]: kind (0 completed,
/// 1 failed), pricing index, model key, input tokens (a failure: the index
/// of its message in `messages`), output tokens, agent key, provider-id key,
/// duration ms, time-to-first-token ms, error-code key (keys, indexes and
/// latencies negative: absent).
const BATCH_STRIDE: usize = 10;

/// Strings joined into one by the wrapper, taken back apart by their
/// lengths in UTF-16 units (JS string lengths).
struct JoinedStrings<'a> {
    rest: &'a str,
    /// All ASCII: a length in UTF-16 units is a length in bytes.
    ascii: bool,
}

impl<'a> JoinedStrings<'a> {
    fn new(joined: &'a str) -> Self {
        Self {
            rest: joined,
            ascii: joined.is_ascii(),
        }
    }

    /// The next `units` UTF-16 units, or `None` past the end. (A lone
    /// surrogate arrives as U+FFFD, also one unit, so lengths still add up.)
    fn next(&mut self, units: usize) -> Option<&'a str> {
        let bytes = if self.ascii {
            units
        } else {
            let mut counted = 0;
            let mut bytes = 0;
            for c in self.rest.chars() {
                if counted >= units {
                    break;
                }
                counted += c.len_utf16();
                bytes += c.len_utf8();
            }
            if counted != units {
                return None;
            }
            bytes
        };
        let (head, tail) = (self.rest.get(..bytes)?, self.rest.get(bytes..)?);
        self.rest = tail;
        Some(head)
    }
}

/// A latency in milliseconds from JS (negative or NaN: not measured).
fn latency_ms(ms: f64) -> Option<Duration> {
    (ms >= 0.0).then(|| Duration::from_micros((ms * 1000.0).round() as u64))
}

fn key_or_none(keys: &[NameKey], index: i32) -> Result<Option<NameKey>> {
    if index < 0 {
        return Ok(None);
    }
    keys.get(index as usize)
        .copied()
        .map(Some)
        .ok_or_else(|| js_error(format!("unknown name key {index}")))
}

#[napi]
impl NativeStore {
    /// The hot path: `records` LLM requests packed in `batch` (see
    /// `BATCH_STRIDE`) plus the failures' messages, recorded in order with
    /// one boundary crossing. The wrapper validated every number; a bad key
    /// is still an error, not a panic.
    #[napi(catch_unwind)]
    pub fn record_batch(&self, batch: Float64Array, records: u32, messages: String) -> Result<()> {
        let mut guard = self.keys();
        let keys = &mut *guard;
        let mut out = Vec::with_capacity(records as usize);
        let mut messages = JoinedStrings::new(&messages);
        for r in batch.chunks_exact(BATCH_STRIDE).take(records as usize) {
            let model_index = r[2] as usize;
            let model = *keys
                .models
                .get(model_index)
                .ok_or_else(|| js_error("unknown model key"))?;
            let record = if r[0] == 1.0 {
                let code = if r[9] < 0.0 {
                    None
                } else {
                    Some(
                        keys.codes
                            .get(r[9] as usize)
                            .ok_or_else(|| js_error("unknown error-code key"))?
                            .as_str(),
                    )
                };
                let message = if r[3] < 0.0 {
                    None
                } else {
                    Some(
                        messages
                            .next(r[3] as usize)
                            .ok_or_else(|| js_error("error messages shorter than their lengths"))?,
                    )
                };
                LlmRecord::failed(model, code, message)
            } else {
                let (input, output) = (count(r[3]), count(r[4]));
                let cost = keys.prices.cost(
                    r[1] as usize,
                    model_index,
                    &keys.model_names,
                    input,
                    output,
                )?;
                LlmRecord::completed(model, input, output, cost).latency(RequestLatency {
                    duration: latency_ms(r[7]),
                    time_to_first_token: latency_ms(r[8]),
                })
            };
            let record = match key_or_none(&keys.names, r[5] as i32)? {
                Some(agent) => record.agent(agent),
                None => record,
            };
            out.push(match key_or_none(&keys.names, r[6] as i32)? {
                Some(provider_id) => record.provider_id(provider_id),
                None => record,
            });
        }
        self.inner.record_llm_batch(&out).map_err(js_error)?;
        Ok(())
    }
}
