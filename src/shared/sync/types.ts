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
  /**
   * Events refused for good since the handle started: the server answered
   * 400, 413 or 422, or the body was over `maxEventBytes` (never sent).
   */
  rejected: number;
  /** LLM events still buffered in the store, waiting to be sent, at the time of the report. */
  remaining: number;
  /**
   * Undelivered events held in the spool at the time of the report (0
   * without a spool): a process started on the same spool directory sends them.
   */
  spooled: number;
  /** Events an earlier process left in the spool, put back into the store when the handle started. */
  replayed: number;
}

/**
 * An event refused for good, with its reason: the server answered 400, 413
 * or 422, or its body was over `SyncConfig.withMaxEventBytes` and it was
 * never sent (status 413, error code `EVENT_TOO_LARGE`).
 */
export interface RejectedEvent {
  /** The event's id. */
  eventId: string;
  /** The HTTP status: 400, 413 or 422. */
  status: number;
  /** The server's error code, e.g. `VALIDATION_ERROR`, or `null` if it sent none. */
  errorCode: string | null;
  /**
   * The server's message (or its raw answer), at most 512 UTF-8 bytes; any
   * copy of the IC token is replaced by `<redacted>`.
   */
  message: string;
}

/** What a spool holds and has done, for monitoring (`SyncClient.spoolStatus()`). */
export interface SpoolStatus {
  /** The spool directory. */
  dir: string;
  /** Undelivered events in the spool file now. */
  spooled: number;
  /** The spool file's size in bytes. */
  fileBytes: number;
  /** Events read back from the file when the client was created. */
  readBack: number;
  /**
   * Undelivered events left out of the spool because it was full
   * (`maxBytes`), oldest first. They stay in memory and are still sent.
   */
  leftOut: number;
  /** A last record cut short by a crash, found when the file was read (0 or 1). */
  tornRecords: number;
  /** Bytes that were not records, skipped when the file was read. */
  garbageBytes: number;
  /** Intact records that could not be understood, skipped when the file was read. */
  unreadableRecords: number;
  /** Writes that failed (disk full, permissions…), since the client was created. */
  writeErrors: number;
}

/** The running background loop started by {@link SyncClientApi.start}. */
export interface SyncHandleApi {
  /**
   * Stops the loop: nothing new starts on its own, then the loop flushes
   * until no event is pending or the stop deadline
   * (`SyncConfig.withStopDeadline`) expires; a request still in flight at
   * the deadline is abandoned and its event stays buffered. Backoffs are
   * forgiven while flushing, but a server's `Retry-After` is honoured. With
   * a spool, what is left is written to it. Resolves with the handle's
   * report; never rejects. Calling it again returns the same report.
   *
   * A running handle also stops by itself when the process is about to
   * exit (`beforeExit`), and on the signals of
   * `SyncConfig.withShutdownSignals`; on `exit` (`process.exit()`, an
   * uncaught exception) it spools synchronously, or prints one line on
   * stderr with the number of undelivered events lost.
   */
  stop(): Promise<SyncReport>;
  /** What the loop did so far (the same counts as {@link stop}'s, read now). */
  report(): SyncReport;
}

/** Delivers the LLM events of an `EventStore` to the Control API. */
export interface SyncClientApi {
  /**
   * One pass, now: takes up to `maxBatch` buffered LLM events that no other
   * sender holds, posts them (at most `maxInFlight` at once), and applies
   * the answers: delivered events are marked synced, refused ones
   * (400/413/422, or over the body cap) marked rejected, the others stay
   * buffered with their retry state. A failure of one request does not hold
   * the others back; an outage (connection refused, 429, 401/403) stops the
   * pass from sending more. Backoffs do not apply: the pass posts at once.
   *
   * Resolves to the number of events delivered by this pass. A transient
   * failure does not reject: the events stay buffered, and the failure is
   * available from {@link lastError}.
   */
  syncEvents(): Promise<number>;
  /**
   * Starts the background loop, after putting the events read back from the
   * spool (if any) into the store. It sends as soon as `batchThreshold`
   * events are pending, or every `interval`, and keeps `maxInFlight`
   * requests going while events are eligible: a failed event waits for its
   * own backoff, an outage pauses everyone (at least `Retry-After`). With a
   * spool, it writes the undelivered events every `spoolInterval`. The
   * loop's timers never keep the process alive. Stop it with
   * `await handle.stop()` to flush what is pending.
   */
  start(): SyncHandleApi;
  /** The last 64 events refused for good, oldest first, with the reason. */
  rejectedEvents(): RejectedEvent[];
  /** Events delivered over this client's life. */
  deliveredCount(): number;
  /** Events rejected for good over this client's life. */
  rejectedCount(): number;
  /**
   * The latest transient failure (of a manual pass, or of the loop since
   * delivery last ran clean), or `null`. Never carries the token.
   */
  lastError(): SyncError | null;
  /** The spool's state, or `null` without a spool (or once closed). */
  spoolStatus(): SpoolStatus | null;
  /**
   * Writes the spool one last time and releases its directory, so that
   * another client (of this process or another) may use it; returns how
   * many events it holds, or `null` without a spool. Nothing is spooled
   * afterwards; stop the handle first if the client is done.
   */
  closeSpool(): number | null;
}
