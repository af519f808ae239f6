//! The spool file's format, and reading it back whatever state it is in.
//!
//! ```text
//! file    = "IRSPOOL1" record*
//! record  = A5 5A | kind (1 byte) | length (u32 LE) | crc32 (u32 LE) | payload (length bytes)
//! kind    = 'E' (an event: its JSON, as `AnalyticsEvent` serializes)
//!         | 'D' (done: 16-byte event ids, delivered or otherwise gone)
//! crc32   = CRC-32 (IEEE) of kind, length and payload
//! ```
//!
//! The file is only ever appended to, or replaced whole (compaction, by a
//! rename). A process killed during an append leaves a torn last record:
//! reading skips it and counts it. Bytes that are not records (a damaged
//! disk, another program's write) are skipped up to the next valid record,
//! and counted. Nothing in the file can make reading fail.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::event::{
    AnalyticsEvent, EventId, EventPayload, LlmFailureData, LlmModelMeta, LlmUsageData,
};

/// The file's first bytes: its format and version.
pub(super) const HEADER: &[u8; 8] = b"IRSPOOL1";
const MAGIC: [u8; 2] = [0xA5, 0x5A];
const KIND_EVENT: u8 = b'E';
const KIND_DONE: u8 = b'D';
/// Magic, kind, length, checksum.
const FRAME: usize = 2 + 1 + 4 + 4;
/// The longest payload read: far above any event (bodies are capped at a few KiB).
const MAX_PAYLOAD: usize = 1 << 20;
/// Ids per `D` record.
const IDS_PER_DONE: usize = 4_096;
const ID_BYTES: usize = 16;

fn frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&len);
    crc.update(payload);
    out.extend_from_slice(&MAGIC);
    out.push(kind);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// The `E` record of an event.
pub(super) fn event_record(event: &AnalyticsEvent) -> Vec<u8> {
    // Serializing strings and integers into a Vec cannot fail.
    let payload = serde_json::to_vec(event).unwrap_or_default();
    let mut out = Vec::with_capacity(FRAME + payload.len());
    frame(KIND_EVENT, &payload, &mut out);
    out
}

/// `D` records for these ids, appended to `out`.
pub(super) fn done_records(ids: &[EventId], out: &mut Vec<u8>) {
    for chunk in ids.chunks(IDS_PER_DONE) {
        let payload: Vec<u8> = chunk
            .iter()
            .flat_map(|id| id.as_uuid().into_bytes())
            .collect();
        frame(KIND_DONE, &payload, out);
    }
}

/// What a spool file held.
#[derive(Debug, Default)]
pub(super) struct Contents {
    /// The events not marked done, in file order, with their record sizes.
    pub(super) events: Vec<(AnalyticsEvent, u64)>,
    /// A last record cut short (by a crash during a write): 0 or 1.
    pub(super) torn_records: u64,
    /// Bytes that were not records, skipped.
    pub(super) garbage_bytes: u64,
    /// Records intact but not understood (e.g. an event with a bad id).
    pub(super) unreadable_records: u64,
}

impl Contents {
    /// Whether the file needs rewriting before anything is appended to it.
    pub(super) fn damaged(&self) -> bool {
        self.torn_records + self.garbage_bytes + self.unreadable_records > 0
    }
}

/// The record at `pos`, if a complete and valid one starts there: its kind,
/// its payload and where the next one starts.
fn record_at(buf: &[u8], pos: usize) -> Option<(u8, &[u8], usize)> {
    let head = buf.get(pos..pos + FRAME)?;
    if head[..2] != MAGIC || !matches!(head[2], KIND_EVENT | KIND_DONE) {
        return None;
    }
    let len = u32::from_le_bytes([head[3], head[4], head[5], head[6]]) as usize;
    let crc = u32::from_le_bytes([head[7], head[8], head[9], head[10]]);
    if len > MAX_PAYLOAD {
        return None;
    }
    let payload = buf.get(pos + FRAME..pos + FRAME + len)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&head[2..7]);
    hasher.update(payload);
    (hasher.finalize() == crc).then_some((head[2], payload, pos + FRAME + len))
}

