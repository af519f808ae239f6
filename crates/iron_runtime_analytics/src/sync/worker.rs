//! The background loop and its [`SyncHandle`].

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::client::{Inner, PassSummary};
use super::{SyncClient, SyncConfig};

/// How much longer than the stop deadline [`SyncHandle::stop`] waits for the
/// loop before giving up on it (a pass is cancelled at the deadline, so the
/// loop normally answers well within this).
const STOP_MARGIN: Duration = Duration::from_millis(500);

/// What a [`SyncHandle`] did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events the server confirmed (202 accepted or 200 duplicate).
    pub delivered: u64,
    /// Events the server refused for good (400 / 422).
    pub rejected: u64,
    /// LLM events still buffered at the time of the report.
    pub remaining: u64,
}

/// The running background loop started by [`SyncClient::start`].
///
/// [`stop`](SyncHandle::stop) (blocking) or [`stop_async`](SyncHandle::stop_async)
/// flushes what is pending, within the configured stop deadline, and reports.
///
/// Dropping the handle without stopping it ends the loop at its next check
/// (within the threshold-check period, or at once if it was sending),
/// without flushing: the events stay buffered in the store, and the loop's
/// task and its reference to the store go away.
#[derive(Debug)]
pub struct SyncHandle {
    client: SyncClient,
    /// Sends `true` to ask for a stop; dropped, it ends the loop at once.
    control: watch::Sender<bool>,
    /// Receives the final report from the loop.
    done: mpsc::Receiver<SyncReport>,
    task: JoinHandle<SyncReport>,
    baseline: Baseline,
}

/// The client's counters when the handle started.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    delivered: u64,
    rejected: u64,
}

impl Baseline {
    fn of(inner: &Inner) -> Self {
        Self {
            // Relaxed: statistics, read on their own.
            delivered: inner.delivered.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
        }
    }

    fn report(self, inner: &Inner) -> SyncReport {
        let now = Self::of(inner);
        SyncReport {
            delivered: now.delivered - self.delivered,
            rejected: now.rejected - self.rejected,
            remaining: inner.store.unsynced_count(),
        }
    }
}

