//! The Protocol 012 wire format: the request body of one event, and what
//! the server's answer means for it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SyncError;
use crate::event::{AnalyticsEvent, EventId, EventPayload, LlmModelMeta};
use crate::provider_utils::Provider;

/// The longest `Retry-After` honoured: a larger value is taken as this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// The longest server message kept (in bytes, cut at a character boundary).
const MAX_MESSAGE_LEN: usize = 512;
/// What replaces the token wherever it would appear.
const REDACTED: &str = "<redacted>";
/// The error code of an event refused locally because its body is over the cap.
pub(crate) const TOO_LARGE_CODE: &str = "EVENT_TOO_LARGE";

/// The body of `POST /api/v1/analytics/events`: exactly the protocol's
/// fields, absent optionals left out. No `agent_id`: the server derives it
/// from the token. Deliberately not `Debug`: it holds the token.
#[derive(Serialize)]
pub(crate) struct WireEvent<'a> {
    ic_token: &'a str,
    event_id: EventId,
    timestamp_ms: i64,
    event_type: &'static str,
    model: &'a str,
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_micros: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

/// The protocol's integers are i64; ours are u64 and never come near the
/// limit in practice, so saturate rather than fail.
fn wire_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<'a> WireEvent<'a> {
    /// The body for `event`, or `None` for an event kind that stays local.
    pub(crate) fn new(event: &'a AnalyticsEvent, ic_token: &'a str) -> Option<Self> {
        let base = |meta: &'a LlmModelMeta| WireEvent {
            ic_token,
            event_id: event.event_id(),
            timestamp_ms: wire_int(event.timestamp_ms()),
            event_type: event.event_type().as_str(),
            model: &meta.model,
            provider: Provider::wire_name(&meta.provider),
            input_tokens: None,
            output_tokens: None,
            cost_micros: None,
            provider_id: meta.provider_id.as_deref(),
            error_code: None,
            error_message: None,
        };
        match event.payload() {
            EventPayload::LlmRequestCompleted(d) => Some(WireEvent {
                input_tokens: Some(wire_int(d.input_tokens)),
                output_tokens: Some(wire_int(d.output_tokens)),
                cost_micros: Some(wire_int(d.cost_micros)),
                ..base(&d.meta)
            }),
            EventPayload::LlmRequestFailed(d) => Some(WireEvent {
                error_code: d.error_code.as_deref(),
                error_message: d.error_message.as_deref(),
                ..base(&d.meta)
            }),
            _ => None,
        }
    }
}

/// The JSON body for `event`, or `None` for an event kind that stays local.
pub(crate) fn encode(event: &AnalyticsEvent, ic_token: &str) -> Option<Vec<u8>> {
    let body = WireEvent::new(event, ic_token)?;
    // Serializing plain strings and integers into a Vec cannot fail.
    serde_json::to_vec(&body).ok()
}

/// Why a request did not deliver its event, when the event is fine and
/// should be tried again later.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 5xx.
    Server(u16),
    /// 429, with the server's `Retry-After`.
    RateLimited(Option<Duration>),
    /// 401 / 403.
    Unauthorized(u16),
    /// Any other status that is neither success nor a verdict on the event.
    UnexpectedStatus(u16),
    /// The request timed out.
    Timeout,
    /// Connection refused or reset, DNS, TLS…
    Transport(reqwest::Error),
}

/// A kind of [`Failure`], for warning once per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FailureKind {
    Server,
    RateLimited,
    Unauthorized,
    UnexpectedStatus(u16),
    Timeout,
    Transport,
}

