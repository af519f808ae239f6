// Model-based tests of the fallback's buffer: random sequences of operations,
// checked after every step against a reference model that is just an array.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager } from '../src/js/index.js';
import { IdSource, canonicalUuid } from '../src/js/ids.js';
import type { AnalyticsEvent, LatencyHistogram } from '../src/shared/types.js';

const pricing = new PricingManager();

type Op =
  | { kind: 'completed'; model: string; input: number; output: number; agent: string | null }
  | { kind: 'failed'; model: string }
  | { kind: 'budget' | 'started' | 'stopped' }
  | { kind: 'markSynced' | 'markRejected'; picks: number[]; unknown: boolean }
  | { kind: 'drainAll' | 'snapshot' };

const MODELS = ['gpt-4', 'claude-3-opus-20240229', 'unknown-model', 'Gemini-2.5-pro'];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('completed' as const),
      model: fc.constantFrom(...MODELS),
      input: fc.nat({ max: 100_000 }),
      output: fc.nat({ max: 100_000 }),
      agent: fc.constantFrom(null, 'a', 'b'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('failed' as const), model: fc.constantFrom(...MODELS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('budget' as const, 'started' as const, 'stopped' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('markSynced' as const, 'markRejected' as const),
      picks: fc.array(fc.nat(), { maxLength: 8 }),
      unknown: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('drainAll' as const, 'snapshot' as const) }) },
);

/** How often each branch of the reference was taken, over all runs of this file. */
const coverage = { append: 0, evictForLlm: 0, evictForLocal: 0, drop: 0, selfEvict: 0, removed: 0, drainedSome: 0 };

interface ModelEvent {
  id: string;
  local: boolean;
}

/** The reference: the buffer as an array, the counters as numbers. */
class Reference {
  buffer: ModelEvent[] = [];
  recorded = 0;
  drained = 0;
  synced = 0;
  rejected = 0;
  dropped = 0;
  evicted = 0;
  requests = 0;
  failed = 0;
  inputTokens = 0;
  costMicros = 0;

  constructor(readonly capacity: number) {}

  /** Whether a new event is appended; applies evictions and counts. */
  offer(local: boolean): boolean {
    this.recorded++;
    if (this.buffer.length < this.capacity) {
      coverage.append++;
      return true;
    }
    const oldestLocal = this.buffer.findIndex((e) => e.local);
    if (oldestLocal >= 0) {
      this.buffer.splice(oldestLocal, 1);
      this.evicted++;
      if (local) coverage.evictForLocal++;
      else coverage.evictForLlm++;
      return true;
    }
    if (local) {
      this.evicted++;
      coverage.selfEvict++;
    } else {
      this.dropped++;
      coverage.drop++;
    }
    return false;
  }

  remove(ids: string[]): number {
    let removed = 0;
    for (const id of ids) {
      const i = this.buffer.findIndex((e) => e.id === id && !e.local);
      if (i >= 0) {
        this.buffer.splice(i, 1);
        removed++;
        coverage.removed++;
      }
    }
    return removed;
  }
}

function expectedCost(model: string, input: number, output: number): number {
  const price = pricing.get(model);
  if (price === null) return 0;
  return Number(
    (BigInt(input) * BigInt(price.inputMicrosPerMillionTokens) + BigInt(output) * BigInt(price.outputMicrosPerMillionTokens)) /
      1_000_000n,
  );
}

function isLocal(event: AnalyticsEvent): boolean {
  return !event.eventType.startsWith('llm_request_');
}

