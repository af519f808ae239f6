import { describe, expect, it } from 'vitest';
import {
  EventStore,
  PricingManager,
  Provider,
  implementation,
  type Accounting,
  type AnalyticsEvent,
  type ComputedStats,
  type LatencyHistogram,
  type ModelStats,
} from '../src/index.js';

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const pricing = new PricingManager();

/** Cost computed independently of the library: exact integers via BigInt. */
function expectedCost(model: string, inputTokens: number, outputTokens: number): number {
  const price = pricing.get(model);
  if (price === null) return 0;
  const total =
    BigInt(inputTokens) * BigInt(price.inputMicrosPerMillionTokens) +
    BigInt(outputTokens) * BigInt(price.outputMicrosPerMillionTokens);
  return Number(total / 1_000_000n);
}

function expectIdentity(store: EventStore): void {
  const a = store.accounting();
  expect(a.recorded).toBe(a.buffered + a.drained + a.synced + a.rejected + a.dropped + a.evicted);
  expect(a.buffered).toBe(store.len());
  expect(store.isEmpty()).toBe(a.buffered === 0);
  expect(store.droppedCount()).toBe(a.dropped);
  expect(store.evictedCount()).toBe(a.evicted);
  const unsynced = store.unsyncedEvents();
  expect(store.unsyncedCount()).toBe(unsynced.length);
  expect(unsynced.every((e) => e.eventType.startsWith('llm_request_'))).toBe(true);
}

function ids(events: AnalyticsEvent[]): string[] {
  return events.map((e) => e.eventId);
}

function types(events: AnalyticsEvent[]): string[] {
  return events.map((e) => e.eventType);
}

/**
 * Runs one record call that must buffer its event, and returns the event's
 * id: record methods return nothing, the new event is the newest buffered.
 */
function idOf(store: EventStore, record: () => unknown): string {
  const before = new Set(ids(store.snapshotEvents()));
  const recorded = store.accounting().recorded;
  expect(record()).toBeUndefined();
  expect(store.accounting().recorded).toBe(recorded + 1);
  const newest = store.snapshotEvents().at(-1);
  expect(newest, 'the record call buffered no event').toBeDefined();
  expect(before.has(newest!.eventId), 'the record call buffered no new event').toBe(false);
  expect(newest!.eventId).toMatch(UUID_V8);
  return newest!.eventId;
}

/**
 * Runs one record call that the full buffer must not keep: the buffered
 * events are unchanged, and `counter` (`dropped` for an LLM event, `evicted`
 * for a local one) and `recorded` have grown by one, nothing else.
 */
function notBuffered(store: EventStore, counter: 'dropped' | 'evicted', record: () => unknown): void {
  const snapshot = store.snapshotEvents();
  const before = store.accounting();
  expect(record()).toBeUndefined();
  const expected: Accounting = { ...before, recorded: before.recorded + 1 };
  expected[counter] += 1;
  expect(store.accounting()).toEqual(expected);
  expect(store.snapshotEvents()).toEqual(snapshot);
}

function tally(partial: Partial<ModelStats>): ModelStats {
  const s = {
    requestCount: 0, failedCount: 0, inputTokens: 0, outputTokens: 0, costMicros: 0,
    cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, unpricedRequests: 0, ...partial,
  };
  return { ...s, costUsd: s.costMicros / 1e6 };
}

describe('a new store', () => {
  it('is empty, with neutral statistics', () => {
    const store = new EventStore();
    expect(store.len()).toBe(0);
    expect(store.isEmpty()).toBe(true);
    expect(store.unsyncedCount()).toBe(0);
    expect(store.droppedCount()).toBe(0);
    expect(store.snapshotEvents()).toEqual([]);
    expect(store.unsyncedEvents()).toEqual([]);
    expect(store.accounting()).toEqual({
      recorded: 0, buffered: 0, drained: 0, synced: 0, rejected: 0, dropped: 0, evicted: 0, replayed: 0, lost: 0, lostReason: null,
    });
    const expected: ComputedStats = {
      totalRequests: 0, failedRequests: 0, totalInputTokens: 0, totalOutputTokens: 0,
      totalTokens: 0, totalCostMicros: 0, totalCostUsd: 0, successRate: 1,
      totalCacheReadTokens: 0, totalCacheWriteTokens: 0, totalReasoningTokens: 0, unpricedRequests: 0,
      saturated: false,
      avgCostPerRequestUsd: 0, avgTokensPerRequest: 0, byModel: {}, byProvider: {}, byAgent: {},
      latencyByModel: {},
    };
    expect(store.stats()).toEqual(expected);
  });

  it('holds 10,000 events by default', () => {
    const store = new EventStore();
    for (let i = 0; i < 10_000; i++) store.recordLlmFailed('gpt-4');
    expect(store.len()).toBe(10_000);
    expect(store.accounting()).toEqual({
      recorded: 10_000, buffered: 10_000, drained: 0, synced: 0, rejected: 0, dropped: 0, evicted: 0, replayed: 0, lost: 0, lostReason: null,
    });
    notBuffered(store, 'dropped', () => store.recordLlmFailed('gpt-4'));
    expect(store.droppedCount()).toBe(1);
    expect(store.stats().totalRequests).toBe(10_001);
    expectIdentity(store);
  });
});

