/**
 * The loaded addon, set once by `createNativeApi`: the native classes reach
 * the addon's constructors through it.
 */
import type { NativeBinding } from './loader.js';

let loaded: NativeBinding | null = null;

/** Makes `binding` the addon the native classes use. */
export function useAddon(binding: NativeBinding): void {
  loaded = binding;
}

/** The addon the native classes use. */
export function addon(): NativeBinding {
  if (loaded === null) throw new Error('iron-runtime-analytics: the native addon is not loaded');
  return loaded;
}
