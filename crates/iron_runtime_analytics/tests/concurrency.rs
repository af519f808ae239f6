//! Stress: many writers, readers snapshotting, syncing and draining at once.
//! Every event must end up exactly once in one place, in each writer's order.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap should fail loudly

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use iron_cost::pricing::PricingManager;
use iron_runtime_analytics::{AnalyticsEvent, EventPayload, EventStore};

const WRITERS: u64 = 4;
const PER_WRITER: u64 = 20_000;

/// Writer `w`'s `i`-th event carries `w * 1e6 + i` input tokens.
fn tag(e: &AnalyticsEvent) -> u64 {
    match e.payload() {
        EventPayload::LlmRequestCompleted(d) => d.input_tokens,
        other => panic!("unexpected {other:?}"),
    }
}

fn check_snapshot(events: &[AnalyticsEvent], capacity: usize) {
    assert!(events.len() <= capacity, "{} > {capacity}", events.len());
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut ids = HashSet::new();
    for e in events {
        assert!(ids.insert(e.event_id()), "duplicate id in a snapshot");
        let t = tag(e);
        let (w, i) = (t / 1_000_000, t % 1_000_000);
        if let Some(&prev) = last.get(&w) {
            assert!(i > prev, "writer {w}: {i} after {prev}: reordered");
        }
        last.insert(w, i);
    }
}

fn run(capacity: usize) {
    let store = Arc::new(EventStore::with_capacity(capacity));
    let pricing = Arc::new(PricingManager::new().unwrap());
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, pricing) = (store.clone(), pricing.clone());
            thread::spawn(move || {
                let mut dropped = Vec::new();
                for i in 0..PER_WRITER {
                    let t = w * 1_000_000 + i;
                    let model = if i % 2 == 0 {
                        "gpt-4o"
                    } else {
                        "claude-3-5-sonnet-20241022"
                    };
                    if store
                        .try_record_llm_completed(&pricing, model, t, 1, Some("agent"), None)
                        .unwrap()
                        .is_none()
                    {
                        dropped.push(t);
                    }
                }
                dropped
            })
        })
        .collect();

    let syncer = {
        let (store, done) = (store.clone(), done.clone());
        thread::spawn(move || {
            let mut synced = Vec::new();
            while !done.load(Ordering::Relaxed) {
                for e in store.unsynced_events_limit(64) {
                    // One id at a time: the return value says whether *this* event was removed.
                    if store.mark_synced(&[e.event_id()]) == 1 {
                        synced.push(tag(&e));
                    }
                }
            }
            synced
        })
    };
    let drainer = {
        let (store, done) = (store.clone(), done.clone());
        thread::spawn(move || {
            let mut drained = Vec::new();
            while !done.load(Ordering::Relaxed) {
                thread::sleep(std::time::Duration::from_millis(3));
                drained.extend(store.drain_all().iter().map(tag));
            }
            drained
        })
    };
    let snapshotter = {
        let (store, done) = (store.clone(), done.clone());
        thread::spawn(move || {
            let mut snapshots = 0;
            while !done.load(Ordering::Relaxed) {
                check_snapshot(&store.snapshot_events(), capacity);
                let a = store.accounting();
                assert!(a.is_balanced(), "{a:?}");
                assert!(a.buffered <= capacity as u64);
                snapshots += 1;
            }
            snapshots
        })
    };

    let dropped: Vec<u64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::Relaxed);
    let synced = syncer.join().unwrap();
    let mut drained = drainer.join().unwrap();
    let snapshots = snapshotter.join().unwrap();
    assert!(snapshots > 0);
    drained.extend(store.drain_all().iter().map(tag));

    // Exactly once: every event is synced, drained or dropped, and only one of them.
    let mut seen = HashSet::new();
    for t in synced.iter().chain(&drained).chain(&dropped) {
        assert!(seen.insert(*t), "event {t} accounted twice");
    }
    assert_eq!(seen.len() as u64, WRITERS * PER_WRITER, "events lost");
    let a = store.accounting();
    assert_eq!(a.recorded, WRITERS * PER_WRITER);
    assert_eq!(a.synced, synced.len() as u64);
    assert_eq!(a.drained, drained.len() as u64);
    assert_eq!(a.dropped, dropped.len() as u64);
    assert_eq!(a.buffered, 0);
    assert!(a.is_balanced());
    let stats = store.stats();
    assert_eq!(
        stats.total_requests,
        WRITERS * PER_WRITER,
        "stats count dropped events too"
    );
    assert_eq!(stats.by_agent["agent"].request_count, WRITERS * PER_WRITER);
    assert_eq!(
        stats.by_model["gpt-4o"].request_count,
        WRITERS * PER_WRITER / 2
    );
}

#[test]
fn small_buffer_under_contention_loses_nothing() {
    run(500);
}

#[test]
fn large_buffer_under_contention_loses_nothing() {
    run(50_000);
}

#[test]
fn concurrent_snapshots_never_lose_events() {
    // Upstream pops and re-pushes during a snapshot: 53–57 % of events vanish.
    let store = Arc::new(EventStore::new());
    let pricing = Arc::new(PricingManager::new().unwrap());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (store, pricing) = (store.clone(), pricing.clone());
            thread::spawn(move || {
                for i in 0..4_000u64 {
                    store.record_llm_completed(&pricing, "gpt-4", w * 1_000_000 + i, 1, None, None);
                }
            })
        })
        .collect();
    let reader = {
        let store = store.clone();
        thread::spawn(move || {
            for _ in 0..200 {
                check_snapshot(&store.snapshot_events(), 10_000);
            }
        })
    };
    writers.into_iter().for_each(|w| w.join().unwrap());
    reader.join().unwrap();
    let all = store.snapshot_events();
    assert_eq!(all.len(), 8_000);
    check_snapshot(&all, 10_000);
}

#[test]
fn more_threads_than_shards_still_count_every_event() {
    // Forces the all-shards-busy overflow path now and then.
    let store = Arc::new(EventStore::with_capacity(1_000_000));
    let pricing = Arc::new(PricingManager::new().unwrap());
    let threads: Vec<_> = (0..32)
        .map(|w| {
            let (store, pricing) = (store.clone(), pricing.clone());
            thread::spawn(move || {
                for i in 0..2_000u64 {
                    store.record_llm_completed(&pricing, "gpt-4", w * 1_000_000 + i, 1, None, None);
                    if i % 500 == 0 {
                        let _ = store.stats();
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let all = store.snapshot_events();
    assert_eq!(all.len(), 64_000);
    check_snapshot(&all, 1_000_000);
    assert_eq!(store.stats().total_requests, 64_000);
    assert!(store.accounting().is_balanced());
}