describe('recording', () => {
  it('records a completed request with inferred provider and computed cost', () => {
    const store = new EventStore();
    const before = Date.now();
    expect(store.recordLlmCompleted(pricing, 'gpt-4', 150, 50)).toBeUndefined();
    const after = Date.now();
    const events = store.snapshotEvents();
    expect(events).toHaveLength(1);
    const event = events[0]!;
    const id = event.eventId;
    expect(id).toMatch(UUID_V8);
    // Stable: the same id on every read.
    expect(store.snapshotEvents()[0]!.eventId).toBe(id);
    expect(store.unsyncedEvents()[0]!.eventId).toBe(id);
    expect(event.timestampMs).toBeGreaterThanOrEqual(before);
    expect(event.timestampMs).toBeLessThanOrEqual(after);
    expect(event).toEqual({
      eventId: id,
      timestampMs: event.timestampMs,
      eventType: 'llm_request_completed',
      agentId: null,
      provider: 'openai',
      model: 'gpt-4',
      providerId: null,
      inputTokens: 150,
      outputTokens: 50,
      costMicros: 7500,
    });
    expect(expectedCost('gpt-4', 150, 50)).toBe(7500);
    expectIdentity(store);
  });

  it('attributes agent and provider key, and prices claude-3-opus', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 200, 100, 'agent_123', 'ip_anthropic-001');
    expect(store.snapshotEvents()).toEqual([
      expect.objectContaining({
        eventId: expect.stringMatching(UUID_V8),
        eventType: 'llm_request_completed',
        agentId: 'agent_123',
        provider: 'anthropic',
        model: 'claude-3-opus-20240229',
        providerId: 'ip_anthropic-001',
        inputTokens: 200,
        outputTokens: 100,
        costMicros: 10500,
      }),
    ]);
    const stats = store.stats();
    const one = tally({ requestCount: 1, inputTokens: 200, outputTokens: 100, costMicros: 10500 });
    expect(stats.byModel).toEqual({ 'claude-3-opus-20240229': one });
    expect(stats.byProvider).toEqual({ anthropic: one });
    expect(stats.byAgent).toEqual({ agent_123: one });
  });

  it('records with an explicit provider; an unknown model costs 0', () => {
    const store = new EventStore();
    store.recordLlmCompletedWithProvider(pricing, 'my-finetune', Provider.OpenAI, 10, 5, null, null);
    store.recordLlmCompletedWithProvider(pricing, 'gpt-4', 'my-gateway', 150, 50);
    const [a, b] = store.snapshotEvents();
    expect(a).toMatchObject({ model: 'my-finetune', provider: 'openai', costMicros: 0, inputTokens: 10, outputTokens: 5 });
    expect(b).toMatchObject({ model: 'gpt-4', provider: 'my-gateway', costMicros: 7500 });
    const stats = store.stats();
    expect(stats.byProvider).toEqual({
      openai: tally({ requestCount: 1, inputTokens: 10, outputTokens: 5, unpricedRequests: 1 }),
      'my-gateway': tally({ requestCount: 1, inputTokens: 150, outputTokens: 50, costMicros: 7500 }),
    });
    expect(stats.totalCostMicros).toBe(7500);
  });

  it('records an unknown model at cost 0 under provider unknown', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'llama-3.1-70b', 1000, 1000);
    expect(store.snapshotEvents()[0]).toMatchObject({ provider: 'unknown', costMicros: 0 });
    expect(store.stats().byProvider).toEqual({
      unknown: tally({ requestCount: 1, inputTokens: 1000, outputTokens: 1000, unpricedRequests: 1 }),
    });
    expect(store.stats().unpricedRequests).toBe(1);
  });

  it('records failed requests with their error fields', () => {
    const store = new EventStore();
    store.recordLlmFailed('gpt-4', null, null, 'rate_limit', null);
    store.recordLlmFailed('claude-3-haiku-20240307', 'agent_1', 'ip_1', undefined, 'boom');
    const [a, b] = store.snapshotEvents();
    expect(a!.eventId).not.toBe(b!.eventId);
    expect(a).toEqual({
      eventId: expect.stringMatching(UUID_V8), timestampMs: a!.timestampMs, eventType: 'llm_request_failed', agentId: null,
      provider: 'openai', model: 'gpt-4', providerId: null, errorCode: 'rate_limit', errorMessage: null,
    });
    expect(b).toMatchObject({
      agentId: 'agent_1', provider: 'anthropic', providerId: 'ip_1', errorCode: null, errorMessage: 'boom',
    });
    const stats = store.stats();
    expect(stats.totalRequests).toBe(2);
    expect(stats.failedRequests).toBe(2);
    expect(stats.successRate).toBe(0);
    expect(stats.byModel['gpt-4']).toEqual(tally({ requestCount: 1, failedCount: 1 }));
    expect(stats.byAgent).toEqual({ agent_1: tally({ requestCount: 1, failedCount: 1 }) });
  });

  it('records local events without touching the statistics', () => {
    const store = new EventStore();
    const empty = store.stats();
    const budget = idOf(store, () => store.recordBudgetThreshold(80, 8_000_000, 10_000_000, 'agent_123'));
    const started = idOf(store, () => store.recordRouterStarted(8080));
    expect(store.stats()).toEqual(empty);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50);
    store.recordLlmFailed('gpt-4');
    const stopped = idOf(store, () => store.recordRouterStopped());
    const events = store.snapshotEvents();
    expect(new Set(ids(events)).size).toBe(5);
    expect(types(events)).toEqual([
      'budget_threshold_reached', 'router_started', 'llm_request_completed', 'llm_request_failed', 'router_stopped',
    ]);
    expect(events[0]).toEqual({
      eventId: budget, timestampMs: events[0]!.timestampMs, eventType: 'budget_threshold_reached',
      agentId: 'agent_123', thresholdPercent: 80, currentSpendMicros: 8_000_000, budgetMicros: 10_000_000,
    });
    expect(events[1]).toEqual({
      eventId: started, timestampMs: events[1]!.timestampMs, eventType: 'router_started', agentId: null, port: 8080,
    });
    expect(events[4]).toEqual({
      eventId: stopped, timestampMs: events[4]!.timestampMs, eventType: 'router_stopped', agentId: null,
      totalRequests: 2, totalCostMicros: 7500,
    });
    expect(store.unsyncedCount()).toBe(2);
    expect(store.len()).toBe(5);
    expect(store.stats().byAgent).toEqual({});
    expectIdentity(store);
  });

  it('router_stopped carries totals that include dropped requests', () => {
    const store = EventStore.withCapacity(1);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50);
    notBuffered(store, 'dropped', () => store.recordLlmCompleted(pricing, 'gpt-4', 300, 100));
    store.drainAll();
    store.recordRouterStopped();
    expect(store.snapshotEvents()[0]).toMatchObject({ totalRequests: 2, totalCostMicros: 7500 + 15000 });
  });

  it('records pre-built events of every kind', () => {
    const store = new EventStore();
    const returned = [
      store.record({
        eventType: 'llm_request_completed', provider: 'openai', model: 'gpt-4', providerId: 'ip_openai-001',
        inputTokens: 150, outputTokens: 50, costMicros: 6000, agentId: null,
      }),
      store.record({ eventType: 'llm_request_failed', provider: 'google', model: 'gpt-4', agentId: 'a1' }),
      store.record({ eventType: 'budget_threshold_reached', thresholdPercent: 90, currentSpendMicros: 9, budgetMicros: 10 }),
      store.record({ eventType: 'router_started', port: 0 }),
      // The totals given, not the store's (2 requests, 6000 micro-dollars).
      store.record({ eventType: 'router_stopped', totalRequests: 7, totalCostMicros: 11 }),
    ];
    expect(returned).toEqual([undefined, undefined, undefined, undefined, undefined]);
    const events = store.snapshotEvents();
    expect(events).toHaveLength(5);
    for (const id of ids(events)) expect(id).toMatch(UUID_V8);
    expect(new Set(ids(events)).size).toBe(5);
    expect(events.map(({ eventId: _i, timestampMs: _t, ...rest }) => rest)).toEqual([
      { eventType: 'llm_request_completed', agentId: null, provider: 'openai', model: 'gpt-4', providerId: 'ip_openai-001', inputTokens: 150, outputTokens: 50, costMicros: 6000 },
      { eventType: 'llm_request_failed', agentId: 'a1', provider: 'google', model: 'gpt-4', providerId: null, errorCode: null, errorMessage: null },
      { eventType: 'budget_threshold_reached', agentId: null, thresholdPercent: 90, currentSpendMicros: 9, budgetMicros: 10 },
      { eventType: 'router_started', agentId: null, port: 0 },
      { eventType: 'router_stopped', agentId: null, totalRequests: 7, totalCostMicros: 11 },
    ]);
    const stats = store.stats();
    // The given cost is used as is (6000, not the table's 7500).
    expect(stats.totalCostMicros).toBe(6000);
    expect(stats.byProvider).toEqual({
      openai: tally({ requestCount: 1, inputTokens: 150, outputTokens: 50, costMicros: 6000 }),
      google: tally({ requestCount: 1, failedCount: 1 }),
    });
    expect(stats.byModel).toEqual({
      'gpt-4': tally({ requestCount: 2, failedCount: 1, inputTokens: 150, outputTokens: 50, costMicros: 6000 }),
    });
    expect(stats.byAgent).toEqual({ a1: tally({ requestCount: 1, failedCount: 1 }) });
  });

  it('keeps the latency out of the event (it goes to the stats only)', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, undefined);
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, {});
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 12.5, ttftMs: 0 });
    expect(store.len()).toBe(3);
    for (const e of store.snapshotEvents()) {
      expect(Object.keys(e).sort()).toEqual(
        ['agentId', 'costMicros', 'eventId', 'eventType', 'inputTokens', 'model', 'outputTokens', 'provider', 'providerId', 'timestampMs'],
      );
    }
  });

  it('every record method returns undefined, whether the event is buffered or not', () => {
    const store = EventStore.withCapacity(1);
    const calls: Array<[string, () => unknown]> = [
      ['recordLlmCompleted', () => store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, 'a', 'k', { durationMs: 1 })],
      ['recordLlmCompletedWithProvider', () => store.recordLlmCompletedWithProvider(pricing, 'gpt-4', 'openai', 1, 1)],
      ['recordLlmFailed', () => store.recordLlmFailed('gpt-4', 'a', 'k', 'c', 'm')],
      ['recordBudgetThreshold', () => store.recordBudgetThreshold(80, 8, 10, 'a')],
      ['recordRouterStarted', () => store.recordRouterStarted(8080)],
      ['recordRouterStopped', () => store.recordRouterStopped()],
      ['record', () => store.record({ eventType: 'router_started', port: 1 })],
    ];
    // Twice: first into a buffer with room, then into a full one.
    for (const round of [0, 1]) {
      store.drainAll();
      for (const [name, call] of calls) expect(call(), `${name} (round ${round})`).toBeUndefined();
    }
    expect(store.accounting()).toMatchObject({ recorded: 14, buffered: 1 });
  });

  it('normalises -0 to 0', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gpt-4', -0, -0);
    store.recordRouterStarted(-0);
    const [a, b] = store.snapshotEvents();
    expect(Object.is((a as { inputTokens: number }).inputTokens, 0)).toBe(true);
    expect(Object.is((a as { costMicros: number }).costMicros, 0)).toBe(true);
    expect(Object.is((b as { port: number }).port, 0)).toBe(true);
  });

  it('gives every event a distinct UUID', () => {
    const store = EventStore.withCapacity(5000);
    for (let i = 0; i < 5000; i++) {
      if (i % 2) store.recordLlmFailed('gpt-4');
      else store.recordRouterStarted(i % 65536);
    }
    const events = store.snapshotEvents();
    expect(events).toHaveLength(5000);
    const seen = new Set(ids(events));
    for (const id of seen) expect(id).toMatch(UUID_V8);
    expect(seen.size).toBe(5000);
    // Reads give the same ids again.
    expect(ids(store.snapshotEvents())).toEqual(ids(events));
    expect(ids(store.unsyncedEvents())).toEqual(ids(events.filter((e) => e.eventType === 'llm_request_failed')));
    const other = new EventStore();
    other.recordLlmFailed('gpt-4');
    expect(seen.has(other.snapshotEvents()[0]!.eventId)).toBe(false);
  });
});

