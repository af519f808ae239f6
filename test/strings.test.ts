// Strings across the addon boundary: whatever the UTF-16 (lone surrogates,
// pairs split between two records, NUL, long messages), across batch
// boundaries, the native store records exactly what the fallback records,
// and a record never takes another one down with it.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import type { Backend, EventStoreApi, PricingManagerApi } from '../src/shared/api.js';
import { jsBackend } from '../src/js/index.js';
import { findNative } from '../src/native/loader.js';
import { createNativeApi } from '../src/native/index.js';
import { CARDINALITY_OVERFLOW_KEY, MAX_ERROR_MESSAGE_CHARS, TRUNCATION_MARK } from '../src/shared/validate.js';

const loaded = findNative();
if (!loaded.binding) throw loaded.error; // needs the addon: `npm run build:native`
const apis: Record<'native' | 'js', Backend> = { native: createNativeApi(loaded.binding), js: jsBackend };

beforeAll(() => {
  // Arbitrary model names are unpriced: one warning each is expected here.
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});

/** Any UTF-16 code unit, lone surrogates included, weighted towards the awkward ones. */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 2, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 0x0a, 0xfffd, 0xffff, 0xe9, 0x4e16) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
).map((c) => String.fromCharCode(c));
const utf16 = (maxLength: number, minLength = 0) => fc.array(unit, { minLength, maxLength }).map((u) => u.join(''));

type Rec = {
  completed: boolean;
  model: string;
  agent: string | null;
  providerId: string | null;
  code: string | null;
  message: string | null;
  input: number;
};
const rec: fc.Arbitrary<Rec> = fc.record({
  completed: fc.boolean(),
  model: utf16(12, 1),
  agent: fc.option(utf16(6), { nil: null }),
  providerId: fc.option(utf16(6), { nil: null }),
  code: fc.option(utf16(6), { nil: null }),
  message: fc.option(fc.oneof(utf16(20), utf16(3000)), { nil: null }),
  input: fc.nat(1_000_000),
});

function play(store: EventStoreApi, pricing: PricingManagerApi, records: Rec[]): void {
  for (const r of records) {
    if (r.completed) store.recordLlmCompleted(pricing, r.model, r.input, 7, r.agent, r.providerId, { reasoningTokens: 3 });
    else store.recordLlmFailed(r.model, r.agent, r.providerId, r.code, r.message);
  }
}

const strip = <T extends { eventId: string; timestampMs: number }>(events: T[]) =>
  events.map(({ eventId: _id, timestampMs: _ts, ...rest }) => rest);

describe('strings cross the addon boundary intact', () => {
  it('native equals fallback for any UTF-16, across batch boundaries, nothing lost', () => {
    fc.assert(
      fc.property(fc.array(rec, { minLength: 1, maxLength: 700 }), fc.integer({ min: 1, max: 40 }), (records, cardinalityLimit) => {
        const [n, j] = (['native', 'js'] as const).map((k) => {
          const store = new apis[k].EventStore({ capacity: 1_000, cardinalityLimit });
          play(store, new apis[k].PricingManager(), records);
          return store;
        }) as [EventStoreApi, EventStoreApi];
        expect(n.accounting()).toEqual(j.accounting());
        expect(n.accounting()).toMatchObject({ recorded: records.length, lost: 0 });
        expect(n.stats()).toEqual(j.stats());
        expect(strip(n.snapshotEvents())).toEqual(strip(j.snapshotEvents()));
      }),
      { numRuns: 60 },
    );
  });

  it('two messages that split one emoji, among 254 successes, in one batch: all 256 counted', () => {
    for (const k of ['native', 'js'] as const) {
      const store = new apis[k].EventStore();
      const pricing = new apis[k].PricingManager();
      for (let i = 0; i < 127; i++) store.recordLlmCompleted(pricing, 'gpt-4o', 10, 1);
      store.recordLlmFailed('gpt-4o', null, null, 'upstream', 'cut here \uD83D');
      store.recordLlmFailed('gpt-4o', null, null, 'upstream', '\uDE00 and here');
      for (let i = 0; i < 127; i++) store.recordLlmCompleted(pricing, 'gpt-4o', 10, 1);
      const stats = store.stats();
      expect(stats.totalRequests, k).toBe(256);
      expect(stats.failedRequests, k).toBe(2);
      expect(store.accounting(), k).toMatchObject({ recorded: 256, buffered: 256, lost: 0 });
      const messages = store.snapshotEvents().flatMap((e) => ('errorMessage' in e ? [e.errorMessage] : []));
      expect(messages, k).toEqual(['cut here \uFFFD', '\uFFFD and here']);
    }
  });

  it('lone surrogates become U+FFFD on both: two lone surrogates name one row', () => {
    for (const k of ['native', 'js'] as const) {
      const store = new apis[k].EventStore();
      store.recordLlmFailed('\uD800', '\uDBFF');
      store.recordLlmFailed('\uDBFF', '\uDC00');
      const stats = store.stats();
      expect(Object.keys(stats.byModel), k).toEqual(['\uFFFD']);
      expect(stats.byModel['\uFFFD']?.requestCount, k).toBe(2);
      expect(stats.byAgent['\uFFFD']?.requestCount, k).toBe(2);
      expect(store.snapshotEvents().map((e) => ('model' in e ? e.model : null)), k).toEqual(['\uFFFD', '\uFFFD']);
    }
  });

  it('NUL, 2 KiB and 10 MB messages: kept to 2,048 characters, marked when cut', () => {
    for (const k of ['native', 'js'] as const) {
      const store = new apis[k].EventStore();
      const long = '世'.repeat(5 * 1024 * 1024);
      store.recordLlmFailed('gpt-4o', null, null, 'a\u0000b', 'nul\u0000inside');
      store.recordLlmFailed('gpt-4o', null, null, null, '😀'.repeat(1024));
      store.recordLlmFailed('gpt-4o', null, null, null, long);
      const [a, b, c] = store.snapshotEvents().map((e) => ('errorMessage' in e ? e.errorMessage : null));
      expect(a, k).toBe('nul\u0000inside');
      expect(b, k).toBe('😀'.repeat(1024));
      expect([...(c ?? '')].length, k).toBe(MAX_ERROR_MESSAGE_CHARS);
      expect(c?.endsWith(TRUNCATION_MARK), k).toBe(true);
      expect(store.snapshotEvents()[0], k).toMatchObject({ errorCode: 'a\u0000b' });
    }
  });

  it('names past the cardinality limit keep their own text in events, their rows in the overflow row', () => {
    for (const k of ['native', 'js'] as const) {
      const store = new apis[k].EventStore({ cardinalityLimit: 2 });
      const pricing = new apis[k].PricingManager();
      const names = ['gpt-4o', 'gpt-4o-mini', 'ünï\uD800', 'model with spaces', '🚀'];
      for (const name of names) store.recordLlmCompleted(pricing, name, 100, 10, `agent ${name}`);
      const stats = store.stats();
      expect(Object.keys(stats.byModel).sort(), k).toEqual(['gpt-4o', 'gpt-4o-mini', CARDINALITY_OVERFLOW_KEY].sort());
      expect(stats.byModel[CARDINALITY_OVERFLOW_KEY]?.requestCount, k).toBe(3);
      expect(stats.byModel[CARDINALITY_OVERFLOW_KEY]?.unpricedRequests, k).toBe(3);
      expect(store.snapshotEvents().map((e) => ('model' in e ? e.model : null)), k).toEqual(names.map((n) => n.toWellFormed()));
      expect(store.prometheus(), k).toContain('otel_metric_overflow="true"');
    }
  });
});
