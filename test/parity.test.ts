// Parity: the native addon and the pure-JS fallback, fed the same sequence,
// give the same stats (every field) and the same events (every field but the
// id and the timestamp), the same accounting and the same errors.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { withOptIn } from './helpers/opt-in.js';
import fc from 'fast-check';
import type { Backend, EventStoreApi, PricingManagerApi } from '../src/shared/api.js';
import { jsBackend } from '../src/js/index.js';
import { findNative } from '../src/native/loader.js';
import { createNativeApi } from '../src/native/index.js';

const loaded = findNative();
if (!loaded.binding) throw loaded.error; // parity needs the addon: `npm run build:native`

type Api = Backend;
// Both implementations as the contract types them: no cast between them.
const apis: Record<'native' | 'js', Api> = {
  native: createNativeApi(loaded.binding),
  js: jsBackend,
};

const MODELS = ['gpt-4', 'gpt-4o-mini', 'claude-3-opus-20240229', 'gemini-2.0-flash', 'grok-3', 'my-finetune', 'o3-mini', 'openai/gpt-4o'];
const OPERATIONS = [null, 'chat', 'text_completion', 'embeddings', 'my_op', 'other_op'];
const AGENTS = [null, 'agent_a', 'agent_b'];

type Step =
  | { op: 'completed'; model: number; input: number; output: number; agent: number; providerId: boolean; series: Series }
  | { op: 'usage'; model: number; input: number; output: number; cacheRead: number; cacheWrite: number; cacheWrite1h: number; reasoning: number; error: boolean }
  | { op: 'withProvider'; model: number; provider: string; input: number; output: number }
  | { op: 'failed'; model: number; agent: number; code: string | null; message: string | null; series: Series }
  | { op: 'budget'; percent: number }
  | { op: 'started'; port: number }
  | { op: 'stopped' }
  | { op: 'raw'; model: number; cost: number }
  | { op: 'sync'; picks: number[] }
  | { op: 'reject'; picks: number[] }
  | { op: 'drain' };

/** The series names and latencies a record may give. */
interface Series {
  requestModel: number | null;
  operation: number;
  durationMs: number | null;
  ttftMs: number | null;
}
const series: fc.Arbitrary<Series> = fc.record({
  requestModel: fc.option(fc.nat(MODELS.length - 1)),
  operation: fc.nat(OPERATIONS.length - 1),
  durationMs: fc.option(fc.oneof(fc.nat(200_000), fc.double({ min: 0, max: 100_000, noNaN: true }))),
  ttftMs: fc.option(fc.nat(20_000)),
});
const details = (s: Series) => ({
  requestModel: s.requestModel === null ? null : MODELS[s.requestModel]!,
  operation: OPERATIONS[s.operation],
  durationMs: s.durationMs,
  ttftMs: s.ttftMs,
});

const usage = fc
  .record({ input: fc.nat(2_000_000), output: fc.nat(500_000), a: fc.double({ min: 0, max: 1, noNaN: true }), b: fc.double({ min: 0, max: 1, noNaN: true }), c: fc.double({ min: 0, max: 1, noNaN: true }), r: fc.double({ min: 0, max: 1, noNaN: true }), model: fc.nat(MODELS.length - 1), error: fc.boolean() })
  .map(({ input, output, a, b, c, r, model, error }) => {
    const cacheRead = Math.floor(input * a);
    const cacheWrite = Math.floor((input - cacheRead) * b);
    const cacheWrite1h = Math.floor((input - cacheRead - cacheWrite) * c);
    return { op: 'usage' as const, model, input, output, cacheRead, cacheWrite, cacheWrite1h, reasoning: Math.floor(output * r), error };
  });

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: usage },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('completed' as const), model: fc.nat(MODELS.length - 1), input: fc.nat(2_000_000), output: fc.nat(500_000), agent: fc.nat(2), providerId: fc.boolean(), series }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('withProvider' as const), model: fc.nat(MODELS.length - 1), provider: fc.constantFrom('openai', 'azure', 'anthropic'), input: fc.nat(1000), output: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('failed' as const), model: fc.nat(MODELS.length - 1), agent: fc.nat(2), code: fc.constantFrom(null, 'rate_limit', 'timeout', 'overloaded', 'e"\\x'), message: fc.constantFrom(null, 'boom', 'héllo 世界', '🚀 quota exceeded', ''), series }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('budget' as const), percent: fc.nat(150) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('started' as const), port: fc.nat(65535) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stopped' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('raw' as const), model: fc.nat(MODELS.length - 1), cost: fc.nat(1_000_000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sync' as const), picks: fc.array(fc.nat(50), { maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reject' as const), picks: fc.array(fc.nat(50), { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drain' as const) }) },
);

