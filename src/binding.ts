/**
 * Finds and loads the native addon for this platform, or says why not.
 *
 * Order: `IRON_ANALYTICS_IMPL=js` skips it; otherwise a locally built
 * `iron-runtime-analytics.<platform>.node` at the package root (development),
 * then the prebuilt per-platform package `iron-runtime-analytics-<platform>`
 * (an optional dependency). `IRON_ANALYTICS_IMPL=native` turns a failure into
 * an error naming the platform and the reason.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentHost, fileSystemIo, loadFailureError, platformName, type LoadAttempt } from './native/platform.js';

export { platformName };

/** The addon's pricing class (see crates/iron_runtime_analytics_node/binding.d.ts). */
export interface NativePricingHandle {
  get(model: string): { model: string; inputMicrosPerMillionTokens: number; outputMicrosPerMillionTokens: number } | null;
  costMicros(model: string, inputTokens: number, outputTokens: number): number | null;
  readonly size: number;
  readonly checkedOn: string;
}

/** The addon's store class. */
export interface NativeStoreHandle {
  readonly capacity: number;
  modelKey(model: string): number;
  registerPricing(pricing: NativePricingHandle): number;
  /** `messages`: the batched failures' messages joined, each as long (UTF-16 units) as its record says. */
  recordBatch(batch: Float64Array, count: number, messages: string): void;
  nameKey(kind: number, name: string): number;
  recordCompletedWithProvider(
    pricing: NativePricingHandle,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agent: string | null,
    providerId: string | null,
  ): boolean;
  recordCompletedRaw(
    provider: string,
    model: string,
    providerId: string | null,
    inputTokens: number,
    outputTokens: number,
    costMicros: number,
    agent: string | null,
  ): boolean;
  recordFailedRaw(
    provider: string,
    model: string,
    providerId: string | null,
    errorCode: string | null,
    errorMessage: string | null,
    agent: string | null,
  ): boolean;
  recordBudgetThreshold(percent: number, spend: number, budget: number, agent: string | null): boolean;
  recordRouterStarted(port: number): boolean;
  recordRouterStopped(): boolean;
  recordRouterStoppedTotals(totalRequests: number, totalCostMicros: number): boolean;
  /** Stats as numbers plus the keys not sent before; layout in the binding's `PackedStats`. */
  statsPacked(): { newNames: string; numbers: Float64Array };
  /** Events as numbers and strings; layout in the binding's `PackedEvents`. */
  snapshotPacked(): PackedEvents;
  unsyncedPacked(limit?: number): PackedEvents;
  drainPacked(): PackedEvents;
  markSynced(ids: string[]): number;
  markRejected(ids: string[]): number;
  len(): number;
  unsyncedCount(): number;
  accounting(): {
    recorded: number;
    buffered: number;
    drained: number;
    synced: number;
    rejected: number;
    dropped: number;
    evicted: number;
  };
  streamDroppedCount(): number;
  recvBatch(max: number, timeoutMs: number): Promise<string>;
  tryRecvJson(max: number): string;
  closeStream(): void;
}

/** The addon's background sync handle. */
export interface NativeSyncHandleHandle {
  stop(): Promise<{ delivered: number; rejected: number; remaining: number }>;
  report(): { delivered: number; rejected: number; remaining: number };
}

/** The addon's sync client. */
export interface NativeSyncClientHandle {
  syncEvents(): Promise<number>;
  start(): NativeSyncHandleHandle;
  rejectedEvents(): { eventId: string; status: number; errorCode?: string | null; message: string }[];
  deliveredCount(): number;
  rejectedCount(): number;
  lastError(): { kind: string; message: string; status?: number | null; retryAfterMs?: number | null } | null;
}

/** What the addon exports. */
/** The addon's packed events (see `eventsFromPacked` in native.ts). */
export interface PackedEvents {
  newNames: string;
  ids: string;
  messages: string;
  numbers: Float64Array;
}

export interface NativeBinding {
  NativePricing: { new (): NativePricingHandle; fromLitellmJson(text: string): NativePricingHandle };
  NativeStore: {
    new (capacity: number, channelSize?: number): NativeStoreHandle;
    shared(name: string, capacity: number): NativeStoreHandle;
  };
  inferProvider(model: string): string;
  takeWarnings(): string[];
  NativeSyncClient: new (
    store: NativeStoreHandle,
    serverUrl: string,
    icToken: string,
    settings: {
      intervalMs: number;
      batchThreshold: number;
      timeoutMs: number;
      maxInFlight: number;
      backoffInitialMs: number;
      backoffMaxMs: number;
      stopDeadlineMs: number;
      maxBatch: number;
      thresholdCheckMs: number;
    },
  ) => NativeSyncClientHandle;
}

function packageRoot(): string {
  // src/binding.ts in development, dist/index.{mjs,cjs} once built: the root is one level up.
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 3; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'iron-runtime-analytics') return dir;
      } catch {
        // not ours: keep looking
      }
    }
    dir = dirname(dir);
  }
  return dirname(here);
}

/** The result of trying to load the addon. */
export type LoadResult = { binding: NativeBinding; error: null } | { binding: null; error: Error };

/** Loads the addon whatever `IRON_ANALYTICS_IMPL` says (tests compare both implementations). */
export function findNative(): LoadResult {
  const platform = platformName();
  const root = packageRoot();
  const req = createRequire(join(root, 'package.json'));
  const attempts: LoadAttempt[] = [];
  const local = join(root, `iron-runtime-analytics.${platform}.node`);
  const candidates = existsSync(local) ? [local, `iron-runtime-analytics-${platform}`] : [`iron-runtime-analytics-${platform}`];
  for (const candidate of candidates) {
    try {
      return { binding: req(candidate) as NativeBinding, error: null };
    } catch (e) {
      attempts.push({ candidate, error: e });
    }
  }
  return { binding: null, error: loadFailureError(platform, attempts, currentHost(), fileSystemIo((id) => req.resolve(id))) };
}

/** Loads the addon as `IRON_ANALYTICS_IMPL` asks: `js` skips it, `native` makes a failure throw. */
export function loadNative(): LoadResult {
  const wanted = process.env.IRON_ANALYTICS_IMPL;
  if (wanted === 'js') return { binding: null, error: new Error('IRON_ANALYTICS_IMPL=js') };
  const result = findNative();
  if (result.error && wanted === 'native') throw result.error;
  return result;
}
