/** The native `SyncClient`: delivery runs on the addon's tokio runtime, never on the JS thread. */
import type { EventStoreApi } from '../shared/api.js';
import { SyncConfig, checkSyncConfig, tokenOf } from '../shared/sync/config.js';
import { SyncError, type SyncFailureKind } from '../shared/sync/errors.js';
import { trackRunning, untrackRunning, type RunningHandle } from '../shared/sync/exit.js';
import type { RejectedEvent, SpoolStatus, SyncClientApi, SyncHandleApi, SyncReport } from '../shared/sync/types.js';
import type { NativeSyncClientHandle, NativeSyncHandleHandle } from './loader.js';
import { addon } from './addon.js';
import { flushPending } from './batch.js';
import { storeHandle } from './store.js';

/** The core logs from its own threads; the console belongs to this one. */
const relayWarnings = (): void => {
  for (const warning of addon().takeWarnings()) console.warn(warning);
};

class NativeSyncHandle implements SyncHandleApi {
  #h: NativeSyncHandleHandle;
  #final: SyncReport | null = null;
  #stopping: Promise<SyncReport> | null = null;
  #relay: NodeJS.Timeout;
  readonly #running: RunningHandle;

  constructor(h: NativeSyncHandleHandle, client: NativeSyncClientHandle, store: EventStoreApi, config: SyncConfig) {
    this.#h = h;
    this.#relay = setInterval(relayWarnings, 100);
    this.#relay.unref();
    this.#running = {
      stop: () => this.stop(),
      spoolNow: () => {
        // Records still batched on this thread first: the spool must see them.
        flushPending();
        return client.spoolNow() ?? null;
      },
      undelivered: () => store.unsyncedCount(),
      signals: config.shutdownSignals,
    };
    trackRunning(this.#running);
  }

  /** Flushes what is pending (bounded by the stop deadline), spools the rest, then stops; runs off the event loop. */
  stop(): Promise<SyncReport> {
    return (this.#stopping ??= this.#stop());
  }

  async #stop(): Promise<SyncReport> {
    flushPending();
    const report = await this.#h.stop();
    this.#final = report;
    clearInterval(this.#relay);
    relayWarnings();
    untrackRunning(this.#running);
    return report;
  }

  /** Counts so far: delivered and rejected since start, what remains buffered, the spool. */
  report(): SyncReport {
    return this.#final ?? this.#h.report();
  }
}

/** Background sync on the addon's tokio runtime: JSON and HTTP never run on the JS thread. */
export class SyncClient implements SyncClientApi {
  #c: NativeSyncClientHandle;
  #config: SyncConfig;
  #store: EventStoreApi;

  constructor(store: EventStoreApi, config: SyncConfig) {
    const handle = storeHandle(store);
    checkSyncConfig(config, 'config');
    this.#config = config;
    this.#store = store;
    this.#c = new (addon().NativeSyncClient)(handle, config.serverUrl, tokenOf(config), {
      intervalMs: config.intervalMs,
      batchThreshold: config.batchThreshold,
      timeoutMs: config.timeoutMs,
      maxInFlight: config.maxInFlight,
      backoffInitialMs: config.backoffInitialMs,
      backoffMaxMs: config.backoffMaxMs,
      stopDeadlineMs: config.stopDeadlineMs,
      maxBatch: config.maxBatch,
      thresholdCheckMs: config.thresholdCheckMs,
      maxEventBytes: config.maxEventBytes,
      spoolDir: config.spoolDir ?? undefined,
      spoolMaxBytes: config.spoolMaxBytes ?? 0,
      spoolIntervalMs: config.spoolIntervalMs,
    });
  }

  /** The configuration (its token redacted when printed). */
  get config(): SyncConfig {
    return this.#config;
  }

  /** One pass now; resolves to the number delivered. */
  async syncEvents(): Promise<number> {
    flushPending();
    const delivered = await this.#c.syncEvents();
    relayWarnings();
    return delivered;
  }

  /** Starts the background loop (after putting the spooled events back into the store). */
  start(): SyncHandleApi {
    flushPending();
    return new NativeSyncHandle(this.#c.start(), this.#c, this.#store, this.#config);
  }

  rejectedEvents(): RejectedEvent[] {
    return this.#c.rejectedEvents().map((r) => ({
      eventId: r.eventId,
      status: r.status,
      errorCode: r.errorCode ?? null,
      message: r.message,
    }));
  }

  deliveredCount(): number {
    return this.#c.deliveredCount();
  }

  rejectedCount(): number {
    return this.#c.rejectedCount();
  }

  /** The latest transient failure, or `null`. */
  lastError(): SyncError | null {
    relayWarnings();
    const f = this.#c.lastError();
    return f ? new SyncError(f.kind as SyncFailureKind, f.message, f.status ?? null, f.retryAfterMs ?? null) : null;
  }

  /** The spool's state, or `null` without a spool. */
  spoolStatus(): SpoolStatus | null {
    relayWarnings();
    return this.#c.spoolStatus() ?? null;
  }

  /** Writes the spool one last time and releases its directory. */
  closeSpool(): number | null {
    flushPending();
    const spooled = this.#c.closeSpool() ?? null;
    relayWarnings();
    return spooled;
  }
}
