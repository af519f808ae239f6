//! The background loop and its [`SyncHandle`].
//!
//! The loop keeps up to `max_in_flight` requests going while events are
//! eligible: it claims a batch of them (oldest first, skipping those waiting
//! for their own backoff and those another sender holds) and starts a new
//! request as soon as one ends, so a slow or failing request never holds the
//! others back. It starts sending when `batch_threshold` events are pending,
//! every `interval`, or when a failed event's backoff has passed; it pauses
//! while the schedule's gate is closed (an outage). Stopping (or dropping
//! the handle) turns it into a flush bounded by the stop deadline, then
//! writes the spool one last time.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::{lock, Inner};
use super::send::{Batch, Claimed};
use super::SyncClient;

/// How much longer than the stop deadline [`SyncHandle::stop`] waits for the
/// loop before giving up on it (requests are abandoned at the deadline, so
/// the loop normally answers well within this).
const STOP_MARGIN: Duration = Duration::from_millis(500);

/// What a [`SyncHandle`] did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events the server confirmed (202 accepted or 200 duplicate).
    pub delivered: u64,
    /// Events refused for good (400 / 413 / 422, or over the body cap).
    pub rejected: u64,
    /// LLM events still buffered at the time of the report.
    pub remaining: u64,
    /// Undelivered events held in the spool at the time of the report (0
    /// without a spool): a process started on the same spool directory
    /// sends them.
    pub spooled: u64,
    /// Events an earlier process left in the spool, put back into the store
    /// when the handle started.
    pub replayed: u64,
}

/// The running background loop started by [`SyncClient::start`].
///
/// [`stop`](SyncHandle::stop) (blocking) or [`stop_async`](SyncHandle::stop_async)
/// flushes what is pending, within the configured stop deadline, writes the
/// spool (if any) with what could not be delivered, and reports.
///
/// Dropping the handle without stopping it does the same: on a plain thread
/// the drop waits for the flush like [`stop`](SyncHandle::stop); inside async
/// code (where waiting could hold up the runtime that runs the flush) it
/// writes the spool at once and lets the loop flush in the background.
#[derive(Debug)]
pub struct SyncHandle {
    client: SyncClient,
    /// Sends `true` to ask for a stop.
    control: watch::Sender<bool>,
    /// Receives the final report from the loop.
    done: mpsc::Receiver<SyncReport>,
    task: JoinHandle<SyncReport>,
    baseline: Baseline,
    /// Set by `stop`/`stop_async`: the drop has nothing left to do.
    stopped: bool,
}

/// The client's counters when the handle started.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    delivered: u64,
    rejected: u64,
    replayed: u64,
}

impl Baseline {
    fn of(inner: &Inner, replayed: u64) -> Self {
        Self {
            // Relaxed: statistics, read on their own.
            delivered: inner.delivered.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            replayed,
        }
    }

    fn report(self, inner: &Inner) -> SyncReport {
        SyncReport {
            delivered: inner.delivered.load(Ordering::Relaxed) - self.delivered,
            rejected: inner.rejected.load(Ordering::Relaxed) - self.rejected,
            remaining: inner.store.unsynced_count(),
            spooled: inner.spooled(),
            replayed: self.replayed,
        }
    }
}

impl SyncHandle {
    pub(crate) fn spawn(
        client: SyncClient,
        runtime: &tokio::runtime::Handle,
        replayed: u64,
    ) -> Self {
        let (control, control_rx) = watch::channel(false);
        let (done_tx, done) = mpsc::channel();
        let baseline = Baseline::of(&client.inner, replayed);
        let inner = Arc::clone(&client.inner);
        let task = runtime.spawn(async move {
            let report = run(inner, control_rx, baseline).await;
            // The receiver is gone if the handle was dropped or stopped asynchronously.
            let _ = done_tx.send(report);
            report
        });
        Self {
            client,
            control,
            done,
            task,
            baseline,
            stopped: false,
        }
    }

    /// What the loop did so far: delivered and rejected since the handle
    /// started (by any pass of this client, manual ones included), the
    /// events still buffered, the spool, and what was replayed at the start.
    pub fn report(&self) -> SyncReport {
        self.baseline.report(&self.client.inner)
    }

    /// Whether the loop has ended (stopped, or its runtime shut down).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the loop: no new sending starts on its own, then the loop
    /// flushes until nothing is pending or the stop deadline expires
    /// (requests still in flight then are abandoned; their events stay
    /// buffered), and writes the spool with what is left. Blocks the calling
    /// thread meanwhile.
    ///
    /// Call it from a thread that is not driving the loop's runtime (a plain
    /// thread, `main` after the work is done, `spawn_blocking`); inside async
    /// code use [`SyncHandle::stop_async`]. Returns within the deadline plus
    /// a short margin even if the loop cannot run.
    ///
    /// Called on a thread that drives a current-thread runtime (e.g. in a
    /// `#[tokio::test]`), where blocking would stall the loop itself, it
    /// writes the spool and returns at once with the report of that instant,
    /// as `stop` did in `iron_runtime_analytics` 0.4.0: the loop flushes in
    /// the background while the runtime runs.
    pub fn stop(mut self) -> SyncReport {
        self.stop_blocking()
    }

