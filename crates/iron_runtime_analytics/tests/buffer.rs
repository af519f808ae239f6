//! The outbox: bounded, drops counted, room freed by sync and drain, FIFO
//! non-destructive snapshots, local events never taking room.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::{
    EventPayload, EventStore, EventType, StoreError, DEFAULT_CAPACITY, MAX_CAPACITY,
};

fn pricing() -> PricingManager {
    PricingManager::new().expect("embedded table")
}

fn completed(
    store: &EventStore,
    p: &PricingManager,
    tokens: u64,
) -> Option<iron_runtime_analytics::EventId> {
    store
        .try_record_llm_completed(p, "gpt-4", tokens, 1, None, None)
        .expect("valid input")
}

fn tokens_of(events: &[iron_runtime_analytics::AnalyticsEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e.payload() {
            EventPayload::LlmRequestCompleted(d) => Some(d.input_tokens),
            _ => None,
        })
        .collect()
}

#[test]
fn default_capacity_is_ten_thousand() {
    let store = EventStore::new();
    assert_eq!(store.capacity(), DEFAULT_CAPACITY);
    assert_eq!(DEFAULT_CAPACITY, 10_000);
    assert!(store.is_empty());
    assert_eq!(store.len(), 0);
    assert_eq!(store.dropped_count(), 0);
    assert_eq!(store.unsynced_count(), 0);
}

#[test]
fn capacity_is_validated() {
    assert_eq!(
        EventStore::try_with_capacity(0).unwrap_err(),
        StoreError::InvalidCapacity(0)
    );
    assert!(EventStore::try_with_capacity(MAX_CAPACITY + 1).is_err());
    assert_eq!(EventStore::try_with_capacity(1).unwrap().capacity(), 1);
    assert_eq!(EventStore::with_capacity(1).capacity(), 1);
    assert!(EventStore::try_with_streaming(0, 1).is_err());
    let message = StoreError::InvalidCapacity(0).to_string();
    assert!(message.contains("between 1 and"), "{message}");
}

#[test]
#[should_panic(expected = "EventStore::with_capacity: capacity must be between 1 and")]
fn infallible_constructor_panics_on_zero_capacity() {
    let _ = EventStore::with_capacity(0);
}

#[test]
#[should_panic(expected = "EventStore::with_streaming: capacity must be between 1 and")]
fn infallible_streaming_constructor_panics_on_zero_capacity() {
    let _ = EventStore::with_streaming(0, 10);
}

#[test]
fn a_zero_channel_is_a_rendezvous() {
    // As with crossbeam's `bounded(0)`: an event reaches the receiver only if
    // it is waiting at that instant; the others are counted, never block.
    let (store, rx) = EventStore::with_streaming(10, 0);
    store.record_router_started(1);
    assert_eq!(store.stream_dropped_count(), 1);
    assert!(rx.try_recv().is_err());
    std::thread::scope(|s| {
        let waiting = s.spawn(|| rx.recv_timeout(std::time::Duration::from_secs(30)));
        // Keep offering until the receiver is waiting and takes one.
        while !waiting.is_finished() {
            store.record_router_started(2);
            std::thread::yield_now();
        }
        let got = waiting.join().expect("receiver thread").expect("an event");
        assert_eq!(got.payload, EventPayload::RouterStarted { port: 2 });
    });
    assert_eq!(
        store.accounting().recorded,
        store.stream_dropped_count() + 1
    );
}

#[test]
fn full_buffer_drops_new_events_and_counts_them() {
    let p = pricing();
    let store = EventStore::with_capacity(3);
    for t in 1..=5 {
        let id = completed(&store, &p, t);
        assert_eq!(id.is_some(), t <= 3, "event {t}");
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.dropped_count(), 2);
    assert_eq!(
        tokens_of(&store.snapshot_events()),
        [1, 2, 3],
        "the oldest are kept"
    );
    // Stats count what was recorded, dropped or not.
    let stats = store.stats();
    assert_eq!(stats.total_requests, 5);
    assert_eq!(stats.total_input_tokens, 15);
}

