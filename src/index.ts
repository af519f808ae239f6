/**
 * iron-runtime-analytics: lock-free, in-process analytics for LLM routers.
 *
 * One API, two implementations: the napi-rs addon over the Rust core when a
 * binary loads for this platform, the pure-JS fallback otherwise
 * (`implementation` says which). `IRON_ANALYTICS_IMPL=js` forces the
 * fallback; `IRON_ANALYTICS_IMPL=native` makes a missing binary an error.
 */
import * as fallback from './fallback/index.js';
import { loadNative } from './binding.js';
import { createNativeApi } from './native.js';
import { FallbackSyncClient } from './sync/index.js';
import type { Implementation } from './types.js';

export * from './types.js';
export { Provider, PricingTableError } from './fallback/index.js';
export type { ProviderName } from './fallback/index.js';
export { usageFromResponse, SseUsageAccumulator } from './toolkit/index.js';
export {
  SyncConfig,
  SyncError,
  REJECTED_RING_CAPACITY,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_BATCH_THRESHOLD,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_STOP_DEADLINE_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_THRESHOLD_CHECK_MS,
} from './sync/index.js';
export type { SyncReport, RejectedEvent, SyncHandleApi, SyncClientApi, SyncFailureKind } from './sync/index.js';
export { LATENCY_BUCKETS_SECONDS } from './latency.js';
export type { Usage } from './toolkit/index.js';

const loaded = loadNative();
const native = loaded.binding ? createNativeApi(loaded.binding) : null;

/** Which implementation serves the API in this process: `'native'` or `'js'`. */
export const implementation: Implementation = native ? 'native' : 'js';

/** Why the native addon did not load (`null` when it did). */
export const nativeLoadError: Error | null = loaded.error;

/** The bounded outbox of analytics events with running statistics. */
export const EventStore: typeof fallback.EventStore = (native?.EventStore ??
  fallback.EventStore) as unknown as typeof fallback.EventStore;
/** An instance of {@link EventStore}. */
export type EventStore = fallback.EventStore;

/** The price table: embedded, or loaded from LiteLLM's JSON. */
export const PricingManager: typeof fallback.PricingManager = (native?.PricingManager ??
  fallback.PricingManager) as unknown as typeof fallback.PricingManager;
/** An instance of {@link PricingManager}. */
export type PricingManager = fallback.PricingManager;

/** The provider a model name belongs to, by prefix (`gpt-` → `openai`, …). */
export const inferProvider: typeof fallback.inferProvider = (native?.inferProvider ??
  fallback.inferProvider) as typeof fallback.inferProvider;

/** Background delivery to the Control API (Protocol 012): off the event loop with the addon. */
export const SyncClient: typeof FallbackSyncClient = (native?.SyncClient ??
  FallbackSyncClient) as unknown as typeof FallbackSyncClient;
/** An instance of {@link SyncClient}. */
export type SyncClient = FallbackSyncClient;