    fn stop_blocking(&mut self) -> SyncReport {
        self.stopped = true;
        // An error means the loop already ended: its report is waiting, or it died.
        let _ = self.control.send(true);
        let current_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|rt| rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        if current_thread {
            self.client.inner.spool_now(true);
            return self.report();
        }
        let wait = self.client.config().stop_deadline() + STOP_MARGIN;
        match self.done.recv_timeout(wait) {
            Ok(report) => report,
            Err(_) => self.abandon(),
        }
    }

    /// [`SyncHandle::stop`] for async code: awaits the flush instead of blocking.
    pub async fn stop_async(mut self) -> SyncReport {
        self.stopped = true;
        let _ = self.control.send(true);
        let wait = self.client.config().stop_deadline() + STOP_MARGIN;
        match tokio::time::timeout(wait, &mut self.task).await {
            Ok(Ok(report)) => report,
            _ => self.abandon(),
        }
    }

    /// The loop did not answer in time (or its runtime is gone): end it, and
    /// spool what it could not.
    fn abandon(&mut self) -> SyncReport {
        self.task.abort();
        self.client.inner.spool_now(true);
        self.report()
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        if self.stopped || self.task.is_finished() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Waiting here could hold up the very runtime that must run the
            // flush: spool what is undelivered now, and let the loop flush
            // (and spool again) in the background.
            self.stopped = true;
            let _ = self.control.send(true);
            self.client.inner.spool_now(true);
        } else {
            self.stop_blocking();
        }
    }
}

/// When the loop starts sending on its own.
struct Pacing {
    interval: Duration,
    next_interval: Instant,
}

impl Pacing {
    /// Whether sending should start now: events are eligible, and the
    /// interval is up, the threshold is reached, or a failed event's
    /// backoff has passed.
    fn due(&mut self, inner: &Inner, now: Instant) -> bool {
        let interval_due = now >= self.next_interval;
        if interval_due {
            self.next_interval = now + self.interval;
            inner.prune_retries();
        }
        let eligible = inner.eligible_count();
        eligible > 0
            && (interval_due
                || eligible >= inner.config.batch_threshold()
                || lock(&inner.schedule).retry_due(now))
    }
}

/// The loop; see the [module docs](self).
async fn run(
    shared: Arc<Inner>,
    mut control: watch::Receiver<bool>,
    baseline: Baseline,
) -> SyncReport {
    let inner = &*shared;
    if inner.disabled.is_some() {
        return baseline.report(inner);
    }
    let config = &inner.config;
    let start = Instant::now();
    let mut pacing = Pacing {
        interval: config.interval(),
        next_interval: start + config.interval(),
    };
    let mut ticker = tokio::time::interval(config.threshold_check());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_spool = start + config.spool_interval();
    let mut spool_write: Option<JoinHandle<()>> = None;
    let mut queue: VecDeque<Claimed<'_>> = VecDeque::new();
    let mut sending = FuturesUnordered::new();
    let mut batch = Batch::default();
    let mut active = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if !active && pacing.due(inner, now) {
            active = true;
            batch.summary = Default::default();
        }
        let gate = lock(&inner.schedule).gate();
        if active && now >= gate {
            while sending.len() < config.max_in_flight() {
                if queue.is_empty() {
                    queue.extend(inner.claim(config.max_batch(), false));
                }
                let Some(claimed) = queue.pop_front() else {
                    break;
                };
                sending.push(inner.post(claimed));
            }
            if sending.is_empty() && deadline.is_none() {
                // Nothing eligible: this run of sending is over.
                active = false;
                let clean = batch.summary.failure.is_none();
                if clean && batch.summary.delivered + batch.summary.rejected > 0 {
                    inner.recovered();
                }
            }
        }
        if let Some(deadline) = deadline {
            let drained =
                sending.is_empty() && queue.is_empty() && inner.store.unsynced_count() == 0;
            if now >= deadline || drained {
                break;
            }
        }
        if inner.has_spool()
            && now >= next_spool
            && spool_write.as_ref().is_none_or(JoinHandle::is_finished)
        {
            next_spool = now + config.spool_interval();
            let shared = Arc::clone(&shared);
            spool_write = Some(tokio::task::spawn_blocking(move || {
                shared.spool_now(false);
            }));
        }
        // Paused: wake when the gate opens, not at the next tick, and resume
        // at full concurrency at once.
        let paused = active && gate > now;
        let reopened = async move {
            if paused {
                tokio::time::sleep_until(gate).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            biased;
            // A closed channel (the handle dropped) stops the loop as well.
            _ = control.changed(), if deadline.is_none() => {
                let now = Instant::now();
                deadline = Some(now + config.stop_deadline());
                lock(&inner.schedule).forgive(now);
                active = true;
            }
            Some((claimed, outcome)) = sending.next() => {
                inner.settle(claimed, outcome, &mut batch);
                while let Some(Some((claimed, outcome))) = sending.next().now_or_never() {
                    inner.settle(claimed, outcome, &mut batch);
                }
                inner.commit(&mut batch);
            }
            () = reopened => {}
            _ = ticker.tick() => {}
        }
    }
    // Requests still in flight are abandoned: their events stay buffered.
    drop(sending);
    drop(queue);
    if let Some(write) = spool_write {
        let _ = write.await;
    }
    inner.spool_now(true);
    baseline.report(inner)
}
