//! The hot path: records the wrapper writes into a buffer this addon owns,
//! decoded and handed to the core in one call per batch.
//!
//! The buffer is Rust memory handed to JS as an external `ArrayBuffer`
//! (layout: `batch` in `layout.json`). Because the addon owns it, records the
//! wrapper accepted but has not flushed yet still reach the store when the
//! thread ends without running any more JS: `worker.terminate()`,
//! `process.exit()` from a worker. An env cleanup hook flushes every batch
//! of the thread then; dropping a store object flushes its batch too.
//!
//! A record that cannot be decoded (an unknown key, a bad number, bytes
//! that are not UTF-8) is counted as lost with the reason
//! ([`EventStore::record_lost`]) and never affects the other records.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use iron_cost::pricing::{PricingManager, TokenUsage};
use iron_runtime_analytics::{EventStore, LlmRecord, ModelRef, NameRef, RequestLatency};
use napi::bindgen_prelude::*;

use crate::layout::*;

/// f64 slots of the buffer: the header, then the records.
const SLOTS: usize = BATCH_HEADER_LEN + BATCH_RECORDS * RECORD_LEN;
/// 8-byte words of the string area after the slots.
const STRING_WORDS: usize = BATCH_STRING_BYTES.div_ceil(8);
/// The largest count a record may carry (JS numbers are exact up to here).
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// The buffer. Atomics so that memory JS writes through its view is never
/// mutated behind a Rust shared reference: JS and Rust touch it only from
/// the store object's own thread, one at a time, so `Relaxed` suffices.
pub(crate) struct BatchMemory {
    words: Box<[AtomicU64]>,
}