function check(store: EventStore, ref: Reference): void {
  const snapshot = store.snapshotEvents();
  expect(snapshot.map((e) => ({ id: e.eventId, local: isLocal(e) }))).toEqual(ref.buffer);
  expect(store.unsyncedEvents().map((e) => e.eventId)).toEqual(ref.buffer.filter((e) => !e.local).map((e) => e.id));
  expect(store.unsyncedCount()).toBe(ref.buffer.filter((e) => !e.local).length);
  expect(store.len()).toBe(ref.buffer.length);
  expect(store.len()).toBeLessThanOrEqual(ref.capacity);
  expect(store.isEmpty()).toBe(ref.buffer.length === 0);
  expect(store.droppedCount()).toBe(ref.dropped);
  expect(store.evictedCount()).toBe(ref.evicted);
  const a = store.accounting();
  expect(a).toEqual({
    recorded: ref.recorded,
    buffered: ref.buffer.length,
    drained: ref.drained,
    synced: ref.synced,
    rejected: ref.rejected,
    dropped: ref.dropped,
    evicted: ref.evicted,
    // The reference model never restores events from a spool.
    replayed: 0,
    lost: 0,
    lostReason: null,
  });
  expect(a.recorded).toBe(a.buffered + a.drained + a.synced + a.rejected + a.dropped + a.evicted);
  const stats = store.stats();
  expect(stats.totalRequests).toBe(ref.requests);
  expect(stats.failedRequests).toBe(ref.failed);
  expect(stats.totalInputTokens).toBe(ref.inputTokens);
  expect(stats.totalCostMicros).toBe(ref.costMicros);
}

function run(capacity: number, ops: Op[]): void {
  const store = EventStore.withCapacity(capacity);
  const ref = new Reference(capacity);
  /** Every id ever buffered, so that removals pick among old and current ones. */
  const known: string[] = [];
  const seen = new Set<string>();
  let unknownCounter = 0;

  /**
   * After a record call (which returns nothing): if the reference appended,
   * the store's newest event is the new one, with a fresh id, which the
   * reference takes; if not, `check` finds the store's buffer unchanged.
   */
  const recorded = (returned: unknown, local: boolean, appended: boolean): void => {
    expect(returned).toBeUndefined();
    if (!appended) return;
    const newest = store.snapshotEvents().at(-1);
    expect(newest).toBeDefined();
    expect(isLocal(newest!)).toBe(local);
    expect(seen.has(newest!.eventId)).toBe(false);
    seen.add(newest!.eventId);
    ref.buffer.push({ id: newest!.eventId, local });
    known.push(newest!.eventId);
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'completed': {
        ref.requests++;
        ref.inputTokens += op.input;
        ref.costMicros += expectedCost(op.model, op.input, op.output);
        const appended = ref.offer(false);
        recorded(store.recordLlmCompleted(pricing, op.model, op.input, op.output, op.agent), false, appended);
        break;
      }
      case 'failed': {
        ref.requests++;
        ref.failed++;
        const appended = ref.offer(false);
        recorded(store.recordLlmFailed(op.model), false, appended);
        break;
      }
      case 'budget':
      case 'started':
      case 'stopped': {
        const appended = ref.offer(true);
        const id =
          op.kind === 'budget'
            ? store.recordBudgetThreshold(90, 9, 10, 'a')
            : op.kind === 'started'
              ? store.recordRouterStarted(8080)
              : store.recordRouterStopped();
        recorded(id, true, appended);
        break;
      }
      case 'markSynced':
      case 'markRejected': {
        const ids = known.length === 0 ? [] : op.picks.map((p) => known[p % known.length]!);
        if (op.unknown) ids.push(`00000000-0000-8000-8000-${String(unknownCounter++).padStart(12, '0')}`);
        const expected = ref.remove(ids);
        if (op.kind === 'markSynced') {
          ref.synced += expected;
          expect(store.markSynced(ids)).toBe(expected);
        } else {
          ref.rejected += expected;
          expect(store.markRejected(ids)).toBe(expected);
        }
        break;
      }
      case 'drainAll': {
        const drained = store.drainAll();
        expect(drained.map((e) => e.eventId)).toEqual(ref.buffer.map((e) => e.id));
        ref.drained += ref.buffer.length;
        if (ref.buffer.length > 0) coverage.drainedSome++;
        ref.buffer = [];
        break;
      }
      case 'snapshot': {
        const before = store.snapshotEvents();
        expect(store.snapshotEvents()).toEqual(before);
        break;
      }
    }
    check(store, ref);
  }
}