impl Failure {
    /// Whether the failure says the server (or the way to it) is unusable for
    /// every event, not just this one: the whole client slows down then.
    /// Connection refused, 429, 401/403 and statuses that mean a wrong
    /// endpoint are; a 5xx, a reset or a timeout of one request are not (they
    /// count towards a window of failures that is).
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            Failure::RateLimited(_) | Failure::Unauthorized(_) | Failure::UnexpectedStatus(_) => {
                true
            }
            Failure::Transport(e) => e.is_connect(),
            Failure::Server(_) | Failure::Timeout => false,
        }
    }

    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Failure::Server(_) => FailureKind::Server,
            Failure::RateLimited(_) => FailureKind::RateLimited,
            Failure::Unauthorized(_) => FailureKind::Unauthorized,
            Failure::UnexpectedStatus(status) => FailureKind::UnexpectedStatus(*status),
            Failure::Timeout => FailureKind::Timeout,
            Failure::Transport(_) => FailureKind::Transport,
        }
    }

    pub(crate) fn into_error(self) -> SyncError {
        match self {
            Failure::Server(status) => SyncError::Server { status },
            Failure::RateLimited(retry_after) => SyncError::RateLimited { retry_after },
            Failure::Unauthorized(status) => SyncError::Unauthorized { status },
            Failure::UnexpectedStatus(status) => SyncError::UnexpectedStatus { status },
            Failure::Timeout => SyncError::Timeout,
            Failure::Transport(source) => SyncError::Transport {
                source: Box::new(source),
            },
        }
    }
}

/// What one request did for its event.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx: accepted now (202) or earlier (200 `duplicate`).
    Delivered,
    /// 400 / 413 / 422 (or a body over the cap, refused here): the server
    /// will never accept this event as it is.
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Not delivered this time; the event is fine.
    Failed(Failure),
    /// Not sent: the pass stopped after an outage, or the event stays local.
    Skipped,
}

/// What a status means for the event, before reading the body.
pub(crate) enum Verdict {
    Delivered,
    Rejected,
    Failed(Failure),
}

/// Classifies a status. `retry_after` is the parsed `Retry-After` header.
pub(crate) fn verdict(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        // 413: this event's body is over the server's (or a proxy's) limit;
        // sending it again would only fail again.
        400 | 413 | 422 => Verdict::Rejected,
        401 | 403 => Verdict::Failed(Failure::Unauthorized(status)),
        429 => Verdict::Failed(Failure::RateLimited(retry_after)),
        500..=599 => Verdict::Failed(Failure::Server(status)),
        // Any other status (404, 405, a redirect…) says the endpoint or
        // its configuration is wrong, not the event: keep it and retry.
        _ => Verdict::Failed(Failure::UnexpectedStatus(status)),
    }
}

/// Parses a `Retry-After` in seconds (the HTTP-date form is not used by the
/// Control API and is ignored), capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// `{"error": {"code", "message"}}` (the protocol) or
/// `{"error": "CODE", "message": "..."}` (the reference server).
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Code(String),
    Detailed {
        code: Option<String>,
        message: Option<String>,
    },
}

