/**
 * {@link SyncConfig}: where to send events, with which IC token, and how
 * often. Shared by the native-backed sync client and the pure-JS one, with
 * the defaults of the Rust core (`crates/iron_runtime_analytics/src/sync/config.rs`).
 *
 * Durations are milliseconds. The token is kept in a private field: no
 * property, getter, `toString()`, `toJSON()` or `util.inspect` shows it.
 */

import { describeValue } from '../validate.js';

/** Default time between two background passes: 30 s. */
export const DEFAULT_SYNC_INTERVAL_MS = 30_000;
/** Default number of pending events that starts a pass before the interval: 10. */
export const DEFAULT_BATCH_THRESHOLD = 10;
/** Default timeout of one HTTP request (connection, answer and body): 30 s. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Default number of requests in flight at once: 8. */
export const DEFAULT_MAX_IN_FLIGHT = 8;
/** Default first delay after a transient failure: 100 ms. */
export const DEFAULT_BACKOFF_INITIAL_MS = 100;
/** Default longest delay between two attempts after failures: 30 s. */
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
/** Default time `handle.stop()` spends flushing: 10 s. */
export const DEFAULT_STOP_DEADLINE_MS = 10_000;
/** Default number of events taken by one pass: 1,000. */
export const DEFAULT_MAX_BATCH = 1_000;
/** Default period at which the loop compares the pending count with the threshold: 20 ms. */
export const DEFAULT_THRESHOLD_CHECK_MS = 20;
/** The ingestion path of Protocol 012, appended to the server URL. */
export const INGEST_PATH = '/api/v1/analytics/events';
/**
 * The longest duration accepted, in ms (about 24.8 days): Node's timers
 * cannot wait longer (a larger delay silently becomes 1 ms).
 */
export const MAX_DURATION_MS = 2_147_483_647;
/** The longest size accepted (batch threshold, max batch, max in flight). */
export const MAX_SYNC_SIZE = 100_000_000;
/**
 * Default largest request body of one event: 64 KiB. A larger event is
 * rejected locally (counted, with its reason), never sent.
 */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;
/** The smallest accepted body cap: 1 KiB (an event's body is a few hundred bytes). */
export const MIN_MAX_EVENT_BYTES = 1024;
/** Default time between two writes of the spool by the background loop: 1 s. */
export const DEFAULT_SPOOL_INTERVAL_MS = 1_000;
/** The smallest accepted spool size: 4 KiB. */
export const MIN_SPOOL_BYTES = 4 * 1024;
/** The largest accepted spool size: 2^53 - 1 bytes (a safe integer). */
export const MAX_SPOOL_BYTES = Number.MAX_SAFE_INTEGER;
/**
 * The signals {@link SyncConfig.withShutdownSignals} accepts: those that end
 * a process by default and can be caught.
 */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGBREAK'] as const;
/** One of {@link SHUTDOWN_SIGNALS}. */
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/** What `toString()`, `toJSON()` and `util.inspect` show instead of the token. */
export const REDACTED = '<redacted>';

/** The settings of a {@link SyncConfig}, as shown by `toJSON()` (the token redacted). */
export interface SyncConfigJson {
  serverUrl: string;
  icToken: typeof REDACTED;
  intervalMs: number;
  batchThreshold: number;
  timeoutMs: number;
  maxInFlight: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  stopDeadlineMs: number;
  maxBatch: number;
  thresholdCheckMs: number;
  maxEventBytes: number;
  spool: { dir: string; maxBytes: number } | null;
  spoolIntervalMs: number;
  shutdownSignals: ShutdownSignal[];
}

interface Settings {
  intervalMs: number;
  batchThreshold: number;
  timeoutMs: number;
  maxInFlight: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  stopDeadlineMs: number;
  maxBatch: number;
  thresholdCheckMs: number;
  maxEventBytes: number;
  spool: Readonly<{ dir: string; maxBytes: number }> | null;
  spoolIntervalMs: number;
  shutdownSignals: readonly ShutdownSignal[];
}

const DEFAULTS: Settings = {
  intervalMs: DEFAULT_SYNC_INTERVAL_MS,
  batchThreshold: DEFAULT_BATCH_THRESHOLD,
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxInFlight: DEFAULT_MAX_IN_FLIGHT,
  backoffInitialMs: DEFAULT_BACKOFF_INITIAL_MS,
  backoffMaxMs: DEFAULT_BACKOFF_MAX_MS,
  stopDeadlineMs: DEFAULT_STOP_DEADLINE_MS,
  maxBatch: DEFAULT_MAX_BATCH,
  thresholdCheckMs: DEFAULT_THRESHOLD_CHECK_MS,
  maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  spool: null,
  spoolIntervalMs: DEFAULT_SPOOL_INTERVAL_MS,
  shutdownSignals: Object.freeze([]),
};