/// Whether the bytes from `pos` to the end are the beginning of a record
/// that was never finished.
fn is_torn_tail(buf: &[u8], pos: usize) -> bool {
    let rest = &buf[pos..];
    if rest.len() < FRAME {
        let magic = &MAGIC[..rest.len().min(2)];
        return rest.starts_with(magic)
            && rest
                .get(2)
                .is_none_or(|k| matches!(*k, KIND_EVENT | KIND_DONE));
    }
    let len = u32::from_le_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
    rest[..2] == MAGIC
        && matches!(rest[2], KIND_EVENT | KIND_DONE)
        && len <= MAX_PAYLOAD
        && FRAME + len > rest.len()
}

/// Reads a spool file's bytes.
pub(super) fn read(buf: &[u8]) -> Contents {
    let mut contents = Contents::default();
    let mut events: Vec<Option<(AnalyticsEvent, u64)>> = Vec::new();
    let mut index: HashMap<EventId, usize> = HashMap::new();
    let mut pos = if buf.starts_with(HEADER) {
        HEADER.len()
    } else {
        0
    };
    while pos < buf.len() {
        let Some((kind, payload, next)) = record_at(buf, pos) else {
            let resume = (pos + 1..buf.len()).find(|&p| record_at(buf, p).is_some());
            match resume {
                Some(p) => {
                    contents.garbage_bytes += (p - pos) as u64;
                    pos = p;
                    continue;
                }
                None if is_torn_tail(buf, pos) => contents.torn_records += 1,
                None => contents.garbage_bytes += (buf.len() - pos) as u64,
            }
            break;
        };
        let size = (next - pos) as u64;
        pos = next;
        match kind {
            KIND_EVENT => match decode_event(payload) {
                Some(event) => {
                    let id = event.event_id();
                    match index.get(&id) {
                        // Written again (e.g. by a process that replayed it): keep one copy.
                        Some(&i) if events[i].is_some() => {}
                        _ => {
                            index.insert(id, events.len());
                            events.push(Some((event, size)));
                        }
                    }
                }
                None => contents.unreadable_records += 1,
            },
            _ if payload.len() % ID_BYTES != 0 => contents.unreadable_records += 1,
            _ => {
                for raw in payload.chunks_exact(ID_BYTES) {
                    let mut bytes = [0u8; ID_BYTES];
                    bytes.copy_from_slice(raw);
                    let (prefix, key) = uuid::Uuid::from_bytes(bytes).as_u64_pair();
                    if let Some(i) = index.remove(&EventId::from_parts(prefix, key)) {
                        events[i] = None;
                    }
                }
            }
        }
    }
    contents.events = events.into_iter().flatten().collect();
    contents
}

/// An event as [`AnalyticsEvent`] serializes it (the spool's `E` payload).
#[derive(Deserialize)]
struct SpooledEvent {
    event_id: String,
    timestamp_ms: Option<u64>,
    event_type: String,
    agent_id: Option<String>,
    provider_id: Option<String>,
    provider: String,
    model: String,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cost_micros: Option<u64>,
    error_code: Option<String>,
    error_message: Option<String>,
}

