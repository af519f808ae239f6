/**
 * Prometheus text exposition (format 0.0.4) of a store's GenAI series and
 * outbox counters, on the OpenTelemetry GenAI conventions (see series.ts for
 * the versions). The fallback renders here; the native store has the core
 * render it (`render_prometheus` of `prometheus.rs`): both write the same
 * bytes, which the parity tests check.
 *
 * Names follow OpenTelemetry's Prometheus compatibility rules: dots become
 * underscores, unit `s` a `_seconds` suffix, an annotation unit (`{token}`)
 * none, a monotonic sum ends in `_total`.
 */
import { LATENCY_BOUNDS_MICROS } from './latency.js';
import {
  TIME_TO_FIRST_CHUNK_BOUNDS_MICROS,
  TOKEN_BOUNDS,
  countOf,
  providerAttribute,
  providerValue,
  type BucketCounts,
  type GenAiConventions,
  type SeriesReading,
} from './series.js';
import type { Accounting } from './types.js';

/** The labels of the overflow series (every series past the cardinality limit), as the OpenTelemetry SDK marks them. */
const OVERFLOW_LABEL = 'otel_metric_overflow="true"';

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value: backslash, double quote, newline. */
export function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function family(out: string[], name: string, kind: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
}

/** A histogram family: its name and the `le` text of each bound. */
class HistogramFamily {
  readonly #bucket: string;
  readonly #sum: string;
  readonly #count: string;
  readonly #le: string[];

  constructor(readonly name: string, le: string[]) {
    this.#bucket = `${name}_bucket{`;
    this.#sum = `${name}_sum{`;
    this.#count = `${name}_count{`;
    this.#le = [...le.map((b) => `,le="${b}"} `), ',le="+Inf"} '];
  }

  write(out: string[], labels: string, h: BucketCounts, sum: number): void {
    let cumulative = 0;
    const counts = h.counts;
    for (let i = 0; i < counts.length; i++) {
      cumulative += counts[i]!;
      out.push(this.#bucket + labels + this.#le[i]! + cumulative);
    }
    out.push(`${this.#sum}${labels}} ${sum}`, `${this.#count}${labels}} ${cumulative}`);
  }
}

const seconds = (boundsMicros: readonly number[]): string[] => boundsMicros.map((b) => String(b / 1e6));

const DURATION = new HistogramFamily('gen_ai_client_operation_duration_seconds', seconds(LATENCY_BOUNDS_MICROS));
const TTFC = new HistogramFamily(
  'gen_ai_client_operation_time_to_first_chunk_seconds',
  seconds(TIME_TO_FIRST_CHUNK_BOUNDS_MICROS),
);
const TOKENS = new HistogramFamily('gen_ai_client_token_usage', TOKEN_BOUNDS.map(String));

/** The label sets of a series: with `error_type` (duration, counters), and without (first chunk, tokens). */
function labelsOf(s: SeriesReading, conventions: GenAiConventions, providerLabel: string): [string, string] {
  const a = s.attributes;
  // The overflow series' own attributes are gone: only the SDK's mark stays.
  if (a === null) return [OVERFLOW_LABEL, OVERFLOW_LABEL];
  let base =
    `gen_ai_operation_name="${escapeLabel(a.operation)}",${providerLabel}="${escapeLabel(providerValue(conventions, a.provider))}",` +
    `gen_ai_request_model="${escapeLabel(a.requestModel)}"`;
  if (a.responseModel !== null) base += `,gen_ai_response_model="${escapeLabel(a.responseModel)}"`;
  return [a.errorType === null ? base : `${base},error_type="${escapeLabel(a.errorType)}"`, base];
}

/** Renders sorted series and the outbox counters. */
export function renderPrometheus(
  series: readonly SeriesReading[],
  accounting: Accounting,
  unsynced: number,
  conventions: GenAiConventions,
): string {
  const providerLabel = providerAttribute(conventions).replace(/\./g, '_');
  const labels = series.map((s) => labelsOf(s, conventions, providerLabel));
  const out: string[] = [];
  family(out, DURATION.name, 'histogram', 'GenAI operation duration.');
  series.forEach((s, i) => {
    if (countOf(s.duration) > 0) DURATION.write(out, labels[i]![0], s.duration, s.duration.sum / 1e6);
  });
  family(
    out,
    TTFC.name,
    'histogram',
    'Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.',
  );
  series.forEach((s, i) => {
    if (countOf(s.timeToFirstChunk) > 0) TTFC.write(out, labels[i]![1], s.timeToFirstChunk, s.timeToFirstChunk.sum / 1e6);
  });
  family(out, TOKENS.name, 'histogram', 'Number of input and output tokens used.');
  series.forEach((s, i) => {
    const base = labels[i]![1];
    if (countOf(s.inputTokens) > 0) TOKENS.write(out, `${base},gen_ai_token_type="input"`, s.inputTokens, s.inputTokens.sum);
    if (countOf(s.outputTokens) > 0) TOKENS.write(out, `${base},gen_ai_token_type="output"`, s.outputTokens, s.outputTokens.sum);
  });
  const perSeries: [string, string, (s: SeriesReading) => number][] = [
    [
      'iron_analytics_requests_total',
      'LLM requests, completed and failed (error_type), by GenAI series.',
      (s) => s.requestCount,
    ],
    ['iron_analytics_cost_usd_total', 'Cost of LLM requests in US dollars, by GenAI series.', (s) => s.costMicros / 1e6],
    [
      'iron_analytics_unpriced_requests_total',
      'Completed LLM requests whose model had no price (they cost 0), by GenAI series.',
      (s) => s.unpricedRequests,
    ],
  ];
  for (const [name, help, value] of perSeries) {
    family(out, name, 'counter', help);
    series.forEach((s, i) => out.push(`${name}{${labels[i]![0]}} ${value(s)}`));
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
    family(out, name, kind, help);
    out.push(`${name} ${value}`);
  }
  return `${out.join('\n')}\n`;
}