describe('the fallback buffer against a reference model', () => {
  it('holds the same events in the same order with the same counters after every step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(opArb, { maxLength: 120 }), (capacity, ops) => {
        run(capacity, ops);
      }),
      { numRuns: 400 },
    );
  });

  it('survives long runs that compact its internal queues', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(opArb, { minLength: 2000, maxLength: 3000 }), (capacity, ops) => {
        run(capacity, ops);
      }),
      // Shrinking thousands of steps takes minutes: report the first failure as is.
      { numRuns: 5, endOnFailure: true },
    );
  });

  it('keeps FIFO order through many evictions of locals that never empty the queue', () => {
    const ops: Op[] = [];
    for (let i = 0; i < 5; i++) ops.push({ kind: 'failed', model: 'gpt-4' });
    for (let i = 0; i < 5000; i++) {
      ops.push({ kind: i % 2 ? 'started' : 'budget' });
      if (i % 700 === 0) ops.push({ kind: 'markSynced', picks: [i], unknown: false });
      if (i % 900 === 0) ops.push({ kind: 'completed', model: 'gpt-4', input: i, output: 1, agent: null });
    }
    run(10, ops);
  });

  it('reached every branch of the buffer rules (the properties above are not vacuous)', () => {
    expect(coverage).toEqual({
      append: expect.any(Number),
      evictForLlm: expect.any(Number),
      evictForLocal: expect.any(Number),
      drop: expect.any(Number),
      selfEvict: expect.any(Number),
      removed: expect.any(Number),
      drainedSome: expect.any(Number),
    });
    for (const [branch, count] of Object.entries(coverage)) {
      expect(count, branch).toBeGreaterThan(20);
    }
  });
});

describe('event ids', () => {
  it('number events in order and read back in every UUID form', () => {
    const source = new IdSource();
    const other = new IdSource();
    expect(source.prefix).not.toBe(other.prefix);
    const seen = new Set<string>();
    // Past several 4096-id blocks, where the cached head of the id changes.
    for (let n = 0; n < 20_000; n++) {
      expect(source.seq).toBe(n);
      const id = source.take();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(id.startsWith(source.prefix)).toBe(true);
      expect(parseInt(id.slice(24), 16)).toBe(n);
      expect(source.seqOf(id)).toBe(n);
      if (n % 997 === 0) {
        expect(source.seqOf(id.toUpperCase())).toBe(n);
        expect(source.seqOf(`{${id}}`)).toBe(n);
        expect(source.seqOf(`urn:uuid:${id}`)).toBe(n);
        expect(source.seqOf(id.replace(/-/g, ''))).toBe(n);
        expect(other.seqOf(id)).toBe(-1);
      }
      seen.add(id);
    }
    expect(seen.size).toBe(20_000);
  });

  it('idOf writes the same id for a number whatever came before (ids are written when read)', () => {
    const source = new IdSource();
    const taken = Array.from({ length: 10_000 }, () => source.take());
    fc.assert(
      fc.property(fc.array(fc.nat(9_999), { maxLength: 50 }), (seqs) => {
        for (const n of seqs) {
          expect(source.idOf(n)).toBe(taken[n]);
          expect(source.seqOf(source.idOf(n))).toBe(n);
        }
      }),
    );
    expect(source.seq).toBe(10_000);
    expect(source.take()).toBe(source.idOf(10_000));
  });

  it('canonicalUuid accepts exactly the forms Rust\'s Uuid::try_parse does', () => {
    const id = '0123abcd-4567-89ef-0123-456789abcdef';
    expect(canonicalUuid(id)).toBe(id);
    expect(canonicalUuid(id.toUpperCase())).toBe(id);
    expect(canonicalUuid(`{${id}}`)).toBe(id);
    expect(canonicalUuid(`urn:uuid:${id}`)).toBe(id);
    // uuid 1.x reads the URN prefix in any ASCII case.
    expect(canonicalUuid(`URN:UUID:${id}`)).toBe(id);
    expect(canonicalUuid(`uRn:UuId:${id.toUpperCase()}`)).toBe(id);
    expect(canonicalUuid(id.replace(/-/g, ''))).toBe(id);
    const badForms = [
      '', id.slice(1), `${id}0`, `[${id}]`, id.replace(/-/g, '_'), id.replace('a', 'g'), `{${id.replace(/-/g, '')}}`,
      `urn:uuid-${id}`, `urn:uid::${id}`, ` urn:uuid:${id}`.slice(0, 45),
      // Only ASCII case folds: U+0130 and U+0131 are not "i", U+212A (Kelvin) is not "k".
      `urn:uu\u0130d:${id}`, `urn:uu\u0131d:${id}`, `{${id}\u212A`,
    ];
    for (const bad of badForms) {
      expect(canonicalUuid(bad)).toBeNull();
    }
  });
});

