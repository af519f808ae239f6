/**
 * The pure-JS background loop (the Rust core's `sync/worker.rs`): it keeps up
 * to `maxInFlight` requests going while events are eligible, starting the
 * next one as soon as one ends, so a slow or failing request never holds the
 * others back. It starts sending when `batchThreshold` events are pending,
 * every `interval`, or when a failed event's backoff has passed, and pauses
 * while the schedule's gate is closed (an outage). It writes the spool every
 * `spoolInterval`. Stopping turns it into a flush bounded by the stop
 * deadline, then the spool is written one last time.
 *
 * Its ticker is `unref()`'d: the loop never keeps the process alive. While
 * `stop()` flushes, its timer is ref'd (bounded by the stop deadline), so
 * that an awaited `stop()` at the end of a program settles.
 */
import { trackRunning, untrackRunning, type RunningHandle } from '../../shared/sync/exit.js';
import type { SyncHandleApi, SyncReport } from '../../shared/sync/types.js';
import type { LlmCompletedEvent, LlmFailedEvent } from '../../shared/types.js';
import type { SyncConfig } from '../../shared/sync/config.js';
import type { SyncError } from '../../shared/sync/errors.js';
import type { Schedule } from './schedule.js';
import type { Outcome } from './wire.js';
import type { SyncableStore } from './client.js';

const WARN_PREFIX = 'iron-runtime-analytics:';

/** What a run of sending did. */
export interface Summary {
  delivered: number;
  rejected: number;
  /** The first transient failure. */
  failure: SyncError | null;
}

/** An event claimed by a sender (released once settled). */
export interface Claimed {
  id: string;
  event: LlmCompletedEvent | LlmFailedEvent;
  /** When its request was posted (a 429 is weighed against it). */
  sentAt: number;
}

/** A summary of nothing yet. */
export const newSummary = (): Summary => ({ delivered: 0, rejected: 0, failure: null });

/** What the loop needs of its client. */
export interface Internals {
  readonly config: SyncConfig;
  readonly schedule: Schedule;
  readonly store: SyncableStore;
  claim(max: number, ignoreBackoff: boolean): Claimed[];
  /** Posts one event; `holdProcess` false: the request does not keep the process alive. */
  post(claimed: Claimed, cancel: AbortSignal | null, holdProcess: boolean): Promise<Outcome>;
  settle(claimed: Claimed, outcome: Outcome, summary: Summary): void;
  eligibleCount(now: number): number;
  pruneRetries(): void;
  recovered(): void;
  delivered(): number;
  rejected(): number;
  hasSpool(): boolean;
  spooled(): number;
  /** Writes the spool; how many it holds, or `null` without one (or if the write failed: warned). */
  spoolNow(durable: boolean): number | null;
  warn(key: string, message: string): void;
}

/** The running loop of a `FallbackSyncClient`. */
export class FallbackSyncHandle implements SyncHandleApi {
  readonly #internals: Internals;
  readonly #baseDelivered: number;
  readonly #baseRejected: number;
  readonly #replayed: number;
  readonly #running: RunningHandle;
  #ticker: NodeJS.Timeout;
  /** Wakes the loop when a pause ends. */
  #gateTimer: NodeJS.Timeout | undefined = undefined;
  #nextInterval: number;
  #nextSpool: number;
  /** Claimed and not yet sent, oldest first. */
  #queue: Claimed[] = [];
  /** The next one to send in `#queue` (an index: `shift()` moves the whole array). */
  #next = 0;
  #inFlight = 0;
  /** Sending on its own: until nothing is eligible. */
  #active = false;
  #summary = newSummary();
  /** Aborts the requests still in flight at the stop deadline. */
  readonly #cancel = new AbortController();
  #deadline: number | null = null;
  /** Called when the flush may be over (a request ended, or the flush timer ticked). */
  #onProgress: (() => void) | null = null;
  #stopped: Promise<SyncReport> | null = null;
  /** The flush is over: nothing starts any more. */
  #finished = false;

  constructor(internals: Internals, replayed: number) {
    this.#internals = internals;
    this.#baseDelivered = internals.delivered();
    this.#baseRejected = internals.rejected();
    this.#replayed = replayed;
    const { config } = internals;
    const now = performance.now();
    this.#nextInterval = now + config.intervalMs;
    this.#nextSpool = now + config.spoolIntervalMs;
    this.#ticker = setInterval(() => this.#tick(), config.thresholdCheckMs);
    this.#ticker.unref();
    this.#running = {
      stop: () => this.stop(),
      spoolNow: () => internals.spoolNow(true),
      undelivered: () => internals.store.unsyncedCount(),
      signals: config.shutdownSignals,
    };
    trackRunning(this.#running);
  }

