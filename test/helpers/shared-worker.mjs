// A worker_threads worker: records into the process-wide store named in
// workerData, through the built package, and reports how many it recorded.
import { parentPort, workerData } from 'node:worker_threads';

const { EventStore, PricingManager, implementation } = await import(workerData.entry);
const store = EventStore.shared(workerData.name, 100_000);
const pricing = new PricingManager();
for (let i = 0; i < workerData.count; i++) {
  store.recordLlmCompleted(pricing, i % 2 ? 'gpt-4' : 'claude-3-opus-20240229', 150, 50, workerData.agent, null);
}
parentPort.postMessage({ implementation, recorded: workerData.count });
