//! When each event may be posted: per-event retry state, the global gate,
//! and the set of events claimed by a sender.
//!
//! A transient failure of one request (5xx, reset, lost answer, timeout)
//! reschedules *that* event, with its own capped, jittered exponential
//! backoff; the others keep flowing. Only outage signals close the gate for
//! every event: connection refused, 429 (until its `Retry-After`), 401/403, a
//! status that says the endpoint is wrong, or a whole window of requests
//! failing in a row. Any success opens the gate again at once (but never
//! before a `Retry-After`) and resets its backoff.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;

use super::SyncConfig;
use crate::event::{AnalyticsEvent, EventId};

/// The fewest failures in a row that close the gate, whatever `max_in_flight`.
const MIN_FAILURE_WINDOW: usize = 4;

/// One event's retry state: kept only while its last attempt failed.
struct Retry {
    backoff: ExponentialBackoff,
    not_before: Instant,
}

/// The schedule of one client, shared by its passes and its loop.
pub(crate) struct Schedule {
    builder: ExponentialBuilder,
    backoff_max: Duration,
    /// Events claimed by a sender (queued or being posted): never claimed twice.
    claimed: HashSet<EventId>,
    /// Events whose last attempt failed on its own.
    retries: HashMap<EventId, Retry>,
    /// The global backoff, for outages.
    gate_backoff: ExponentialBackoff,
    /// No new request before this instant (an outage's backoff or `Retry-After`).
    gate: Instant,
    /// No new request before this instant either, even when stopping.
    rate_limited_until: Instant,
    /// When the latest wave of 429s began (its first answer came).
    rate_paused_at: Option<Instant>,
    /// Transient failures since the last success.
    failures_in_a_row: usize,
    /// Failures in a row that close the gate.
    window: usize,
}

/// What a failure did to the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slowdown {
    /// Only this event waits (for this long).
    Event(Duration),
    /// Every event waits (for this long).
    Everyone(Duration),
}