describe('statistics', () => {
  it('aggregates totals, rates and averages from what was recorded', () => {
    const store = new EventStore();
    const calls: Array<[string, number, number, string | null]> = [
      ['gpt-4', 150, 50, 'a'],
      ['claude-3-opus-20240229', 200, 100, 'b'],
      ['gpt-4', 1000, 2000, 'a'],
      ['unknown-model', 7, 3, null],
    ];
    let input = 0;
    let output = 0;
    let cost = 0;
    for (const [model, i, o, agent] of calls) {
      store.recordLlmCompleted(pricing, model, i, o, agent);
      input += i;
      output += o;
      cost += expectedCost(model, i, o);
    }
    store.recordLlmFailed('gpt-4', 'b');
    const stats = store.stats();
    expect(cost).toBe(7500 + 10500 + 150000 + 0);
    expect(stats.totalRequests).toBe(5);
    expect(stats.failedRequests).toBe(1);
    expect(stats.totalInputTokens).toBe(input);
    expect(stats.totalOutputTokens).toBe(output);
    expect(stats.totalTokens).toBe(input + output);
    expect(stats.totalCostMicros).toBe(cost);
    expect(stats.totalCostUsd).toBe(cost / 1e6);
    expect(stats.successRate).toBe(4 / 5);
    expect(stats.avgCostPerRequestUsd).toBe(cost / 1e6 / 5);
    expect(stats.avgTokensPerRequest).toBe((input + output) / 5);
    expect(stats.byModel['gpt-4']).toEqual(
      tally({ requestCount: 3, failedCount: 1, inputTokens: 1150, outputTokens: 2050, costMicros: 157500 }),
    );
    expect(stats.byProvider).toEqual({
      openai: tally({ requestCount: 3, failedCount: 1, inputTokens: 1150, outputTokens: 2050, costMicros: 157500 }),
      anthropic: tally({ requestCount: 1, inputTokens: 200, outputTokens: 100, costMicros: 10500 }),
      unknown: tally({ requestCount: 1, inputTokens: 7, outputTokens: 3, unpricedRequests: 1 }),
    });
    expect(stats.byAgent).toEqual({
      a: tally({ requestCount: 2, inputTokens: 1150, outputTokens: 2050, costMicros: 157500 }),
      b: tally({ requestCount: 2, failedCount: 1, inputTokens: 200, outputTokens: 100, costMicros: 10500 }),
    });
  });

  it('keeps keys such as __proto__ as plain own keys', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, '__proto__', 1, 2, '__proto__');
    store.recordLlmCompletedWithProvider(pricing, 'constructor', '__proto__', 3, 4, 'toString');
    const stats = store.stats();
    expect(Object.getPrototypeOf(stats.byModel)).toBe(Object.prototype);
    expect(Object.keys(stats.byModel).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.hasOwn(stats.byModel, '__proto__')).toBe(true);
    expect(stats.byModel['__proto__']).toEqual(tally({ requestCount: 1, inputTokens: 1, outputTokens: 2, unpricedRequests: 1 }));
    expect(Object.keys(stats.byProvider).sort()).toEqual(['__proto__', 'unknown']);
    expect(Object.keys(stats.byAgent).sort()).toEqual(['__proto__', 'toString']);
    expect(stats.byAgent['toString']).toEqual(tally({ requestCount: 1, inputTokens: 3, outputTokens: 4, unpricedRequests: 1 }));
  });

  it('keeps every key exact across calls: many keys, non-ASCII, new ones in between', () => {
    const store = new EventStore();
    // Past the size where the native wrapper builds tables as dictionaries,
    // with names whose UTF-16 length differs from their UTF-8 length.
    const models = ['__proto__', 'modèle-é', '世界-🚀', ...Array.from({ length: 40 }, (_, i) => `m-${i}`)];
    models.forEach((model, i) => store.recordLlmCompleted(pricing, model, i + 1, 1, `agent-${i % 3}-ü`, null, { durationMs: 10 * (i + 1) }));
    const first = store.stats();
    expect(Object.keys(first.byModel).sort()).toEqual([...models].sort());
    expect(Object.hasOwn(first.byModel, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(first.byModel)).toBe(Object.prototype);
    models.forEach((model, i) => {
      expect(first.byModel[model]).toEqual(tally({ requestCount: 1, inputTokens: i + 1, outputTokens: 1, unpricedRequests: 1 }));
      expect(first.latencyByModel[model]?.duration.sumSeconds).toBeCloseTo(0.01 * (i + 1), 9);
    });
    expect(Object.keys(first.byAgent).sort()).toEqual(['agent-0-ü', 'agent-1-ü', 'agent-2-ü']);

    store.recordLlmFailed('gpt-4o', 'agent-🚀', null, 'timeout');
    store.recordLlmCompleted(pricing, '世界-🚀', 5, 5, 'agent-0-ü');
    const second = store.stats();
    expect(Object.keys(second.byModel).sort()).toEqual([...models, 'gpt-4o'].sort());
    expect(second.byModel['gpt-4o']).toEqual(tally({ requestCount: 1, failedCount: 1 }));
    expect(second.byModel['世界-🚀']).toEqual(tally({ requestCount: 2, inputTokens: 8, outputTokens: 6, unpricedRequests: 2 }));
    expect(second.byAgent['agent-🚀']).toEqual(tally({ requestCount: 1, failedCount: 1 }));
    expect(second.byAgent['agent-0-ü']?.requestCount).toBe(first.byAgent['agent-0-ü']!.requestCount + 1);
    expect(second.byProvider['openai']?.failedCount).toBe(1);
    // Events carry the same names (the native wrapper sends each name once for both).
    const events = store.snapshotEvents();
    expect(events.map((e) => ('model' in e ? e.model : null))).toEqual([...models, 'gpt-4o', '世界-🚀']);
    expect(events.at(-2)).toMatchObject({ eventType: 'llm_request_failed', agentId: 'agent-🚀', errorCode: 'timeout', errorMessage: null });
    expect(events.at(-1)).toMatchObject({ agentId: 'agent-0-ü', inputTokens: 5 });
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  });

  it('returns a fresh snapshot each time', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50);
    const stats = store.stats();
    stats.byModel['gpt-4']!.requestCount = 99;
    stats.totalRequests = 99;
    expect(store.stats().totalRequests).toBe(1);
    expect(store.stats().byModel['gpt-4']!.requestCount).toBe(1);
  });
});

