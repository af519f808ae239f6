// A worker_threads worker of the `workers` case: records `count` events into
// the process-wide store `name` as fast as it can, through the built package.
// Protocol with the child: → 'ready' (warmed up), ← 'go', → 'done'.
// With `control`, a private store per worker instead (the machine's ceiling).
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { AGENTS, ARGS_MASK, DIST_URL, INPUT_TOKENS, MODELS, OUTPUT_TOKENS, PROVIDER_ID } from './common.mjs';

const { EventStore, PricingManager, implementation } = await import(DIST_URL);
if (implementation !== 'native') throw new Error(`worker loaded ${implementation}, expected native`);
const pricing = new PricingManager();
const { name, capacity, count, worker } = workerData;

function recordInto(store, n, agentOffset) {
  for (let i = 0; i < n; i++) {
    const j = i & ARGS_MASK;
    store.recordLlmCompleted(pricing, MODELS[i & 3], INPUT_TOKENS[j], OUTPUT_TOKENS[j], AGENTS[(i + agentOffset) % 3], PROVIDER_ID);
  }
  store.flush(); // hand the last partial batch to the addon before reporting
}

// Warm-up on another store: JIT, the addon loaded in this thread.
recordInto(EventStore.shared(`${name}-warmup`, 100_000), 20_000, worker);

// The control run gives each worker a private store: nothing shared between threads.
const store = workerData.control ? EventStore.withCapacity(capacity) : EventStore.shared(name, capacity);
parentPort.once('message', () => {
  const t0 = performance.now();
  recordInto(store, count, worker);
  const ms = performance.now() - t0;
  // A private store is only visible here: report its total for the check.
  parentPort.postMessage({ type: 'done', ms, totalRequests: workerData.control ? store.stats().totalRequests : null });
});
parentPort.postMessage({ type: 'ready' });