#[test]
fn the_buffer_never_clogs_past_its_capacity() {
    // Upstream: after 10,000 events every new event is dropped forever.
    let p = pricing();
    let store = EventStore::new();
    for round in 0..5 {
        for t in 0..10_000 {
            assert!(
                completed(&store, &p, t).is_some(),
                "round {round} event {t}"
            );
        }
        assert_eq!(store.unsynced_count(), 10_000);
        let ids: Vec<_> = store
            .unsynced_events()
            .iter()
            .map(|e| e.event_id())
            .collect();
        assert_eq!(store.mark_synced(&ids), 10_000);
        assert_eq!(store.len(), 0);
    }
    assert_eq!(store.dropped_count(), 0);
    let a = store.accounting();
    assert_eq!((a.recorded, a.synced, a.buffered), (50_000, 50_000, 0));
}

#[test]
fn mark_synced_frees_exactly_the_room_of_the_events_it_removes() {
    let p = pricing();
    let store = EventStore::with_capacity(4);
    let ids: Vec<_> = (0..4).map(|t| completed(&store, &p, t).unwrap()).collect();
    assert!(completed(&store, &p, 99).is_none());
    // Unknown and repeated ids are ignored.
    assert_eq!(store.mark_synced(&[ids[1], ids[1], ids[2]]), 2);
    assert_eq!(store.mark_synced(&[ids[1]]), 0);
    assert!(completed(&store, &p, 10).is_some());
    assert!(completed(&store, &p, 11).is_some());
    assert!(completed(&store, &p, 12).is_none());
    assert_eq!(tokens_of(&store.snapshot_events()), [0, 3, 10, 11]);
    assert_eq!(store.dropped_count(), 2);
}

#[test]
fn ids_from_another_store_are_ignored() {
    let p = pricing();
    let a = EventStore::new();
    let b = EventStore::new();
    let id = completed(&a, &p, 1).unwrap();
    completed(&b, &p, 1).unwrap();
    assert_eq!(b.mark_synced(&[id]), 0);
    assert_eq!(b.len(), 1);
    assert_eq!(a.mark_synced(&[id]), 1);
}

#[test]
fn snapshots_are_fifo_and_non_destructive() {
    let p = pricing();
    let store = EventStore::new();
    for t in 0..1_000 {
        completed(&store, &p, t);
    }
    let first = store.snapshot_events();
    let second = store.snapshot_events();
    assert_eq!(first, second);
    assert_eq!(tokens_of(&first), (0..1_000).collect::<Vec<_>>());
    assert_eq!(store.len(), 1_000);
    let timestamps: Vec<u64> = first.iter().map(|e| e.timestamp_ms()).collect();
    assert!(timestamps.windows(2).all(|w| w[0] <= w[1]));
    let ids: Vec<_> = first.iter().map(|e| e.event_id()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids order events oldest first"
    );
}

#[test]
fn drain_all_removes_everything_and_frees_room() {
    let p = pricing();
    let store = EventStore::with_capacity(2);
    completed(&store, &p, 1);
    store.record_router_started(80);
    completed(&store, &p, 2);
    let drained = store.drain_all();
    assert_eq!(
        drained.len(),
        2,
        "the router event was evicted to make room for an LLM event"
    );
    assert_eq!(tokens_of(&drained), [1, 2]);
    assert!(store.is_empty());
    assert!(store.drain_all().is_empty());
    assert!(completed(&store, &p, 3).is_some());
    assert!(completed(&store, &p, 4).is_some());
    let a = store.accounting();
    assert_eq!((a.drained, a.evicted, a.buffered, a.recorded), (2, 1, 2, 5));
    assert!(a.is_balanced());
}

#[test]
fn unsynced_counts_only_events_that_are_sent() {
    let p = pricing();
    let store = EventStore::new();
    store.record_router_started(8080);
    let a = completed(&store, &p, 1).unwrap();
    store.record_budget_threshold(80, 8, 10, Some("agent"));
    store
        .try_record_llm_failed("claude-3-haiku-20240307", None, None, None, None)
        .unwrap();
    store.record_router_stopped();
    assert_eq!(store.len(), 5);
    assert_eq!(store.unsynced_count(), 2);
    let unsynced = store.unsynced_events();
    assert_eq!(unsynced.len(), 2);
    assert!(unsynced.iter().all(|e| e.event_type().is_synced()));
    assert_eq!(store.mark_synced(&[a]), 1);
    assert_eq!(store.unsynced_count(), 1);
    assert!(store.unsynced_events().iter().all(|e| e.event_id() != a));
    // Local events cannot be marked synced: they are never sent.
    let local = store.snapshot_events()[0].event_id();
    assert_eq!(store.mark_synced(&[local]), 0);
    assert_eq!(store.unsynced_events_limit(0).len(), 0);
}

