/**
 * The pure-JS sync client: delivers the buffered LLM events of a store to
 * the Control API (Protocol 012) with the semantics of the Rust core's
 * `SyncClient` (`crates/iron_runtime_analytics/src/sync/`):
 *
 * | answer | the event |
 * |---|---|
 * | 202 `accepted`, 200 `duplicate` (any 2xx) | delivered: `markSynced` |
 * | 400, 413, 422, or a body over `maxEventBytes` (never sent) | refused for good: `markRejected`, counted, kept in `rejectedEvents()`, warned once per (status, code), never retried |
 * | 5xx, timeout, connection reset, answer lost | kept; this event alone waits for its own backoff |
 * | connection refused, 401/403, 429 (`Retry-After`), another status | kept; every event waits (an outage) |
 *
 * Retries are safe: an event keeps its id and the server deduplicates on it.
 * An event is never in flight twice. Local events (router lifecycle, budget
 * thresholds) are never sent. The IC token is never logged and never part
 * of an error. The HTTP lives in `transport.ts`, the schedule in
 * `schedule.ts`, the loop in `worker.ts`, the spool in `spool.ts`.
 */
import type { AnalyticsEvent, LlmCompletedEvent, LlmFailedEvent } from '../../shared/types.js';
import { describeValue } from '../../shared/validate.js';
import { checkSyncConfig, tokenOf, type SyncConfig } from '../../shared/sync/config.js';
import { SyncError } from '../../shared/sync/errors.js';
import type { RejectedEvent, SpoolStatus, SyncClientApi, SyncHandleApi } from '../../shared/sync/types.js';
import { Schedule } from './schedule.js';
import { Spool } from './spool.js';
import { HttpTransport, TransportError, type Transport } from './transport.js';
import {
  TOO_LARGE_CODE,
  isLlm,
  parseRetryAfter,
  redact,
  rejectionDetails,
  statusFailure,
  verdict,
  wireBody,
  type Outcome,
} from './wire.js';
import { FallbackSyncHandle, newSummary, type Claimed, type Internals, type Summary } from './worker.js';

/** How many rejected events `rejectedEvents()` remembers. */
export const REJECTED_RING_CAPACITY = 64;
/** The most distinct rejection kinds (status, code) warned about. */
const MAX_WARNED_REJECTION_KINDS = 64;
const WARN_PREFIX = 'iron-runtime-analytics:';

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
  /** Takes back events from a spool (needed with `withSpool`). */
  restoreEvents?(events: readonly AnalyticsEvent[]): number;
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

