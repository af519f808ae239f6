//! Sending events: claiming them, posting one, settling its outcome with the
//! store and the schedule, and the manual pass.

use std::sync::atomic::Ordering;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use log::debug;
use tokio::time::Instant;

use super::client::{lock, Inner, PassFailure, RejectedEvent, REJECTED_RING_CAPACITY};
use super::schedule::Slowdown;
use super::wire::{self, Failure, Outcome, Verdict};
use crate::event::{AnalyticsEvent, EventId};

/// The most bytes of an answer read (error messages are short).
const MAX_BODY_BYTES: usize = 4_096;

/// An event claimed by a sender. Dropped, it is released: after its outcome
/// was applied to the store (see [`Batch::commit`]), or abandoned at the stop
/// deadline (then it simply stays buffered).
pub(crate) struct Claimed<'a> {
    inner: &'a Inner,
    pub(crate) event: AnalyticsEvent,
    /// When its request was posted (a 429 is weighed against it).
    sent: Instant,
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        lock(&self.inner.schedule).release(self.event.event_id());
    }
}

/// Outcomes not yet applied to the store, and what they add up to.
#[derive(Default)]
pub(crate) struct Batch<'a> {
    synced: Vec<Claimed<'a>>,
    rejected: Vec<Claimed<'a>>,
    pub(crate) summary: Summary,
}

/// What a run of sending did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) delivered: usize,
    pub(crate) rejected: usize,
    /// The first transient failure.
    pub(crate) failure: Option<Failure>,
    /// An outage signal came: every event waits.
    pub(crate) outage: bool,
}