describe('latency', () => {
  const NO_OBSERVATIONS: LatencyHistogram = {
    count: 0, sumSeconds: 0, bucketCounts: Array<number>(15).fill(0), p50: null, p95: null, p99: null,
  };
  /** Bucket counts with `n` observations at each index of `at`. */
  function counts(at: Record<number, number>): number[] {
    return Array.from({ length: 15 }, (_, i) => at[i] ?? 0);
  }

  it('buckets a value on a bound in that bound\'s bucket, after rounding to whole microseconds', () => {
    // [ms, bucket, micros]: bounds are 10 ms doubling to 81,920 ms, then +Inf (bucket 14).
    const cases: Array<[number, number, number]> = [
      [0, 0, 0],
      [10, 0, 10_000],
      [10.0004, 0, 10_000], // 10,000.4 µs rounds to 10,000: on the bound
      [10.001, 1, 10_001],
      [20, 1, 20_000],
      [20.001, 2, 20_001],
      [640, 6, 640_000],
      [81_920, 13, 81_920_000],
      [81_920.001, 14, 81_920_001],
      [1_000_000, 14, 1_000_000_000],
    ];
    const store = new EventStore();
    cases.forEach(([ms], i) => store.recordLlmCompleted(pricing, `model-${i}`, 1, 1, null, null, { durationMs: ms }));
    const latency = store.stats().latencyByModel;
    expect(Object.keys(latency).sort()).toEqual(cases.map((_, i) => `model-${i}`).sort());
    cases.forEach(([ms, bucket, micros], i) => {
      const l = latency[`model-${i}`]!;
      expect(l.duration.bucketCounts, `${ms} ms`).toEqual(counts({ [bucket]: 1 }));
      expect(l.duration.count).toBe(1);
      expect(l.duration.sumSeconds, `${ms} ms`).toBe(micros / 1e6);
      expect(l.ttft).toEqual(NO_OBSERVATIONS);
    });
  });

  it('sums and estimates p50/p95/p99 like Prometheus histogram_quantile', () => {
    const store = new EventStore();
    // 20 requests: 4 × 5 ms, 8 × 30 ms, 6 × 100 ms, 1 × 1 s, 1 × 3 s.
    const durations = [...Array<number>(4).fill(5), ...Array<number>(8).fill(30), ...Array<number>(6).fill(100), 1000, 3000];
    for (const ms of durations) store.recordLlmCompleted(pricing, 'gpt-4', 10, 10, null, null, { durationMs: ms });
    const h = store.stats().latencyByModel['gpt-4']!.duration;
    // Buckets: (0, 0.01] 4, (0.02, 0.04] 8, (0.08, 0.16] 6, (0.64, 1.28] 1, (2.56, 5.12] 1.
    expect(h.bucketCounts).toEqual(counts({ 0: 4, 2: 8, 4: 6, 7: 1, 9: 1 }));
    expect(h.count).toBe(20);
    expect(h.sumSeconds).toBeCloseTo(4.86, 12); // 20 + 240 + 600 + 1000 + 3000 ms
    // p50: rank 10, the 6th of 8 in (0.02, 0.04]: 0.02 + 0.02 × 6/8.
    expect(h.p50).toBeCloseTo(0.035, 12);
    // p95: rank 19, the 1st of 1 in (0.64, 1.28]: its upper bound.
    expect(h.p95).toBeCloseTo(1.28, 12);
    // p99: rank 19.8, 0.8 of the way through (2.56, 5.12]: 2.56 + 2.56 × 0.8.
    expect(h.p99).toBeCloseTo(4.608, 12);
    expect(store.stats().latencyByModel['gpt-4']!.ttft).toEqual(NO_OBSERVATIONS);
  });

  it('answers the +Inf bucket\'s lower bound (81.92 s) for quantiles that land in it', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 5 });
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 100_000 });
    const h = store.stats().latencyByModel['gpt-4']!.duration;
    expect(h.bucketCounts).toEqual(counts({ 0: 1, 14: 1 }));
    expect(h.p50).toBeCloseTo(0.01, 12); // rank 1: all of (0, 0.01]
    expect(h.p95).toBe(81.92);
    expect(h.p99).toBe(81.92);
    expect(h.sumSeconds).toBeCloseTo(100.005, 9);
  });

  it('lists a model recorded with only a time to first token', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 1, 1, null, null, { ttftMs: 250 });
    store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 1, 1, null, null, { durationMs: null, ttftMs: 30 });
    const latency = store.stats().latencyByModel;
    expect(Object.keys(latency)).toEqual(['claude-3-opus-20240229']);
    const l = latency['claude-3-opus-20240229']!;
    expect(l.duration).toEqual(NO_OBSERVATIONS);
    expect(l.ttft.bucketCounts).toEqual(counts({ 2: 1, 5: 1 }));
    expect(l.ttft.count).toBe(2);
    expect(l.ttft.sumSeconds).toBeCloseTo(0.28, 12);
    // rank 1: all of (0.02, 0.04]; ranks 1.9 and 1.98 in (0.16, 0.32].
    expect(l.ttft.p50).toBeCloseTo(0.04, 12);
    expect(l.ttft.p95).toBeCloseTo(0.16 + 0.16 * 0.9, 12);
    expect(l.ttft.p99).toBeCloseTo(0.16 + 0.16 * 0.98, 12);
  });

  it('is {} without latencies, and lists only the models recorded with one', () => {
    const store = EventStore.withCapacity(100);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, null, null, undefined);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, null, null, null);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, null, null, {});
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, null, null, { durationMs: null, ttftMs: null });
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, null, null, { durationMs: undefined });
    store.recordLlmCompletedWithProvider(pricing, 'gpt-4', 'openai', 1, 1);
    store.recordLlmFailed('gpt-4');
    store.record({ eventType: 'llm_request_completed', provider: 'openai', model: 'gpt-4', inputTokens: 1, outputTokens: 1, costMicros: 1 });
    store.recordRouterStarted(1);
    expect(store.stats().latencyByModel).toEqual({});
    expect(store.stats().totalRequests).toBe(9);

    store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 1, 1, null, null, { durationMs: 0 });
    const latency = store.stats().latencyByModel;
    expect(Object.keys(latency)).toEqual(['claude-3-opus-20240229']);
    expect(latency['claude-3-opus-20240229']!.duration).toMatchObject({ count: 1, sumSeconds: 0, bucketCounts: counts({ 0: 1 }) });
  });

  it('counts the latency of requests the full buffer drops', () => {
    const store = EventStore.withCapacity(1);
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 50, ttftMs: 15 });
    notBuffered(store, 'dropped', () =>
      store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 300, ttftMs: 15 }),
    );
    const l = store.stats().latencyByModel['gpt-4']!;
    expect(l.duration.bucketCounts).toEqual(counts({ 3: 1, 5: 1 }));
    expect(l.duration.sumSeconds).toBeCloseTo(0.35, 12);
    expect(l.ttft.bucketCounts).toEqual(counts({ 1: 2 }));
    expect(l.ttft.sumSeconds).toBeCloseTo(0.03, 12);
  });

  it('returns fresh histogram objects', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1, null, null, { durationMs: 5 });
    const first = store.stats().latencyByModel['gpt-4']!;
    first.duration.bucketCounts[0] = 99;
    first.duration.count = 99;
    expect(store.stats().latencyByModel['gpt-4']!.duration).toMatchObject({ count: 1, bucketCounts: counts({ 0: 1 }) });
  });
});

