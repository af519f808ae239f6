/** The native `SyncClient`: delivery runs on the addon's tokio runtime, never on the JS thread. */
import type { EventStoreApi } from '../shared/api.js';
import { SyncConfig, checkSyncConfig, tokenOf } from '../shared/sync/config.js';
import { SyncError, type SyncFailureKind } from '../shared/sync/errors.js';
import type { RejectedEvent, SyncClientApi, SyncHandleApi, SyncReport } from '../shared/sync/types.js';
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
  #relay: NodeJS.Timeout;

  constructor(h: NativeSyncHandleHandle) {
    this.#h = h;
    this.#relay = setInterval(relayWarnings, 100);
    this.#relay.unref();
  }

  /** Flushes what is pending (bounded by the stop deadline), then stops; runs off the event loop. */
  async stop(): Promise<SyncReport> {
    if (this.#final) return this.#final;
    flushPending();
    this.#final = await this.#h.stop();
    clearInterval(this.#relay);
    relayWarnings();
    return this.#final;
  }

  /** Counts so far: delivered and rejected since start, and what remains buffered. */
  report(): SyncReport {
    return this.#final ?? this.#h.report();
  }
}

/** Background sync on the addon's tokio runtime: JSON and HTTP never run on the JS thread. */
export class SyncClient implements SyncClientApi {
  #c: NativeSyncClientHandle;
  #config: SyncConfig;

  constructor(store: EventStoreApi, config: SyncConfig) {
    const handle = storeHandle(store);
    checkSyncConfig(config, 'config');
    this.#config = config;
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

  /** Starts the background loop. */
  start(): SyncHandleApi {
    flushPending();
    return new NativeSyncHandle(this.#c.start());
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

  /** The first transient failure of the last pass, or `null`. */
  lastError(): SyncError | null {
    relayWarnings();
    const f = this.#c.lastError();
    return f ? new SyncError(f.kind as SyncFailureKind, f.message, f.status ?? null, f.retryAfterMs ?? null) : null;
  }
}
