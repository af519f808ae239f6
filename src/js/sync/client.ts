/**
 * The pure-JS sync client: delivers the buffered LLM events of a store to
 * the Control API (Protocol 012) with the global `fetch`, with the semantics
 * of the Rust core's `SyncClient` (`crates/iron_runtime_analytics/src/sync/`):
 *
 * | answer | the event |
 * |---|---|
 * | 202 `accepted`, 200 `duplicate` (any 2xx) | delivered: `markSynced` |
 * | 400, 422 | refused for good: `markRejected`, counted, kept in `rejectedEvents()`, warned once per (status, code), never retried |
 * | 401, 403 | kept; the loop backs off and warns once until a success |
 * | 429 | kept; the next pass waits at least `Retry-After` |
 * | 5xx, timeout, connection error, any other status | kept; retried after an exponential backoff with jitter |
 *
 * Retries are safe: an event keeps its id and the server deduplicates on it.
 * An event is never in flight twice, whichever passes of this client run at
 * once. Local events (router lifecycle, budget thresholds) are never sent.
 * The IC token is never logged and never part of an error.
 */

import type { AnalyticsEvent, LlmCompletedEvent, LlmFailedEvent } from '../../shared/types.js';
import { describeValue } from '../../shared/validate.js';
import { checkSyncConfig, tokenOf, type SyncConfig } from '../../shared/sync/config.js';
import { SyncError } from '../../shared/sync/errors.js';
import type { RejectedEvent, SyncClientApi, SyncHandleApi, SyncReport } from '../../shared/sync/types.js';

/** How many rejected events `rejectedEvents()` remembers. */
export const REJECTED_RING_CAPACITY = 64;
/** The most distinct rejection kinds (status, code) warned about. */
const MAX_WARNED_REJECTION_KINDS = 64;
/** The most bytes of an answer read (error messages are short). */
const MAX_BODY_BYTES = 4_096;
/** The longest server message kept, in UTF-8 bytes. */
const MAX_MESSAGE_BYTES = 512;
/** The longest `Retry-After` honoured: a larger value is taken as this. */
const MAX_RETRY_AFTER_MS = 3_600_000;
const REDACTED = '<redacted>';
const WARN_PREFIX = 'iron-runtime-analytics:';
const USER_AGENT = 'iron-runtime-analytics (node)';

/** What the client needs of a store: the `EventStore` of either implementation fits. */
export interface SyncableStore {
  /** Buffered LLM events, oldest first (at most `limit` if the store supports it). */
  unsyncedEvents(limit?: number): AnalyticsEvent[];
  /** Removes delivered events. */
  markSynced(ids: string[]): unknown;
  /** Removes events the server refused for good. */
  markRejected(ids: string[]): unknown;
  /** Buffered LLM events. */
  unsyncedCount(): number;
}

const STORE_METHODS = ['unsyncedEvents', 'markSynced', 'markRejected', 'unsyncedCount'] as const;