describe('the buffer', () => {
  it('drops LLM events when full, still counts them, and frees room on markSynced', () => {
    const store = EventStore.withCapacity(3);
    const kept = [1, 2, 3].map((n) => idOf(store, () => store.recordLlmCompleted(pricing, 'gpt-4', n, 0)));
    expectIdentity(store);
    notBuffered(store, 'dropped', () => store.recordLlmCompleted(pricing, 'gpt-4', 4, 0));
    notBuffered(store, 'dropped', () => store.recordLlmFailed('gpt-4'));
    expect(store.droppedCount()).toBe(2);
    expect(store.len()).toBe(3);
    expect(ids(store.snapshotEvents())).toEqual(kept);
    expectIdentity(store);
    // Dropped events are still in every stat.
    const stats = store.stats();
    expect(stats.totalRequests).toBe(5);
    expect(stats.failedRequests).toBe(1);
    expect(stats.totalInputTokens).toBe(1 + 2 + 3 + 4);
    expect(stats.totalCostMicros).toBe(expectedCost('gpt-4', 10, 0));
    expect(stats.byModel['gpt-4']!.requestCount).toBe(5);

    expect(store.markSynced([kept[1]!])).toBe(1);
    expect(store.len()).toBe(2);
    expectIdentity(store);
    const next = idOf(store, () => store.recordLlmCompleted(pricing, 'gpt-4', 5, 0));
    expect(ids(store.snapshotEvents())).toEqual([kept[0], kept[2], next]);
    expect(store.accounting()).toEqual({
      recorded: 6, buffered: 3, drained: 0, synced: 1, rejected: 0, dropped: 2, evicted: 0, replayed: 0, lost: 0, lostReason: null,
    });
    expectIdentity(store);
  });

  it('evicts the oldest local event to make room, never an LLM event', () => {
    const store = EventStore.withCapacity(4);
    const localA = idOf(store, () => store.recordRouterStarted(1));
    const llmX = idOf(store, () => store.recordLlmFailed('gpt-4'));
    const localB = idOf(store, () => store.recordBudgetThreshold(50, 1, 2));
    const localC = idOf(store, () => store.recordRouterStopped());
    expect(ids(store.snapshotEvents())).toEqual([localA, llmX, localB, localC]);

    const llmY = idOf(store, () => store.recordLlmFailed('gpt-4')); // evicts A
    expect(ids(store.snapshotEvents())).toEqual([llmX, localB, localC, llmY]);
    expect(store.evictedCount()).toBe(1);
    expectIdentity(store);

    const localD = idOf(store, () => store.recordRouterStarted(4)); // a local evicts the oldest local too: B
    expect(ids(store.snapshotEvents())).toEqual([llmX, localC, llmY, localD]);
    expect(store.evictedCount()).toBe(2);

    const llmZ = idOf(store, () => store.recordLlmFailed('gpt-4')); // evicts C
    const llmW = idOf(store, () => store.recordLlmFailed('gpt-4')); // evicts D
    expect(ids(store.snapshotEvents())).toEqual([llmX, llmY, llmZ, llmW]);
    expect(store.evictedCount()).toBe(4);
    expect(store.droppedCount()).toBe(0);
    expectIdentity(store);

    // Full of LLM events: a new LLM event is dropped, a new local event is recorded and evicted at once.
    notBuffered(store, 'dropped', () => store.recordLlmFailed('gpt-4'));
    notBuffered(store, 'evicted', () => store.recordRouterStarted(5));
    notBuffered(store, 'evicted', () => store.recordBudgetThreshold(1, 1, 1));
    notBuffered(store, 'evicted', () => store.recordRouterStopped());
    notBuffered(store, 'evicted', () => store.record({ eventType: 'router_stopped', totalRequests: 1, totalCostMicros: 1 }));
    expect(store.droppedCount()).toBe(1);
    expect(store.evictedCount()).toBe(8);
    expect(ids(store.snapshotEvents())).toEqual([llmX, llmY, llmZ, llmW]);
    expect(store.accounting()).toEqual({
      recorded: 13, buffered: 4, drained: 0, synced: 0, rejected: 0, dropped: 1, evicted: 8, replayed: 0, lost: 0, lostReason: null,
    });
    expectIdentity(store);
  });

  it('drainAll removes and returns everything, oldest first', () => {
    const store = EventStore.withCapacity(10);
    const recorded = [
      idOf(store, () => store.recordRouterStarted(8080)),
      idOf(store, () => store.recordLlmCompleted(pricing, 'gpt-4', 150, 50)),
      idOf(store, () => store.recordBudgetThreshold(80, 8, 10)),
      idOf(store, () => store.recordLlmFailed('claude-3-opus-20240229')),
    ];
    const before = store.snapshotEvents();
    const drained = store.drainAll();
    expect(drained).toEqual(before);
    expect(ids(drained)).toEqual(recorded);
    expect(store.len()).toBe(0);
    expect(store.isEmpty()).toBe(true);
    expect(store.unsyncedCount()).toBe(0);
    expect(store.drainAll()).toEqual([]);
    expect(store.accounting()).toMatchObject({ recorded: 4, buffered: 0, drained: 4 });
    expectIdentity(store);
    // Stats are totals, not the buffer.
    expect(store.stats().totalRequests).toBe(2);
    const after = idOf(store, () => store.recordLlmFailed('gpt-4'));
    expect(recorded).not.toContain(after);
    expect(ids(store.snapshotEvents())).toEqual([after]);
    expectIdentity(store);
  });

  it('snapshots are FIFO copies and do not remove anything', () => {
    const store = EventStore.withCapacity(100);
    const recorded: string[] = [];
    for (let i = 0; i < 30; i++) {
      recorded.push(
        idOf(store, () =>
          i % 3 === 0
            ? store.recordRouterStarted(i)
            : i % 3 === 1
              ? store.recordLlmCompleted(pricing, 'gpt-4', i, i)
              : store.recordLlmFailed('gpt-4', `agent_${i}`),
        ),
      );
    }
    expect(ids(store.snapshotEvents())).toEqual(recorded);
    expect(ids(store.snapshotEvents())).toEqual(recorded);
    // Remove every other LLM event; the rest keep their order.
    const llmIds = ids(store.unsyncedEvents());
    const removed = llmIds.filter((_, i) => i % 2 === 0);
    expect(store.markSynced(removed)).toBe(removed.length);
    expect(ids(store.snapshotEvents())).toEqual(recorded.filter((id) => !removed.includes(id)));

    const snapshot = store.snapshotEvents();
    const first = snapshot[0] as { port: number };
    first.port = 1;
    (snapshot[1] as { model: string }).model = 'mutated';
    snapshot.length = 0;
    const again = store.snapshotEvents();
    expect((again[0] as { port: number }).port).toBe(0);
    expect((again[1] as { model: string }).model).toBe('gpt-4');
    const unsynced = store.unsyncedEvents();
    (unsynced[0] as { model: string }).model = 'mutated';
    expect((store.unsyncedEvents()[0] as { model: string }).model).toBe('gpt-4');
    expectIdentity(store);
  });

  it('unsynced events are the LLM events only, oldest first', () => {
    const store = EventStore.withCapacity(10);
    store.recordRouterStarted(1);
    const a = idOf(store, () => store.recordLlmCompleted(pricing, 'gpt-4', 1, 1));
    store.recordBudgetThreshold(10, 1, 10);
    const b = idOf(store, () => store.recordLlmFailed('gpt-4'));
    store.recordRouterStopped();
    expect(ids(store.unsyncedEvents())).toEqual([a, b]);
    expect(store.unsyncedCount()).toBe(2);
    expect(store.len()).toBe(5);
  });

  it('markSynced and markRejected ignore unknown, repeated and local ids', () => {
    const store = EventStore.withCapacity(10);
    const local = idOf(store, () => store.recordRouterStarted(1));
    const a = idOf(store, () => store.recordLlmFailed('gpt-4'));
    const b = idOf(store, () => store.recordLlmFailed('gpt-4'));
    const c = idOf(store, () => store.recordLlmFailed('gpt-4'));
    expect(store.markSynced([])).toBe(0);
    expect(store.markSynced(['not-an-id', local, a, a])).toBe(1);
    expect(store.markSynced([a])).toBe(0);
    expect(store.markRejected([a, b, local, '00000000-0000-8000-8000-000000000000'])).toBe(1);
    expect(store.markRejected([b])).toBe(0);
    expect(ids(store.snapshotEvents())).toEqual([local, c]);
    expect(store.accounting()).toEqual({
      recorded: 4, buffered: 2, drained: 0, synced: 1, rejected: 1, dropped: 0, evicted: 0, replayed: 0, lost: 0, lostReason: null,
    });
    expectIdentity(store);
  });

  it('markSynced reads ids in every UUID form (case, braces, urn, no hyphens)', () => {
    const store = EventStore.withCapacity(10);
    const recorded = [1, 2, 3, 4, 5, 6].map(() => idOf(store, () => store.recordLlmFailed('gpt-4')));
    const [a, b, c, d, f, e] = recorded as [string, string, string, string, string, string];
    expect(store.markSynced([a.toUpperCase()])).toBe(1);
    expect(store.markSynced([`{${b}}`])).toBe(1);
    expect(store.markRejected([`urn:uuid:${c}`])).toBe(1);
    expect(store.markSynced([d.replace(/-/g, '')])).toBe(1);
    // The URN prefix in any ASCII case, as Rust's uuid crate reads it.
    expect(store.markSynced([`URN:uuid:${f.toUpperCase()}`])).toBe(1);
    // Not UUIDs (so not ids): ignored.
    expect(store.markSynced([`${e} `, `(${e})`, `urn:uid::${e}`, e.slice(0, 35), `${e.slice(0, 35)}g`, `{${e}`])).toBe(0);
    expect(ids(store.snapshotEvents())).toEqual([e]);
    expect(store.accounting()).toMatchObject({ synced: 4, rejected: 1, buffered: 1 });
    expectIdentity(store);
  });

  it("ignores another store's ids", () => {
    const a = EventStore.withCapacity(10);
    const b = EventStore.withCapacity(10);
    const idA = idOf(a, () => a.recordLlmFailed('gpt-4'));
    const idB = idOf(b, () => b.recordLlmFailed('gpt-4'));
    expect(idA).not.toBe(idB);
    expect(a.markSynced([idB])).toBe(0);
    expect(b.markSynced([idA])).toBe(0);
    expect(a.markSynced([idA])).toBe(1);
    expect(b.len()).toBe(1);
  });

  it('unsyncedEvents(limit) returns at most limit events, oldest first', () => {
    const store = EventStore.withCapacity(10);
    store.recordRouterStarted(1);
    const llm = [1, 2, 3].map((n) => idOf(store, () => store.recordLlmCompleted(pricing, 'gpt-4', n, n)));
    store.markSynced([llm[0]!]);
    expect(ids(store.unsyncedEvents(0))).toEqual([]);
    expect(ids(store.unsyncedEvents(1))).toEqual([llm[1]]);
    expect(ids(store.unsyncedEvents(2))).toEqual([llm[1], llm[2]]);
    expect(ids(store.unsyncedEvents(99))).toEqual([llm[1], llm[2]]);
    expect(ids(store.unsyncedEvents(undefined))).toEqual([llm[1], llm[2]]);
    const unsynced = store.unsyncedEvents as (limit?: unknown) => AnalyticsEvent[];
    expect(() => unsynced.call(store, -1)).toThrow(RangeError);
    expect(() => unsynced.call(store, 1.5)).toThrow(RangeError);
    expect(() => unsynced.call(store, '2')).toThrow(TypeError);
  });

  it('stays consistent over many small sync batches', () => {
    const store = EventStore.withCapacity(2000);
    let next = 0;
    for (let round = 0; round < 50; round++) {
      while (store.len() < 2000) {
        store.recordLlmCompleted(pricing, 'gpt-4', next++, 1);
      }
      const batch = ids(store.unsyncedEvents().slice(0, 40));
      expect(store.markSynced(batch)).toBe(40);
    }
    const a = store.accounting();
    expect(a).toMatchObject({ buffered: 1960, synced: 2000, dropped: 0 });
    expect(a.recorded).toBe(next);
    // The oldest remaining event is the 2001st recorded (inputTokens is the record index).
    expect((store.snapshotEvents()[0] as { inputTokens: number }).inputTokens).toBe(2000);
    expectIdentity(store);
  });
});