impl SyncHandle {
    pub(crate) fn spawn(client: SyncClient, runtime: &tokio::runtime::Handle) -> Self {
        let (control, control_rx) = watch::channel(false);
        let (done_tx, done) = mpsc::channel();
        let baseline = Baseline::of(&client.inner);
        let inner = Arc::clone(&client.inner);
        let task = runtime.spawn(async move {
            let report = run(&inner, control_rx, baseline).await;
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
        }
    }

    /// What the loop did so far: delivered and rejected since the handle
    /// started (by any pass of this client, manual ones included), and the
    /// events still buffered.
    pub fn report(&self) -> SyncReport {
        self.baseline.report(&self.client.inner)
    }

    /// Whether the loop has ended (stopped, or its runtime shut down).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the loop: no new ticks, then passes until nothing is pending or
    /// the stop deadline expires (a pass still sending then is cancelled; its
    /// unsettled events stay buffered). Blocks the calling thread meanwhile.
    ///
    /// Call it from a thread that is not driving the loop's runtime (a plain
    /// thread, `main` after the work is done, `spawn_blocking`); inside async
    /// code use [`SyncHandle::stop_async`]. Returns within the deadline plus
    /// a short margin even if the loop cannot run.
    ///
    /// Called on a thread that drives a current-thread runtime (e.g. in a
    /// `#[tokio::test]`), where blocking could stall the loop itself, it
    /// returns at once, as `stop` did in `iron_runtime_analytics` 0.4.0: the
    /// loop flushes in the background while the runtime runs, and the report
    /// is the one of that instant.
    pub fn stop(self) -> SyncReport {
        // An error means the loop already ended: its report is waiting, or it died.
        let _ = self.control.send(true);
        if tokio::runtime::Handle::try_current()
            .is_ok_and(|rt| rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
        {
            // The loop has seen the request once it runs: a dropped control
            // channel only ends it early if no stop was sent before.
            return self.report();
        }
        let wait = self.client.config().stop_deadline() + STOP_MARGIN;
        match self.done.recv_timeout(wait) {
            Ok(report) => report,
            Err(_) => {
                self.task.abort();
                self.report()
            }
        }
    }

    /// [`SyncHandle::stop`] for async code: awaits the flush instead of blocking.
    pub async fn stop_async(mut self) -> SyncReport {
        let _ = self.control.send(true);
        let wait = self.client.config().stop_deadline() + STOP_MARGIN;
        match tokio::time::timeout(wait, &mut self.task).await {
            Ok(Ok(report)) => report,
            _ => {
                self.task.abort();
                self.report()
            }
        }
    }
}

/// When the next pass may run.
struct Pacing {
    builder: ExponentialBuilder,
    backoff: ExponentialBackoff,
    backoff_max: Duration,
    interval: Duration,
    next_interval: Instant,
    /// No pass before this instant (backoff after a failure).
    not_before: Instant,
    /// No pass before this instant either, even when stopping (`Retry-After`).
    rate_limited_until: Instant,
    /// The last pass failed: run again once the backoff has passed.
    retry_due: bool,
}

impl Pacing {
    fn new(config: &SyncConfig) -> Self {
        let (initial, max) = config.backoff();
        let builder = ExponentialBuilder::new()
            .with_min_delay(initial)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        let now = Instant::now();
        Self {
            builder,
            backoff: builder.build(),
            backoff_max: max,
            interval: config.interval(),
            next_interval: now + config.interval(),
            not_before: now,
            rate_limited_until: now,
            retry_due: false,
        }
    }

    /// Whether a pass should run now: the backoff has passed, and the
    /// interval is up, the threshold is reached, or a failed pass awaits its retry.
    fn due(&mut self, inner: &Inner) -> bool {
        let now = Instant::now();
        if now < self.not_before {
            return false;
        }
        let interval_due = now >= self.next_interval;
        if interval_due {
            self.next_interval = now + self.interval;
        }
        let pending = inner.pending_not_in_flight();
        pending > 0 && (interval_due || self.retry_due || pending >= inner.config.batch_threshold())
    }

    /// Takes a pass's result into account; returns the delay before the
    /// next pass after a failure.
    fn after(&mut self, summary: &PassSummary) -> Option<Duration> {
        let now = Instant::now();
        if summary.failure.is_none() {
            self.backoff = self.builder.build();
            self.retry_due = false;
            return None;
        }
        // Jitter may push a delay past the cap: the cap wins.
        let mut delay = self
            .backoff
            .next()
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        if let Some(retry_after) = summary.retry_after {
            delay = delay.max(retry_after);
            self.rate_limited_until = now + retry_after;
        }
        self.not_before = now + delay;
        self.retry_due = true;
        Some(delay)
    }
}

/// The loop: passes when due until asked to stop, then the flush. Returns
/// early, without flushing, if the handle is dropped.
async fn run(inner: &Inner, mut control: watch::Receiver<bool>, baseline: Baseline) -> SyncReport {
    if inner.disabled.is_some() {
        return baseline.report(inner);
    }
    let config = &inner.config;
    let mut pacing = Pacing::new(config);
    let mut ticker = tokio::time::interval(config.threshold_check());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = 'running: loop {
        tokio::select! {
            biased;
            changed = control.changed() => match changed {
                Ok(()) => break 'running Instant::now() + config.stop_deadline(),
                Err(_) => return baseline.report(inner),
            },
            _ = ticker.tick() => {}
        }
        if !pacing.due(inner) {
            continue;
        }
        let pass = inner.pass();
        tokio::pin!(pass);
        tokio::select! {
            biased;
            summary = &mut pass => {
                pacing.after(&summary);
            }
            changed = control.changed() => {
                if changed.is_err() {
                    return baseline.report(inner);
                }
                // Asked to stop mid-pass: the pass is part of the flush.
                let deadline = Instant::now() + config.stop_deadline();
                if let Ok(summary) = tokio::time::timeout_at(deadline, pass).await {
                    pacing.after(&summary);
                }
                break 'running deadline;
            }
        }
    };
    flush(inner, &mut pacing, deadline).await;
    baseline.report(inner)
}

/// Passes until nothing is pending or `deadline`: at once (the backoff is
/// forgiven: the server may be back), but never before a `Retry-After`.
async fn flush(inner: &Inner, pacing: &mut Pacing, deadline: Instant) {
    pacing.not_before = pacing.rate_limited_until;
    loop {
        let now = Instant::now();
        if now >= deadline || inner.store.unsynced_count() == 0 {
            return;
        }
        if now < pacing.not_before {
            tokio::time::sleep_until(pacing.not_before.min(deadline)).await;
            continue;
        }
        let Ok(summary) = tokio::time::timeout_at(deadline, inner.pass()).await else {
            return;
        };
        if summary.taken == 0 {
            // Everything pending is in flight in another pass: let it settle.
            let pause = inner.config.threshold_check();
            tokio::time::sleep_until((now + pause).min(deadline)).await;
        }
        pacing.after(&summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::wire::Failure;

    fn failed() -> PassSummary {
        PassSummary {
            failure: Some(Failure::Server(503)),
            ..PassSummary::default()
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_resets_after_a_success() {
        let ms = Duration::from_millis;
        let config = SyncConfig::new("http://localhost:1", "t").with_backoff(ms(100), ms(1_000));
        let mut pacing = Pacing::new(&config);
        let delays: Vec<Duration> = (0..8).filter_map(|_| pacing.after(&failed())).collect();
        // 100, 200, 400, 800 ms, then the cap; jitter adds up to one delay more.
        assert!(delays[0] >= ms(100) && delays[0] < ms(200), "{delays:?}");
        assert!(delays[1] >= ms(200) && delays[1] < ms(400), "{delays:?}");
        assert!(delays[2] >= ms(400), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= ms(1_000)), "{delays:?}");
        assert_eq!(delays[7], ms(1_000));
        assert!(pacing.retry_due);

        assert_eq!(pacing.after(&PassSummary::default()), None);
        assert!(!pacing.retry_due);
        let first_again = pacing.after(&failed()).unwrap_or_default();
        assert!(
            first_again >= ms(100) && first_again < ms(200),
            "reset: {first_again:?}"
        );
    }

    #[test]
    fn retry_after_outlasts_the_backoff() {
        let ms = Duration::from_millis;
        let config = SyncConfig::new("http://localhost:1", "t").with_backoff(ms(10), ms(50));
        let mut pacing = Pacing::new(&config);
        let delay = pacing.after(&PassSummary {
            failure: Some(Failure::RateLimited(Some(Duration::from_secs(2)))),
            retry_after: Some(Duration::from_secs(2)),
            ..PassSummary::default()
        });
        assert_eq!(delay, Some(Duration::from_secs(2)));
        assert_eq!(pacing.rate_limited_until, pacing.not_before);
    }
}