fn decode_event(payload: &[u8]) -> Option<AnalyticsEvent> {
    let e: SpooledEvent = serde_json::from_slice(payload).ok()?;
    let id: EventId = e.event_id.parse().ok()?;
    if e.model.is_empty() || e.provider.is_empty() {
        return None;
    }
    let meta = LlmModelMeta {
        provider_id: e.provider_id.map(Arc::from),
        provider: Arc::from(e.provider),
        model: Arc::from(e.model),
    };
    let payload = match e.event_type.as_str() {
        "llm_request_completed" => EventPayload::LlmRequestCompleted(LlmUsageData {
            meta,
            input_tokens: e.input_tokens?,
            output_tokens: e.output_tokens?,
            cost_micros: e.cost_micros?,
        }),
        "llm_request_failed" => EventPayload::LlmRequestFailed(LlmFailureData {
            meta,
            error_code: e.error_code,
            error_message: e.error_message,
        }),
        _ => return None,
    };
    Some(AnalyticsEvent {
        id,
        timestamp_ms: e.timestamp_ms.unwrap_or_else(|| id.timestamp_ms()),
        agent_id: e.agent_id.map(Arc::from),
        synced: false,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(model: &str) -> AnalyticsEvent {
        AnalyticsEvent::new(EventPayload::LlmRequestFailed(LlmFailureData {
            meta: LlmModelMeta {
                provider_id: Some("ip_1".into()),
                provider: "openai".into(),
                model: model.into(),
            },
            error_code: Some("timeout".into()),
            error_message: Some("upstream \"slow\" ✓".into()),
        }))
        .with_agent_id(Some("agent_1"))
    }

    fn completed() -> AnalyticsEvent {
        AnalyticsEvent::new(EventPayload::LlmRequestCompleted(LlmUsageData {
            meta: LlmModelMeta {
                provider_id: None,
                provider: "anthropic".into(),
                model: "claude-3-opus-20240229".into(),
            },
            input_tokens: 10,
            output_tokens: 20,
            cost_micros: 30,
        }))
    }

    fn file(records: &[Vec<u8>]) -> Vec<u8> {
        let mut buf = HEADER.to_vec();
        for r in records {
            buf.extend_from_slice(r);
        }
        buf
    }

    fn events_of(c: &Contents) -> Vec<AnalyticsEvent> {
        c.events.iter().map(|(e, _)| e.clone()).collect()
    }

    #[test]
    fn events_round_trip_and_done_records_remove_them() {
        let (a, b, c) = (failed("gpt-4o"), completed(), failed("o1"));
        let mut done = Vec::new();
        done_records(&[b.event_id()], &mut done);
        let buf = file(&[event_record(&a), event_record(&b), done, event_record(&c)]);
        let contents = read(&buf);
        assert_eq!(events_of(&contents), [a.clone(), c]);
        assert!(!contents.damaged());
        assert_eq!(contents.events[0].1, event_record(&a).len() as u64);
    }

    #[test]
    fn a_torn_last_record_is_skipped_at_every_cut() {
        let (a, b) = (failed("gpt-4o"), completed());
        let whole = file(&[event_record(&a), event_record(&b)]);
        let start_of_b = HEADER.len() + event_record(&a).len();
        for cut in start_of_b + 1..whole.len() {
            let contents = read(&whole[..cut]);
            assert_eq!(
                events_of(&contents),
                std::slice::from_ref(&a),
                "cut at {cut}"
            );
            assert_eq!(
                (contents.torn_records, contents.garbage_bytes),
                (1, 0),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_is_skipped_up_to_the_next_record_and_counted() {
        let (a, b) = (failed("gpt-4o"), completed());
        let mut buf = file(&[event_record(&a)]);
        buf.extend_from_slice(b"\x00\xA5\x5AE\xFF\xFF\xFF\x00 not a record at all");
        let garbage = buf.len() - HEADER.len() - event_record(&a).len();
        buf.extend_from_slice(&event_record(&b));
        let contents = read(&buf);
        assert_eq!(events_of(&contents), [a, b.clone()]);
        assert_eq!(contents.garbage_bytes, garbage as u64);
        assert_eq!(contents.torn_records, 0);

        // A flipped bit in a record's payload: its checksum fails, it is skipped.
        let mut flipped = file(&[event_record(&b), event_record(&failed("x"))]);
        flipped[HEADER.len() + FRAME + 3] ^= 0x20;
        let contents = read(&flipped);
        assert_eq!(contents.events.len(), 1);
        assert_eq!(contents.garbage_bytes, event_record(&b).len() as u64);

        // Nothing but noise, and no header.
        let contents = read(b"hello, this is not a spool file");
        assert!(contents.events.is_empty());
        assert_eq!(contents.garbage_bytes, 31);
    }

    #[test]
    fn intact_records_with_bad_contents_are_counted() {
        let mut bad = Vec::new();
        frame(KIND_EVENT, br#"{"event_id":"nope"}"#, &mut bad);
        frame(KIND_DONE, b"short", &mut bad);
        let contents = read(&file(&[bad]));
        assert!(contents.events.is_empty());
        assert_eq!(contents.unreadable_records, 2);
    }
}