function failureKey(error: SyncError): string {
  return error.kind === 'unexpected_status' ? `${error.kind}:${error.status}` : error.kind;
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
  readonly #transport: Transport;
  readonly #schedule: Schedule;
  #spool: Spool | null = null;
  /** Events read from the spool, restored into the store by the first start. */
  #toReplay: AnalyticsEvent[] | null = null;
  readonly #ring: RejectedEvent[] = [];
  #delivered = 0;
  #rejected = 0;
  #lastError: SyncError | null = null;
  /** Failure kinds warned about since delivery last recovered. */
  readonly #warnedFailures = new Set<string>();
  /** Rejection kinds warned about, ever. */
  readonly #warnedRejections = new Set<string>();
  /** A spool write failed (warned once). */
  #spoolWarned = false;
  readonly #internals: Internals;

  /**
   * @param store The store whose LLM events are delivered (`TypeError` if it
   *   lacks `unsyncedEvents`, `markSynced`, `markRejected`, `unsyncedCount`,
   *   or `restoreEvents` with a spool).
   * @param config Where and how to deliver (`TypeError` if not a `SyncConfig`).
   *   With a spool, its directory is opened, locked and read here: an
   *   `Error` if it cannot be used or another client holds it.
   */
  constructor(store: SyncableStore, config: SyncConfig) {
    checkStore(store);
    checkSyncConfig(config);
    this.#store = store;
    this.#config = config;
    this.#token = tokenOf(config);
    this.#endpoint = config.ingestUrl;
    this.#schedule = new Schedule(config);
    const dir = config.spoolDir;
    const maxBytes = config.spoolMaxBytes;
    if (dir !== null && maxBytes !== null) {
      if (typeof store.restoreEvents !== 'function') {
        throw new TypeError('with a spool, store must be an EventStore of this package (it takes the spooled events back)');
      }
      const { spool, events } = Spool.open(dir, maxBytes);
      this.#spool = spool;
      this.#toReplay = events;
    }
    this.#transport = new HttpTransport(this.#endpoint, config.maxInFlight, config.timeoutMs);
    this.#internals = {
      config,
      schedule: this.#schedule,
      store,
      claim: (max, ignoreBackoff) => this.#claim(max, ignoreBackoff),
      post: (claimed, cancel, holdProcess) => this.#post(claimed, cancel, holdProcess),
      settle: (claimed, outcome, summary) => this.#settle(claimed, outcome, summary),
      eligibleCount: (now) =>
        Math.max(0, this.#store.unsyncedCount() - this.#schedule.claimed.size - this.#schedule.waiting(now)),
      pruneRetries: () => this.#pruneRetries(),
      recovered: () => this.#recovered(),
      delivered: () => this.#delivered,
      rejected: () => this.#rejected,
      hasSpool: () => this.#spool !== null,
      spooled: () => this.#spool?.spooled ?? 0,
      spoolNow: (durable) => this.#spoolNow(durable),
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
    const claimed = this.#claim(this.#config.maxBatch, true);
    const summary = newSummary();
    if (claimed.length === 0) {
      this.#lastError = null;
      return 0;
    }
    let next = 0;
    let outage = false;
    const lane = async (): Promise<void> => {
      while (next < claimed.length) {
        const event = claimed[next++] as Claimed;
        const outcome: Outcome = outage ? { type: 'skipped' } : await this.#post(event, null, true);
        if (outcome.type === 'failed' && outcome.outage) outage = true;
        this.#settle(event, outcome, summary);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.#config.maxInFlight, claimed.length) }, lane));
    } finally {
      // A store that threw (a bug, not the network) leaves the rest unsettled: release them.
      for (const event of claimed) this.#schedule.claimed.delete(event.id);
    }
    this.#lastError = summary.failure;
    if (summary.failure === null && summary.delivered + summary.rejected > 0) this.#recovered();
    return summary.delivered;
  }

  /** Starts the background loop (see {@link SyncClientApi.start}). */
  start(): SyncHandleApi {
    let replayed = 0;
    const events = this.#toReplay;
    if (events !== null) {
      this.#toReplay = null;
      replayed = this.#store.restoreEvents?.(events) ?? 0;
    }
    return new FallbackSyncHandle(this.#internals, replayed);
  }

  /** The last 64 events refused for good, oldest first. */
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

  /** The latest transient failure, or `null`. */
  lastError(): SyncError | null {
    return this.#lastError;
  }

  /** The spool's state, or `null` without a spool. */
  spoolStatus(): SpoolStatus | null {
    return this.#spool?.status() ?? null;
  }

  /** Writes the spool one last time and releases its directory. */
  closeSpool(): number | null {
    const spooled = this.#spoolNow(true);
    this.#spool?.close();
    this.#spool = null;
    return spooled;
  }

  /** Takes up to `max` buffered LLM events that no sender holds (and, unless ignored, past their own backoff). */
  #claim(max: number, ignoreBackoff: boolean): Claimed[] {
    const schedule = this.#schedule;
    const candidates = this.#store.unsyncedEvents(schedule.lookahead(max));
    const now = performance.now();
    const claimed: Claimed[] = [];
    for (const event of candidates) {
      if (claimed.length === max) break;
      if (!isLlm(event) || !schedule.eligible(event.eventId, now, ignoreBackoff)) continue;
      schedule.claimed.add(event.eventId);
      claimed.push({ id: event.eventId, event, sentAt: now });
    }
    return claimed;
  }

  /** Posts one event and classifies the answer. Never throws. */
  async #post(claimed: Claimed, cancel: AbortSignal | null, holdProcess: boolean): Promise<Outcome> {
    claimed.sentAt = performance.now();
    const body = wireBody(claimed.event, this.#token);
    if (body === null) return { type: 'skipped' };
    const max = this.#config.maxEventBytes;
    const size = Buffer.byteLength(body);
    if (size > max) {
      return {
        type: 'rejected',
        status: 413,
        code: TOO_LARGE_CODE,
        message: `the event's body is ${size} bytes, over the limit of ${max} bytes (SyncConfig.withMaxEventBytes); it was not sent`,
      };
    }
    let answer;
    try {
      answer = await this.#transport.post(body, cancel, holdProcess);
    } catch (error) {
      return this.#requestFailure(error);
    }
    const { status } = answer;
    switch (verdict(status)) {
      case 'delivered':
        return { type: 'delivered' };
      case 'rejected':
        return { type: 'rejected', status, ...rejectionDetails(status, answer.body, this.#token, answer.cut) };
      case 'failed': {
        const retryAfterMs = status === 429 ? parseRetryAfter(answer.retryAfter) : null;
        // 5xx: this event alone; 401/403, 429 and other statuses: every event.
        return { type: 'failed', error: statusFailure(status, retryAfterMs), outage: status < 500 || status > 599 };
      }
    }
  }

  #requestFailure(error: unknown): Outcome {
    if (!(error instanceof TransportError) || error.reason === 'cancelled') return { type: 'skipped' };
    if (error.reason === 'timeout') {
      return {
        type: 'failed',
        // As in the Rust core: a timeout holds back its own event (a window of them, everyone).
        outage: false,
        error: new SyncError(
          'timeout',
          `the Control API did not answer within the timeout (${this.#config.timeoutMs} ms); the events stay buffered and are retried`,
        ),
      };
    }
    const reason = redact(error.message, this.#token);
    return {
      type: 'failed',
      // Refused, unreachable: nothing gets through; a reset or a lost answer: only this request.
      outage: error.beforeConnecting,
      error: new SyncError('transport', `could not reach the Control API: ${reason}; the events stay buffered and are retried`),
      detail: reason,
    };
  }

  /** Applies one outcome to the store, the schedule, the ring and the logs, then releases the event. */
  #settle(claimed: Claimed, outcome: Outcome, summary: Summary): void {
    const { id } = claimed;
    const now = performance.now();
    try {
      switch (outcome.type) {
        case 'delivered':
          this.#store.markSynced([id]);
          this.#delivered++;
          this.#schedule.settled(id, now);
          summary.delivered++;
          return;
        case 'rejected':
          this.#store.markRejected([id]);
          this.#rejected++;
          this.#schedule.settled(id, now);
          summary.rejected++;
          this.#rememberRejection(id, outcome);
          return;
        case 'failed': {
          this.#warnFailure(outcome.error, outcome.detail ?? '');
          const { retryAfterMs } = outcome.error;
          if (outcome.error.kind === 'rate_limited') this.#schedule.rateLimited(now, retryAfterMs, claimed.sentAt);
          else if (outcome.outage) this.#schedule.outage(now);
          else this.#schedule.eventFailed(id, now);
          this.#lastError = outcome.error;
          summary.failure ??= outcome.error;
          return;
        }
        case 'skipped':
          return;
      }
    } finally {
      // After the store: no other sender can take a delivered event again.
      this.#schedule.claimed.delete(id);
    }
  }

  #rememberRejection(id: string, outcome: { status: number; code: string | null; message: string }): void {
    const { status, code, message } = outcome;
    this.#warnRejection(id, status, code, message);
    if (this.#ring.length === REJECTED_RING_CAPACITY) this.#ring.shift();
    this.#ring.push({ eventId: id, status, errorCode: code, message });
  }

  #pruneRetries(): void {
    if (!this.#schedule.hasRetries) return;
    const buffered = new Set(this.#store.unsyncedEvents().map((e) => e.eventId));
    this.#schedule.prune((id) => buffered.has(id));
  }

  /** Delivery ran clean: forget the last failure, warn again about the next one. */
  #recovered(): void {
    this.#lastError = null;
    this.#warnedFailures.clear();
  }

  #spoolNow(durable: boolean): number | null {
    const spool = this.#spool;
    if (spool === null) return null;
    try {
      const events = this.#store.unsyncedEvents().filter(isLlm);
      spool.sync(events, durable);
      return spool.spooled;
    } catch (error) {
      if (this.#spoolWarned) return null;
      this.#spoolWarned = true;
      const reason = error instanceof Error ? error.message : String(error);
      this.#emit(
        `${WARN_PREFIX} could not write the spool in ${spool.dir} (${reason}): undelivered events are kept in memory ` +
          'only until it works again; check the disk (see SyncClient.spoolStatus())',
      );
      return null;
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
      `FallbackSyncClient { endpoint: ${JSON.stringify(this.#endpoint)}, claimed: ${this.#schedule.claimed.size}, ` +
      `delivered: ${this.#delivered}, rejected: ${this.#rejected} }`
    );
  }

  toJSON(): { endpoint: string; delivered: number; rejected: number } {
    return { endpoint: this.#endpoint, delivered: this.#delivered, rejected: this.#rejected };
  }
}