/** An integer from `min` (1 unless given; 0 for the stop deadline) up to `max`. */
function checkSetting(value: unknown, name: string, max: number, min = 1): asserts value is number {
  const expected =
    min === 0
      ? `a non-negative integer no greater than ${max}`
      : min === 1
        ? `a positive integer no greater than ${max}`
        : `an integer from ${min} to ${max}`;
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be ${expected}, got ${describeValue(value)}`);
  }
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${name} must be ${expected}, got ${describeValue(value)}`);
  }
}

/** The server URL: an absolute http(s) URL with a host, no credentials, query or fragment. */
function checkServerUrl(value: unknown): asserts value is string {
  const expected = 'an http:// or https:// URL, e.g. "http://localhost:3001"';
  if (typeof value !== 'string') {
    throw new TypeError(`serverUrl must be ${expected}, got ${describeValue(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`serverUrl must be ${expected}, got ${describeValue(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(
      `serverUrl must be ${expected}, not a ${url.protocol}// URL: got ${describeValue(value)}`,
    );
  }
  if (url.hostname === '') {
    throw new TypeError(`serverUrl must have a host, got ${describeValue(value)}`);
  }
  if (url.username !== '' || url.password !== '') {
    // fetch() refuses such URLs, and they would put a secret in logs:
    // the IC token is the only credential the protocol uses.
    throw new TypeError('serverUrl must not contain credentials (user:password@); the IC token authenticates');
  }
  if (url.href.includes('?') || url.href.includes('#')) {
    // Not echoed whole: a query may carry a secret.
    const shown = `${url.origin}${url.pathname}?<redacted>`;
    throw new TypeError(`serverUrl must not have a query or a fragment, got ${JSON.stringify(shown)}`);
  }
}

/** The IC token: a string that is not blank. Its value is never part of a message. */
function checkToken(value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new TypeError(`icToken must be a non-empty string, got ${describeValue(value)}`);
  }
  if (value.trim() === '') {
    throw new RangeError('icToken must be a non-empty string, got an empty or blank string');
  }
}

let readToken: (config: SyncConfig) => string;
let brand: (value: unknown) => boolean;

/**
 * Where and how to deliver events: the Control API's base URL, the agent's
 * IC token, and the pacing of the background loop.
 *
 * Immutable: each `with*` method returns a new configuration.
 *
 * ```ts
 * const config = new SyncConfig('http://localhost:3001', 'ic_token_here')
 *   .withInterval(30_000)      // ms between background passes
 *   .withBatchThreshold(10)    // or as soon as 10 events are pending
 *   .withTimeout(30_000);      // ms, per HTTP request
 * ```
 */
export class SyncConfig {
  readonly #serverUrl: string;
  readonly #ingestUrl: string;
  readonly #token: string;
  #s: Settings = DEFAULTS;

  static {
    readToken = (config) => config.#token;
    brand = (value) => typeof value === 'object' && value !== null && #token in value;
  }

  /**
   * @param serverUrl The Control API's base URL, e.g. `http://localhost:3001`
   *   (a path prefix is kept; trailing slashes are ignored). `TypeError` if it
   *   is not an http(s) URL with a host, or has credentials, a query or a fragment.
   * @param icToken The agent's IC token: `TypeError` if not a string,
   *   `RangeError` if empty or blank. Never shown by this object.
   */
  constructor(serverUrl: string, icToken: string) {
    checkServerUrl(serverUrl);
    checkToken(icToken);
    this.#serverUrl = serverUrl;
    // Join on the string as given (as the Rust core does), so that a path
    // prefix such as https://host/control/ is kept.
    this.#ingestUrl = new URL(`${serverUrl.replace(/\/+$/, '')}${INGEST_PATH}`).href;
    this.#token = icToken;
  }

  #with(patch: Partial<Settings>): SyncConfig {
    const next = new SyncConfig(this.#serverUrl, this.#token);
    next.#s = Object.freeze({ ...this.#s, ...patch });
    return next;
  }

  /** Time between two background passes, ms (default {@link DEFAULT_SYNC_INTERVAL_MS}). */
  withInterval(ms: number): SyncConfig {
    checkSetting(ms, 'interval', MAX_DURATION_MS);
    return this.#with({ intervalMs: ms });
  }

  /** Pending events that start a pass at once (default {@link DEFAULT_BATCH_THRESHOLD}). */
  withBatchThreshold(n: number): SyncConfig {
    checkSetting(n, 'batchThreshold', MAX_SYNC_SIZE);
    return this.#with({ batchThreshold: n });
  }

  /** Timeout of one HTTP request, ms (default {@link DEFAULT_TIMEOUT_MS}). */
  withTimeout(ms: number): SyncConfig {
    checkSetting(ms, 'timeout', MAX_DURATION_MS);
    return this.#with({ timeoutMs: ms });
  }

  /** Requests in flight at once (default {@link DEFAULT_MAX_IN_FLIGHT}). */
  withMaxInFlight(n: number): SyncConfig {
    checkSetting(n, 'maxInFlight', MAX_SYNC_SIZE);
    return this.#with({ maxInFlight: n });
  }

  /**
   * Exponential backoff after transient failures, ms: the first delay and
   * the cap (defaults {@link DEFAULT_BACKOFF_INITIAL_MS} and
   * {@link DEFAULT_BACKOFF_MAX_MS}). Each delay gets random jitter and never
   * exceeds `maxMs`. `RangeError` if `initialMs > maxMs`.
   */
  withBackoff(initialMs: number, maxMs: number): SyncConfig {
    checkSetting(initialMs, 'backoff initialMs', MAX_DURATION_MS);
    checkSetting(maxMs, 'backoff maxMs', MAX_DURATION_MS);
    if (initialMs > maxMs) {
      throw new RangeError(
        `backoff initialMs (${initialMs}) must not exceed maxMs (${maxMs})`,
      );
    }
    return this.#with({ backoffInitialMs: initialMs, backoffMaxMs: maxMs });
  }

  /**
   * How long `handle.stop()` may spend flushing, ms (default
   * {@link DEFAULT_STOP_DEADLINE_MS}); 0 stops without flushing.
   */
  withStopDeadline(ms: number): SyncConfig {
    checkSetting(ms, 'stopDeadline', MAX_DURATION_MS, 0);
    return this.#with({ stopDeadlineMs: ms + 0 }); // -0 is 0
  }

  /**
   * The largest request body of one event, in bytes (default
   * {@link DEFAULT_MAX_EVENT_BYTES}, at least {@link MIN_MAX_EVENT_BYTES}).
   * A larger event is rejected locally, counted and kept in
   * `rejectedEvents()` (status 413, error code `EVENT_TOO_LARGE`); it is
   * never sent.
   */
  withMaxEventBytes(n: number): SyncConfig {
    checkSetting(n, 'maxEventBytes', MAX_SYNC_SIZE, MIN_MAX_EVENT_BYTES);
    return this.#with({ maxEventBytes: n });
  }

  /**
   * Keeps undelivered events on disk so that they survive a restart: the
   * background loop writes them to an append-only file in `dir` at least
   * every {@link withSpoolInterval spool interval} and when it stops (or the
   * process exits); delivered ones are trimmed. The next client on the same
   * directory replays them into its store when it starts; each keeps its
   * id, so one delivered twice is counted once by the server. At most
   * `maxBytes` (at least {@link MIN_SPOOL_BYTES}): past that, the oldest
   * events are left out of the spool, and counted.
   *
   * One process at a time: a second client on the same directory throws.
   * `dir` is created if needed.
   */
  withSpool(dir: string, options: { maxBytes: number }): SyncConfig {
    if (typeof dir !== 'string' || dir === '') {
      throw new TypeError(`spool dir must be a non-empty path string, got ${describeValue(dir)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`spool options must be { maxBytes }, got ${describeValue(options)}`);
    }
    checkSetting(options.maxBytes, 'spool maxBytes', MAX_SPOOL_BYTES, MIN_SPOOL_BYTES);
    return this.#with({ spool: Object.freeze({ dir, maxBytes: options.maxBytes }) });
  }

  /**
   * How often the background loop writes the spool, ms (default
   * {@link DEFAULT_SPOOL_INTERVAL_MS}): a process killed outright (`SIGKILL`,
   * a crash) loses at most the events recorded since the last write.
   */
  withSpoolInterval(ms: number): SyncConfig {
    checkSetting(ms, 'spoolInterval', MAX_DURATION_MS);
    return this.#with({ spoolIntervalMs: ms });
  }

  /**
   * Opt-in: on these signals (e.g. `['SIGTERM', 'SIGINT']`), running
   * handles stop (flushing within the stop deadline, then spooling what is
   * left), then the signal ends the process as it would have. Without this,
   * such a signal ends the process at once (only the spool's last periodic
   * write survives). `RangeError` for a signal outside {@link SHUTDOWN_SIGNALS}.
   */
  withShutdownSignals(signals: readonly string[]): SyncConfig {
    if (!Array.isArray(signals)) {
      throw new TypeError(`shutdown signals must be an array such as ['SIGTERM', 'SIGINT'], got ${describeValue(signals)}`);
    }
    for (const signal of signals) {
      if (typeof signal !== 'string') {
        throw new TypeError(`a shutdown signal must be a string such as 'SIGTERM', got ${describeValue(signal)}`);
      }
      if (!(SHUTDOWN_SIGNALS as readonly string[]).includes(signal)) {
        throw new RangeError(`shutdown signals must be among ${SHUTDOWN_SIGNALS.join(', ')}, got ${JSON.stringify(signal)}`);
      }
    }
    const unique = [...new Set(signals as ShutdownSignal[])];
    return this.#with({ shutdownSignals: Object.freeze(unique) });
  }

  /** Events taken by one pass (default {@link DEFAULT_MAX_BATCH}). */
  withMaxBatch(n: number): SyncConfig {
    checkSetting(n, 'maxBatch', MAX_SYNC_SIZE);
    return this.#with({ maxBatch: n });
  }

  /**
   * How often the background loop compares the pending count with the batch
   * threshold, ms (default {@link DEFAULT_THRESHOLD_CHECK_MS}).
   */
  withThresholdCheck(ms: number): SyncConfig {
    checkSetting(ms, 'thresholdCheck', MAX_DURATION_MS);
    return this.#with({ thresholdCheckMs: ms });
  }

  /** The Control API's base URL, as given. */
  get serverUrl(): string {
    return this.#serverUrl;
  }

  /** The ingestion endpoint: the server URL without trailing `/`, then {@link INGEST_PATH}. */
  get ingestUrl(): string {
    return this.#ingestUrl;
  }

  /** Time between two background passes, ms. */
  get intervalMs(): number {
    return this.#s.intervalMs;
  }

  /** Pending events that start a pass at once. */
  get batchThreshold(): number {
    return this.#s.batchThreshold;
  }

  /** Timeout of one HTTP request, ms. */
  get timeoutMs(): number {
    return this.#s.timeoutMs;
  }

  /** Requests in flight at once. */
  get maxInFlight(): number {
    return this.#s.maxInFlight;
  }

  /** The first backoff delay, ms. */
  get backoffInitialMs(): number {
    return this.#s.backoffInitialMs;
  }

  /** The longest backoff delay, ms. */
  get backoffMaxMs(): number {
    return this.#s.backoffMaxMs;
  }

  /** How long stopping may spend flushing, ms. */
  get stopDeadlineMs(): number {
    return this.#s.stopDeadlineMs;
  }

  /** Events taken by one pass. */
  get maxBatch(): number {
    return this.#s.maxBatch;
  }

  /** Period of the threshold check, ms. */
  get thresholdCheckMs(): number {
    return this.#s.thresholdCheckMs;
  }

  /** The largest request body of one event, in bytes. */
  get maxEventBytes(): number {
    return this.#s.maxEventBytes;
  }

  /** The spool directory, or `null` without a spool. */
  get spoolDir(): string | null {
    return this.#s.spool?.dir ?? null;
  }

  /** The spool's size limit in bytes, or `null` without a spool. */
  get spoolMaxBytes(): number | null {
    return this.#s.spool?.maxBytes ?? null;
  }

  /** How often the background loop writes the spool, ms. */
  get spoolIntervalMs(): number {
    return this.#s.spoolIntervalMs;
  }

  /** The signals on which running handles stop before the process ends. */
  get shutdownSignals(): readonly ShutdownSignal[] {
    return this.#s.shutdownSignals;
  }

  /** Every setting, the token shown as `<redacted>`. */
  toJSON(): SyncConfigJson {
    const { spool, shutdownSignals, ...rest } = this.#s;
    return {
      serverUrl: this.#serverUrl,
      icToken: REDACTED,
      ...rest,
      spool: spool === null ? null : { ...spool },
      shutdownSignals: [...shutdownSignals],
    };
  }

  /** `SyncConfig {"serverUrl":…,"icToken":"<redacted>",…}`. */
  toString(): string {
    return `SyncConfig ${JSON.stringify(this.toJSON())}`;
  }

  /** `util.inspect` / `console.log`: the settings, the token redacted. */
  [Symbol.for('nodejs.util.inspect.custom')](
    depth: number,
    options: object,
    inspect: (value: unknown, options: object) => string,
  ): string {
    if (depth < 0) return '[SyncConfig]';
    return `SyncConfig ${inspect(this.toJSON(), options)}`;
  }

  get [Symbol.toStringTag](): string {
    return 'SyncConfig';
  }
}

/**
 * @internal The IC token of `config`, for the sync clients of this package.
 * Not re-exported from the package's entry point. `TypeError` if `config`
 * is not a {@link SyncConfig}.
 */
export function tokenOf(config: SyncConfig): string {
  checkSyncConfig(config);
  return readToken(config);
}

/** Whether `value` is a {@link SyncConfig} of this module (a brand check, not `instanceof`). */
export function isSyncConfig(value: unknown): value is SyncConfig {
  return brand(value);
}

/** `TypeError` unless `value` is a {@link SyncConfig}. */
export function checkSyncConfig(value: unknown, name = 'config'): asserts value is SyncConfig {
  if (!brand(value)) {
    throw new TypeError(`${name} must be a SyncConfig, got ${describeValue(value)}`);
  }
}
