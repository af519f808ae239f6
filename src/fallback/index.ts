/**
 * The pure-JS implementation of the API: the same behaviour as the native
 * addon for any single-threaded sequence of calls, without shared stores.
 */

export { EventStore } from './store.js';
export { PricingManager } from './pricing.js';
export { PricingTableError } from './errors.js';
export { Provider, inferProvider } from './provider.js';
export { Receiver } from './stream.js';
export type { LatencyInput, ProviderName } from '../types.js';