#[test]
fn local_events_never_take_room_from_llm_events() {
    let p = pricing();
    let store = EventStore::with_capacity(3);
    store.record_router_started(1);
    store.record_router_started(2);
    store.record_router_started(3);
    assert_eq!(store.len(), 3);
    // Each LLM event evicts the oldest local event.
    assert!(completed(&store, &p, 10).is_some());
    assert!(completed(&store, &p, 11).is_some());
    let kinds: Vec<EventType> = store
        .snapshot_events()
        .iter()
        .map(|e| e.event_type())
        .collect();
    assert_eq!(
        kinds,
        [
            EventType::RouterStarted,
            EventType::LlmRequestCompleted,
            EventType::LlmRequestCompleted
        ]
    );
    match store.snapshot_events()[0].payload() {
        EventPayload::RouterStarted { port } => assert_eq!(*port, 3, "the oldest went first"),
        other => panic!("{other:?}"),
    }
    assert!(completed(&store, &p, 12).is_some());
    assert!(
        completed(&store, &p, 13).is_none(),
        "full of LLM events: drop"
    );
    // A local event arriving at a buffer full of LLM events is evicted itself.
    store.record_router_stopped();
    assert_eq!(store.len(), 3);
    let a = store.accounting();
    assert_eq!((a.evicted, a.dropped, a.recorded), (4, 1, 8));
    assert!(a.is_balanced());
}

#[test]
fn local_events_alone_stay_bounded() {
    let store = EventStore::with_capacity(10);
    for port in 0..1_000u16 {
        store.record_router_started(port);
    }
    assert_eq!(store.len(), 10);
    let ports: Vec<u16> = store
        .snapshot_events()
        .iter()
        .map(|e| match e.payload() {
            EventPayload::RouterStarted { port } => *port,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        ports,
        (990..1_000).collect::<Vec<_>>(),
        "the newest local events are kept"
    );
    assert_eq!(store.evicted_count(), 990);
}

#[test]
fn rejected_events_leave_the_buffer_and_are_counted_apart() {
    let p = pricing();
    let store = EventStore::with_capacity(2);
    let a = completed(&store, &p, 1).unwrap();
    let b = completed(&store, &p, 2).unwrap();
    assert_eq!(store.mark_rejected(&[a]), 1);
    assert_eq!(store.mark_synced(&[b]), 1);
    let acc = store.accounting();
    assert_eq!((acc.rejected, acc.synced, acc.buffered), (1, 1, 0));
    assert!(completed(&store, &p, 3).is_some());
    assert!(completed(&store, &p, 4).is_some());
}

#[test]
fn streaming_offers_every_event_and_never_blocks() {
    let p = pricing();
    let (store, rx) = EventStore::with_streaming(2, 3);
    for t in 0..5 {
        completed(&store, &p, t);
    }
    // The channel took 3; the buffer kept 2 and dropped 3: two separate bounds.
    let got: Vec<_> = rx.try_iter().collect();
    assert_eq!(tokens_of(&got), [0, 1, 2]);
    assert_eq!(store.stream_dropped_count(), 2);
    assert_eq!(store.dropped_count(), 3);
    // Streamed events carry the same ids as the buffered ones.
    assert_eq!(got[0].event_id(), store.snapshot_events()[0].event_id());
    drop(rx);
    completed(&store, &p, 9);
    assert_eq!(
        store.stream_dropped_count(),
        2,
        "a closed receiver is not a full channel: nothing more is counted"
    );
}

#[test]
fn large_buffers_hold_what_they_promise() {
    let p = pricing();
    let store = EventStore::with_capacity(25_000);
    for t in 0..30_000 {
        completed(&store, &p, t);
    }
    assert_eq!(store.len(), 25_000);
    assert_eq!(store.dropped_count(), 5_000);
    let drained = store.drain_all();
    assert_eq!(tokens_of(&drained), (0..25_000).collect::<Vec<_>>());
}
