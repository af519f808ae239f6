// The Prometheus exposition of a store (`store.prometheus()`), parsed with a
// third-party parser and checked value by value after known sequences. Runs
// on both implementations.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager } from '../src/index.js';

interface ParsedSample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
}
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: ParsedSample[];
}
// The package ships no types: load it as CommonJS and type its one function.
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Every sample of the text with its own name and labels. The parser folds a
 * histogram family into a single bucket map (series with different labels
 * overwrite each other, and labelled `_sum`/`_count` are dropped), so the
 * histogram families are read as untyped: each `_bucket`, `_sum` and
 * `_count` line is then a sample of its own, labels unescaped by the parser.
 */
function samples(text: string): Sample[] {
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  return parsePrometheusTextFormat(untyped).flatMap((family) =>
    family.metrics.map((m) => ({ name: family.name, labels: m.labels ?? {}, value: Number(m.value) })),
  );
}

/** The one sample named `name` with exactly these labels. */
function valueOf(all: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = all.filter((s) => s.name === name && JSON.stringify(sorted(s.labels)) === JSON.stringify(sorted(labels)));
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]!.value;
}

function sorted(labels: Record<string, string>): [string, string][] {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
}

/** The series of a family, as `model|provider` (histograms: their `_count` series). */
function seriesOf(all: Sample[], name: string): string[] {
  return all
    .filter((s) => s.name === name)
    .map((s) => `${s.labels['gen_ai_request_model']}|${s.labels['gen_ai_provider_name']}`)
    .sort();
}

const LE = ['0.01', '0.02', '0.04', '0.08', '0.16', '0.32', '0.64', '1.28', '2.56', '5.12', '10.24', '20.48', '40.96', '81.92', '+Inf'];
const DURATION = 'gen_ai_client_operation_duration_seconds';
const TTFT = 'gen_ai_server_time_to_first_token_seconds';

/** Cumulative bucket values of one histogram series, in `LE` order. */
function buckets(all: Sample[], family: string, labels: Record<string, string>): number[] {
  return LE.map((le) => valueOf(all, `${family}_bucket`, { ...labels, le }));
}

const FAMILIES: Array<[string, string]> = [
  [DURATION, 'HISTOGRAM'],
  [TTFT, 'HISTOGRAM'],
  ['gen_ai_client_token_usage', 'COUNTER'],
  ['iron_analytics_requests_total', 'COUNTER'],
  ['iron_analytics_request_failures_total', 'COUNTER'],
  ['iron_analytics_cost_usd_total', 'COUNTER'],
  ['iron_analytics_unpriced_requests_total', 'COUNTER'],
  ['iron_analytics_provider_requests_total', 'COUNTER'],
  ['iron_analytics_events_dropped_total', 'COUNTER'],
  ['iron_analytics_events_evicted_total', 'COUNTER'],
  ['iron_analytics_events_buffered', 'GAUGE'],
  ['iron_analytics_events_unsynced', 'GAUGE'],
  ['iron_analytics_events_delivered_total', 'COUNTER'],
  ['iron_analytics_events_rejected_total', 'COUNTER'],
  ['iron_analytics_records_lost_total', 'COUNTER'],
];

const pricing = new PricingManager();

