// A worker_threads worker that records into the process-wide store named in
// workerData, then either blocks (so that no timer can hand its last records
// to the addon: the main thread terminates it) or calls process.exit().
import { parentPort, workerData } from 'node:worker_threads';

const { EventStore, PricingManager } = await import(workerData.entry);
const store = EventStore.shared(workerData.name, 100_000);
const pricing = new PricingManager();
for (let i = 0; i < workerData.count; i++) {
  if (i % 3 === 0) store.recordLlmFailed('gpt-4o', workerData.agent, null, 'upstream', `cut ${i} \uD83D`);
  else store.recordLlmCompleted(pricing, 'gpt-4o', 10, 1, workerData.agent, null, { cacheReadTokens: 4 });
}
parentPort.postMessage('recorded');
if (workerData.then === 'exit') process.exit(0);
// Block the thread for good: only worker.terminate() ends it.
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
