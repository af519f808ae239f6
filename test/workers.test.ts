// One store across worker_threads: with the native addon, EventStore.shared
// is the same process-wide store in every thread.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager, implementation } from '../src/index.js';

const entry = new URL('../dist/index.mjs', import.meta.url).href;
const workerFile = fileURLToPath(new URL('./helpers/shared-worker.mjs', import.meta.url));

function runWorker(name: string, agent: string, count: number): Promise<{ implementation: string; recorded: number }> {
  return new Promise((resolve, reject) => {
    // Resolve when the thread has exited: a worker's last records reach the
    // addon at the end of its event-loop turn, at the latest when it exits.
    const worker = new Worker(workerFile, { workerData: { entry, name, agent, count } });
    let result: { implementation: string; recorded: number } | undefined;
    worker.once('message', (m: { implementation: string; recorded: number }) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  });
}

describe('EventStore.shared across worker threads', () => {
  it('native: two workers give the main thread exact totals; fallback: says it needs the addon', async () => {
    if (implementation === 'js') {
      expect(() => EventStore.shared('x')).toThrow(/native addon/);
      return;
    }
    const name = `workers-${process.pid}`;
    const main = EventStore.shared(name, 100_000);
    const results = await Promise.all([runWorker(name, 'w1', 20_000), runWorker(name, 'w2', 30_000)]);
    expect(results.map((r) => r.implementation)).toEqual(['native', 'native']);
    const stats = main.stats();
    expect(stats.totalRequests).toBe(50_000);
    expect(stats.byAgent.w1?.requestCount).toBe(20_000);
    expect(stats.byAgent.w2?.requestCount).toBe(30_000);
    // 150 in / 50 out: gpt-4 costs 7,500 µ$, claude-3-opus 6,000 µ$; 25,000 of each.
    expect(stats.totalCostMicros).toBe(25_000 * 7_500 + 25_000 * 6_000);
    expect(main.unsyncedCount()).toBe(50_000);
    expect(main.accounting()).toMatchObject({ recorded: 50_000, buffered: 50_000, dropped: 0 });
    // The same name is the same store; another name is another.
    expect(EventStore.shared(name).len()).toBe(50_000);
    expect(EventStore.shared(`${name}-other`).len()).toBe(0);
    main.recordLlmCompleted(new PricingManager(), 'gpt-4', 1, 1);
    expect(EventStore.shared(name).stats().totalRequests).toBe(50_001);
  });
});