describe('store.prometheus()', () => {
  it('declares every family with HELP and TYPE, even for an empty store', () => {
    const text = new EventStore().prometheus();
    expect(text.endsWith('\n')).toBe(true);
    const families = parsePrometheusTextFormat(text);
    expect(families.map((f) => [f.name, f.type])).toEqual(FAMILIES);
    for (const f of families) expect(f.help, f.name).not.toBe('');
    const all = samples(text);
    // No series for models, zero for the outbox.
    expect(all.filter((s) => s.labels['gen_ai_request_model'] !== undefined)).toEqual([]);
    expect(all.filter((s) => s.name === 'iron_analytics_provider_requests_total')).toEqual([]);
    for (const [name] of FAMILIES.slice(8)) expect(valueOf(all, name), name).toBe(0);
  });

  it('exposes the stats by model and provider, and the outbox, after a known sequence', () => {
    const store = EventStore.withCapacity(4);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, 'agent', null, { durationMs: 5, ttftMs: 30 }); // 7500 µ$
    store.recordLlmCompleted(pricing, 'gpt-4', 1000, 2000, null, null, { durationMs: 100 }); // 150000 µ$
    store.recordLlmFailed('gpt-4', null, null, 'rate_limit');
    store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 200, 100); // 10500 µ$, buffer now full
    store.recordLlmFailed('claude-3-opus-20240229'); // dropped
    store.recordRouterStarted(8080); // recorded and evicted at once
    const [first, second] = store.unsyncedEvents(2);
    expect(store.markSynced([first!.eventId])).toBe(1);
    expect(store.markRejected([second!.eventId])).toBe(1);
    store.recordBudgetThreshold(80, 8, 10);
    store.recordLlmCompletedWithProvider(pricing, 'my-model', 'my-gateway', 1, 1);
    expect(store.accounting()).toEqual({
      recorded: 8, buffered: 4, drained: 0, synced: 1, rejected: 1, dropped: 1, evicted: 1, replayed: 0, lost: 0, lostReason: null,
    });

    const all = samples(store.prometheus());
    const gpt4 = { gen_ai_request_model: 'gpt-4', gen_ai_provider_name: 'openai' };
    const claude = { gen_ai_request_model: 'claude-3-opus-20240229', gen_ai_provider_name: 'anthropic' };
    // The provider label is the one inferred from the model name.
    const mine = { gen_ai_request_model: 'my-model', gen_ai_provider_name: 'unknown' };

    expect(seriesOf(all, 'iron_analytics_requests_total')).toEqual([
      'claude-3-opus-20240229|anthropic', 'gpt-4|openai', 'my-model|unknown',
    ]);
    expect(valueOf(all, 'iron_analytics_requests_total', gpt4)).toBe(3);
    expect(valueOf(all, 'iron_analytics_requests_total', claude)).toBe(2);
    expect(valueOf(all, 'iron_analytics_requests_total', mine)).toBe(1);
    expect(valueOf(all, 'iron_analytics_request_failures_total', gpt4)).toBe(1);
    expect(valueOf(all, 'iron_analytics_request_failures_total', claude)).toBe(1);
    expect(valueOf(all, 'iron_analytics_request_failures_total', mine)).toBe(0);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', gpt4)).toBe(0.1575);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', claude)).toBe(0.0105);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', mine)).toBe(0);
    const tokens = (labels: Record<string, string>, type: string) =>
      valueOf(all, 'gen_ai_client_token_usage', { ...labels, gen_ai_token_type: type });
    expect([tokens(gpt4, 'input'), tokens(gpt4, 'output')]).toEqual([1150, 2050]);
    expect([tokens(claude, 'input'), tokens(claude, 'output')]).toEqual([200, 100]);
    expect([tokens(mine, 'input'), tokens(mine, 'output')]).toEqual([1, 1]);

    // Provider totals are by the recorded provider.
    const providers = all.filter((s) => s.name === 'iron_analytics_provider_requests_total');
    expect(Object.fromEntries(providers.map((s) => [s.labels['gen_ai_provider_name'], s.value]))).toEqual({
      openai: 3, anthropic: 2, 'my-gateway': 1,
    });

    expect(valueOf(all, 'iron_analytics_events_dropped_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_events_evicted_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_events_buffered')).toBe(4);
    expect(valueOf(all, 'iron_analytics_events_unsynced')).toBe(3);
    expect(valueOf(all, 'iron_analytics_events_delivered_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_events_rejected_total')).toBe(1);

    // Histograms: only gpt-4 was recorded with latencies. Buckets are cumulative.
    expect(seriesOf(all, `${DURATION}_count`)).toEqual(['gpt-4|openai']);
    expect(seriesOf(all, `${TTFT}_count`)).toEqual(['gpt-4|openai']);
    // 5 ms in (0, 0.01], 100 ms in (0.08, 0.16].
    expect(buckets(all, DURATION, gpt4)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(valueOf(all, `${DURATION}_sum`, gpt4)).toBe(0.105);
    expect(valueOf(all, `${DURATION}_count`, gpt4)).toBe(2);
    // 30 ms in (0.02, 0.04].
    expect(buckets(all, TTFT, gpt4)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(valueOf(all, `${TTFT}_sum`, gpt4)).toBe(0.03);
    expect(valueOf(all, `${TTFT}_count`, gpt4)).toBe(1);
  });

  it('follows the outbox: delivered and unsynced after markSynced, drained out of buffered', () => {
    const store = EventStore.withCapacity(10);
    for (let i = 0; i < 5; i++) store.recordLlmFailed('gpt-4');
    store.recordRouterStarted(1);
    let all = samples(store.prometheus());
    expect(valueOf(all, 'iron_analytics_events_buffered')).toBe(6);
    expect(valueOf(all, 'iron_analytics_events_unsynced')).toBe(5);
    expect(store.markSynced(store.unsyncedEvents(3).map((e) => e.eventId))).toBe(3);
    all = samples(store.prometheus());
    expect(valueOf(all, 'iron_analytics_events_buffered')).toBe(3);
    expect(valueOf(all, 'iron_analytics_events_unsynced')).toBe(2);
    expect(valueOf(all, 'iron_analytics_events_delivered_total')).toBe(3);
    store.drainAll();
    all = samples(store.prometheus());
    expect(valueOf(all, 'iron_analytics_events_buffered')).toBe(0);
    expect(valueOf(all, 'iron_analytics_events_unsynced')).toBe(0);
    expect(valueOf(all, 'iron_analytics_events_delivered_total')).toBe(3);
    // The stats are totals, not the buffer.
    expect(valueOf(all, 'iron_analytics_requests_total', { gen_ai_request_model: 'gpt-4', gen_ai_provider_name: 'openai' })).toBe(5);
  });

  it('escapes ", \\ and newlines in label values', () => {
    const model = 'we"ird\\mo\ndel';
    const provider = 'gate"way\\\n';
    const store = new EventStore();
    store.recordLlmCompleted(pricing, model, 3, 4, null, null, { ttftMs: 30 });
    store.recordLlmFailed(model);
    store.record({ eventType: 'llm_request_failed', provider, model: 'gpt-4' });
    const text = store.prometheus();
    expect(text).toContain('gen_ai_request_model="we\\"ird\\\\mo\\ndel"');
    expect(text).toContain('gen_ai_provider_name="gate\\"way\\\\\\n"');
    // No raw newline inside a sample line: every line is a comment or `name{labels} value`.
    for (const line of text.slice(0, -1).split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+)$/);
    }

    const all = samples(text);
    const labels = { gen_ai_request_model: model, gen_ai_provider_name: 'unknown' };
    expect(valueOf(all, 'iron_analytics_requests_total', labels)).toBe(2);
    expect(valueOf(all, 'iron_analytics_request_failures_total', labels)).toBe(1);
    expect(valueOf(all, 'gen_ai_client_token_usage', { ...labels, gen_ai_token_type: 'output' })).toBe(4);
    expect(valueOf(all, 'iron_analytics_provider_requests_total', { gen_ai_provider_name: provider })).toBe(1);
    // A time to first token only: a TTFT series, no duration series.
    expect(buckets(all, TTFT, labels)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(valueOf(all, `${TTFT}_count`, labels)).toBe(1);
    expect(seriesOf(all, `${DURATION}_count`)).toEqual([]);
  });
});