describe('bad input', () => {
  const store = EventStore.withCapacity(5);
  // Some state first, so that "unchanged" is not trivially zero.
  store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, 'agent');
  store.recordRouterStarted(80);

  const notPricing = {
    get: () => null,
    costMicros: () => null,
  } as unknown as PricingManager;
  type Fn = () => unknown;
  const s = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  const completed = (...args: unknown[]) => (() => s['recordLlmCompleted']!.apply(store, [pricing, ...args])) as Fn;
  const withProvider = (...args: unknown[]) =>
    (() => s['recordLlmCompletedWithProvider']!.apply(store, [pricing, ...args])) as Fn;
  const failed = (...args: unknown[]) => (() => s['recordLlmFailed']!.apply(store, args)) as Fn;
  const budget = (...args: unknown[]) => (() => s['recordBudgetThreshold']!.apply(store, args)) as Fn;
  const started = (...args: unknown[]) => (() => s['recordRouterStarted']!.apply(store, args)) as Fn;
  const record = (input: unknown) => (() => s['record']!.call(store, input)) as Fn;
  const llmInput = {
    eventType: 'llm_request_completed', provider: 'openai', model: 'gpt-4', inputTokens: 1, outputTokens: 1, costMicros: 1,
  };

  const cases: Array<[string, Fn, typeof TypeError | typeof RangeError, RegExp?]> = [
    ['pricing not a PricingManager', () => store.recordLlmCompleted(notPricing, 'gpt-4', 1, 1), TypeError, /pricing/],
    ['pricing null', () => s['recordLlmCompleted']!.call(store, null, 'gpt-4', 1, 1), TypeError, /pricing/],
    ['pricing missing (withProvider)', () => s['recordLlmCompletedWithProvider']!.call(store, undefined, 'gpt-4', 'openai', 1, 1), TypeError, /pricing/],
    ['model a number', completed(42, 1, 1), TypeError, /model/],
    ['model undefined', completed(undefined, 1, 1), TypeError, /model/],
    ['model empty', completed('', 1, 1), RangeError, /model must be a non-empty string/],
    ['inputTokens negative', completed('gpt-4', -1, 1), RangeError, /^inputTokens must be a non-negative safe integer, got -1$/],
    ['inputTokens fractional', completed('gpt-4', 1.5, 1), RangeError, /inputTokens.*1\.5/],
    ['inputTokens NaN', completed('gpt-4', NaN, 1), RangeError, /inputTokens.*NaN/],
    ['inputTokens Infinity', completed('gpt-4', Infinity, 1), RangeError, /inputTokens/],
    ['inputTokens > MAX_SAFE_INTEGER', completed('gpt-4', 2 ** 53, 1), RangeError, /inputTokens/],
    ['inputTokens a string', completed('gpt-4', '1', 1), TypeError, /inputTokens.*"1"/],
    ['inputTokens a bigint', completed('gpt-4', 1n, 1), TypeError, /inputTokens.*1n/],
    ['inputTokens undefined', completed('gpt-4', undefined, 1), TypeError, /inputTokens/],
    ['outputTokens negative', completed('gpt-4', 1, -5), RangeError, /outputTokens/],
    ['outputTokens -Infinity', completed('gpt-4', 1, -Infinity), RangeError, /outputTokens/],
    ['outputTokens null', completed('gpt-4', 1, null), TypeError, /outputTokens/],
    ['agentId a number', completed('gpt-4', 1, 1, 7), TypeError, /agentId/],
    ['providerId an object', completed('gpt-4', 1, 1, null, {}), TypeError, /providerId/],
    ['details a number', completed('gpt-4', 1, 1, null, null, 5), TypeError, /details must be an object/],
    ['details an array', completed('gpt-4', 1, 1, null, null, []), TypeError, /details must be an object/],
    ['details.durationMs a string', completed('gpt-4', 1, 1, null, null, { durationMs: '5' }), TypeError, /details\.durationMs/],
    ['details.durationMs negative', completed('gpt-4', 1, 1, null, null, { durationMs: -1 }), RangeError, /details\.durationMs/],
    ['details.ttftMs NaN', completed('gpt-4', 1, 1, null, null, { ttftMs: NaN }), RangeError, /details\.ttftMs/],
    ['details.ttftMs Infinity', completed('gpt-4', 1, 1, null, null, { ttftMs: Infinity }), RangeError, /details\.ttftMs/],
    ['provider empty', withProvider('gpt-4', '', 1, 1), RangeError, /provider/],
    ['provider a number', withProvider('gpt-4', 3, 1, 1), TypeError, /provider/],
    ['withProvider tokens negative', withProvider('gpt-4', 'openai', 1, -1), RangeError, /outputTokens/],
    ['withProvider agentId', withProvider('gpt-4', 'openai', 1, 1, false), TypeError, /agentId/],
    ['failed model empty', failed(''), RangeError, /model/],
    ['failed model missing', failed(), TypeError, /model/],
    ['failed errorCode a number', failed('gpt-4', null, null, 429), TypeError, /errorCode/],
    ['failed errorMessage an object', failed('gpt-4', null, null, null, { message: 'x' }), TypeError, /errorMessage/],
    ['threshold fractional', budget(80.5, 1, 1), RangeError, /thresholdPercent/],
    ['threshold above u8', budget(256, 1, 1), RangeError, /thresholdPercent must be a non-negative safe integer no greater than 255/],
    ['threshold a string', budget('80', 1, 1), TypeError, /thresholdPercent/],
    ['spend negative', budget(80, -1, 1), RangeError, /currentSpendMicros/],
    ['budget fractional', budget(80, 1, 0.5), RangeError, /budgetMicros/],
    ['budget agentId', budget(80, 1, 1, 5), TypeError, /agentId/],
    ['port negative', started(-1), RangeError, /port/],
    ['port too large', started(65536), RangeError, /port/],
    ['port fractional', started(80.5), RangeError, /port/],
    ['port a string', started('8080'), TypeError, /port/],
    ['record null', record(null), TypeError, /input/],
    ['record a string', record('llm_request_completed'), TypeError, /input/],
    ['record without eventType', record({ port: 1 }), TypeError, /input\.eventType/],
    ['record unknown eventType', record({ eventType: 'nope' }), RangeError, /input\.eventType.*"nope"/],
    ['record completed without provider', record({ ...llmInput, provider: undefined }), TypeError, /input\.provider/],
    ['record completed empty model', record({ ...llmInput, model: '' }), RangeError, /input\.model/],
    ['record completed negative cost', record({ ...llmInput, costMicros: -1 }), RangeError, /input\.costMicros/],
    ['record completed fractional tokens', record({ ...llmInput, inputTokens: 0.5 }), RangeError, /input\.inputTokens/],
    ['record completed bad agentId', record({ ...llmInput, agentId: 1 }), TypeError, /input\.agentId/],
    ['record failed bad errorCode', record({ eventType: 'llm_request_failed', provider: 'x', model: 'm', errorCode: 1 }), TypeError, /input\.errorCode/],
    ['record budget missing budget', record({ eventType: 'budget_threshold_reached', thresholdPercent: 1, currentSpendMicros: 1 }), TypeError, /input\.budgetMicros/],
    ['record router_started bad port', record({ eventType: 'router_started', port: 70000 }), RangeError, /input\.port/],
    ['record router_stopped bad total', record({ eventType: 'router_stopped', totalRequests: -1, totalCostMicros: 0 }), RangeError, /input\.totalRequests/],
    ['markSynced not an array', () => s['markSynced']!.call(store, 'id'), TypeError, /ids/],
    ['markSynced with a non-string id', () => s['markSynced']!.call(store, [store.unsyncedEvents()[0]!.eventId, 5]), TypeError, /ids\[1\]/],
    ['markRejected not an array', () => s['markRejected']!.call(store, undefined), TypeError, /ids/],
  ];

  it.each(cases)('%s', (_name, call, errorClass, message) => {
    const stats = store.stats();
    const accounting = store.accounting();
    const snapshot = store.snapshotEvents();
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(errorClass);
    // TypeError and RangeError are siblings: make sure it is not the other one.
    expect((thrown as Error).constructor).toBe(errorClass);
    if (message) expect((thrown as Error).message).toMatch(message);
    expect(store.stats()).toEqual(stats);
    expect(store.accounting()).toEqual(accounting);
    expect(store.snapshotEvents()).toEqual(snapshot);
  });

  it('messages name the argument and the value', () => {
    expect(completed('gpt-4', -1, 1)).toThrow('inputTokens must be a non-negative safe integer, got -1');
  });

  it.each([
    ['capacity 0', () => EventStore.withCapacity(0), RangeError],
    ['capacity negative', () => EventStore.withCapacity(-10), RangeError],
    ['capacity fractional', () => EventStore.withCapacity(2.5), RangeError],
    ['capacity above 100,000,000', () => EventStore.withCapacity(100_000_001), RangeError],
    ['capacity NaN', () => EventStore.withCapacity(NaN), RangeError],
    ['capacity a string', () => EventStore.withCapacity('10' as unknown as number), TypeError],
    ['capacity undefined', () => (EventStore.withCapacity as (n?: number) => EventStore)(), TypeError],
    ['streaming capacity 0', () => EventStore.withStreaming(0, 1), RangeError],
    ['streaming channelSize 0', () => EventStore.withStreaming(1, 0), RangeError],
    ['streaming channelSize a bigint', () => EventStore.withStreaming(1, 1n as unknown as number), TypeError],
    ['shared name empty', () => EventStore.shared(''), RangeError],
    ['shared name a number', () => EventStore.shared(1 as unknown as string), TypeError],
    ['shared capacity 0', () => EventStore.shared('x', 0), RangeError],
  ])('%s', (_name, call, errorClass) => {
    expect(call).toThrow(errorClass);
    try {
      call();
    } catch (error) {
      expect((error as Error).constructor).toBe(errorClass);
    }
  });

  it('accepts the largest capacity', () => {
    expect(EventStore.withCapacity(100_000_000).len()).toBe(0);
  });
});

