/**
 * The core logs warnings (an unpriced model, a delivery problem) from its
 * own threads or from inside a call; the console belongs to this thread, so
 * the wrapper relays them after the calls that may log.
 */
import { addon } from './addon.js';

/** Prints the warnings the addon queued since the last call. */
export function relayWarnings(): void {
  for (const warning of addon().takeWarnings()) console.warn(warning);
}
