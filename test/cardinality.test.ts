// Bounded memory whatever names callers send: 300,000 distinct model and
// agent names (attacker-controlled strings from a request body) into a store
// of 10,000 events keep every stats breakdown at the cardinality limit plus
// one overflow row, keep /metrics bounded, keep each event's own names, and
// grow memory by what the outbox holds, not by the names seen.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager, implementation, type EventStoreOptions } from '../src/index.js';

const entry = new URL('../dist/index.mjs', import.meta.url).href;
const child = fileURLToPath(new URL('./helpers/cardinality-child.mjs', import.meta.url));
const COUNT = 300_000;

describe('hostile cardinality', () => {
  it(`${COUNT.toLocaleString('en')} distinct names: bounded rows, metrics and memory`, () => {
    const result = spawnSync(process.execPath, ['--expose-gc', child], {
      env: { ...process.env, ENTRY: entry, COUNT: String(COUNT) },
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    expect(result.status, result.stderr).toBe(0);
    const r = JSON.parse(result.stdout) as Record<string, number | string | boolean | Record<string, number>>;
    expect(r.implementation).toBe(implementation);
    expect(r.totalRequests).toBe(COUNT + 1);
    // The default limit (2,000) of names, and the overflow row.
    expect(r.modelRows).toBe(2_001);
    expect(r.agentRows).toBe(2_001);
    expect(r.overflow).toBe(COUNT + 1 - 2_000);
    expect(r.overflowMarked).toBe(true);
    // 2,001 GenAI series (the limit and the overflow series), each two token
    // histograms of 17 lines and 3 counters, ~10 kB with these 50-character
    // names: bounded by the limit, not by the names seen.
    expect(r.metricsBytes as number).toBeLessThan(2_001 * 12_000);
    expect(r.lastModel).toBe(`model-9998-${'x'.repeat(40)}`); // the outbox kept the first 10,000 events
    expect(r.accounting).toMatchObject({ recorded: COUNT + 1, buffered: 0, drained: 10_000, dropped: COUNT + 1 - 10_000, lost: 0 });
    // Unbounded tables took ~0.7 GB per million names (~210 MB here); the
    // outbox of 10,000 events and the tables of 2,000 names take a few MB
    // of heap (~8 MB measured, whatever the count). RSS also moves with the
    // allocators' reservations (38-72 MB measured here, not growing with the
    // count), so its bound only catches unbounded growth.
    expect(r.heapGrowthMb as number).toBeLessThan(32);
    expect(r.growthMb as number).toBeLessThan(128);
    expect(r.drainedHeapGrowthMb as number).toBeLessThan(16);
  });

  it('the options object is checked: anything but { capacity, cardinalityLimit } is a TypeError', () => {
    for (const bad of [5, '5', null, [], { capacty: 5 }, { capacity: 5, extra: 1 }]) {
      expect(() => new EventStore(bad as EventStoreOptions), String(bad)).toThrow(TypeError);
    }
    expect(() => new EventStore(5 as unknown as EventStoreOptions)).toThrow(/pass \{ capacity: 5 \}/);
    for (const bad of [{ capacity: 0 }, { cardinalityLimit: 0 }, { cardinalityLimit: 1.5 }, { cardinalityLimit: 1_000_001 }]) {
      expect(() => new EventStore(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    const store = new EventStore({ capacity: 3, cardinalityLimit: 1 });
    store.recordLlmFailed('a');
    store.recordLlmFailed('b');
    for (let i = 0; i < 5; i++) store.recordLlmFailed('c');
    expect(store.len()).toBe(3);
    expect(Object.keys(store.stats().byModel).sort()).toEqual(['__overflow__', 'a']);
  });

  it('names longer than 256 characters are a RangeError before anything is counted', () => {
    const store = new EventStore();
    const long = 'é'.repeat(257);
    const ok = '😀'.repeat(256); // 256 characters, 512 UTF-16 units
    store.recordLlmFailed(ok, ok, ok, ok);
    for (const call of [
      () => store.recordLlmFailed(long),
      () => store.recordLlmFailed('gpt-4o', long),
      () => store.recordLlmFailed('gpt-4o', null, long),
      () => store.recordLlmFailed('gpt-4o', null, null, long),
      () => store.recordLlmCompletedWithProvider(new PricingManager(), 'gpt-4o', long, 1, 1),
      () => store.recordLlmCompleted(new PricingManager(), 'gpt-4o', 1, 1, long),
    ]) {
      expect(call).toThrow(RangeError);
      expect(call).toThrow(/at most 256 characters/);
    }
    expect(store.stats().totalRequests).toBe(1);
  });
});
