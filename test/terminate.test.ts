// Records accepted in a worker reach the store even when the worker never
// runs another line of JS: terminated while blocked, or ending with
// process.exit(). The native batch lives in memory the addon owns, and the
// addon records it when the thread's environment is torn down.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventStore, implementation } from '../src/index.js';

const entry = new URL('../dist/index.mjs', import.meta.url).href;
const workerFile = fileURLToPath(new URL('./helpers/terminate-worker.mjs', import.meta.url));

/** Runs a worker that records `count` records, then ends as `then` says. */
function run(name: string, agent: string, count: number, then: 'terminate' | 'exit'): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: { entry, name, agent, count, then } });
    worker.once('error', reject);
    worker.once('message', () => {
      if (then === 'terminate') void worker.terminate();
    });
    worker.once('exit', () => resolve());
  });
}

describe('worker threads that end without flushing', () => {
  it('native: terminate() and process.exit() lose no accepted record; fallback: shared stores need the addon', async () => {
    if (implementation === 'js') {
      expect(() => EventStore.shared('x')).toThrow(/native addon/);
      return;
    }
    for (let round = 0; round < 3; round++) {
      const name = `terminate-${process.pid}-${round}`;
      const main = EventStore.shared(name, 100_000);
      // 200 < one batch: nothing was handed over before the end; 1,000: some were.
      const counts = [200, 255, 1_000, 37];
      await Promise.all([
        run(name, 'w0', counts[0]!, 'terminate'),
        run(name, 'w1', counts[1]!, 'terminate'),
        run(name, 'w2', counts[2]!, 'terminate'),
        run(name, 'w3', counts[3]!, 'exit'),
      ]);
      const stats = main.stats();
      const total = counts.reduce((a, b) => a + b, 0);
      expect(stats.totalRequests, `round ${round}`).toBe(total);
      counts.forEach((n, i) => expect(stats.byAgent[`w${i}`]?.requestCount).toBe(n));
      const failed = counts.reduce((a, n) => a + Math.ceil(n / 3), 0);
      expect(stats.failedRequests).toBe(failed);
      expect(stats.totalCacheReadTokens).toBe((total - failed) * 4);
      expect(main.accounting()).toMatchObject({ recorded: total, buffered: total, lost: 0 });
    }
  });
});
