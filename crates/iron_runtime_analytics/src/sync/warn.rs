//! What the client logs: each kind of failure once until delivery recovers,
//! each kind of rejection once ever, spool trouble once. The token never
//! appears in a log line.

use std::collections::HashSet;

use log::{debug, info, warn};

use super::client::{lock, Inner};
use super::wire::{Failure, FailureKind};
use crate::event::EventId;

/// The most distinct rejection kinds (status, code) warned about; past that,
/// rejections are still counted and kept in the ring, but not logged.
const MAX_WARNED_REJECTION_KINDS: usize = 64;

/// Which warnings were logged, so that each is logged once.
#[derive(Default)]
pub(crate) struct Warnings {
    /// Failure kinds warned about since delivery last recovered.
    failures: HashSet<FailureKind>,
    /// Rejection kinds warned about, ever.
    rejections: HashSet<(u16, Option<String>)>,
    /// A spool write failed (warned once).
    spool: bool,
}

impl Inner {
    pub(crate) fn warn_rejection(
        &self,
        event_id: EventId,
        status: u16,
        code: Option<&str>,
        message: &str,
    ) {
        let mut warnings = lock(&self.warnings);
        let kind = (status, code.map(str::to_owned));
        if warnings.rejections.contains(&kind)
            || warnings.rejections.len() >= MAX_WARNED_REJECTION_KINDS
        {
            return;
        }
        warnings.rejections.insert(kind);
        drop(warnings);
        warn!(
            "the Control API rejected event {event_id} (HTTP {status}, {}): {message}; \
             it is dropped from the buffer, counted as rejected and never retried \
             (further rejections of this kind are not logged; see SyncClient::rejected_events)",
            code.unwrap_or("no error code"),
        );
    }

    pub(crate) fn warn_failure(&self, failure: &Failure) {
        let first = lock(&self.warnings).failures.insert(failure.kind());
        let endpoint = self.endpoint.as_str();
        if !first {
            debug!("event delivery to {endpoint} failed again: {failure:?}");
            return;
        }
        match failure {
            Failure::Unauthorized(status) => warn!(
                "the Control API refused the IC token (HTTP {status}): check or renew the token; \
                 events stay buffered and delivery is retried with backoff"
            ),
            Failure::UnexpectedStatus(status) => warn!(
                "the Control API answered HTTP {status} at {endpoint}: check server_url; \
                 events stay buffered and delivery is retried with backoff"
            ),
            Failure::RateLimited(retry_after) => warn!(
                "the Control API rate-limited this token (HTTP 429, {}); \
                 events stay buffered and delivery slows down",
                // The fallback's wording: `retry after 1 s`, not `Some(1s)`.
                retry_after.map_or_else(
                    || "no Retry-After".to_owned(),
                    |d| format!("retry after {} s", d.as_secs_f64())
                )
            ),
            Failure::Server(status) => warn!(
                "the Control API answered HTTP {status}; events stay buffered and delivery is \
                 retried with backoff"
            ),
            Failure::Timeout => warn!(
                "the Control API at {endpoint} did not answer within {} ms; events stay buffered \
                 and delivery is retried with backoff",
                self.config.timeout().as_millis()
            ),
            Failure::Transport(e) => warn!(
                "could not reach the Control API at {endpoint} ({e}); events stay buffered and \
                 delivery is retried with backoff"
            ),
        }
    }

    /// Delivery ran clean: forget the last failure, and warn again about the next one.
    pub(crate) fn recovered(&self) {
        *lock(&self.last_failure) = None;
        let mut warnings = lock(&self.warnings);
        if !warnings.failures.is_empty() {
            warnings.failures.clear();
            drop(warnings);
            info!("event delivery to the Control API resumed");
        }
    }

    pub(crate) fn warn_spool(&self, error: &std::io::Error) {
        let mut warnings = lock(&self.warnings);
        if std::mem::replace(&mut warnings.spool, true) {
            debug!("writing the spool failed again: {error}");
            return;
        }
        drop(warnings);
        warn!(
            "could not write the spool in {} ({error}): undelivered events are kept in memory \
             only until it works again; check the disk (see SyncClient::spool_status)",
            self.config
                .spool_dir()
                .map_or_else(String::new, |d| d.display().to_string()),
        );
    }
}
