/**
 * iron-runtime-analytics: lock-free, in-process analytics for LLM routers.
 *
 * One API, two implementations: the napi-rs addon over the Rust core when a
 * binary loads for this platform, the pure-JS fallback otherwise
 * (`implementation` says which). `IRON_ANALYTICS_IMPL=js` forces the
 * fallback; `IRON_ANALYTICS_IMPL=native` makes a missing binary an error.
 */
import type {
  Backend,
  EventStoreApi,
  EventStoreClass,
  PricingManagerApi,
  PricingManagerClass,
  SyncClientClass,
} from './shared/api.js';
import type { SyncClientApi } from './shared/sync/types.js';
import type { Implementation } from './shared/types.js';
import { jsBackend } from './js/index.js';
import { loadNative } from './native/loader.js';
import { createNativeApi } from './native/index.js';

export * from './shared/types.js';
export type {
  EventStoreApi,
  EventStoreClass,
  PricingManagerApi,
  PricingManagerClass,
  SyncClientClass,
} from './shared/api.js';
export { Provider } from './shared/provider.js';
export { PricingTableError } from './shared/errors.js';
export {
  usageFromResponse,
  SseUsageAccumulator,
  meterFetchResponse,
  meterNodeResponse,
  errorCodeForStatus,
  MAX_METERED_BODY_BYTES,
} from './toolkit/index.js';
export type { UsageError, SseUsageAccumulatorOptions, MeterOptions, MeterRecord } from './toolkit/index.js';
export {
  SyncConfig,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_BATCH_THRESHOLD,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_STOP_DEADLINE_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_THRESHOLD_CHECK_MS,
  DEFAULT_MAX_EVENT_BYTES,
  MIN_MAX_EVENT_BYTES,
  DEFAULT_SPOOL_INTERVAL_MS,
  MIN_SPOOL_BYTES,
  SHUTDOWN_SIGNALS,
} from './shared/sync/config.js';
export type { ShutdownSignal } from './shared/sync/config.js';
export { SyncError } from './shared/sync/errors.js';
export type { SyncFailureKind } from './shared/sync/errors.js';
export { REJECTED_RING_CAPACITY } from './js/sync/client.js';
export type { SyncReport, RejectedEvent, SpoolStatus, SyncHandleApi, SyncClientApi } from './shared/sync/types.js';
export { LATENCY_BUCKETS_SECONDS } from './shared/latency.js';

const loaded = loadNative();
const backend: Backend = loaded.binding ? createNativeApi(loaded.binding) : jsBackend;

/** Which implementation serves the API in this process: `'native'` or `'js'`. */
export const implementation: Implementation = loaded.binding ? 'native' : 'js';

/** Why the native addon did not load (`null` when it did). */
export const nativeLoadError: Error | null = loaded.error;

/** The bounded outbox of analytics events with running statistics. */
export const EventStore: EventStoreClass = backend.EventStore;
/** An instance of {@link EventStore}. */
export type EventStore = EventStoreApi;

/** The price table: embedded, or loaded from LiteLLM's JSON. */
export const PricingManager: PricingManagerClass = backend.PricingManager;
/** An instance of {@link PricingManager}. */
export type PricingManager = PricingManagerApi;

/** The provider a model name belongs to, by prefix (`gpt-` → `openai`, …). */
export const inferProvider: (model: string) => string = backend.inferProvider;

/** Background delivery to the Control API (Protocol 012): off the event loop with the addon. */
export const SyncClient: SyncClientClass = backend.SyncClient;
/** An instance of {@link SyncClient}. */
export type SyncClient = SyncClientApi;