// Ids and timestamps differ by construction; everything else must not.
function strip<T extends { eventId: string; timestampMs: number }>(events: T[]) {
  return events.map(({ eventId: _id, timestampMs: _ts, ...rest }) => rest);
}

function apply(api: Api, store: EventStoreApi, pricing: PricingManagerApi, s: Step) {
  const model = 'model' in s ? MODELS[s.model]! : '';
  switch (s.op) {
    case 'usage':
      return store.recordUsage(pricing, {
        model,
        inputTokens: s.input,
        outputTokens: s.output,
        cacheReadTokens: s.cacheRead,
        cacheWriteTokens: s.cacheWrite,
        cacheWrite1hTokens: s.cacheWrite1h,
        reasoningTokens: s.reasoning,
        error: s.error ? { code: 'overloaded_error', message: 'Overloaded' } : null,
      }, { agentId: 'agent_b', durationMs: s.input % 5_000, requestModel: MODELS[(s.model + 1) % MODELS.length], operation: s.error ? 'embeddings' : null });
    case 'completed':
      return store.recordLlmCompleted(pricing, model, s.input, s.output, AGENTS[s.agent], s.providerId ? 'ip_openai-001' : null, details(s.series));
    case 'withProvider':
      return store.recordLlmCompletedWithProvider(pricing, model, s.provider, s.input, s.output);
    case 'failed':
      return store.recordLlmFailed(model, AGENTS[s.agent], null, s.code, s.message, details(s.series));
    case 'budget':
      return store.recordBudgetThreshold(s.percent, 8_000, 10_000, 'agent_a');
    case 'started':
      return store.recordRouterStarted(s.port);
    case 'stopped':
      return store.recordRouterStopped();
    case 'raw':
      return store.record({ eventType: 'llm_request_completed', provider: 'openai', model, providerId: null, inputTokens: 1, outputTokens: 2, costMicros: s.cost, agentId: 'agent_b' });
    case 'sync':
    case 'reject': {
      const unsynced = store.unsyncedEvents();
      const ids = unsynced.length ? s.picks.map((p) => unsynced[p % unsynced.length]!.eventId) : [];
      return s.op === 'sync' ? store.markSynced(ids) : store.markRejected(ids);
    }
    case 'drain':
      return strip(store.drainAll());
  }
  void api;
}

/** A collection's metrics without their times (the stores were made at different instants). */
function withoutTimes(result: Awaited<ReturnType<ReturnType<EventStoreApi['metricProducer']>['collect']>>) {
  expect(result.errors).toEqual([]);
  return result.resourceMetrics.scopeMetrics.map((scope) => ({
    scope: scope.scope,
    metrics: scope.metrics.map((m) => ({
      ...m,
      dataPoints: (m.dataPoints as { startTime: unknown; endTime: unknown }[]).map(({ startTime: _s, endTime: _e, ...rest }) => rest),
    })),
  }));
}

beforeAll(() => {
  // Both warn once per unpriced model ('my-finetune'): expected here, not news.
  const warn = console.warn;
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (!String(args[0]).includes('no price for model')) warn(...args);
  });
});