describe('latency histograms against a reference', () => {
  /** Upper bounds in whole microseconds: 10 ms doubling to 81.92 s; then +Inf. */
  const BOUNDS = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 40960, 81920].map((ms) => ms * 1000);
  const ON_BOUNDS = BOUNDS.flatMap((us) => [us / 1000, us / 1000 - 0.001, us / 1000 + 0.001, us / 1000 + 0.0004]);
  const ms: fc.Arbitrary<number | null | undefined> = fc.oneof(
    fc.constant(null),
    fc.constant(undefined),
    fc.constantFrom(0, ...ON_BOUNDS),
    fc.double({ min: 0, max: 200_000, noNaN: true, noDefaultInfinity: true }),
  );

  interface Hist {
    counts: number[];
    sumMicros: number;
  }
  const empty = (): Hist => ({ counts: Array<number>(15).fill(0), sumMicros: 0 });
  function observe(h: Hist, value: number): void {
    const us = Math.round(value * 1000);
    const i = BOUNDS.findIndex((bound) => us <= bound);
    h.counts[i < 0 ? 14 : i]! += 1;
    h.sumMicros += us;
  }
  function expectHistogram(actual: LatencyHistogram, expected: Hist): void {
    const count = expected.counts.reduce((a, b) => a + b, 0);
    expect(actual.bucketCounts).toEqual(expected.counts);
    expect(actual.count).toBe(count);
    expect(actual.sumSeconds).toBe(expected.sumMicros / 1e6);
    if (count === 0) {
      expect([actual.p50, actual.p95, actual.p99]).toEqual([null, null, null]);
      return;
    }
    // Each quantile lies in the bucket holding its rank (the +Inf bucket answers 81.92 s).
    for (const [q, value] of [[0.5, actual.p50], [0.95, actual.p95], [0.99, actual.p99]] as const) {
      const rank = q * count;
      let cumulative = 0;
      const i = expected.counts.findIndex((n) => n > 0 && (cumulative += n) >= rank);
      const lower = i === 0 ? 0 : BOUNDS[Math.min(i, BOUNDS.length) - 1]! / 1e6;
      const upper = i < BOUNDS.length ? BOUNDS[i]! / 1e6 : lower;
      expect(value).not.toBeNull();
      expect(value!).toBeGreaterThanOrEqual(lower - 1e-12);
      expect(value!).toBeLessThanOrEqual(upper + 1e-12);
    }
    expect(actual.p50!).toBeLessThanOrEqual(actual.p95!);
    expect(actual.p95!).toBeLessThanOrEqual(actual.p99!);
  }

  it('buckets and sums every value per model, dropped or not, and lists only models given a latency', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ model: fc.constantFrom('gpt-4', 'claude-3-opus-20240229', 'x'), durationMs: ms, ttftMs: ms }), {
          maxLength: 60,
        }),
        (calls) => {
          // A small buffer: most requests are dropped, and must count all the same.
          const store = EventStore.withCapacity(3);
          const ref = new Map<string, { duration: Hist; ttft: Hist }>();
          for (const { model, durationMs, ttftMs } of calls) {
            store.recordLlmCompleted(pricing, model, 1, 1, null, null, { durationMs, ttftMs });
            if (durationMs == null && ttftMs == null) continue;
            let r = ref.get(model);
            if (r === undefined) ref.set(model, (r = { duration: empty(), ttft: empty() }));
            if (durationMs != null) observe(r.duration, durationMs);
            if (ttftMs != null) observe(r.ttft, ttftMs);
          }
          const latency = store.stats().latencyByModel;
          expect(Object.keys(latency).sort()).toEqual([...ref.keys()].sort());
          for (const [model, r] of ref) {
            expectHistogram(latency[model]!.duration, r.duration);
            expectHistogram(latency[model]!.ttft, r.ttft);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
