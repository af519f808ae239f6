/**
 * Records wait in a per-store batch and cross into the addon in one call per
 * batch: a N-API call costs more than the recording itself. This module
 * schedules those flushes and flushes every pending batch of this thread
 * before the process exits.
 */

/** Completed requests buffered per store before one boundary crossing. */
export const BATCH_RECORDS = 256;
/** Numbers per batched record: kind, pricing, model, input tokens (a failure: its message's length), output, agent, provider id, duration ms, TTFT ms, error code. */
export const BATCH_STRIDE = 10;
/**
 * How long a record may wait in this thread before the addon sees it. Same-
 * thread reads flush first; this bounds what other threads (workers, the
 * sync loop) can miss, and lets a router recording one request per
 * event-loop turn still cross into the addon once per several records.
 */
const FLUSH_DELAY_MS = 2;

/** Stores with records not yet handed to the addon: flushed before the process exits. */
const pendingStores = new Set<{ flush(): void }>();
let exitHookInstalled = false;

/**
 * Hands every pending batch of this thread to the addon: reads and unbatched
 * records call it, so a thread sees its own records in order even through
 * another store object of the same shared store.
 */
export function flushPending(): void {
  if (flushTimer !== null) {
    clearTimeout(flushTimer);
    flushTimer = null;
  }
  for (const store of pendingStores) store.flush();
}

let flushTimer: NodeJS.Timeout | null = null;

/**
 * The scheduled flush: an error here has no caller to reach (the addon only
 * fails on a key it never issued), so it becomes a process warning instead of
 * an uncaught exception that would take the router down.
 */
function flushFromTimer(): void {
  try {
    flushPending();
  } catch (e) {
    process.emitWarning(`iron-runtime-analytics: could not hand records to the addon: ${(e as Error).message}`);
  }
}

/** Marks a store as holding records and makes sure a flush is due soon. */
export function schedule(store: { flush(): void }): void {
  pendingStores.add(store);
  if (flushTimer === null) {
    flushTimer = setTimeout(flushFromTimer, FLUSH_DELAY_MS);
    flushTimer.unref();
    installExitHook();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', flushPending);
}

/** The store's batch was handed over: it no longer needs a flush. */
export function unschedule(store: { flush(): void }): void {
  pendingStores.delete(store);
}