describe('EventStore.shared', () => {
  // One test for both implementations, so that neither is ever skipped.
  it('is the same store for the same name on native; throws on the JS fallback, saying it needs the addon', () => {
    const name = `test-shared-${process.pid}-${Date.now()}`;
    if (implementation === 'js') {
      expect(() => EventStore.shared(name, 100)).toThrow(/native/);
      expect(() => EventStore.shared(name)).toThrow(/worker_threads/);
      return;
    }
    expect(implementation).toBe('native');
    const a = EventStore.shared(name, 100);
    const b = EventStore.shared(name);
    expect(a.recordLlmCompleted(pricing, 'gpt-4', 150, 50)).toBeUndefined();
    // Read through the other handle, in the same turn of the event loop.
    const events = b.snapshotEvents();
    expect(events).toHaveLength(1);
    expect(events[0]!.eventId).toMatch(UUID_V8);
    expect(ids(a.snapshotEvents())).toEqual(ids(events));
    expect(b.stats().totalCostMicros).toBe(7500);
    expect(EventStore.shared(`${name}-other`).len()).toBe(0);
    // Each handle learns the names the other recorded (the wrapper keeps names per handle).
    b.recordLlmFailed('modèle-b', 'agent-b', null, 'timeout', 'msg-b');
    expect(Object.keys(a.stats().byModel).sort()).toEqual(['gpt-4', 'modèle-b']);
    expect(a.snapshotEvents().at(-1)).toMatchObject({ model: 'modèle-b', agentId: 'agent-b', errorCode: 'timeout', errorMessage: 'msg-b' });
    a.recordLlmCompleted(pricing, 'modèle-a', 1, 1, 'agent-a');
    expect(Object.keys(b.stats().byAgent).sort()).toEqual(['agent-a', 'agent-b']);
    expect(b.snapshotEvents().map((e) => ('model' in e ? e.model : null))).toEqual(['gpt-4', 'modèle-b', 'modèle-a']);
  });
});