/// The error code and message of a rejection body. The message falls back to
/// the raw body, then to the status. Any copy of the token is blanked out
/// before anything is cut, so that logging the message can never leak it; if
/// the body itself was cut short (`cut`: the answer was longer than what is
/// read), a piece of the token left at its end is blanked too.
pub(crate) fn rejection_details(
    status: u16,
    body: &[u8],
    cut: bool,
    ic_token: &str,
) -> (Option<String>, String) {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => match parsed.error {
            Some(ErrorField::Code(code)) => (Some(code), parsed.message),
            Some(ErrorField::Detailed { code, message }) => (code, message.or(parsed.message)),
            None => (None, parsed.message),
        },
        Err(_) => (None, None),
    };
    let message = message
        .or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        })
        .unwrap_or_else(|| format!("HTTP {status} without a message"));
    (
        code.map(|c| truncate(redact(&c, ic_token, cut))),
        truncate(redact(&message, ic_token, cut)),
    )
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// `text` with every copy of the token replaced by `<redacted>`; with `cut`,
/// also a beginning of the token that ends the text (the rest was cut off).
pub(crate) fn redact(text: &str, ic_token: &str, cut: bool) -> String {
    if ic_token.is_empty() {
        return text.to_owned();
    }
    let mut out = text.replace(ic_token, REDACTED);
    if cut {
        let partial = (1..ic_token.len())
            .rev()
            .filter(|&k| ic_token.is_char_boundary(k))
            .find(|&k| out.ends_with(&ic_token[..k]));
        if let Some(k) = partial {
            out.truncate(out.len() - k);
            out.push_str(REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_body_shapes_parse() {
        let nested = br#"{"error":{"code":"VALIDATION_ERROR","message":"model is required"}}"#;
        assert_eq!(
            rejection_details(400, nested, false, "tok"),
            (
                Some("VALIDATION_ERROR".to_owned()),
                "model is required".to_owned()
            )
        );
        let flat = br#"{"error":"VALIDATION_ERROR","message":"bad provider"}"#;
        assert_eq!(
            rejection_details(422, flat, false, "tok"),
            (
                Some("VALIDATION_ERROR".to_owned()),
                "bad provider".to_owned()
            )
        );
        assert_eq!(
            rejection_details(400, b"plain text", false, "tok"),
            (None, "plain text".to_owned())
        );
        assert_eq!(
            rejection_details(400, b"", false, "tok"),
            (None, "HTTP 400 without a message".to_owned())
        );
    }

    #[test]
    fn messages_are_cut_and_never_carry_the_token() {
        let body = format!(
            r#"{{"error":"E","message":"bad token secret-123 {}"}}"#,
            "é".repeat(600)
        );
        let (_, message) = rejection_details(400, body.as_bytes(), false, "secret-123");
        assert!(!message.contains("secret-123"));
        assert!(message.contains("<redacted>"));
        assert!(message.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
    }

    #[test]
    fn the_token_is_blanked_before_the_message_is_cut() {
        let token = "ic_0123456789abcdefghijklmnopqrstuvwxyz";
        // Every cut position, from before the token to after it.
        for pad in MAX_MESSAGE_LEN - token.len() - 2..=MAX_MESSAGE_LEN + 2 {
            let text = format!("{}{token} tail", "x".repeat(pad));
            let (_, message) = rejection_details(400, text.as_bytes(), false, token);
            assert!(!message.contains(&token[..4]), "pad {pad}: {message}");
        }
    }

    #[test]
    fn a_body_cut_inside_the_token_leaves_no_piece_of_it() {
        let token = "ic_0123456789abcdefghijklmnopqrstuvwxyz";
        for k in 1..token.len() {
            let text = format!("the token was {}", &token[..k]);
            let (_, message) = rejection_details(400, text.as_bytes(), true, token);
            assert_eq!(message, "the token was <redacted>", "k {k}");
        }
        // Not cut: the text is what the server sent.
        let (_, message) = rejection_details(400, b"ends with ic_0", false, token);
        assert_eq!(message, "ends with ic_0");
    }

    #[test]
    fn statuses_map_to_verdicts() {
        assert!(matches!(verdict(202, None), Verdict::Delivered));
        assert!(matches!(verdict(200, None), Verdict::Delivered));
        assert!(matches!(verdict(400, None), Verdict::Rejected));
        assert!(matches!(verdict(422, None), Verdict::Rejected));
        assert!(matches!(verdict(413, None), Verdict::Rejected));
        assert!(matches!(
            verdict(401, None),
            Verdict::Failed(Failure::Unauthorized(401))
        ));
        assert!(matches!(
            verdict(403, None),
            Verdict::Failed(Failure::Unauthorized(403))
        ));
        assert!(matches!(
            verdict(404, None),
            Verdict::Failed(Failure::UnexpectedStatus(404))
        ));
        assert!(matches!(
            verdict(301, None),
            Verdict::Failed(Failure::UnexpectedStatus(301))
        ));
        assert!(matches!(
            verdict(503, None),
            Verdict::Failed(Failure::Server(503))
        ));
        assert!(matches!(
            verdict(429, Some(Duration::from_secs(1))),
            Verdict::Failed(Failure::RateLimited(Some(_)))
        ));
    }

    #[test]
    fn retry_after_is_seconds_and_capped() {
        assert_eq!(parse_retry_after(" 1 "), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
