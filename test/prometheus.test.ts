// The Prometheus exposition of a store (`store.prometheus()`), parsed with a
// third-party parser and checked value by value after known sequences. Runs
// on both implementations.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { withOptIn } from './helpers/opt-in.js';
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

/** The series of a family as `operation|provider|request model|response model|error type` (histograms: their `_count` series). */
function seriesOf(all: Sample[], name: string, provider = 'gen_ai_system'): string[] {
  return all
    .filter((s) => s.name === name)
    .map((s) =>
      ['gen_ai_operation_name', provider, 'gen_ai_request_model', 'gen_ai_response_model', 'error_type']
        .map((k) => s.labels[k] ?? '-')
        .join('|'),
    )
    .sort();
}

const SECONDS_LE = ['0.01', '0.02', '0.04', '0.08', '0.16', '0.32', '0.64', '1.28', '2.56', '5.12', '10.24', '20.48', '40.96', '81.92', '+Inf'];
const TOKENS_LE = ['1', '4', '16', '64', '256', '1024', '4096', '16384', '65536', '262144', '1048576', '4194304', '16777216', '67108864', '+Inf'];
const DURATION = 'gen_ai_client_operation_duration_seconds';
const TTFC = 'gen_ai_client_operation_time_to_first_chunk_seconds';
const TOKENS = 'gen_ai_client_token_usage';

/** Cumulative bucket values of one histogram series, in `le` order. */
function buckets(all: Sample[], family: string, labels: Record<string, string>): number[] {
  const le = family === TOKENS ? TOKENS_LE : SECONDS_LE;
  return le.map((b) => valueOf(all, `${family}_bucket`, { ...labels, le: b }));
}

const FAMILIES: Array<[string, string]> = [
  [DURATION, 'HISTOGRAM'],
  [TTFC, 'HISTOGRAM'],
  [TOKENS, 'HISTOGRAM'],
  ['iron_analytics_requests_total', 'COUNTER'],
  ['iron_analytics_cost_usd_total', 'COUNTER'],
  ['iron_analytics_unpriced_requests_total', 'COUNTER'],
  ['iron_analytics_events_dropped_total', 'COUNTER'],
  ['iron_analytics_events_evicted_total', 'COUNTER'],
  ['iron_analytics_events_buffered', 'GAUGE'],
  ['iron_analytics_events_unsynced', 'GAUGE'],
  ['iron_analytics_events_delivered_total', 'COUNTER'],
  ['iron_analytics_events_rejected_total', 'COUNTER'],
  ['iron_analytics_records_lost_total', 'COUNTER'],
];

const pricing = new PricingManager();

/** The known sequence of the main test: every kind of series, the outbox in every state. */
function knownSequence() {
  const store = EventStore.withCapacity(4);
  store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, 'agent', null, { durationMs: 5, ttftMs: 30 }); // 7500 µ$
  store.recordLlmCompleted(pricing, 'gpt-4', 1000, 2000, null, null, { durationMs: 100 }); // 150000 µ$
  store.recordLlmFailed('gpt-4', null, null, 'rate_limit', null, { durationMs: 250 });
  store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 200, 100); // 10500 µ$, buffer now full
  store.recordLlmFailed('claude-3-opus-20240229'); // dropped
  store.recordRouterStarted(8080); // recorded and evicted at once
  const [first, second] = store.unsyncedEvents(2);
  expect(store.markSynced([first!.eventId])).toBe(1);
  expect(store.markRejected([second!.eventId])).toBe(1);
  store.recordBudgetThreshold(80, 8, 10);
  store.recordLlmCompletedWithProvider(pricing, 'my-model', 'my-gateway', 1, 1);
  const usage = {
    model: 'gpt-4o-2024-08-06', inputTokens: 20_000, outputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0,
    cacheWrite1hTokens: 0, reasoningTokens: 0, error: null,
  };
  store.recordUsage(pricing, usage, { requestModel: 'gpt-4o', operation: 'text_completion', durationMs: 1_500 });
  return store;
}

