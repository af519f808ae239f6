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

function family(name: string, kind: string, help: string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
}

/** A histogram family: its name and the `le` text of each bound (ready to append: `,le="0.01"} `). */
class HistogramFamily {
  readonly #le: string[];

  constructor(readonly name: string, le: string[]) {
    this.#le = [...le.map((b) => `,le="${b}"} `), ',le="+Inf"} '];
  }

  /** The family's lines for one series, appended to `out` (one string grown by `+=`: V8 joins the pieces once, at the end). */
  write(out: string, labels: string, h: BucketCounts, sum: number): string {
    const bucket = `${this.name}_bucket{${labels}`;
    const le = this.#le;
    const counts = h.counts;
    let cumulative = 0;
    for (let i = 0; i < counts.length; i++) {
      cumulative += counts[i]!;
      out += bucket + le[i]! + cumulative + '\n';
    }
    return `${out}${this.name}_sum{${labels}} ${sum}\n${this.name}_count{${labels}} ${cumulative}\n`;
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
  let out = family(DURATION.name, 'histogram', 'GenAI operation duration.');
  series.forEach((s, i) => {
    if (countOf(s.duration) > 0) out = DURATION.write(out, labels[i]![0], s.duration, s.duration.sum / 1e6);
  });
  out += family(
    TTFC.name,
    'histogram',
    'Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.',
  );
  series.forEach((s, i) => {
    if (countOf(s.timeToFirstChunk) > 0) out = TTFC.write(out, labels[i]![1], s.timeToFirstChunk, s.timeToFirstChunk.sum / 1e6);
  });
  out += family(TOKENS.name, 'histogram', 'Number of input and output tokens used.');
  series.forEach((s, i) => {
    const base = labels[i]![1];
    if (countOf(s.inputTokens) > 0) out = TOKENS.write(out, `${base},gen_ai_token_type="input"`, s.inputTokens, s.inputTokens.sum);
    if (countOf(s.outputTokens) > 0) out = TOKENS.write(out, `${base},gen_ai_token_type="output"`, s.outputTokens, s.outputTokens.sum);
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
    out += family(name, 'counter', help);
    series.forEach((s, i) => {
      out += `${name}{${labels[i]![0]}} ${value(s)}\n`;
    });
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
  for (const [name, kind, help, value] of outbox) out += `${family(name, kind, help)}${name} ${value}\n`;
  return out;
}