impl BatchMemory {
    fn new() -> Self {
        Self {
            words: (0..SLOTS + STRING_WORDS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn slot(&self, i: usize) -> f64 {
        f64::from_bits(self.words[i].load(Ordering::Relaxed))
    }

    fn set(&self, i: usize, v: f64) {
        self.words[i].store(v.to_bits(), Ordering::Relaxed);
    }

    /// A copy of the first `len` bytes of the string area.
    fn string_bytes(&self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len.next_multiple_of(8));
        for word in &self.words[SLOTS..SLOTS + len.div_ceil(8)] {
            // Native byte order: JS writes bytes through a Uint8Array view of
            // the same memory.
            out.extend_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        out.truncate(len);
        out
    }

    fn len_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// A store object's batch: its memory, the store it feeds, and the price
/// tables its records refer to by index.
pub(crate) struct BatchShared {
    pub(crate) memory: Arc<BatchMemory>,
    pub(crate) store: Arc<EventStore>,
    pub(crate) pricings: Mutex<Vec<PricingManager>>,
}

thread_local! {
    /// The batches of the store objects of this thread, flushed when its
    /// env is torn down (end of a worker, `worker.terminate()`, exit).
    static THREAD_BATCHES: RefCell<ThreadBatches> = RefCell::new(ThreadBatches::default());
}

#[derive(Default)]
struct ThreadBatches {
    hooked: bool,
    batches: Vec<Weak<BatchShared>>,
}

impl BatchShared {
    pub(crate) fn new(env: &Env, store: Arc<EventStore>) -> Result<Arc<Self>> {
        let shared = Arc::new(Self {
            memory: Arc::new(BatchMemory::new()),
            store,
            pricings: Mutex::default(),
        });
        let hook_needed = THREAD_BATCHES.with(|t| {
            let mut t = t.borrow_mut();
            t.batches.retain(|b| b.strong_count() > 0);
            t.batches.push(Arc::downgrade(&shared));
            !std::mem::replace(&mut t.hooked, true)
        });
        if hook_needed {
            env.add_env_cleanup_hook((), |()| flush_thread_batches())?;
        }
        Ok(shared)
    }

    /// The buffer as an external `ArrayBuffer` (once per store object).
    pub(crate) fn array_buffer<'env>(&self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
        let memory = Arc::clone(&self.memory);
        let data = memory.words.as_ptr().cast::<u8>().cast_mut();
        let len = memory.len_bytes();
        // SAFETY: `data` points to `len` bytes owned by `memory`, which the
        // finalize hint keeps alive for as long as the ArrayBuffer lives
        // (and `self` holds another reference). The memory is `AtomicU64`s:
        // interior mutability, so JS writing through the buffer never
        // mutates memory behind a Rust shared reference; both sides use it
        // from this thread only, never at once. It is 8-byte aligned, so the
        // wrapper's Float64Array view is aligned. One ArrayBuffer per memory.
        unsafe { ArrayBuffer::from_external(env, data, len, memory, |_, memory| drop(memory)) }
    }

    /// Whether the wrapper's write of the check value reached this memory
    /// (false where the runtime copies external buffers: then the wrapper
    /// hands its records over with [`BatchShared::flush_copy`]).
    pub(crate) fn is_shared(&self) -> bool {
        self.memory.slot(BATCH_HEADER_CHECK) == BATCH_CHECK
    }

    /// Records what the wrapper wrote, and empties the batch. Returns how
    /// many records were lost (counted in the store with the reason).
    pub(crate) fn flush(&self) -> u64 {
        let memory = &self.memory;
        let lost = self.decode(
            |i| memory.slot(i),
            memory.slot(BATCH_HEADER_PENDING),
            memory.slot(BATCH_HEADER_STRING_BYTES_USED),
            |len| memory.string_bytes(len),
        );
        memory.set(BATCH_HEADER_PENDING, 0.0);
        memory.set(BATCH_HEADER_STRING_BYTES_USED, 0.0);
        lost
    }

    /// [`BatchShared::flush`] from the wrapper's own copy of the buffer.
    pub(crate) fn flush_copy(&self, slots: &[f64], bytes: &[u8]) -> u64 {
        let slot = |i: usize| slots.get(i).copied().unwrap_or(f64::NAN);
        self.decode(
            slot,
            slot(BATCH_HEADER_PENDING),
            slot(BATCH_HEADER_STRING_BYTES_USED),
            |len| bytes[..len.min(bytes.len())].to_vec(),
        )
    }

    fn decode(
        &self,
        slot: impl Fn(usize) -> f64,
        pending: f64,
        used: f64,
        read_bytes: impl FnOnce(usize) -> Vec<u8>,
    ) -> u64 {
        if pending == 0.0 {
            return 0;
        }
        let store = &self.store;
        let records = if pending > 0.0 && pending <= BATCH_RECORDS as f64 {
            pending as usize
        } else {
            // Unreadable: the records are gone, but never silently.
            let n = if pending.is_finite() && pending > 0.0 {
                BATCH_RECORDS as u64
            } else {
                1
            };
            store.record_lost(n, &format!("a batch with {pending} records"));
            return n;
        };
        let used = if used >= 0.0 && used <= BATCH_STRING_BYTES as f64 {
            used as usize
        } else {
            store.record_lost(records as u64, &format!("a batch with {used} string bytes"));
            return records as u64;
        };
        let bytes = read_bytes(used);
        let pricings = self.pricings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut decoder = Decoder {
            store,
            pricings: &pricings,
            bytes: &bytes,
            cursor: 0,
        };
        let mut out = Vec::with_capacity(records);
        let mut lost = 0u64;
        let mut reason = None;
        for r in 0..records {
            let base = BATCH_HEADER_LEN + r * RECORD_LEN;
            let fields: [f64; RECORD_LEN] = std::array::from_fn(|k| slot(base + k));
            match decoder.record(&fields) {
                Ok(record) => out.push(record),
                Err(why) => {
                    lost += 1;
                    reason.get_or_insert_with(|| why.to_string());
                }
            }
        }
        // The batch's first record was accepted at `recordedAtMs`: no event
        // is stamped later than its record call returned.
        let at_ms = whole(slot(BATCH_HEADER_RECORDED_AT_MS), MAX_SAFE)
            .filter(|&ms| ms > 0)
            .unwrap_or_else(iron_runtime_analytics::current_time_ms);
        let outcome = store.record_llm_batch_at(&out, at_ms);
        if let Some((_, e)) = outcome.refused.first() {
            lost += outcome.refused.len() as u64;
            reason.get_or_insert_with(|| e.to_string());
        }
        if let Some(reason) = reason {
            store.record_lost(
                lost,
                &format!("the addon could not record a batched record: {reason}"),
            );
        }
        lost
    }
}

/// Flushes the batches of this thread's store objects (env teardown).
fn flush_thread_batches() {
    let batches = THREAD_BATCHES.with(|t| {
        let mut t = t.borrow_mut();
        t.hooked = false;
        std::mem::take(&mut t.batches)
    });
    for batch in batches.iter().filter_map(Weak::upgrade) {
        // A panic must not unwind into Node's teardown.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| batch.flush()));
    }
}

/// `v` as a whole number in `0..=max`, or `None` (NaN, negative, fractional,
/// too large). A cast round trip, not `f64::fract`: that is a libm call per
/// slot, a fifth of the addon's time per record.
#[inline]
fn whole(v: f64, max: f64) -> Option<u64> {
    let n = v as u64; // saturating: NaN and negatives give 0, caught below
    (v <= max && n as f64 == v).then_some(n)
}

/// Why a record could not be decoded: small and `Copy`, so that the happy
/// path carries no `String`; worded only when a record is lost.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Slot(&'static str, f64),
    UnknownKey(&'static str, u32),
    NoModel,
    StringsPastEnd,
    NotUtf8,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Slot(what, v) => write!(f, "a {what} slot of {v}"),
            Bad::UnknownKey(what, i) => write!(f, "an unknown {what} key {i}"),
            Bad::NoModel => f.write_str("a record without a model"),
            Bad::StringsPastEnd => f.write_str("string bytes past the end of the batch"),
            Bad::NotUtf8 => f.write_str("string bytes that are not UTF-8"),
        }
    }
}

/// A decoding step's result.
type Decoded<T> = std::result::Result<T, Bad>;

/// A name slot: a key index, absent, or that many bytes of string.
#[derive(Clone, Copy)]
enum Slot {
    Key(u32),
    Absent,
    Inline(usize),
}

#[inline]
fn name_slot(v: f64, what: &'static str) -> Decoded<Slot> {
    if let Some(key) = whole(v, f64::from(u32::MAX)) {
        Ok(Slot::Key(key as u32))
    } else if v == -1.0 {
        Ok(Slot::Absent)
    } else if let Some(len) = whole(-v - 2.0, BATCH_STRING_BYTES as f64) {
        Ok(Slot::Inline(len as usize))
    } else {
        Err(Bad::Slot(what, v))
    }
}

#[inline]
fn count_slot(v: f64, what: &'static str) -> Decoded<u64> {
    whole(v, MAX_SAFE).ok_or(Bad::Slot(what, v))
}

#[inline]
fn latency_slot(ms: f64) -> Option<Duration> {
    // Rounded half up (the wrapper checked it is non-negative): what
    // `f64::round` gives for these, without its libm call.
    (ms >= 0.0 && ms.is_finite()).then(|| Duration::from_micros((ms * 1000.0 + 0.5) as u64))
}

struct Decoder<'a> {
    store: &'a EventStore,
    pricings: &'a [PricingManager],
    bytes: &'a [u8],
    cursor: usize,
}

