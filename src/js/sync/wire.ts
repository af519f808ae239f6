/**
 * The Protocol 012 wire format for the pure-JS client: the request body of
 * one event, and what the server's answer means for it (the Rust core's
 * `sync/wire.rs`).
 */
import type { AnalyticsEvent, LlmCompletedEvent, LlmFailedEvent } from '../../shared/types.js';
import { SyncError } from '../../shared/sync/errors.js';

/** The longest server message kept, in UTF-8 bytes. */
const MAX_MESSAGE_BYTES = 512;
/** The longest `Retry-After` honoured: a larger value is taken as this. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** What replaces the token wherever it would appear. */
export const REDACTED = '<redacted>';
/** The error code of an event refused locally because its body is over the cap. */
export const TOO_LARGE_CODE = 'EVENT_TOO_LARGE';

/** `openai` and `anthropic` (ASCII case-insensitive) stay; every other provider is `unknown`. */
export function wireProvider(provider: string): 'openai' | 'anthropic' | 'unknown' {
  const lower = provider.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  return lower === 'openai' || lower === 'anthropic' ? lower : 'unknown';
}

/** Whether an event is sent (LLM events) rather than kept local. */
export function isLlm(event: AnalyticsEvent): event is LlmCompletedEvent | LlmFailedEvent {
  return event.eventType === 'llm_request_completed' || event.eventType === 'llm_request_failed';
}

/**
 * The JSON body of one event: exactly the protocol's fields, absent
 * optionals left out (never `null`), no `agent_id` (the server derives it
 * from the token). `null` for an event kind that stays local.
 */
export function wireBody(event: AnalyticsEvent, icToken: string): string | null {
  if (!isLlm(event)) return null;
  const body: Record<string, string | number> = {
    ic_token: icToken,
    event_id: event.eventId,
    timestamp_ms: event.timestampMs,
    event_type: event.eventType,
    model: event.model,
    provider: wireProvider(event.provider),
  };
  if (event.eventType === 'llm_request_completed') {
    body.input_tokens = event.inputTokens;
    body.output_tokens = event.outputTokens;
    body.cost_micros = event.costMicros;
  }
  if (event.providerId != null) body.provider_id = event.providerId;
  if (event.eventType === 'llm_request_failed') {
    if (event.errorCode != null) body.error_code = event.errorCode;
    if (event.errorMessage != null) body.error_message = event.errorMessage;
  }
  return JSON.stringify(body);
}

/** A `Retry-After` in seconds, in ms, capped at one hour; `null` if absent or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined): number | null {
  if (value == null) return null;
  const text = value.trim();
  if (!/^\+?\d+$/.test(text)) return null;
  return Math.min(Number(text) * 1_000, MAX_RETRY_AFTER_MS);
}

/**
 * `text` with every copy of the token replaced by `<redacted>`; with `cut`
 * (the text was cut short), also a beginning of the token that ends it.
 */
export function redact(text: string, token: string, cut = false): string {
  if (token === '') return text;
  let out = text.includes(token) ? text.split(token).join(REDACTED) : text;
  if (cut) {
    for (let k = token.length - 1; k > 0; k--) {
      if (out.endsWith(token.slice(0, k))) {
        out = out.slice(0, out.length - k) + REDACTED;
        break;
      }
    }
  }
  return out;
}

/** Cuts `text` to at most {@link MAX_MESSAGE_BYTES} UTF-8 bytes, at a character boundary. */
function truncate(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_MESSAGE_BYTES) return text;
  let end = MAX_MESSAGE_BYTES;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}…`;
}

const optionalString = (v: unknown): v is string | null | undefined =>
  v === undefined || v === null || typeof v === 'string';

/**
 * The error code and message of a rejection body:
 * `{"error": {"code", "message"}}` (the protocol) or
 * `{"error": "CODE", "message": "..."}` (the reference server). The message
 * falls back to the raw body, then to the status. The token is blanked out
 * before anything is cut; if the body itself was cut short (`cut`), a piece
 * of the token left at its end is blanked too.
 */
export function rejectionDetails(
  status: number,
  body: string,
  icToken: string,
  cut = false,
): { code: string | null; message: string } {
  let code: string | null = null;
  let message: string | null = null;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const { error, message: top } = parsed as { error?: unknown; message?: unknown };
      if (optionalString(top)) {
        if (typeof error === 'string') {
          code = error;
          message = top ?? null;
        } else if (typeof error === 'object' && error !== null && !Array.isArray(error)) {
          const detailed = error as { code?: unknown; message?: unknown };
          if (optionalString(detailed.code) && optionalString(detailed.message)) {
            code = detailed.code ?? null;
            message = detailed.message ?? top ?? null;
          }
        } else if (error === undefined || error === null) {
          message = top ?? null;
        }
      }
    }
  } catch {
    // Not JSON: the raw text is the message.
  }
  if (message === null) {
    const text = body.trim();
    message = text === '' ? `HTTP ${status} without a message` : text;
  }
  return {
    code: code === null ? null : truncate(redact(code, icToken, cut)),
    message: truncate(redact(message, icToken, cut)),
  };
}

/** What a status means for the event, before reading the body. */
export type Verdict = 'delivered' | 'rejected' | 'failed';

/** 2xx delivered; 400/413/422 refused for good (413: over the server's or a proxy's limit); the rest transient. */
export function verdict(status: number): Verdict {
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 400 || status === 413 || status === 422) return 'rejected';
  return 'failed';
}

/** The failure a transient status stands for. */
export function statusFailure(status: number, retryAfterMs: number | null): SyncError {
  if (status === 401 || status === 403) {
    return new SyncError(
      'unauthorized',
      `the Control API refused the IC token (HTTP ${status}); check or renew the token: the events stay buffered`,
      status,
    );
  }
  if (status === 429) {
    const after = retryAfterMs === null ? '' : ` after ${retryAfterMs / 1_000} s`;
    return new SyncError(
      'rate_limited',
      `the Control API rate-limited this token (HTTP 429); the events stay buffered and are retried${after}`,
      status,
      retryAfterMs,
    );
  }
  if (status >= 500 && status <= 599) {
    return new SyncError(
      'server',
      `the Control API answered HTTP ${status}; the events stay buffered and are retried`,
      status,
    );
  }
  return new SyncError(
    'unexpected_status',
    `the Control API answered HTTP ${status}; check serverUrl (the events stay buffered and are retried)`,
    status,
  );
}

/** What one request did for its event. */
export type Outcome =
  | { type: 'delivered' }
  | { type: 'rejected'; status: number; code: string | null; message: string }
  /** `outage`: every event must wait; `detail`: what the transport said, for the warning. */
  | { type: 'failed'; error: SyncError; outage: boolean; detail?: string }
  /** Not sent (after an outage), or abandoned at the stop deadline. */
  | { type: 'skipped' };
