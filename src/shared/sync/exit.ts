/**
 * The end of the process, for running sync handles of either implementation:
 *
 * - `beforeExit` (the event loop ran dry: the script returned): every running
 *   handle stops, which flushes within its stop deadline and spools what is
 *   left; the pending stops keep the process alive until they are done.
 *   What neither got delivered nor spooled is counted in one line on stderr.
 * - `exit` (`process.exit()`, an uncaught exception, the end after
 *   `beforeExit`): nothing asynchronous can run any more. Each handle still
 *   running writes its spool synchronously; what no spool holds is counted in
 *   one line on stderr.
 * - the signals of `SyncConfig.withShutdownSignals` (opt-in): every running
 *   handle stops (what no spool holds is counted on stderr, as at `exit`),
 *   then the signal is raised again without our listeners, so that it ends
 *   the process as it would have (unless the program listens to it itself).
 *   A second signal meanwhile ends the process at once.
 *
 * Listeners are installed while at least one handle runs, and removed after.
 */
import { writeSync } from 'node:fs';
import type { ShutdownSignal } from './config.js';
import type { SyncReport } from './types.js';

/** What the exit hooks need of a running handle. */
export interface RunningHandle {
  /** Flushes within the stop deadline, spools what is left, resolves with the report. */
  stop(): Promise<SyncReport>;
  /** Writes the spool synchronously; how many events it holds, or `null` without a spool. */
  spoolNow(): number | null;
  /** LLM events still buffered (records not yet handed over included). */
  undelivered(): number;
  /** The signals its configuration asked to stop on. */
  readonly signals: readonly ShutdownSignal[];
}

const running = new Set<RunningHandle>();
const signalListeners = new Map<ShutdownSignal, () => void>();
let processHooked = false;

/** The line written to stderr at exit when events are lost. */
export function lostAtExitLine(lost: number, spooled: boolean): string {
  const events = lost === 1 ? '1 undelivered event' : `${lost} undelivered events`;
  const hint = spooled
    ? 'the spool was full (raise maxBytes in SyncConfig.withSpool)'
    : 'stop the SyncClient handle before exiting, or keep them with SyncConfig.withSpool(dir, { maxBytes })';
  return `iron-runtime-analytics: ${events} lost at exit: ${hint}\n`;
}

/** Writes the line for what a stop at the end of the process could neither deliver nor spool. */
function reportLoss(report: SyncReport): void {
  const lost = Math.max(0, report.remaining - report.spooled);
  if (lost > 0) writeSync(2, lostAtExitLine(lost, report.spooled > 0));
}

function onBeforeExit(): void {
  for (const handle of running) void handle.stop().then(reportLoss);
}

function onExit(): void {
  for (const handle of running) {
    let spooled: number | null = null;
    let left = 0;
    try {
      spooled = handle.spoolNow();
      left = handle.undelivered();
    } catch {
      // The store itself failed: nothing more can be done this late.
    }
    const lost = spooled === null ? left : Math.max(0, left - spooled);
    if (lost > 0) writeSync(2, lostAtExitLine(lost, spooled !== null));
  }
  running.clear();
}

async function onSignal(signal: ShutdownSignal): Promise<void> {
  // Ours go first: a second signal while stopping ends the process at once.
  for (const [s, listener] of signalListeners) process.off(s, listener);
  signalListeners.clear();
  // The process ends by the signal: no `exit` event will say what was lost.
  await Promise.allSettled([...running].map((handle) => handle.stop().then(reportLoss)));
  // Nobody else listens: the default action (the end of the process), as
  // without us. A program that listens decides for itself.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** Installs or removes the listeners so that they match the running handles. */
function refresh(): void {
  const wanted = new Set<ShutdownSignal>();
  for (const handle of running) for (const signal of handle.signals) wanted.add(signal);
  for (const [signal, listener] of signalListeners) {
    if (!wanted.has(signal)) {
      process.off(signal, listener);
      signalListeners.delete(signal);
    }
  }
  for (const signal of wanted) {
    if (!signalListeners.has(signal)) {
      const listener = (): void => void onSignal(signal);
      signalListeners.set(signal, listener);
      process.on(signal, listener);
    }
  }
  if (running.size > 0 && !processHooked) {
    processHooked = true;
    process.on('beforeExit', onBeforeExit);
    process.on('exit', onExit);
  } else if (running.size === 0 && processHooked) {
    processHooked = false;
    process.off('beforeExit', onBeforeExit);
    process.off('exit', onExit);
  }
}

/** A handle started: the end of the process must take care of it. */
export function trackRunning(handle: RunningHandle): void {
  running.add(handle);
  refresh();
}

/** A handle stopped (after its flush and spool): nothing left to do for it. */
export function untrackRunning(handle: RunningHandle): void {
  if (running.delete(handle)) refresh();
}