impl<'a> Decoder<'a> {
    /// The next `len` bytes as a string. Moves on even when they are not
    /// UTF-8, so that the next records still find theirs.
    fn text(&mut self, len: usize) -> Decoded<&'a str> {
        let start = self.cursor;
        self.cursor = self.cursor.saturating_add(len);
        let raw = self
            .bytes
            .get(start..start.saturating_add(len))
            .ok_or(Bad::StringsPastEnd)?;
        std::str::from_utf8(raw).map_err(|_| Bad::NotUtf8)
    }

    #[inline]
    fn name(
        &mut self,
        v: f64,
        what: &'static str,
        key: impl Fn(u32) -> Option<iron_runtime_analytics::NameKey>,
    ) -> Decoded<Option<NameRef<'a>>> {
        Ok(match name_slot(v, what)? {
            Slot::Absent => None,
            Slot::Key(i) => Some(NameRef::Key(key(i).ok_or(Bad::UnknownKey(what, i))?)),
            Slot::Inline(len) => Some(NameRef::Name(self.text(len)?)),
        })
    }

    fn record(&mut self, f: &[f64; RECORD_LEN]) -> Decoded<LlmRecord<'a>> {
        // Every inline string is read in field order before anything can
        // fail, so that a bad record never shifts the next one's strings.
        let store = self.store;
        let model = match name_slot(f[RECORD_MODEL], "model") {
            Ok(Slot::Key(i)) => store
                .model_key_at(i)
                .map(ModelRef::Key)
                .ok_or(Bad::UnknownKey("model", i)),
            Ok(Slot::Inline(len)) => self.text(len).map(ModelRef::Name),
            Ok(Slot::Absent) => Err(Bad::NoModel),
            Err(e) => Err(e),
        };
        let agent = self.name(f[RECORD_AGENT], "agent", |i| store.agent_key_at(i));
        let provider_id = self.name(f[RECORD_PROVIDER_ID], "provider id", |i| {
            store.label_key_at(i)
        });
        let error_code = self.name(f[RECORD_ERROR_CODE], "error code", |i| {
            store.label_key_at(i)
        });
        let m = f[RECORD_MESSAGE];
        let message = if m == -1.0 {
            Ok(None)
        } else if let Some(len) = whole(m, BATCH_STRING_BYTES as f64) {
            self.text(len as usize).map(Some)
        } else {
            Err(Bad::Slot("message", m))
        };
        let request_model = match name_slot(f[RECORD_REQUEST_MODEL], "request model") {
            Ok(Slot::Key(i)) => store
                .model_key_at(i)
                .map(|k| Some(ModelRef::Key(k)))
                .ok_or(Bad::UnknownKey("request model", i)),
            Ok(Slot::Inline(len)) => self.text(len).map(|m| Some(ModelRef::Name(m))),
            Ok(Slot::Absent) => Ok(None),
            Err(e) => Err(e),
        };
        let operation = self.name(f[RECORD_OPERATION], "operation", |i| store.label_key_at(i));
        let (model, agent, provider_id, error_code, message, request_model, operation) = (
            model?,
            agent?,
            provider_id?,
            error_code?,
            message?,
            request_model?,
            operation?,
        );
        let mut record = if f[RECORD_KIND] == RECORD_KIND_FAILED as f64 {
            let record = LlmRecord::failed(model, None, message).latency(RequestLatency {
                duration: latency_slot(f[RECORD_DURATION_MS]),
                time_to_first_token: None,
            });
            match error_code {
                Some(code) => record.error_code(code),
                None => record,
            }
        } else if f[RECORD_KIND] == RECORD_KIND_COMPLETED as f64 {
            let usage = TokenUsage {
                input_tokens: count_slot(f[RECORD_INPUT_TOKENS], "input tokens")?,
                output_tokens: count_slot(f[RECORD_OUTPUT_TOKENS], "output tokens")?,
                cache_read_tokens: count_slot(f[RECORD_CACHE_READ_TOKENS], "cache read tokens")?,
                cache_write_tokens: count_slot(f[RECORD_CACHE_WRITE_TOKENS], "cache write tokens")?,
                cache_write_1h_tokens: count_slot(
                    f[RECORD_CACHE_WRITE1H_TOKENS],
                    "1-hour cache write tokens",
                )?,
                reasoning_tokens: count_slot(f[RECORD_REASONING_TOKENS], "reasoning tokens")?,
            };
            let pricing = f[RECORD_PRICING];
            let table = whole(pricing, f64::from(u32::MAX))
                .and_then(|i| self.pricings.get(i as usize))
                .ok_or(Bad::Slot("pricing", pricing))?;
            LlmRecord::priced(model, table, usage).latency(RequestLatency {
                duration: latency_slot(f[RECORD_DURATION_MS]),
                time_to_first_token: latency_slot(f[RECORD_TTFT_MS]),
            })
        } else {
            return Err(Bad::Slot("kind", f[RECORD_KIND]));
        };
        if let Some(agent) = agent {
            record = record.agent(agent);
        }
        if let Some(id) = provider_id {
            record = record.provider_id(id);
        }
        if let Some(requested) = request_model {
            record = record.request_model(requested);
        }
        if let Some(operation) = operation {
            record = record.operation(operation);
        }
        Ok(record)
    }
}