  report(): SyncReport {
    const i = this.#internals;
    return {
      delivered: i.delivered() - this.#baseDelivered,
      rejected: i.rejected() - this.#baseRejected,
      remaining: i.store.unsyncedCount(),
      spooled: i.spooled(),
      replayed: this.#replayed,
    };
  }

  stop(): Promise<SyncReport> {
    return (this.#stopped ??= this.#stop());
  }

  #tick(): void {
    try {
      const now = performance.now();
      if (this.#deadline === null && !this.#active && this.#due(now)) {
        this.#active = true;
        this.#summary = newSummary();
      }
      this.#pump();
      if (this.#deadline === null && this.#internals.hasSpool() && now >= this.#nextSpool) {
        this.#nextSpool = now + this.#internals.config.spoolIntervalMs;
        this.#internals.spoolNow(false);
      }
    } catch (error) {
      this.#storeFailure(error);
    }
  }

  /** Whether sending should start now (see the module docs). */
  #due(now: number): boolean {
    const i = this.#internals;
    const intervalDue = now >= this.#nextInterval;
    if (intervalDue) {
      this.#nextInterval = now + i.config.intervalMs;
      i.pruneRetries();
    }
    const eligible = i.eligibleCount(now);
    return eligible > 0 && (intervalDue || eligible >= i.config.batchThreshold || i.schedule.retryDue(now));
  }

  /** Starts requests while there is room, the gate is open and events are eligible. */
  #pump(): void {
    const i = this.#internals;
    if (this.#finished || !this.#active) return;
    const now = performance.now();
    if (now < i.schedule.gate) {
      this.#wakeAtGate(i.schedule.gate - now);
      return;
    }
    while (this.#inFlight < i.config.maxInFlight) {
      if (this.#next === this.#queue.length) {
        this.#queue = i.claim(i.config.maxBatch, false);
        this.#next = 0;
      }
      const claimed = this.#queue[this.#next];
      if (claimed === undefined) break;
      this.#next++;
      this.#inFlight++;
      // Not holding the process: when the program is done, beforeExit comes
      // and stops this loop (flush within the deadline, spool), as with the addon.
      void i.post(claimed, this.#cancel.signal, false).then((outcome) => {
        this.#inFlight--;
        try {
          i.settle(claimed, outcome, this.#summary);
          this.#pump();
        } catch (error) {
          this.#storeFailure(error);
        }
        this.#onProgress?.();
      });
    }
    if (this.#inFlight === 0 && this.#deadline === null) {
      // Nothing eligible: this run of sending is over.
      this.#active = false;
      const s = this.#summary;
      if (s.failure === null && s.delivered + s.rejected > 0) i.recovered();
    }
  }

  /** Paused: resume when the gate opens (at full concurrency), not at the next tick. */
  #wakeAtGate(delayMs: number): void {
    clearTimeout(this.#gateTimer);
    this.#gateTimer = setTimeout(() => {
      try {
        this.#pump();
      } catch (error) {
        this.#storeFailure(error);
      }
      this.#onProgress?.();
    }, Math.ceil(delayMs));
    this.#gateTimer.unref();
  }

  /** The store itself threw (a bug, not the network): warn once and back off. */
  #storeFailure(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#internals.warn(`loop:${message}`, `${WARN_PREFIX} a background sync step failed: ${message}; retrying with backoff`);
    this.#internals.schedule.outage(performance.now());
  }

  async #stop(): Promise<SyncReport> {
    const i = this.#internals;
    clearInterval(this.#ticker);
    const now = performance.now();
    const deadline = now + i.config.stopDeadlineMs;
    this.#deadline = deadline;
    i.schedule.forgive(now);
    this.#active = true;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        const drained = this.#inFlight === 0 && this.#next === this.#queue.length && i.store.unsyncedCount() === 0;
        if (drained || performance.now() >= deadline) {
          clearInterval(this.#ticker);
          this.#onProgress = null;
          resolve();
          return;
        }
        this.#pump();
      };
      this.#onProgress = check;
      // Ref'd: the flush keeps an exiting process alive until its deadline.
      this.#ticker = setInterval(() => {
        try {
          check();
        } catch (error) {
          this.#storeFailure(error);
        }
      }, Math.min(i.config.thresholdCheckMs, Math.max(1, i.config.stopDeadlineMs)));
      try {
        check();
      } catch (error) {
        this.#storeFailure(error);
      }
    });
    // Requests still in flight are abandoned: their events stay buffered.
    this.#finished = true;
    clearTimeout(this.#gateTimer);
    this.#cancel.abort();
    for (const claimed of this.#queue.slice(this.#next)) i.schedule.claimed.delete(claimed.id);
    this.#queue = [];
    this.#next = 0;
    i.spoolNow(true);
    untrackRunning(this.#running);
    return this.report();
  }
}