describe('store.prometheus()', () => {
  it('declares every family with HELP and TYPE, even for an empty store', () => {
    const text = new EventStore().prometheus();
    expect(text.endsWith('\n')).toBe(true);
    const families = parsePrometheusTextFormat(text);
    expect(families.map((f) => [f.name, f.type])).toEqual(FAMILIES);
    for (const f of families) expect(f.help, f.name).not.toBe('');
    const all = samples(text);
    // No series, zero for the outbox.
    expect(all.filter((s) => s.labels['gen_ai_operation_name'] !== undefined)).toEqual([]);
    for (const [name] of FAMILIES.slice(6)) expect(valueOf(all, name), name).toBe(0);
  });

  it('exposes every request in its GenAI series, and the outbox, after a known sequence', () => {
    const store = knownSequence();
    expect(store.accounting()).toEqual({
      // The last request evicted the budget event.
      recorded: 9, buffered: 4, drained: 0, synced: 1, rejected: 1, dropped: 1, evicted: 2, replayed: 0, lost: 0, lostReason: null,
    });
    const all = samples(withOptIn(undefined, () => store.prometheus()));
    const gpt4 = { gen_ai_operation_name: 'chat', gen_ai_system: 'openai', gen_ai_request_model: 'gpt-4', gen_ai_response_model: 'gpt-4' };
    const gpt4Failed = { gen_ai_operation_name: 'chat', gen_ai_system: 'openai', gen_ai_request_model: 'gpt-4', error_type: 'rate_limit' };
    const claude = { ...gpt4, gen_ai_system: 'anthropic', gen_ai_request_model: 'claude-3-opus-20240229', gen_ai_response_model: 'claude-3-opus-20240229' };
    const claudeFailed = { gen_ai_operation_name: 'chat', gen_ai_system: 'anthropic', gen_ai_request_model: 'claude-3-opus-20240229', error_type: '_OTHER' };
    // An explicit provider is its own value; the model is both request and response model.
    const mine = { gen_ai_operation_name: 'chat', gen_ai_system: 'my-gateway', gen_ai_request_model: 'my-model', gen_ai_response_model: 'my-model' };
    const completion = {
      gen_ai_operation_name: 'text_completion', gen_ai_system: 'openai', gen_ai_request_model: 'gpt-4o', gen_ai_response_model: 'gpt-4o-2024-08-06',
    };

    expect(seriesOf(all, 'iron_analytics_requests_total')).toEqual([
      'chat|anthropic|claude-3-opus-20240229|-|_OTHER',
      'chat|anthropic|claude-3-opus-20240229|claude-3-opus-20240229|-',
      'chat|my-gateway|my-model|my-model|-',
      'chat|openai|gpt-4|-|rate_limit',
      'chat|openai|gpt-4|gpt-4|-',
      'text_completion|openai|gpt-4o|gpt-4o-2024-08-06|-',
    ]);
    expect(valueOf(all, 'iron_analytics_requests_total', gpt4)).toBe(2);
    expect(valueOf(all, 'iron_analytics_requests_total', gpt4Failed)).toBe(1);
    expect(valueOf(all, 'iron_analytics_requests_total', claude)).toBe(1);
    expect(valueOf(all, 'iron_analytics_requests_total', claudeFailed)).toBe(1);
    expect(valueOf(all, 'iron_analytics_requests_total', mine)).toBe(1);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', gpt4)).toBe(0.1575);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', gpt4Failed)).toBe(0);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', claude)).toBe(0.0105);
    expect(valueOf(all, 'iron_analytics_cost_usd_total', mine)).toBe(0);
    expect(valueOf(all, 'iron_analytics_unpriced_requests_total', mine)).toBe(1);
    // Priced by the response model: $2.50/M in, $10/M out.
    expect(valueOf(all, 'iron_analytics_cost_usd_total', completion)).toBe(0.0501);
    expect(valueOf(all, 'iron_analytics_unpriced_requests_total', completion)).toBe(0);

    // Tokens: one observation per completed request, never for a failure.
    expect(seriesOf(all, `${TOKENS}_count`)).toEqual([
      'chat|anthropic|claude-3-opus-20240229|claude-3-opus-20240229|-',
      'chat|anthropic|claude-3-opus-20240229|claude-3-opus-20240229|-',
      'chat|my-gateway|my-model|my-model|-',
      'chat|my-gateway|my-model|my-model|-',
      'chat|openai|gpt-4|gpt-4|-',
      'chat|openai|gpt-4|gpt-4|-',
      'text_completion|openai|gpt-4o|gpt-4o-2024-08-06|-',
      'text_completion|openai|gpt-4o|gpt-4o-2024-08-06|-',
    ]);
    const input = { ...gpt4, gen_ai_token_type: 'input' };
    const output = { ...gpt4, gen_ai_token_type: 'output' };
    // 150 in (64, 256], 1000 in (256, 1024]; 50 in (16, 64], 2000 in (1024, 4096].
    expect(buckets(all, TOKENS, input)).toEqual([0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(buckets(all, TOKENS, output)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect([valueOf(all, `${TOKENS}_sum`, input), valueOf(all, `${TOKENS}_sum`, output)]).toEqual([1150, 2050]);
    expect(valueOf(all, `${TOKENS}_count`, input)).toBe(2);

    // Durations: every request measured, failures with their error type.
    expect(seriesOf(all, `${DURATION}_count`)).toEqual([
      'chat|openai|gpt-4|-|rate_limit',
      'chat|openai|gpt-4|gpt-4|-',
      'text_completion|openai|gpt-4o|gpt-4o-2024-08-06|-',
    ]);
    // 5 ms in (0, 0.01], 100 ms in (0.08, 0.16]; 250 ms in (0.16, 0.32]; 1.5 s in (1.28, 2.56].
    expect(buckets(all, DURATION, gpt4)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(valueOf(all, `${DURATION}_sum`, gpt4)).toBe(0.105);
    expect(buckets(all, DURATION, gpt4Failed)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(buckets(all, DURATION, completion)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    // Time to first chunk: 30 ms in (0.02, 0.04].
    expect(seriesOf(all, `${TTFC}_count`)).toEqual(['chat|openai|gpt-4|gpt-4|-']);
    expect(buckets(all, TTFC, gpt4)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(valueOf(all, `${TTFC}_sum`, gpt4)).toBe(0.03);

    expect(valueOf(all, 'iron_analytics_events_dropped_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_events_evicted_total')).toBe(2);
    expect(valueOf(all, 'iron_analytics_events_buffered')).toBe(4);
    expect(valueOf(all, 'iron_analytics_events_unsynced')).toBe(4);
    expect(valueOf(all, 'iron_analytics_events_delivered_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_events_rejected_total')).toBe(1);
    expect(valueOf(all, 'iron_analytics_records_lost_total')).toBe(0);
  });

  it('names the provider by the latest experimental conventions when OTEL_SEMCONV_STABILITY_OPT_IN asks', () => {
    const store = new EventStore();
    for (const model of ['grok-4', 'gemini-2.5-pro', 'mistral-large-latest', 'openai/gpt-4o', 'llama-3']) {
      store.recordLlmFailed(model, null, null, 'timeout', null, { durationMs: 10 });
    }
    const old = withOptIn('http', () => store.prometheus());
    const latest = withOptIn('http/dup, gen_ai_latest_experimental', () => store.prometheus());
    const values = (text: string, label: string) => [...new Set(samples(text).map((s) => s.labels[label]).filter((v) => v !== undefined))].sort();
    expect(values(old, 'gen_ai_system')).toEqual(['_OTHER', 'gcp.gemini', 'mistral_ai', 'openai', 'xai']);
    expect(values(latest, 'gen_ai_provider_name')).toEqual(['_OTHER', 'gcp.gemini', 'mistral_ai', 'openai', 'x_ai']);
    expect(values(old, 'gen_ai_provider_name')).toEqual([]);
    expect(values(latest, 'gen_ai_system')).toEqual([]);
    // Only the provider attribute differs.
    expect(latest.replace(/gen_ai_provider_name="x_ai"/g, 'gen_ai_system="xai"').replace(/gen_ai_provider_name=/g, 'gen_ai_system=')).toBe(old);
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
    // The series are totals, not the buffer.
    const failed = { gen_ai_operation_name: 'chat', gen_ai_system: 'openai', gen_ai_request_model: 'gpt-4', error_type: '_OTHER' };
    expect(valueOf(all, 'iron_analytics_requests_total', failed)).toBe(5);
  });

  it('sums series past the cardinality limit in one series marked otel_metric_overflow', () => {
    const store = new EventStore({ cardinalityLimit: 2 });
    for (const model of ['gpt-4o', 'gpt-4o', 'o3', 'claude-3-haiku', 'claude-3-opus']) {
      store.recordLlmCompleted(pricing, model, 10, 5, null, null, { durationMs: 20 });
    }
    const text = store.prometheus();
    const all = samples(text);
    expect(valueOf(all, 'iron_analytics_requests_total', { otel_metric_overflow: 'true' })).toBe(2);
    expect(valueOf(all, `${DURATION}_count`, { otel_metric_overflow: 'true' })).toBe(2);
    expect(valueOf(all, `${TOKENS}_count`, { otel_metric_overflow: 'true', gen_ai_token_type: 'input' })).toBe(2);
    expect(seriesOf(all, 'iron_analytics_requests_total')).toEqual(['-|-|-|-|-', 'chat|openai|gpt-4o|gpt-4o|-', 'chat|openai|o3|o3|-']);
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
    expect(text).toContain('gen_ai_system="gate\\"way\\\\\\n"');
    // No raw newline inside a sample line: every line is a comment or `name{labels} value`.
    for (const line of text.slice(0, -1).split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+)$/);
    }

    const all = samples(text);
    const labels = { gen_ai_operation_name: 'chat', gen_ai_system: '_OTHER', gen_ai_request_model: model, gen_ai_response_model: model };
    expect(valueOf(all, 'iron_analytics_requests_total', labels)).toBe(1);
    const { gen_ai_response_model: _answered, ...asked } = labels;
    expect(valueOf(all, 'iron_analytics_requests_total', { ...asked, error_type: '_OTHER' })).toBe(1);
    expect(valueOf(all, `${TOKENS}_sum`, { ...labels, gen_ai_token_type: 'output' })).toBe(4);
    expect(valueOf(all, 'iron_analytics_requests_total', {
      gen_ai_operation_name: 'chat', gen_ai_system: provider, gen_ai_request_model: 'gpt-4', error_type: '_OTHER',
    })).toBe(1);
    // A time to first chunk only: a first-chunk series, no duration series.
    expect(buckets(all, TTFC, labels)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(seriesOf(all, `${DURATION}_count`)).toEqual([]);
  });

  it('writes non-ASCII label values as UTF-8 text, unchanged', () => {
    const store = new EventStore();
    for (const model of ['modèle-ü', 'émoji-😀', '模型', 'plain']) store.recordLlmCompleted(pricing, model, 3, 4, null, null, { durationMs: 12 });
    const all = samples(store.prometheus());
    for (const model of ['modèle-ü', 'émoji-😀', '模型', 'plain']) {
      const labels = { gen_ai_operation_name: 'chat', gen_ai_system: '_OTHER', gen_ai_request_model: model, gen_ai_response_model: model };
      expect(valueOf(all, 'iron_analytics_requests_total', labels), model).toBe(1);
      expect(valueOf(all, `${DURATION}_count`, labels), model).toBe(1);
    }
  });

  it('renders megabytes the same at every call, past the buffers kept between calls and across collections', () => {
    // 400 series of 4 histograms with 200-character names: ~16 MB, more
    // than either implementation keeps from one call to the next (8 MiB).
    const store = new EventStore({ cardinalityLimit: 400 });
    const pad = 'n'.repeat(190);
    for (let i = 0; i < 400; i++) {
      store.recordLlmCompleted(pricing, `m${i}-${pad}`, i, 2 * i, null, null, { durationMs: i, ttftMs: i / 2 });
    }
    const first = store.prometheus();
    expect(first.length).toBeGreaterThan(8 << 20);
    // Line by line (a parser takes seconds over this much text).
    const lines = first.split('\n');
    expect(lines.filter((l) => l.startsWith(`${DURATION}_count{`))).toHaveLength(400);
    const labels = `gen_ai_operation_name="chat",gen_ai_system="_OTHER",gen_ai_request_model="m7-${pad}",gen_ai_response_model="m7-${pad}"`;
    expect(lines).toContain(`${TOKENS}_sum{${labels},gen_ai_token_type="output"} 14`);
    expect(lines).toContain(`${DURATION}_bucket{${labels},le="+Inf"} 1`);
    expect(lines.at(-1)).toBe('');
    const digest = (text: string): string => createHash('sha256').update(text).digest('hex');
    const firstDigest = digest(first);
    for (let i = 0; i < 3; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      expect(store.prometheus() === first).toBe(true);
    }
    // Another text into whatever buffer is reused: the first string is untouched.
    store.recordLlmCompleted(pricing, 'past-the-limit', 1, 1);
    for (let i = 0; i < 2; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      const next = store.prometheus();
      expect(next.includes('otel_metric_overflow="true"')).toBe(true);
      expect(next === first).toBe(false);
    }
    expect(digest(first)).toBe(firstDigest);
    // A small store right after a large one: the buffer kept or not, nothing of the large text leaks in.
    const small = new EventStore();
    small.recordLlmCompleted(pricing, 'gpt-4o', 1, 1);
    const text = small.prometheus();
    expect(text).not.toContain(pad);
    expect(valueOf(samples(text), 'iron_analytics_requests_total', {
      gen_ai_operation_name: 'chat', gen_ai_system: 'openai', gen_ai_request_model: 'gpt-4o', gen_ai_response_model: 'gpt-4o',
    })).toBe(1);
  });
});