impl Schedule {
    pub(crate) fn new(config: &SyncConfig) -> Self {
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
            backoff_max: max,
            claimed: HashSet::new(),
            retries: HashMap::new(),
            gate_backoff: builder.build(),
            gate: now,
            rate_limited_until: now,
            rate_paused_at: None,
            failures_in_a_row: 0,
            window: config.max_in_flight().max(MIN_FAILURE_WINDOW),
        }
    }

    /// Claims, in order, up to `max` of `candidates` that no sender holds
    /// and, unless `ignore_backoff`, whose own backoff has passed.
    pub(crate) fn claim(
        &mut self,
        candidates: Vec<AnalyticsEvent>,
        max: usize,
        now: Instant,
        ignore_backoff: bool,
    ) -> Vec<AnalyticsEvent> {
        let mut claimed = Vec::with_capacity(candidates.len().min(max));
        for event in candidates {
            if claimed.len() == max {
                break;
            }
            let id = event.event_id();
            let waiting =
                !ignore_backoff && self.retries.get(&id).is_some_and(|r| r.not_before > now);
            if event.event_type().is_synced() && !waiting && self.claimed.insert(id) {
                claimed.push(event);
            }
        }
        claimed
    }

    /// How many candidates to read so that `max` eligible ones are among them.
    pub(crate) fn lookahead(&self, max: usize) -> usize {
        max.saturating_add(self.claimed.len())
            .saturating_add(self.retries.len())
    }

    /// A sender is done with the event (settled, or abandoned).
    pub(crate) fn release(&mut self, id: EventId) {
        self.claimed.remove(&id);
    }

    /// Events claimed by senders now.
    pub(crate) fn claimed_count(&self) -> usize {
        self.claimed.len()
    }

    /// An answer came that settles the event (delivered or rejected): the
    /// server works, so the gate opens (but not before a `Retry-After`).
    pub(crate) fn settled(&mut self, id: EventId, now: Instant) {
        self.retries.remove(&id);
        self.failures_in_a_row = 0;
        self.gate_backoff = self.builder.build();
        self.gate = self.rate_limited_until.max(now.min(self.gate));
    }

    /// The event failed on its own: it waits for its own backoff; a whole
    /// window of such failures in a row closes the gate as well.
    pub(crate) fn event_failed(&mut self, id: EventId, now: Instant) -> Slowdown {
        let retry = self.retries.entry(id).or_insert_with(|| Retry {
            backoff: self.builder.build(),
            not_before: now,
        });
        // Jitter may push a delay past the cap: the cap wins.
        let delay = retry
            .backoff
            .next()
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        retry.not_before = now + delay;
        self.failures_in_a_row += 1;
        if self.failures_in_a_row >= self.window {
            self.failures_in_a_row = 0;
            return self.outage(now);
        }
        Slowdown::Event(delay)
    }

    /// Every event must wait (connection refused, 401/403, a wrong
    /// endpoint, a window of failures): the next global backoff delay.
    ///
    /// While the gate is already closed, a signal comes from a request that
    /// was in flight when it closed: the same wave, so the backoff does not
    /// grow (eight requests refused together are one outage, not eight
    /// steps of backoff).
    pub(crate) fn outage(&mut self, now: Instant) -> Slowdown {
        if now >= self.gate {
            let backoff = self
                .gate_backoff
                .next()
                .unwrap_or(self.backoff_max)
                .min(self.backoff_max);
            self.gate = now + backoff;
        }
        Slowdown::Everyone(self.gate - now)
    }

    /// A 429 answered a request posted at `sent`: every event waits for the
    /// server's `Retry-After`, exactly as long as it asks (no backoff on
    /// top: the server said when), or the global backoff without one.
    ///
    /// The requests in flight when the first 429 of a wave came (sent before
    /// its pause began) are answered 429 too, later: they belong to the wave
    /// that pause already honours, so they neither extend it nor start a new
    /// one. A 429 to a request sent after the pause began is a new wave.
    pub(crate) fn rate_limited(
        &mut self,
        now: Instant,
        retry_after: Option<Duration>,
        sent: Instant,
    ) -> Slowdown {
        if self.rate_paused_at.is_some_and(|paused| sent < paused) {
            return Slowdown::Everyone(self.gate.saturating_duration_since(now));
        }
        self.rate_paused_at = Some(now);
        let Some(retry_after) = retry_after else {
            return self.outage(now);
        };
        self.rate_limited_until = self.rate_limited_until.max(now + retry_after);
        // The server answers, so another outage's backoff is moot: its word wins.
        self.gate = self.rate_limited_until;
        Slowdown::Everyone(self.gate.saturating_duration_since(now))
    }

    /// When new requests may start.
    pub(crate) fn gate(&self) -> Instant {
        self.gate
    }

    /// Stopping: the backoffs are forgiven (the server may be back), but a
    /// `Retry-After` is still honoured.
    pub(crate) fn forgive(&mut self, now: Instant) {
        self.gate = self.rate_limited_until.max(now);
        for retry in self.retries.values_mut() {
            retry.not_before = now;
        }
    }

    /// Events waiting for their own backoff at `now`.
    pub(crate) fn waiting(&self, now: Instant) -> usize {
        self.retries.values().filter(|r| r.not_before > now).count()
    }

    /// Whether an event's own backoff has passed and it awaits its retry.
    pub(crate) fn retry_due(&self, now: Instant) -> bool {
        self.retries.values().any(|r| r.not_before <= now)
    }

    /// Whether some event awaits a retry.
    pub(crate) fn has_retries(&self) -> bool {
        !self.retries.is_empty()
    }

    /// Forgets the retry state of events that left the buffer otherwise
    /// (drained, or settled by another client of the same store).
    pub(crate) fn prune(&mut self, is_buffered: impl Fn(EventId) -> bool) {
        self.retries.retain(|id, _| is_buffered(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventPayload, LlmFailureData, LlmModelMeta};

    fn event() -> AnalyticsEvent {
        AnalyticsEvent::new(EventPayload::LlmRequestFailed(LlmFailureData {
            meta: LlmModelMeta {
                provider_id: None,
                provider: "openai".into(),
                model: "gpt-4o".into(),
            },
            error_code: None,
            error_message: None,
        }))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn schedule(max_in_flight: usize) -> Schedule {
        let config = SyncConfig::new("http://localhost:1", "t")
            .with_backoff(ms(100), ms(1_000))
            .with_max_in_flight(max_in_flight);
        Schedule::new(&config)
    }

    #[test]
    fn a_failing_event_waits_alone_with_a_growing_capped_backoff() {
        let mut s = schedule(8);
        let (a, b) = (event(), event());
        let now = Instant::now();
        let claimed = s.claim(vec![a.clone(), b.clone()], 10, now, false);
        assert_eq!(claimed.len(), 2);
        assert!(
            s.claim(vec![a.clone()], 10, now, false).is_empty(),
            "claimed once"
        );
        s.release(a.event_id());
        s.release(b.event_id());

        let delays: Vec<Duration> = (0..3)
            .map(|_| match s.event_failed(a.event_id(), now) {
                Slowdown::Event(d) => d,
                other => panic!("{other:?}"),
            })
            .collect();
        // 100, 200, 400 ms, each with up to as much jitter.
        assert!(delays[0] >= ms(100) && delays[0] < ms(200), "{delays:?}");
        assert!(delays[1] >= ms(200) && delays[1] < ms(400), "{delays:?}");
        assert!(delays[2] >= ms(400), "{delays:?}");
        // b is not held back by a; a waits for its own backoff.
        let claimed = s.claim(vec![a.clone(), b.clone()], 10, now, false);
        assert_eq!(claimed, std::slice::from_ref(&b));
        assert_eq!(s.gate(), s.rate_limited_until, "the gate stays open");
        assert_eq!(s.waiting(now), 1);
        let later = now + ms(2_000);
        assert!(s.retry_due(later));
        assert_eq!(
            s.claim(vec![a.clone()], 10, later, false),
            std::slice::from_ref(&a)
        );
        for _ in 0..10 {
            s.event_failed(a.event_id(), now);
        }
        assert!(
            s.retries[&a.event_id()].not_before <= now + ms(1_000),
            "capped"
        );
    }

    #[test]
    fn a_window_of_failures_closes_the_gate_and_a_success_opens_it() {
        let mut s = schedule(4);
        let now = Instant::now();
        let events: Vec<_> = (0..4).map(|_| event()).collect();
        for e in &events[..3] {
            assert!(matches!(
                s.event_failed(e.event_id(), now),
                Slowdown::Event(_)
            ));
        }
        let Slowdown::Everyone(delay) = s.event_failed(events[3].event_id(), now) else {
            panic!("four failures in a row close the gate");
        };
        assert_eq!(s.gate(), now + delay);
        s.settled(events[0].event_id(), now);
        assert_eq!(s.gate(), now, "a success opens it at once");
        let Slowdown::Everyone(first) = s.outage(now) else {
            panic!()
        };
        assert!(first < ms(200), "and resets its backoff: {first:?}");
    }

    #[test]
    fn a_wave_of_outage_signals_from_requests_in_flight_together_is_one_step_of_backoff() {
        let mut s = schedule(8);
        let now = Instant::now();
        let Slowdown::Everyone(first) = s.outage(now) else {
            panic!()
        };
        for _ in 0..7 {
            s.outage(now + ms(1));
        }
        assert_eq!(s.gate(), now + first, "not 8 doublings");
        // The next wave, after the gate opened: one more step.
        let later = now + ms(1_000);
        let Slowdown::Everyone(second) = s.outage(later) else {
            panic!()
        };
        assert!(
            second >= ms(200) && second < ms(400),
            "the second step: {second:?}"
        );
    }

    #[test]
    fn a_429_pauses_exactly_as_long_as_retry_after_and_its_wave_does_not_extend_it() {
        let mut s = schedule(8);
        let sent = Instant::now();
        let first = sent + ms(10);
        let second = Duration::from_secs(1);
        assert_eq!(
            s.rate_limited(first, Some(second), sent),
            Slowdown::Everyone(second),
            "no backoff on top of what the server asks"
        );
        // The other requests of the wave, sent before the pause began, answer later.
        for k in 1..8 {
            s.rate_limited(first + ms(k * 5), Some(second), sent + ms(k));
        }
        assert_eq!(
            s.gate(),
            first + second,
            "the wave does not extend the pause"
        );
        // After the pause: a request sent then is answered 429 again, a new wave.
        let resumed = first + second;
        let again = resumed + ms(3);
        s.rate_limited(again, Some(second), resumed);
        assert_eq!(s.gate(), again + second);
        // Its companions, sent at the same instant, do not add to it.
        s.rate_limited(again + ms(4), Some(second), resumed);
        assert_eq!(s.gate(), again + second);
        // Retry-After: 0 pauses nobody.
        let mut s = schedule(8);
        assert_eq!(
            s.rate_limited(first, Some(Duration::ZERO), sent),
            Slowdown::Everyone(Duration::ZERO)
        );
        assert_eq!(s.gate(), first);
    }

    #[test]
    fn a_429_without_retry_after_takes_the_global_backoff() {
        let mut s = schedule(8);
        let now = Instant::now();
        let Slowdown::Everyone(delay) = s.rate_limited(now, None, now) else {
            panic!()
        };
        assert!(delay >= ms(100) && delay < ms(200), "{delay:?}");
    }

    #[test]
    fn retry_after_holds_even_after_a_success_and_when_stopping() {
        let mut s = schedule(8);
        let now = Instant::now();
        s.rate_limited(now, Some(Duration::from_secs(2)), now);
        s.settled(event().event_id(), now);
        assert_eq!(s.gate(), now + Duration::from_secs(2));
        s.forgive(now);
        assert_eq!(s.gate(), now + Duration::from_secs(2));
    }
}
