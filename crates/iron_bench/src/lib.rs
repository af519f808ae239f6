//! Benchmarks of `iron_runtime_analytics` and `iron_cost` (this workspace)
//! against the published `iron_runtime_analytics` 0.4.0 / `iron_cost` 0.3.0
//! and against [`HandStore`], the store one would write by hand: a
//! `Mutex<HashMap<String, _>>` of per-model stats and a bounded
//! `Mutex<VecDeque<_>>` of events.
//!
//! The benches live in `benches/`: `compare` (criterion: recording, `stats()`,
//! one thread against two) and `heap` (dhat: heap bytes per buffered event and
//! per call). `bench/run-rust.sh` at the repository root runs both and writes
//! `bench/.out/rust.json`.

/// The request mix every bench and example here records, so their figures
/// describe the same traffic: 4 models of 3 providers in rotation, 3 agents,
/// one provider id, 1,200 prompt and 350 completion tokens.
pub mod workload {
    /// Model names, recorded in rotation (`MODELS[i % 4]`).
    pub const MODELS: [&str; 4] = [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-3-5-sonnet-20241022",
        "gemini-1.5-flash",
    ];
    /// Agent ids, in rotation (`AGENTS[i % 3]`).
    pub const AGENTS: [&str; 3] = ["agent_support", "agent_research", "agent_billing"];
    /// The provider (credential) id of every request.
    pub const PROVIDER_ID: &str = "ip_openai-001";
    /// Prompt tokens per request.
    pub const INPUT_TOKENS: u64 = 1_200;
    /// Completion tokens per request.
    pub const OUTPUT_TOKENS: u64 = 350;
}

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use iron_cost::pricing::PricingManager;

/// Per-model totals kept by [`HandStore`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandModelStats {
    /// Requests recorded (buffered or dropped).
    pub request_count: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
}

/// A completed LLM request as [`HandStore`] buffers it: owned strings, as a
/// straightforward implementation would keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandEvent {
    /// A per-store sequence number.
    pub id: u64,
    /// Unix time in milliseconds.
    pub timestamp_ms: u64,
    /// Model name.
    pub model: String,
    /// Provider inferred from the model name.
    pub provider: &'static str,
    /// Agent id, if any.
    pub agent_id: Option<String>,
    /// Provider key id, if any.
    pub provider_id: Option<String>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost, micro-dollars.
    pub cost_micros: u64,
}

/// The provider of a model, by name prefix (a hand-written stand-in for
/// `iron_runtime_analytics::infer_provider`).
pub fn hand_infer_provider(model: &str) -> &'static str {
    if model.starts_with("gpt-") || model.starts_with("o1") || model.starts_with("o3") {
        "openai"
    } else if model.starts_with("claude-") {
        "anthropic"
    } else if model.starts_with("gemini-") {
        "google"
    } else {
        "unknown"
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The "wrote it by hand" baseline: per-model stats in a
/// `Mutex<HashMap<String, HandModelStats>>`, events in a
/// `Mutex<VecDeque<HandEvent>>` holding at most `capacity` events (the
/// deque grows as it fills; an event arriving when it is full is dropped
/// and counted, and still counts in the stats).
#[derive(Debug)]
pub struct HandStore {
    capacity: usize,
    stats: Mutex<HashMap<String, HandModelStats>>,
    events: Mutex<VecDeque<HandEvent>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
}

impl HandStore {
    /// A store buffering at most `capacity` events.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            stats: Mutex::new(HashMap::new()),
            events: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The most events the buffer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records a completed request priced from `pricing` (0 for an unknown
    /// model); returns whether the event was buffered (`false`: dropped).
    pub fn record_llm_completed(
        &self,
        pricing: &PricingManager,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        agent_id: Option<&str>,
        provider_id: Option<&str>,
    ) -> bool {
        let cost_micros = pricing
            .get(model)
            .map_or(0, |p| p.calculate_cost_micros(input_tokens, output_tokens));
        self.record(HandEvent {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            timestamp_ms: now_ms(),
            model: model.to_owned(),
            provider: hand_infer_provider(model),
            agent_id: agent_id.map(str::to_owned),
            provider_id: provider_id.map(str::to_owned),
            input_tokens,
            output_tokens,
            cost_micros,
        })
    }

    /// Records a pre-built event; returns whether it was buffered.
    pub fn record(&self, event: HandEvent) -> bool {
        {
            let mut stats = lock(&self.stats);
            // get_mut first: the key is allocated once per model, not per call.
            let s = match stats.get_mut(event.model.as_str()) {
                Some(s) => s,
                None => stats.entry(event.model.clone()).or_default(),
            };
            s.request_count += 1;
            s.input_tokens += event.input_tokens;
            s.output_tokens += event.output_tokens;
            s.cost_micros += event.cost_micros;
        }
        let mut events = lock(&self.events);
        if events.len() >= self.capacity {
            drop(events);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            events.push_back(event);
            true
        }
    }

    /// A copy of the per-model stats.
    pub fn stats(&self) -> HashMap<String, HandModelStats> {
        lock(&self.stats).clone()
    }

    /// Events buffered now.
    pub fn len(&self) -> usize {
        lock(&self.events).len()
    }

    /// Whether no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped because the buffer was full.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Removes and returns every buffered event, oldest first: their room is free again.
    pub fn drain_all(&self) -> Vec<HandEvent> {
        lock(&self.events).drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_store_counts_and_drops() {
        let pricing = PricingManager::new().expect("embedded price table");
        let store = HandStore::with_capacity(3);
        let results: Vec<bool> = (0..5)
            .map(|i| {
                let model = if i % 2 == 0 {
                    "gpt-4o"
                } else {
                    "claude-3-5-sonnet-20241022"
                };
                store.record_llm_completed(&pricing, model, 1_000, 100, Some("agent_a"), None)
            })
            .collect();
        assert_eq!(results, [true, true, true, false, false]);
        assert_eq!(store.len(), 3);
        assert_eq!(store.dropped_count(), 2);

        // Dropped events still count in the stats, priced from the table.
        let stats = store.stats();
        let gpt = stats["gpt-4o"];
        assert_eq!(gpt.request_count, 3);
        assert_eq!(gpt.input_tokens, 3_000);
        assert_eq!(gpt.output_tokens, 300);
        let one = pricing
            .cost_micros("gpt-4o", 1_000, 100)
            .expect("gpt-4o is priced");
        assert!(one > 0);
        assert_eq!(gpt.cost_micros, 3 * one);
        assert_eq!(stats["claude-3-5-sonnet-20241022"].request_count, 2);

        // Buffered events keep their order and their fields.
        let drained = store.drain_all();
        let ids: Vec<u64> = drained.iter().map(|e| e.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        assert_eq!(drained[1].provider, "anthropic");
        assert_eq!(drained[0].agent_id.as_deref(), Some("agent_a"));
        assert!(store.is_empty());

        // Draining frees the room; drops resume only when full again.
        for _ in 0..3 {
            assert!(store.record_llm_completed(&pricing, "unknown-model", 1, 1, None, None));
        }
        assert!(!store.record_llm_completed(&pricing, "unknown-model", 1, 1, None, None));
        assert_eq!(store.dropped_count(), 3);
        assert_eq!(store.stats()["unknown-model"].cost_micros, 0);
        assert_eq!(store.stats()["unknown-model"].request_count, 4);
    }
}
