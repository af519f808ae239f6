//! `record_llm_batch`: the same events as one call each, in order, under one
//! clock reading; a refused record (foreign key, bad name, bad usage) never
//! affects the others; drops counted when full.

use std::sync::Arc;
use std::time::Duration;

use iron_runtime_analytics::{
    current_time_ms, AnalyticsEvent, EventStore, LlmRecord, ModelKey, RecordError, RequestLatency,
    TokenUsage,
};

fn model_key(store: &EventStore, name: &str) -> ModelKey {
    store
        .model_key(name)
        .expect("a valid name")
        .expect("below the cardinality limit")
}

/// What a test compares of an event: everything but the id.
fn fields(e: &AnalyticsEvent) -> (Option<String>, String) {
    (
        e.agent_id().map(|a| a.to_string()),
        format!("{:?}", e.payload()),
    )
}

fn latency(ms: u64) -> RequestLatency {
    RequestLatency {
        duration: Some(Duration::from_millis(ms)),
        time_to_first_token: None,
    }
}

#[test]
fn a_batch_records_what_single_calls_record_in_order() {
    let (batched, single) = (EventStore::new(), EventStore::new());
    let before = current_time_ms();
    for store in [&batched, &single] {
        let gpt = model_key(store, "gpt-4o");
        let claude = model_key(store, "claude-3-5-sonnet-20241022");
        let agent = store.agent_key("agent-1").unwrap().unwrap();
        let key = store.label_key("ip_1").unwrap().unwrap();
        let records = [
            LlmRecord::completed(gpt, 100, 20, 450)
                .agent(agent)
                .latency(latency(120)),
            LlmRecord::failed(claude, Some("rate_limit"), Some("slow down")).provider_id(key),
            LlmRecord::completed(claude, 7, 3, 66)
                .agent(agent)
                .provider_id(key),
            LlmRecord::failed(gpt, None, None),
        ];
        if std::ptr::eq(store, &batched) {
            let outcome = store.record_llm_batch(&records);
            assert_eq!((outcome.buffered, outcome.refused.len()), (4, 0));
        } else {
            for record in records {
                store.record_llm(record).unwrap();
            }
        }
    }
    let after = current_time_ms();
    assert_eq!(batched.stats(), single.stats());
    let (b, s) = (batched.snapshot_events(), single.snapshot_events());
    assert_eq!(
        b.iter().map(fields).collect::<Vec<_>>(),
        s.iter().map(fields).collect::<Vec<_>>()
    );
    assert!(
        b.windows(2).all(|w| w[0].event_id() < w[1].event_id()),
        "ids increase in batch order"
    );
    // One clock reading for the batch: every event carries the same millisecond.
    let stamp = b[0].timestamp_ms();
    assert!((before..=after).contains(&stamp));
    assert!(b.iter().all(|e| e.timestamp_ms() == stamp));
    assert_eq!(batched.record_llm_batch(&[]).buffered, 0);
}

