/**
 * The pure-JS implementation of the API: the same behaviour as the native
 * addon for any single-threaded sequence of calls, without shared stores.
 */
import type { Backend } from '../shared/api.js';
import { inferProvider } from '../shared/provider.js';
import { PricingManager } from './pricing.js';
import { EventStore } from './store.js';
import { FallbackSyncClient } from './sync/client.js';

/** The pure-JS classes. */
export const jsBackend: Backend = {
  EventStore,
  PricingManager,
  SyncClient: FallbackSyncClient,
  inferProvider,
};

export { EventStore, PricingManager, FallbackSyncClient };