impl Inner {
    /// Claims up to `max` buffered LLM events that no sender holds (and,
    /// unless `ignore_backoff`, whose own backoff has passed), oldest first.
    pub(crate) fn claim(&self, max: usize, ignore_backoff: bool) -> Vec<Claimed<'_>> {
        // The snapshot is taken under the schedule's lock: an event is marked
        // synced *before* it is released, so an event seen here either is
        // still claimed or was not yet delivered.
        let mut schedule = lock(&self.schedule);
        let candidates = self.store.unsynced_events_limit(schedule.lookahead(max));
        let now = Instant::now();
        let events = schedule.claim(candidates, max, now, ignore_backoff);
        drop(schedule);
        events
            .into_iter()
            .map(|event| Claimed {
                inner: self,
                event,
                sent: now,
            })
            .collect()
    }

    /// Forgets the retry state of events no longer buffered.
    pub(crate) fn prune_retries(&self) {
        if !lock(&self.schedule).has_retries() {
            return;
        }
        let buffered: std::collections::HashSet<EventId> = self
            .store
            .unsynced_events()
            .iter()
            .map(AnalyticsEvent::event_id)
            .collect();
        lock(&self.schedule).prune(|id| buffered.contains(&id));
    }

    /// Buffered LLM events that no sender holds and that may be sent now.
    pub(crate) fn eligible_count(&self) -> usize {
        let unsynced = usize::try_from(self.store.unsynced_count()).unwrap_or(usize::MAX);
        let schedule = lock(&self.schedule);
        unsynced
            .saturating_sub(schedule.claimed_count())
            .saturating_sub(schedule.waiting(Instant::now()))
    }

    /// Posts one event and classifies the answer.
    pub(crate) async fn post<'a>(&self, mut claimed: Claimed<'a>) -> (Claimed<'a>, Outcome) {
        claimed.sent = Instant::now();
        let outcome = self.post_event(&claimed.event).await;
        (claimed, outcome)
    }

    async fn post_event(&self, event: &AnalyticsEvent) -> Outcome {
        let ic_token = self.config.ic_token();
        let (Some(body), Some(http)) = (wire::encode(event, ic_token), &self.http) else {
            return Outcome::Skipped;
        };
        let max = self.config.max_event_bytes();
        if body.len() > max {
            return Outcome::Rejected {
                status: 413,
                code: Some(wire::TOO_LARGE_CODE.to_owned()),
                message: format!(
                    "the event's body is {} bytes, over the limit of {max} bytes \
                     (SyncConfig::with_max_event_bytes); it was not sent",
                    body.len()
                ),
            };
        }
        let response = match http
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return Outcome::Failed(transport_failure(e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::parse_retry_after);
        let verdict = wire::verdict(status, retry_after);
        // Read the (short) answer so the connection can be reused.
        let (body, cut) = match read_body(response).await {
            Ok(read) => read,
            // The status is known: a failure to read the rest does not change it.
            Err(e) if matches!(verdict, Verdict::Delivered | Verdict::Rejected) => {
                debug!(
                    "could not read the answer to event {}: {e}",
                    event.event_id()
                );
                (Vec::new(), false)
            }
            Err(e) => return Outcome::Failed(transport_failure(e)),
        };
        match verdict {
            Verdict::Delivered => Outcome::Delivered,
            Verdict::Failed(failure) => Outcome::Failed(failure),
            Verdict::Rejected => {
                let (code, message) = wire::rejection_details(status, &body, cut, ic_token);
                Outcome::Rejected {
                    status,
                    code,
                    message,
                }
            }
        }
    }

    /// Takes one outcome into account: the schedule at once, the store at
    /// the next [`Inner::commit`].
    pub(crate) fn settle<'a>(&self, claimed: Claimed<'a>, outcome: Outcome, batch: &mut Batch<'a>) {
        let id = claimed.event.event_id();
        let now = Instant::now();
        match outcome {
            Outcome::Delivered => {
                lock(&self.schedule).settled(id, now);
                batch.summary.delivered += 1;
                batch.synced.push(claimed);
            }
            Outcome::Rejected {
                status,
                code,
                message,
            } => {
                lock(&self.schedule).settled(id, now);
                self.remember_rejection(id, status, code, message);
                batch.summary.rejected += 1;
                batch.rejected.push(claimed);
            }
            Outcome::Failed(failure) => {
                self.warn_failure(&failure);
                let slowdown = {
                    let mut schedule = lock(&self.schedule);
                    match &failure {
                        Failure::RateLimited(retry_after) => {
                            schedule.rate_limited(now, *retry_after, claimed.sent)
                        }
                        f if f.is_outage() => schedule.outage(now),
                        _ => schedule.event_failed(id, now),
                    }
                };
                batch.summary.outage |= matches!(slowdown, Slowdown::Everyone(_));
                *lock(&self.last_failure) = Some(PassFailure::of(&failure, self.config.ic_token()));
                batch.summary.failure.get_or_insert(failure);
            }
            Outcome::Skipped => {}
        }
    }

    /// Applies the settled outcomes to the store, then releases their events.
    pub(crate) fn commit(&self, batch: &mut Batch<'_>) {
        if !batch.synced.is_empty() {
            let ids: Vec<EventId> = batch.synced.iter().map(|c| c.event.event_id()).collect();
            self.store.mark_synced(&ids);
            // Relaxed: a statistic; the store's own lock orders the removal.
            self.delivered
                .fetch_add(ids.len() as u64, Ordering::Relaxed);
            batch.synced.clear();
        }
        if !batch.rejected.is_empty() {
            let ids: Vec<EventId> = batch.rejected.iter().map(|c| c.event.event_id()).collect();
            self.store.mark_rejected(&ids);
            self.rejected.fetch_add(ids.len() as u64, Ordering::Relaxed);
            batch.rejected.clear();
        }
    }

    fn remember_rejection(&self, id: EventId, status: u16, code: Option<String>, message: String) {
        self.warn_rejection(id, status, code.as_deref(), &message);
        let mut ring = lock(&self.rejected_ring);
        if ring.len() == REJECTED_RING_CAPACITY {
            ring.pop_front();
        }
        ring.push_back(RejectedEvent {
            event_id: id,
            status,
            error_code: code,
            message,
        });
    }

    /// A manual pass (see [`SyncClient::sync_events`](super::SyncClient::sync_events)).
    /// Cancel-safe: dropped midway, the events it had not settled stay buffered.
    pub(crate) async fn pass(&self) -> Summary {
        if self.disabled.is_some() {
            return Summary::default();
        }
        let claimed = self.claim(self.config.max_batch(), true);
        let mut batch = Batch::default();
        if claimed.is_empty() {
            *lock(&self.last_failure) = None;
            return batch.summary;
        }
        let mut waiting = claimed.into_iter();
        let mut sending = FuturesUnordered::new();
        let mut outage = false;
        loop {
            // After an outage signal, nothing new is sent: the rest stays buffered.
            while !outage && sending.len() < self.config.max_in_flight() {
                let Some(claimed) = waiting.next() else {
                    break;
                };
                sending.push(self.post(claimed));
            }
            let Some(mut next) = sending.next().await else {
                break;
            };
            loop {
                let (claimed, outcome) = next;
                outage |= matches!(&outcome, Outcome::Failed(f) if f.is_outage());
                self.settle(claimed, outcome, &mut batch);
                match sending.next().now_or_never() {
                    Some(Some(ready)) => next = ready,
                    _ => break,
                }
            }
            self.commit(&mut batch);
        }
        let summary = std::mem::take(&mut batch.summary);
        *lock(&self.last_failure) = summary
            .failure
            .as_ref()
            .map(|f| PassFailure::of(f, self.config.ic_token()));
        if summary.failure.is_none() && (summary.delivered > 0 || summary.rejected > 0) {
            self.recovered();
        }
        summary
    }
}

fn transport_failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport(e)
    }
}

/// Reads at most [`MAX_BODY_BYTES`] of an answer; says whether it was cut.
async fn read_body(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok((body, true));
        }
    }
    Ok((body, false))
}