#[test]
fn a_batch_longer_than_one_lock_run_stays_in_order() {
    let store = EventStore::new();
    let model = model_key(&store, "gpt-4o");
    let records: Vec<_> = (0..3_000)
        .map(|i| LlmRecord::completed(model, i, 0, 0))
        .collect();
    assert_eq!(store.record_llm_batch(&records).buffered, 3_000);
    let events = store.snapshot_events();
    let tokens: Vec<u64> = events
        .iter()
        .map(|e| match e.payload() {
            iron_runtime_analytics::EventPayload::LlmRequestCompleted(u) => u.input_tokens,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(tokens, (0..3_000).collect::<Vec<_>>());
    assert!(events.windows(2).all(|w| w[0].event_id() < w[1].event_id()));
    assert!(events
        .iter()
        .all(|e| e.timestamp_ms() == events[0].timestamp_ms()));
}

#[test]
fn a_refused_record_never_affects_the_others() {
    let (store, other) = (EventStore::new(), EventStore::new());
    let mine = model_key(&store, "gpt-4o");
    let theirs = other.agent_key("agent-1").unwrap().unwrap();
    let too_long = "m".repeat(257);
    let bad_usage = TokenUsage {
        cache_read_tokens: 11,
        ..TokenUsage::new(10, 1)
    };
    let records = [
        LlmRecord::completed(mine, 1, 1, 1),
        LlmRecord::failed(mine, None, None).agent(theirs),
        LlmRecord::failed(too_long.as_str(), None, Some("kept")),
        LlmRecord::completed(mine, 0, 0, 0).usage(bad_usage),
        LlmRecord::failed("claude-3-haiku-20240307", Some("timeout"), None),
    ];
    let outcome = store.record_llm_batch(&records);
    assert_eq!(outcome.buffered, 2);
    let refused: Vec<usize> = outcome.refused.iter().map(|(i, _)| *i).collect();
    assert_eq!(refused, [1, 2, 3]);
    assert_eq!(outcome.refused[0].1, RecordError::ForeignKey);
    assert!(matches!(
        outcome.refused[1].1,
        RecordError::NameTooLong {
            field: "model",
            chars: 257
        }
    ));
    assert!(matches!(outcome.refused[2].1, RecordError::InvalidUsage(_)));
    let a = store.accounting();
    assert_eq!((a.recorded, a.buffered), (2, 2));
    assert_eq!(store.stats().total_requests, 2);
    assert_eq!(store.stats().failed_requests, 1);
}

#[test]
fn a_full_buffer_drops_the_rest_and_counts_them() {
    let store = EventStore::with_capacity(3);
    let model = model_key(&store, "gpt-4o");
    let records = vec![LlmRecord::completed(model, 10, 10, 5); 5];
    assert_eq!(store.record_llm_batch(&records).buffered, 3);
    let a = store.accounting();
    assert_eq!((a.recorded, a.buffered, a.dropped), (5, 3, 2));
    assert!(a.is_balanced());
    assert_eq!(store.stats().total_requests, 5);
    // Room frees up once the buffer is drained.
    assert_eq!(store.drain_all().len(), 3);
    assert_eq!(store.record_llm_batch(&records[..2]).buffered, 2);
}

#[test]
fn a_streaming_store_streams_every_batched_event_in_order() {
    let (store, rx) = EventStore::with_streaming(100, 100);
    let model = model_key(&store, "gpt-4o");
    let records: Vec<_> = (1..=5)
        .map(|i| LlmRecord::completed(model, i, 0, 0))
        .collect();
    store.record_llm_batch(&records);
    let streamed: Vec<_> = rx.try_iter().map(|e| e.event_id()).collect();
    let buffered: Vec<_> = store
        .snapshot_events()
        .iter()
        .map(AnalyticsEvent::event_id)
        .collect();
    assert_eq!(streamed, buffered);
}

#[test]
fn batches_from_many_threads_balance_with_a_drainer() {
    let store = Arc::new(EventStore::with_capacity(500));
    let model = model_key(&store, "gpt-4o");
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let records = vec![LlmRecord::completed(model, 1, 1, 1); 16];
                (0..500)
                    .map(|_| store.record_llm_batch(&records).buffered)
                    .sum::<usize>()
            })
        })
        .collect();
    let drainer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut drained = 0;
            for _ in 0..200 {
                drained += store.drain_all().len();
                assert!(store.accounting().is_balanced());
                std::thread::yield_now();
            }
            drained
        })
    };
    let buffered: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let drained = drainer.join().unwrap() + store.drain_all().len();
    let a = store.accounting();
    assert_eq!(a.recorded, 4 * 500 * 16);
    assert_eq!(
        drained, buffered,
        "every buffered event is drained exactly once"
    );
    assert_eq!(a.dropped as usize, 4 * 500 * 16 - buffered);
    assert_eq!(store.stats().total_requests, 4 * 500 * 16);
}
