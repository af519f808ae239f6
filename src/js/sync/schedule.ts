/**
 * When each event may be posted (the Rust core's `sync/schedule.rs`):
 * per-event retry state, the global gate, and the events claimed by a sender.
 *
 * A transient failure of one request (5xx, reset, lost answer, timeout)
 * reschedules *that* event, with its own capped, jittered exponential
 * backoff; the others keep flowing. Only outage signals close the gate for
 * every event: connection refused, 429 (until its `Retry-After`), 401/403, a
 * status that says the endpoint is wrong, or a whole window of requests
 * failing in a row. Any success opens the gate again at once (never before a
 * `Retry-After`) and resets its backoff. Times come from `performance.now()`.
 */
import type { SyncConfig } from '../../shared/sync/config.js';

/** The fewest failures in a row that close the gate, whatever `maxInFlight`. */
const MIN_FAILURE_WINDOW = 4;

/**
 * The delay before retry number `attempt + 1` (attempt 0 is the first
 * failure): `initial × 2^attempt` capped at `max`, plus a random jitter of up
 * to the same amount, capped at `max` again (as the Rust core's backoff).
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(initialMs * 2 ** Math.min(attempt, 64), maxMs);
  return Math.min(Math.round(base + base * random()), maxMs);
}

/** What a failure did: only this event waits, or everyone does. */
export type Slowdown = { everyone: boolean; delayMs: number };

interface Retry {
  attempt: number;
  notBefore: number;
}

/** The schedule of one client, shared by its passes and its loop. */
export class Schedule {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #window: number;
  /** Events claimed by a sender (queued or being posted): never claimed twice. */
  readonly claimed = new Set<string>();
  /** Events whose last attempt failed on its own. */
  readonly #retries = new Map<string, Retry>();
  #gateAttempt = 0;
  /** No new request before this instant (an outage's backoff or `Retry-After`). */
  #gate = 0;
  /** No new request before this instant either, even when stopping. */
  #rateLimitedUntil = 0;
  /** When the latest wave of 429s began (its first answer came). */
  #ratePausedAt: number | null = null;
  #failuresInARow = 0;

  constructor(config: SyncConfig) {
    this.#initialMs = config.backoffInitialMs;
    this.#maxMs = config.backoffMaxMs;
    this.#window = Math.max(config.maxInFlight, MIN_FAILURE_WINDOW);
  }

  /** Whether the event may be claimed now (not held, and its own backoff passed unless ignored). */
  eligible(id: string, now: number, ignoreBackoff: boolean): boolean {
    if (this.claimed.has(id)) return false;
    if (ignoreBackoff) return true;
    const retry = this.#retries.get(id);
    return retry === undefined || retry.notBefore <= now;
  }

  /** How many candidates to read so that `max` eligible ones are among them. */
  lookahead(max: number): number {
    return max + this.claimed.size + this.#retries.size;
  }

  /** An answer came that settles the event: the server works, the gate opens (not before a `Retry-After`). */
  settled(id: string, now: number): void {
    this.#retries.delete(id);
    this.#failuresInARow = 0;
    this.#gateAttempt = 0;
    this.#gate = Math.max(this.#rateLimitedUntil, Math.min(now, this.#gate));
  }

  /** The event failed on its own: it waits for its own backoff; a window of such failures closes the gate too. */
  eventFailed(id: string, now: number): Slowdown {
    let retry = this.#retries.get(id);
    if (retry === undefined) {
      retry = { attempt: 0, notBefore: now };
      this.#retries.set(id, retry);
    }
    const delayMs = backoffDelay(retry.attempt++, this.#initialMs, this.#maxMs);
    retry.notBefore = now + delayMs;
    if (++this.#failuresInARow >= this.#window) {
      this.#failuresInARow = 0;
      return this.outage(now);
    }
    return { everyone: false, delayMs };
  }

  /**
   * Every event must wait (connection refused, 401/403, a wrong endpoint, a
   * window of failures): the next global backoff delay. While the gate is
   * already closed, a signal comes from a request that was in flight when it
   * closed: the same wave, so the backoff does not grow.
   */
  outage(now: number): Slowdown {
    if (now >= this.#gate) this.#gate = now + backoffDelay(this.#gateAttempt++, this.#initialMs, this.#maxMs);
    return { everyone: true, delayMs: this.#gate - now };
  }

  /**
   * A 429 answered a request posted at `sentAt`: every event waits for the
   * server's `Retry-After`, exactly as long as it asks (no backoff on top),
   * or the global backoff without one. The requests in flight when the
   * first 429 of a wave came (sent before its pause began) are answered 429
   * too, later: they belong to the wave that pause already honours, so they
   * neither extend it nor start a new one.
   */
  rateLimited(now: number, retryAfterMs: number | null, sentAt: number): Slowdown {
    if (this.#ratePausedAt !== null && sentAt < this.#ratePausedAt) {
      return { everyone: true, delayMs: Math.max(0, this.#gate - now) };
    }
    this.#ratePausedAt = now;
    if (retryAfterMs === null) return this.outage(now);
    this.#rateLimitedUntil = Math.max(this.#rateLimitedUntil, now + retryAfterMs);
    // The server answers, so another outage's backoff is moot: its word wins.
    this.#gate = this.#rateLimitedUntil;
    return { everyone: true, delayMs: Math.max(0, this.#gate - now) };
  }

  /** When new requests may start. */
  get gate(): number {
    return this.#gate;
  }

  /** Stopping: the backoffs are forgiven (the server may be back), a `Retry-After` still holds. */
  forgive(now: number): void {
    this.#gate = Math.max(this.#rateLimitedUntil, now);
    for (const retry of this.#retries.values()) retry.notBefore = now;
  }

  /** Events waiting for their own backoff at `now`. */
  waiting(now: number): number {
    let n = 0;
    for (const retry of this.#retries.values()) if (retry.notBefore > now) n++;
    return n;
  }

  /** Whether an event's own backoff has passed and it awaits its retry. */
  retryDue(now: number): boolean {
    for (const retry of this.#retries.values()) if (retry.notBefore <= now) return true;
    return false;
  }

  /** Forgets the retry state of events no longer buffered. */
  prune(isBuffered: (id: string) => boolean): void {
    for (const id of this.#retries.keys()) if (!isBuffered(id)) this.#retries.delete(id);
  }

  /** Whether some event awaits a retry. */
  get hasRetries(): boolean {
    return this.#retries.size > 0;
  }
}
