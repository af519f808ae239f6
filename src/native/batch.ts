/**
 * Records wait in a per-store batch and cross into the addon in one call per
 * batch: a N-API call costs more than the recording itself. The batch lives
 * in memory the addon owns (see `RecordWriter` in writer.ts), so a record
 * written there reaches the store even if this thread ends without running
 * more JS (`worker.terminate()`). This module schedules the flushes, and
 * flushes every pending batch of this thread before the process exits.
 */

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
 * The scheduled flush: a flush never throws for a bad record (the addon
 * counts it lost, with the reason, in `accounting()`); anything else has
 * no caller to reach, so it becomes a process warning instead of an
 * uncaught exception that would take the router down.
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
  // 'exit' handlers run on process.exit() and at the end of the script; the
  // addon's own cleanup hook covers a worker that is terminated.
  process.on('exit', flushFromTimer);
}

/** The store's batch was handed over: it no longer needs a flush. */
export function unschedule(store: { flush(): void }): void {
  pendingStores.delete(store);
}