function checkStore(value: unknown): asserts value is SyncableStore {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    STORE_METHODS.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  if (!ok) {
    throw new TypeError(
      `store must be an EventStore (an object with ${STORE_METHODS.join(', ')}), got ${describeValue(value)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// The wire format
// ---------------------------------------------------------------------------

/** `openai` and `anthropic` (ASCII case-insensitive) stay; every other provider is `unknown`. */
export function wireProvider(provider: string): 'openai' | 'anthropic' | 'unknown' {
  const lower = provider.replace(/[A-Z]+/g, (c) => c.toLowerCase());
  return lower === 'openai' || lower === 'anthropic' ? lower : 'unknown';
}

function isLlm(event: AnalyticsEvent): event is LlmCompletedEvent | LlmFailedEvent {
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
export function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (!/^\+?\d+$/.test(text)) return null;
  return Math.min(Number(text) * 1_000, MAX_RETRY_AFTER_MS);
}

function redact(text: string, token: string): string {
  return token !== '' && text.includes(token) ? text.split(token).join(REDACTED) : text;
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
 * falls back to the raw body, then to the status; the token is blanked out.
 */
export function rejectionDetails(
  status: number,
  body: string,
  icToken: string,
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
    code: code === null ? null : redact(truncate(code), icToken),
    message: redact(truncate(message), icToken),
  };
}

/**
 * The delay before retry number `attempt + 1` (attempt 0 is the first
 * failure): `initial × 2^attempt` capped at `max`, plus a random jitter of up
 * to the same amount, capped at `max` again (as the Rust core's backoff).
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(initialMs * 2 ** Math.min(attempt, 64), maxMs);
  return Math.min(Math.round(base + base * random()), maxMs);
}

// ---------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------

type Outcome =
  | { type: 'delivered' }
  | { type: 'rejected'; status: number; code: string | null; message: string }
  /** `detail`: what the transport said, for the warning. */
  | { type: 'failed'; error: SyncError; detail?: string }
  /** Not sent (the pass stopped after a failure), or abandoned at the stop deadline. */
  | { type: 'skipped' };

/** What one pass did. */
interface PassSummary {
  /** Events the pass took (not in flight elsewhere). */
  taken: number;
  delivered: number;
  rejected: number;
  /** The first transient failure: the pass stopped sending then. */
  failure: SyncError | null;
  /** The longest `Retry-After` of the pass's 429 answers, ms. */
  retryAfterMs: number | null;
}

/** Why a request was aborted: its own timeout, or the stop deadline. */
const CANCELLED = Symbol('cancelled at the stop deadline');

function failureKey(error: SyncError): string {
  return error.kind === 'unexpected_status' ? `${error.kind}:${error.status}` : error.kind;
}

function statusFailure(status: number, retryAfterMs: number | null): SyncError {
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

/** Reads at most {@link MAX_BODY_BYTES} of an answer. */
async function readBody(response: Response): Promise<string> {
  const stream = response.body;
  if (stream === null) return '';
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let done = false;
  while (total < MAX_BODY_BYTES) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = next.value.subarray(0, MAX_BODY_BYTES - total);
    chunks.push(chunk);
    total += chunk.length;
  }
  if (!done) reader.cancel().catch(() => {});
  return Buffer.concat(chunks).toString('utf8');
}

/** The cause of a failed `fetch`, without anything that could carry the token. */
function transportReason(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const source = (cause ?? error) as { code?: unknown; message?: unknown } | null;
  const code = typeof source?.code === 'string' ? source.code : null;
  const message = typeof source?.message === 'string' ? source.message : String(source);
  return code !== null && !message.includes(code) ? `${code}: ${message}` : message;
}

const delay = (ms: number, ref: boolean): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    if (!ref) timer.unref();
  });

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/** What a handle needs of its client. */
interface Internals {
  readonly config: SyncConfig;
  pass(cancel: AbortSignal | null): Promise<PassSummary>;
  pendingNotInFlight(): number;
  unsyncedCount(): number;
  delivered(): number;
  rejected(): number;
  warn(key: string, message: string): void;
}

/**
 * Delivers the LLM events of an `EventStore` to the Control API
 * (Protocol 012), on demand ({@link syncEvents}) or in the background
 * ({@link start}). The pure-JS implementation of `SyncClient`.
 */
export class FallbackSyncClient implements SyncClientApi {
  readonly #store: SyncableStore;
  readonly #config: SyncConfig;
  readonly #token: string;
  readonly #endpoint: string;
  /** Events being posted now, by any pass of this client. */
  readonly #inFlight = new Set<string>();
  readonly #ring: RejectedEvent[] = [];
  #delivered = 0;
  #rejected = 0;
  #lastError: SyncError | null = null;
  /** Failure kinds warned about since the last success. */
  readonly #warnedFailures = new Set<string>();
  /** Rejection kinds warned about, ever. */
  readonly #warnedRejections = new Set<string>();
  readonly #internals: Internals;

  /**
   * @param store The store whose LLM events are delivered (`TypeError` if it
   *   lacks `unsyncedEvents`, `markSynced`, `markRejected`, `unsyncedCount`).
   * @param config Where and how to deliver (`TypeError` if not a `SyncConfig`).
   */
  constructor(store: SyncableStore, config: SyncConfig) {
    checkStore(store);
    checkSyncConfig(config);
    this.#store = store;
    this.#config = config;
    this.#token = tokenOf(config);
    this.#endpoint = config.ingestUrl;
    this.#internals = {
      config,
      pass: (cancel) => this.#pass(cancel),
      pendingNotInFlight: () => Math.max(0, this.#store.unsyncedCount() - this.#inFlight.size),
      unsyncedCount: () => this.#store.unsyncedCount(),
      delivered: () => this.#delivered,
      rejected: () => this.#rejected,
      warn: (key, message) => this.#warnOnce(key, message),
    };
  }

  /** The configuration. */
  get config(): SyncConfig {
    return this.#config;
  }

  /**
   * One pass, now (see {@link SyncClientApi.syncEvents}). Resolves to the
   * number of events delivered; a transient failure does not reject: the
   * events stay buffered and the failure is returned by {@link lastError}.
   */
  async syncEvents(): Promise<number> {
    const summary = await this.#pass(null);
    return summary.delivered;
  }

  /** Starts the background loop (see {@link SyncClientApi.start}). */
  start(): SyncHandleApi {
    return new FallbackSyncHandle(this.#internals);
  }

  /** The last 64 events the server refused for good, oldest first. */
  rejectedEvents(): RejectedEvent[] {
    return this.#ring.map((r) => ({ ...r }));
  }

  /** Events delivered over this client's life. */
  deliveredCount(): number {
    return this.#delivered;
  }

  /** Events rejected for good over this client's life. */
  rejectedCount(): number {
    return this.#rejected;
  }

  /** The first transient failure of the last pass to finish, or `null`. */
  lastError(): SyncError | null {
    return this.#lastError;
  }

  /** Takes up to `maxBatch` buffered LLM events that no pass is sending, and marks them in flight. */
  #claim(): { id: string; body: string }[] {
    const maxBatch = this.#config.maxBatch;
    const limit = maxBatch + this.#inFlight.size;
    const candidates = this.#store.unsyncedEvents(limit);
    const claimed: { id: string; body: string }[] = [];
    const n = Math.min(candidates.length, limit);
    for (let i = 0; i < n && claimed.length < maxBatch; i++) {
      const event = candidates[i];
      if (event === undefined || this.#inFlight.has(event.eventId)) continue;
      const body = wireBody(event, this.#token);
      if (body === null) continue;
      this.#inFlight.add(event.eventId);
      claimed.push({ id: event.eventId, body });
    }
    return claimed;
  }

  async #pass(cancel: AbortSignal | null): Promise<PassSummary> {
    const events = this.#claim();
    const summary: PassSummary = { taken: events.length, delivered: 0, rejected: 0, failure: null, retryAfterMs: null };
    const delivered: string[] = [];
    const rejected: string[] = [];
    try {
      let next = 0;
      let stopSending = false;
      const worker = async (): Promise<void> => {
        while (next < events.length) {
          const event = events[next++] as { id: string; body: string };
          // Only a hint to stop early: requests already sent run to the end.
          if (stopSending || cancel?.aborted) continue;
          const outcome = await this.#post(event.body, cancel);
          if (outcome.type === 'failed') stopSending = true;
          this.#apply(event.id, outcome, summary, delivered, rejected);
        }
      };
      const workers = Math.min(this.#config.maxInFlight, events.length);
      await Promise.all(Array.from({ length: workers }, worker));
    } finally {
      // Applied to the store before the events leave the in-flight set, so
      // that no other pass can take a delivered event again.
      try {
        if (delivered.length > 0) this.#store.markSynced(delivered);
        if (rejected.length > 0) this.#store.markRejected(rejected);
        this.#delivered += delivered.length;
        this.#rejected += rejected.length;
      } finally {
        for (const event of events) this.#inFlight.delete(event.id);
      }
    }
    if (summary.failure === null && (summary.delivered > 0 || summary.rejected > 0)) {
      // A success: warn again about the next failure.
      this.#warnedFailures.clear();
    }
    this.#lastError = summary.failure;
    return summary;
  }

  /** Posts one event and classifies the answer. Never throws. */
  async #post(body: string, cancel: AbortSignal | null): Promise<Outcome> {
    const timeout = AbortSignal.timeout(this.#config.timeoutMs);
    const signal = cancel === null ? timeout : AbortSignal.any([timeout, cancel]);
    let response: Response;
    try {
      response = await fetch(this.#endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': USER_AGENT },
        body,
        signal,
        // A redirect means serverUrl is not the final address: say so rather
        // than re-post the token elsewhere.
        redirect: 'manual',
      });
    } catch (error) {
      return this.#requestFailure(error, timeout, cancel);
    }
    const status = response.status;
    const retryAfterMs = status === 429 ? parseRetryAfter(response.headers.get('retry-after')) : null;
    const delivered = status >= 200 && status <= 299;
    const rejected = status === 400 || status === 422;
    let text = '';
    try {
      text = await readBody(response);
    } catch (error) {
      // The status is known: a failure to read the rest does not change it.
      if (!delivered && !rejected) return this.#requestFailure(error, timeout, cancel);
    }
    if (delivered) return { type: 'delivered' };
    if (rejected) return { type: 'rejected', status, ...rejectionDetails(status, text, this.#token) };
    return { type: 'failed', error: statusFailure(status, retryAfterMs) };
  }

  #requestFailure(error: unknown, timeout: AbortSignal, cancel: AbortSignal | null): Outcome {
    if (cancel?.aborted && cancel.reason === CANCELLED && !timeout.aborted) return { type: 'skipped' };
    if (timeout.aborted) {
      return {
        type: 'failed',
        error: new SyncError(
          'timeout',
          `the Control API did not answer within the timeout (${this.#config.timeoutMs} ms); the events stay buffered and are retried`,
        ),
      };
    }
    const reason = redact(transportReason(error), this.#token);
    return {
      type: 'failed',
      error: new SyncError(
        'transport',
        `could not reach the Control API: ${reason}; the events stay buffered and are retried`,
      ),
      detail: reason,
    };
  }

  /** Applies one outcome to the pass's lists, the ring and the logs. */
  #apply(id: string, outcome: Outcome, summary: PassSummary, delivered: string[], rejected: string[]): void {
    switch (outcome.type) {
      case 'delivered':
        delivered.push(id);
        summary.delivered++;
        return;
      case 'rejected': {
        rejected.push(id);
        summary.rejected++;
        this.#warnRejection(id, outcome.status, outcome.code, outcome.message);
        if (this.#ring.length === REJECTED_RING_CAPACITY) this.#ring.shift();
        this.#ring.push({ eventId: id, status: outcome.status, errorCode: outcome.code, message: outcome.message });
        return;
      }
      case 'failed': {
        this.#warnFailure(outcome.error, outcome.detail ?? '');
        const after = outcome.error.retryAfterMs;
        if (after !== null) summary.retryAfterMs = Math.max(summary.retryAfterMs ?? 0, after);
        summary.failure ??= outcome.error;
        return;
      }
      case 'skipped':
        return;
    }
  }

  #warnRejection(id: string, status: number, code: string | null, message: string): void {
    const key = JSON.stringify([status, code]);
    if (this.#warnedRejections.has(key) || this.#warnedRejections.size >= MAX_WARNED_REJECTION_KINDS) return;
    this.#warnedRejections.add(key);
    this.#emit(
      `${WARN_PREFIX} the Control API rejected event ${id} (HTTP ${status}, ${code ?? 'no error code'}): ${message}; ` +
        'it is dropped from the buffer, counted as rejected and never retried ' +
        '(further rejections of this kind are not logged; see SyncClient.rejectedEvents())',
    );
  }

  #warnFailure(error: SyncError, detail: string): void {
    const endpoint = this.#endpoint;
    let message: string;
    switch (error.kind) {
      case 'unauthorized':
        message =
          `the Control API refused the IC token (HTTP ${error.status}): check or renew the token; ` +
          'events stay buffered and delivery is retried with backoff';
        break;
      case 'unexpected_status':
        message =
          `the Control API answered HTTP ${error.status} at ${endpoint}: check serverUrl; ` +
          'events stay buffered and delivery is retried with backoff';
        break;
      case 'rate_limited':
        message =
          `the Control API rate-limited this token (HTTP 429, ${
            error.retryAfterMs === null ? 'no Retry-After' : `retry after ${error.retryAfterMs / 1_000} s`
          }); events stay buffered and delivery slows down`;
        break;
      case 'server':
        message = `the Control API answered HTTP ${error.status}; events stay buffered and delivery is retried with backoff`;
        break;
      case 'timeout':
        message =
          `the Control API at ${endpoint} did not answer within ${this.#config.timeoutMs} ms; ` +
          'events stay buffered and delivery is retried with backoff';
        break;
      case 'transport':
        message =
          `could not reach the Control API at ${endpoint} (${detail}); ` +
          'events stay buffered and delivery is retried with backoff';
        break;
    }
    this.#warnOnce(failureKey(error), `${WARN_PREFIX} ${message}`);
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warnedFailures.has(key)) return;
    this.#warnedFailures.add(key);
    this.#emit(message);
  }

  #emit(message: string): void {
    console.warn(redact(message, this.#token));
  }

  /** `util.inspect`: the endpoint and the counters, never the token. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return (
      `FallbackSyncClient { endpoint: ${JSON.stringify(this.#endpoint)}, inFlight: ${this.#inFlight.size}, ` +
      `delivered: ${this.#delivered}, rejected: ${this.#rejected} }`
    );
  }

  toJSON(): { endpoint: string; delivered: number; rejected: number } {
    return { endpoint: this.#endpoint, delivered: this.#delivered, rejected: this.#rejected };
  }
}

// ---------------------------------------------------------------------------
// The background loop
// ---------------------------------------------------------------------------

/** When the next pass may run (the Rust core's `Pacing`). Times from `performance.now()`. */
class Pacing {
  readonly #config: SyncConfig;
  #attempt = 0;
  #nextInterval: number;
  /** No pass before this instant (backoff after a failure). */
  notBefore: number;
  /** No pass before this instant either, even when stopping (`Retry-After`). */
  rateLimitedUntil: number;
  /** The last pass failed: run again once the backoff has passed. */
  #retryDue = false;

  constructor(config: SyncConfig) {
    this.#config = config;
    const now = performance.now();
    this.#nextInterval = now + config.intervalMs;
    this.notBefore = now;
    this.rateLimitedUntil = now;
  }

  /** Whether a pass should run now. */
  due(internals: Internals): boolean {
    const now = performance.now();
    if (now < this.notBefore) return false;
    const intervalDue = now >= this.#nextInterval;
    if (intervalDue) this.#nextInterval = now + this.#config.intervalMs;
    const pending = internals.pendingNotInFlight();
    return pending > 0 && (intervalDue || this.#retryDue || pending >= this.#config.batchThreshold);
  }

  /** Takes a pass's result into account. */
  after(failed: boolean, retryAfterMs: number | null): void {
    const now = performance.now();
    if (!failed) {
      this.#attempt = 0;
      this.#retryDue = false;
      return;
    }
    const { backoffInitialMs, backoffMaxMs } = this.#config;
    let wait = backoffDelay(this.#attempt++, backoffInitialMs, backoffMaxMs);
    if (retryAfterMs !== null) {
      wait = Math.max(wait, retryAfterMs);
      this.rateLimitedUntil = now + retryAfterMs;
    }
    this.notBefore = now + wait;
    this.#retryDue = true;
  }
}

/**
 * The running loop. Its ticker is `unref()`'d: it never keeps the process
 * alive. While `stop()` flushes, its timers are ref'd (bounded by the stop
 * deadline), so that an awaited `stop()` at the end of a program settles.
 */
class FallbackSyncHandle implements SyncHandleApi {
  readonly #internals: Internals;
  readonly #pacing: Pacing;
  readonly #baseDelivered: number;
  readonly #baseRejected: number;
  readonly #ticker: ReturnType<typeof setInterval>;
  /** The pass running now, if any. */
  #running: Promise<void> | null = null;
  /** Aborts the pass running now at the stop deadline. */
  #cancel: AbortController | null = null;
  #cancelled = false;
  #stopping = false;
  #stopped: Promise<SyncReport> | null = null;

  constructor(internals: Internals) {
    this.#internals = internals;
    this.#pacing = new Pacing(internals.config);
    this.#baseDelivered = internals.delivered();
    this.#baseRejected = internals.rejected();
    this.#ticker = setInterval(() => this.#tick(), internals.config.thresholdCheckMs);
    this.#ticker.unref();
  }

  report(): SyncReport {
    return {
      delivered: this.#internals.delivered() - this.#baseDelivered,
      rejected: this.#internals.rejected() - this.#baseRejected,
      remaining: this.#internals.unsyncedCount(),
    };
  }

  stop(): Promise<SyncReport> {
    return (this.#stopped ??= this.#stop());
  }

  #tick(): void {
    if (this.#stopping || this.#running !== null) return;
    let due: boolean;
    try {
      due = this.#pacing.due(this.#internals);
    } catch (error) {
      this.#storeFailure(error);
      return;
    }
    if (!due) return;
    const running = this.#pass().then(
      () => {},
      (error: unknown) => this.#storeFailure(error),
    );
    this.#running = running.finally(() => {
      this.#running = null;
    });
  }

  /** A pass of this handle: abandoned at the stop deadline. */
  async #pass(): Promise<PassSummary> {
    const cancel = new AbortController();
    if (this.#cancelled) cancel.abort(CANCELLED);
    this.#cancel = cancel;
    try {
      const summary = await this.#internals.pass(cancel.signal);
      this.#pacing.after(summary.failure !== null, summary.retryAfterMs);
      return summary;
    } finally {
      if (this.#cancel === cancel) this.#cancel = null;
    }
  }

  /** The store itself threw (a bug, not the network): warn once and back off. */
  #storeFailure(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#internals.warn(`loop:${message}`, `${WARN_PREFIX} a background sync pass failed: ${message}; retrying with backoff`);
    this.#pacing.after(true, null);
  }

  async #stop(): Promise<SyncReport> {
    this.#stopping = true;
    clearInterval(this.#ticker);
    const deadlineMs = this.#internals.config.stopDeadlineMs;
    const deadline = performance.now() + deadlineMs;
    const timer = setTimeout(() => {
      this.#cancelled = true;
      this.#cancel?.abort(CANCELLED);
    }, deadlineMs);
    try {
      // Asked to stop mid-pass: the pass is part of the flush.
      if (this.#running !== null) await this.#running;
      await this.#flush(deadline);
    } catch {
      // A store failure ends the flush; the report says what is left.
    } finally {
      clearTimeout(timer);
    }
    return this.report();
  }

  /**
   * Passes until nothing is pending or the deadline: at once (the pending
   * backoff is forgiven: the server may be back), but never before a
   * `Retry-After`; failures during the flush back off as usual.
   */
  async #flush(deadline: number): Promise<void> {
    const pacing = this.#pacing;
    pacing.notBefore = pacing.rateLimitedUntil;
    for (;;) {
      const now = performance.now();
      if (now >= deadline || this.#cancelled || this.#internals.unsyncedCount() === 0) return;
      if (now < pacing.notBefore) {
        await delay(Math.min(pacing.notBefore, deadline) - now, true);
        continue;
      }
      const summary = await this.#pass();
      if (summary.taken === 0) {
        // Everything pending is in flight in another pass: let it settle.
        await delay(Math.min(this.#internals.config.thresholdCheckMs, deadline - performance.now()), true);
      }
    }
  }
}
