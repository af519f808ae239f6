/**
 * Background sync to the Control API (Protocol 012): the configuration shared
 * by both implementations, the pure-JS client, and their public shapes.
 *
 * `tokenOf` (the token accessor for this package's clients) is deliberately
 * not re-exported here: import it from `./config.js`.
 */

export {
  SyncConfig,
  isSyncConfig,
  DEFAULT_SYNC_INTERVAL_MS,
  DEFAULT_BATCH_THRESHOLD,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_STOP_DEADLINE_MS,
  DEFAULT_MAX_BATCH,
  DEFAULT_THRESHOLD_CHECK_MS,
  INGEST_PATH,
  MAX_DURATION_MS,
  MAX_SYNC_SIZE,
} from './config.js';
export type { SyncConfigJson } from './config.js';
export { SyncError } from './errors.js';
export type { SyncFailureKind } from './errors.js';
export { FallbackSyncClient, REJECTED_RING_CAPACITY } from './fallback-client.js';
export type { SyncableStore } from './fallback-client.js';
export type { RejectedEvent, SyncClientApi, SyncHandleApi, SyncReport } from './types.js';
