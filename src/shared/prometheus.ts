/**
 * Prometheus text exposition (format 0.0.4) of a store's stats, the same for
 * both implementations and the same families as the Rust core's
 * `render_prometheus()`: OpenTelemetry GenAI names where they exist.
 */
import { LATENCY_BUCKETS_SECONDS } from './latency.js';
import type { Accounting, ComputedStats, LatencyHistogram, ModelStats } from './types.js';
import { CARDINALITY_OVERFLOW_KEY } from './validate.js';

/** The labels of an overflow row (names past the cardinality limit), as the OpenTelemetry SDK marks them. */
const OVERFLOW_LABEL = 'otel_metric_overflow="true"';

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value: backslash, double quote, newline. */
export function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(lines: string[], name: string, kind: string, help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
}

function histogramLines(lines: string[], name: string, labels: string, h: LatencyHistogram): void {
  let cumulative = 0;
  h.bucketCounts.forEach((n, i) => {
    cumulative += n;
    const le = i < LATENCY_BUCKETS_SECONDS.length ? String(LATENCY_BUCKETS_SECONDS[i]) : '+Inf';
    lines.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
  });
  lines.push(`${name}_sum{${labels}} ${h.sumSeconds}`, `${name}_count{${labels}} ${h.count}`);
}

const byName = <T>(record: Record<string, T>): [string, T][] =>
  Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Renders the exposition text. `providerOf` names a model's inferred provider. */
export function renderPrometheus(
  stats: ComputedStats,
  accounting: Accounting,
  unsynced: number,
  providerOf: (model: string) => string,
): string {
  const lines: string[] = [];
  // Each model's labels are written once, whatever the number of families.
  // The overflow row's own attributes are gone: only the OpenTelemetry SDK's
  // overflow mark stays.
  const labelCache = new Map<string, string>();
  const labels = (model: string): string => {
    let text = labelCache.get(model);
    if (text === undefined) {
      text =
        model === CARDINALITY_OVERFLOW_KEY
          ? OVERFLOW_LABEL
          : `gen_ai_request_model="${escapeLabel(model)}",gen_ai_provider_name="${escapeLabel(providerOf(model))}"`;
      labelCache.set(model, text);
    }
    return text;
  };
  const latency = byName(stats.latencyByModel);
  family(lines, 'gen_ai_client_operation_duration_seconds', 'histogram', 'Duration of LLM requests, by model.');
  for (const [model, l] of latency) {
    if (l.duration.count > 0) histogramLines(lines, 'gen_ai_client_operation_duration_seconds', labels(model), l.duration);
  }
  family(
    lines,
    'gen_ai_server_time_to_first_token_seconds',
    'histogram',
    'Time to the first token of streamed LLM responses, by model.',
  );
  for (const [model, l] of latency) {
    if (l.ttft.count > 0) histogramLines(lines, 'gen_ai_server_time_to_first_token_seconds', labels(model), l.ttft);
  }
  const models = byName(stats.byModel);
  family(lines, 'gen_ai_client_token_usage', 'counter', 'Tokens used by LLM requests, by model and token type.');
  for (const [model, s] of models) {
    lines.push(`gen_ai_client_token_usage{${labels(model)},gen_ai_token_type="input"} ${s.inputTokens}`);
    lines.push(`gen_ai_client_token_usage{${labels(model)},gen_ai_token_type="output"} ${s.outputTokens}`);
  }
  const perModel: [string, string, (s: ModelStats) => number][] = [
    ['iron_analytics_requests_total', 'LLM requests (completed and failed), by model.', (s) => s.requestCount],
    ['iron_analytics_request_failures_total', 'Failed LLM requests, by model.', (s) => s.failedCount],
    ['iron_analytics_cost_usd_total', 'Cost of LLM requests in US dollars, by model.', (s) => s.costUsd],
    [
      'iron_analytics_unpriced_requests_total',
      'Completed LLM requests whose model had no price (they cost 0), by model.',
      (s) => s.unpricedRequests,
    ],
  ];
  for (const [name, help, value] of perModel) {
    family(lines, name, 'counter', help);
    for (const [model, s] of models) lines.push(`${name}{${labels(model)}} ${value(s)}`);
  }
  family(lines, 'iron_analytics_provider_requests_total', 'counter', 'LLM requests (completed and failed), by recorded provider.');
  for (const [provider, s] of byName(stats.byProvider)) {
    const providerLabels = provider === CARDINALITY_OVERFLOW_KEY ? OVERFLOW_LABEL : `gen_ai_provider_name="${escapeLabel(provider)}"`;
    lines.push(`iron_analytics_provider_requests_total{${providerLabels}} ${s.requestCount}`);
  }
  const outbox: [string, string, string, number][] = [
    ['iron_analytics_events_dropped_total', 'counter', 'LLM events dropped because the buffer was full.', accounting.dropped],
    ['iron_analytics_events_evicted_total', 'counter', 'Local events evicted to make room.', accounting.evicted],
    ['iron_analytics_events_buffered', 'gauge', 'Events in the buffer.', accounting.buffered],
    ['iron_analytics_events_unsynced', 'gauge', 'LLM events waiting to be delivered.', unsynced],
    ['iron_analytics_events_delivered_total', 'counter', 'Events delivered to the Control API.', accounting.synced],
    ['iron_analytics_events_rejected_total', 'counter', 'Events the Control API rejected as invalid.', accounting.rejected],
    ['iron_analytics_records_lost_total', 'counter', 'Records accepted by a binding but never recorded.', accounting.lost],
  ];
  for (const [name, kind, help, value] of outbox) {
    family(lines, name, kind, help);
    lines.push(`${name} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}
