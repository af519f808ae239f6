/**
 * The API served by the napi-rs addon. Thin on purpose: every behaviour
 * lives in the Rust core; these classes validate, batch and convert.
 */
import type { Backend } from '../shared/api.js';
import { checkModel } from '../shared/validate.js';
import type { NativeBinding } from './loader.js';
import { useAddon } from './addon.js';
import { PricingManager } from './pricing.js';
import { EventStore } from './store.js';
import { SyncClient } from './sync.js';

/** The native classes over a loaded binding. */
export function createNativeApi(binding: NativeBinding): Backend {
  useAddon(binding);
  return {
    EventStore,
    PricingManager,
    SyncClient,
    inferProvider(model: string): string {
      checkModel(model);
      return binding.inferProvider(model);
    },
  };
}