describe('native and fallback agree', () => {
  it('on every stats field, event field, count and metric, for any sequence', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 8 }), fc.array(step, { maxLength: 80 }), async (capacity, cardinalityLimit, steps) => {
        const stores = {
          native: { store: new apis.native.EventStore({ capacity, cardinalityLimit }), pricing: new apis.native.PricingManager() },
          js: { store: new apis.js.EventStore({ capacity, cardinalityLimit }), pricing: new apis.js.PricingManager() },
        };
        for (const s of steps) {
          const a = apply(apis.native, stores.native.store, stores.native.pricing, s);
          const b = apply(apis.js, stores.js.store, stores.js.pricing, s);
          expect(a).toEqual(b);
          expect(stores.native.store.accounting()).toEqual(stores.js.store.accounting());
        }
        expect(stores.native.store.stats()).toEqual(stores.js.store.stats());
        expect(strip(stores.native.store.snapshotEvents())).toEqual(strip(stores.js.store.snapshotEvents()));
        expect(strip(stores.native.store.unsyncedEvents())).toEqual(strip(stores.js.store.unsyncedEvents()));
        expect(stores.native.store.len()).toBe(stores.js.store.len());
        expect(stores.native.store.unsyncedCount()).toBe(stores.js.store.unsyncedCount());
        // The same exposition byte for byte (the core renders the native one), on both conventions.
        for (const optIn of [undefined, 'gen_ai_latest_experimental']) {
          withOptIn(optIn, () => expect(stores.native.store.prometheus()).toBe(stores.js.store.prometheus()));
        }
        const [a, b] = await Promise.all([stores.native.store.metricProducer().collect(), stores.js.store.metricProducer().collect()]);
        expect(withoutTimes(a)).toEqual(withoutTimes(b));
      }),
      { numRuns: 150 },
    );
  });

  it('on pricing', () => {
    const n = new apis.native.PricingManager();
    const j = new apis.js.PricingManager();
    expect(n.size).toBe(j.size);
    expect(n.checkedOn).toBe(j.checkedOn);
    for (const model of [...MODELS, 'openai/gpt-4', 'GPT-4O', 'nope']) {
      expect(n.get(model)).toEqual(j.get(model));
      for (const [i, o] of [[0, 0], [150, 50], [1, 1], [123_456_789, 98_765_432], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]]) {
        expect(n.costMicros(model, i!, o!)).toBe(j.costMicros(model, i!, o!));
      }
    }
  });

  it('on bad input: the same error class and message', () => {
    const bad: [string, (api: Api) => unknown][] = [
      ['negative tokens', (api) => new api.EventStore().recordLlmCompleted(new api.PricingManager(), 'gpt-4', -1, 1)],
      ['fractional tokens', (api) => new api.EventStore().recordLlmCompleted(new api.PricingManager(), 'gpt-4', 1.5, 1)],
      ['NaN tokens', (api) => new api.EventStore().recordLlmCompleted(new api.PricingManager(), 'gpt-4', Number.NaN, 1)],
      ['unsafe tokens', (api) => new api.EventStore().recordLlmCompleted(new api.PricingManager(), 'gpt-4', 2 ** 53, 1)],
      ['string tokens', (api) => new api.EventStore().recordLlmCompleted(new api.PricingManager(), 'gpt-4', '1' as unknown as number, 1)],
      ['empty model', (api) => new api.EventStore().recordLlmFailed('')],
      ['non-string model', (api) => new api.EventStore().recordLlmFailed(42 as unknown as string)],
      ['zero capacity', (api) => api.EventStore.withCapacity(0)],
      ['negative capacity', (api) => api.EventStore.withCapacity(-5)],
      ['foreign pricing', (api) => new api.EventStore().recordLlmCompleted({} as never, 'gpt-4', 1, 1)],
    ];
    for (const [what, call] of bad) {
      let native: unknown;
      let js: unknown;
      try { call(apis.native); } catch (e) { native = e; }
      try { call(apis.js); } catch (e) { js = e; }
      expect(native, what).toBeInstanceOf(Error);
      expect((native as Error).constructor, what).toBe((js as Error).constructor);
      expect((native as Error).message, what).toBe((js as Error).message);
    }
  });
});
