/**
 * The shapes of background sync (Protocol 012), shared by the native-backed
 * `SyncClient` and the pure-JS one.
 */

import type { SyncError } from './errors.js';

/** What a sync handle did over its life, from `start()` to the report. */
export interface SyncReport {
  /**
   * Events the server confirmed (202 accepted or 200 duplicate) since the
   * handle started, by any pass of its client (manual passes included).
   */
  delivered: number;
  /** Events the server refused for good (400 / 422) since the handle started. */
  rejected: number;
  /** LLM events still buffered in the store, waiting to be sent, at the time of the report. */
  remaining: number;
}

/** An event the server refused for good (HTTP 400 or 422), with its reason. */
export interface RejectedEvent {
  /** The event's id. */
  eventId: string;
  /** The HTTP status: 400 or 422. */
  status: number;
  /** The server's error code, e.g. `VALIDATION_ERROR`, or `null` if it sent none. */
  errorCode: string | null;
  /**
   * The server's message (or its raw answer), at most 512 UTF-8 bytes; any
   * copy of the IC token is replaced by `<redacted>`.
   */
  message: string;
}

/** The running background loop started by {@link SyncClientApi.start}. */
export interface SyncHandleApi {
  /**
   * Stops the loop: no new passes are scheduled, then passes run until no
   * event is pending or the stop deadline (`SyncConfig.withStopDeadline`)
   * expires; a request still in flight at the deadline is abandoned and its
   * event stays buffered. The backoff is forgiven while flushing, but a
   * server's `Retry-After` is honoured. Resolves with the handle's report;
   * never rejects. Calling it again returns the same report.
   */
  stop(): Promise<SyncReport>;
  /** What the loop did so far (the same counts as {@link stop}'s, read now). */
  report(): SyncReport;
}

/** Delivers the LLM events of an `EventStore` to the Control API. */
export interface SyncClientApi {
  /**
   * One pass, now: takes up to `maxBatch` buffered LLM events that no other
   * pass is sending, posts them (at most `maxInFlight` at once), and applies
   * the answers: delivered events are marked synced, rejected ones (400/422)
   * marked rejected, the others stay buffered. The loop's backoff does not
   * apply: the pass posts at once.
   *
   * Resolves to the number of events delivered by this pass. A transient
   * failure (5xx, timeout, connection error, 401/403, 429, another status)
   * does not reject: the pass stops sending, keeps the events, and the
   * failure is available from {@link lastError}.
   */
  syncEvents(): Promise<number>;
  /**
   * Starts the background loop: a pass every `interval`, and as soon as
   * `batchThreshold` events are pending; after a failure the next pass waits
   * for an exponential backoff (and at least `Retry-After`). The loop's
   * timers never keep the process alive. Stop it with `await handle.stop()`
   * to flush what is pending.
   */
  start(): SyncHandleApi;
  /** The last 64 events the server refused for good, oldest first, with its message. */
  rejectedEvents(): RejectedEvent[];
  /** Events delivered over this client's life. */
  deliveredCount(): number;
  /** Events rejected for good over this client's life. */
  rejectedCount(): number;
  /**
   * The first transient failure of the last pass to finish (manual or
   * background), or `null` if that pass had none. Never carries the token.
   */
  lastError(): SyncError | null;
}
