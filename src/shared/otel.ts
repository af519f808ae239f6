/**
 * `store.metricProducer()`: the store's GenAI series and outbox counters as
 * an OpenTelemetry `MetricProducer` (`@opentelemetry/sdk-metrics`), for a
 * `PeriodicExportingMetricReader` to export over OTLP with the rest of an
 * application's metrics.
 *
 * `@opentelemetry/sdk-metrics` is an optional peer dependency: nothing here
 * loads it. The producer builds the SDK's data shapes itself (declared
 * below, structurally; a test checks them against the SDK's own types and
 * enum values), so a store without OpenTelemetry costs nothing.
 *
 * Every metric is cumulative and starts when the store began counting, so
 * a restarted router (a new store) shows a later start time and a backend
 * never reads its lower counts as a decrease.
 */
import { LATENCY_BOUNDS_MICROS } from './latency.js';
import {
  TIME_TO_FIRST_CHUNK_BOUNDS_MICROS,
  TOKEN_BOUNDS,
  conventionsFromEnv,
  countOf,
  providerAttribute,
  providerValue,
  type BucketCounts,
  type GenAiConventions,
  type SeriesReading,
  type SeriesSnapshot,
} from './series.js';
import type { Accounting } from './types.js';

// ---------------------------------------------------------------------------
// The SDK's shapes (`MetricData.d.ts` of @opentelemetry/sdk-metrics 2.x).
// ---------------------------------------------------------------------------

/** `[seconds, nanoseconds]` since the Unix epoch (`HrTime` of @opentelemetry/api). */
export type OtelHrTime = [number, number];
/** Attribute values of a data point. */
export type OtelAttributes = Record<string, string | boolean>;

/** `DataPointType` of the SDK: `HISTOGRAM = 0`, `GAUGE = 2`, `SUM = 3`. */
export const DATA_POINT_TYPE = Object.freeze({ HISTOGRAM: 0, GAUGE: 2, SUM: 3 } as const);
/** `AggregationTemporality.CUMULATIVE` of the SDK. */
export const CUMULATIVE = 1;
/** `ValueType` of @opentelemetry/api: `INT = 0`, `DOUBLE = 1`. */
export const VALUE_TYPE = Object.freeze({ INT: 0, DOUBLE: 1 } as const);

/** A metric's name, description, unit and value type. */
export interface OtelMetricDescriptor {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly valueType: 0 | 1;
}

/** A data point: its interval, attributes and value. */
export interface OtelDataPoint<T> {
  readonly startTime: OtelHrTime;
  readonly endTime: OtelHrTime;
  readonly attributes: OtelAttributes;
  readonly value: T;
}

/** An explicit-bucket histogram value: boundaries, counts per bucket (not cumulative, the last one `+Inf`), sum, count. */
export interface OtelHistogram {
  buckets: { boundaries: number[]; counts: number[] };
  sum?: number;
  count: number;
}

/** A histogram, a monotonic sum or a gauge, always cumulative. */
export type OtelMetricData =
  | {
      readonly descriptor: OtelMetricDescriptor;
      readonly aggregationTemporality: typeof CUMULATIVE;
      readonly dataPointType: typeof DATA_POINT_TYPE.HISTOGRAM;
      readonly dataPoints: OtelDataPoint<OtelHistogram>[];
    }
  | {
      readonly descriptor: OtelMetricDescriptor;
      readonly aggregationTemporality: typeof CUMULATIVE;
      readonly dataPointType: typeof DATA_POINT_TYPE.SUM;
      readonly dataPoints: OtelDataPoint<number>[];
      readonly isMonotonic: boolean;
    }
  | {
      readonly descriptor: OtelMetricDescriptor;
      readonly aggregationTemporality: typeof CUMULATIVE;
      readonly dataPointType: typeof DATA_POINT_TYPE.GAUGE;
      readonly dataPoints: OtelDataPoint<number>[];
    };

/** The resource a standalone `collect()` reports (a reader replaces it with its MeterProvider's). */
export interface OtelResource {
  readonly attributes: OtelAttributes;
  merge(other: OtelResource | null): OtelResource;
  getRawAttributes(): [string, string | boolean][];
}

/** What `collect()` resolves to: one resource, one scope (`iron-runtime-analytics`), no error unless reading failed. */
export interface OtelCollectionResult {
  resourceMetrics: {
    resource: OtelResource;
    scopeMetrics: { scope: { readonly name: string; readonly version?: string }; metrics: OtelMetricData[] }[];
  };
  errors: unknown[];
}

/**
 * The object `store.metricProducer()` returns: a `MetricProducer` of
 * `@opentelemetry/sdk-metrics` (structurally; pass it in a reader's
 * `metricProducers`).
 */
export interface StoreMetricProducer {
  /** Reads the store now: every metric, cumulative since the store was made. */
  collect(options?: { timeoutMillis?: number }): Promise<OtelCollectionResult>;
}

// ---------------------------------------------------------------------------
// The producer.
// ---------------------------------------------------------------------------

/** What a store hands the producer at each collection. */
export interface MetricsReading extends SeriesSnapshot {
  accounting: Accounting;
  unsynced: number;
}

/** The instrumentation scope of every metric the producer reports. */
export const PRODUCER_SCOPE = Object.freeze({ name: 'iron-runtime-analytics' });

const EMPTY_RESOURCE: OtelResource = Object.freeze({
  attributes: Object.freeze({}) as OtelAttributes,
  merge(other: OtelResource | null): OtelResource {
    return other ?? EMPTY_RESOURCE;
  },
  getRawAttributes(): [string, string | boolean][] {
    return [];
  },
});

const hrTime = (ms: number): OtelHrTime => {
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
};

const describe = (name: string, unit: string, description: string, valueType: 0 | 1): OtelMetricDescriptor => ({
  name,
  unit,
  description,
  valueType,
});

const SECONDS = (micros: readonly number[]): number[] => micros.map((b) => b / 1e6);
const DURATION = describe('gen_ai.client.operation.duration', 's', 'GenAI operation duration.', VALUE_TYPE.DOUBLE);
const TTFC = describe(
  'gen_ai.client.operation.time_to_first_chunk',
  's',
  'Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.',
  VALUE_TYPE.DOUBLE,
);
const TOKENS = describe('gen_ai.client.token.usage', '{token}', 'Number of input and output tokens used.', VALUE_TYPE.INT);
const DURATION_BOUNDS = SECONDS(LATENCY_BOUNDS_MICROS);
const TTFC_BOUNDS = SECONDS(TIME_TO_FIRST_CHUNK_BOUNDS_MICROS);
const TOKEN_BOUNDARIES = [...TOKEN_BOUNDS];

/** Per-series counters: OTLP name, unit, description, value type, value. */
const PER_SERIES: [OtelMetricDescriptor, (s: SeriesReading) => number][] = [
  [describe('iron_analytics.requests', '{request}', 'LLM requests, completed and failed (error.type), by GenAI series.', VALUE_TYPE.INT), (s) => s.requestCount],
  [describe('iron_analytics.cost_usd', '{USD}', 'Cost of LLM requests in US dollars, by GenAI series.', VALUE_TYPE.DOUBLE), (s) => s.costMicros / 1e6],
  [
    describe('iron_analytics.unpriced_requests', '{request}', 'Completed LLM requests whose model had no price (they cost 0), by GenAI series.', VALUE_TYPE.INT),
    (s) => s.unpricedRequests,
  ],
];

/** Outbox counters (monotonic sums) and gauges. */
const OUTBOX: [OtelMetricDescriptor, 'sum' | 'gauge', (r: MetricsReading) => number][] = [
  [describe('iron_analytics.events.dropped', '{event}', 'LLM events dropped because the buffer was full.', VALUE_TYPE.INT), 'sum', (r) => r.accounting.dropped],
  [describe('iron_analytics.events.evicted', '{event}', 'Local events evicted to make room.', VALUE_TYPE.INT), 'sum', (r) => r.accounting.evicted],
  [describe('iron_analytics.events.delivered', '{event}', 'Events delivered to the Control API.', VALUE_TYPE.INT), 'sum', (r) => r.accounting.synced],
  [describe('iron_analytics.events.rejected', '{event}', 'Events the Control API rejected as invalid.', VALUE_TYPE.INT), 'sum', (r) => r.accounting.rejected],
  [describe('iron_analytics.records.lost', '{record}', 'Records accepted by a binding but never recorded.', VALUE_TYPE.INT), 'sum', (r) => r.accounting.lost],
  [describe('iron_analytics.events.buffered', '{event}', 'Events in the buffer.', VALUE_TYPE.INT), 'gauge', (r) => r.accounting.buffered],
  [describe('iron_analytics.events.unsynced', '{event}', 'LLM events waiting to be delivered.', VALUE_TYPE.INT), 'gauge', (r) => r.unsynced],
];

/** The attributes of a series: with `error.type` (duration, counters) and without (first chunk, tokens). */
function attributesOf(s: SeriesReading, conventions: GenAiConventions, provider: string): [OtelAttributes, OtelAttributes] {
  const a = s.attributes;
  if (a === null) {
    const overflow = { 'otel.metric.overflow': true };
    return [overflow, overflow];
  }
  const base: OtelAttributes = {
    'gen_ai.operation.name': a.operation,
    [provider]: providerValue(conventions, a.provider),
    'gen_ai.request.model': a.requestModel,
  };
  if (a.responseModel !== null) base['gen_ai.response.model'] = a.responseModel;
  return [a.errorType === null ? base : { ...base, 'error.type': a.errorType }, base];
}

/** The metrics of one reading. */
export function metricsOf(r: MetricsReading, conventions: GenAiConventions, nowMs: number): OtelMetricData[] {
  const startTime = hrTime(r.startTimeMs);
  const endTime = hrTime(Math.max(nowMs, r.startTimeMs));
  const provider = providerAttribute(conventions);
  const point = <T>(attributes: OtelAttributes, value: T): OtelDataPoint<T> => ({ startTime, endTime, attributes, value });
  // A reading's counts are its own copies (both stores make them per reading): no second copy.
  const histogram = (h: BucketCounts, count: number, boundaries: number[], sum: number): OtelHistogram => ({
    buckets: { boundaries, counts: h.counts },
    sum,
    count,
  });
  const duration: OtelDataPoint<OtelHistogram>[] = [];
  const ttfc: OtelDataPoint<OtelHistogram>[] = [];
  const tokens: OtelDataPoint<OtelHistogram>[] = [];
  const counters: OtelDataPoint<number>[][] = PER_SERIES.map(() => []);
  for (const s of r.series) {
    const [withError, base] = attributesOf(s, conventions, provider);
    let n = countOf(s.duration);
    if (n > 0) duration.push(point(withError, histogram(s.duration, n, DURATION_BOUNDS, s.duration.sum / 1e6)));
    n = countOf(s.timeToFirstChunk);
    if (n > 0) ttfc.push(point(base, histogram(s.timeToFirstChunk, n, TTFC_BOUNDS, s.timeToFirstChunk.sum / 1e6)));
    n = countOf(s.inputTokens);
    if (n > 0) {
      tokens.push(point({ ...base, 'gen_ai.token.type': 'input' }, histogram(s.inputTokens, n, TOKEN_BOUNDARIES, s.inputTokens.sum)));
    }
    n = countOf(s.outputTokens);
    if (n > 0) {
      tokens.push(point({ ...base, 'gen_ai.token.type': 'output' }, histogram(s.outputTokens, n, TOKEN_BOUNDARIES, s.outputTokens.sum)));
    }
    PER_SERIES.forEach(([, value], i) => counters[i]!.push(point(withError, value(s))));
  }
  const histogramMetric = (descriptor: OtelMetricDescriptor, dataPoints: OtelDataPoint<OtelHistogram>[]): OtelMetricData => ({
    descriptor,
    aggregationTemporality: CUMULATIVE,
    dataPointType: DATA_POINT_TYPE.HISTOGRAM,
    dataPoints,
  });
  const metrics: OtelMetricData[] = [histogramMetric(DURATION, duration), histogramMetric(TTFC, ttfc), histogramMetric(TOKENS, tokens)];
  PER_SERIES.forEach(([descriptor], i) => {
    metrics.push({
      descriptor,
      aggregationTemporality: CUMULATIVE,
      dataPointType: DATA_POINT_TYPE.SUM,
      dataPoints: counters[i]!,
      isMonotonic: true,
    });
  });
  for (const [descriptor, kind, value] of OUTBOX) {
    const dataPoints = [point({}, value(r))];
    metrics.push(
      kind === 'sum'
        ? { descriptor, aggregationTemporality: CUMULATIVE, dataPointType: DATA_POINT_TYPE.SUM, dataPoints, isMonotonic: true }
        : { descriptor, aggregationTemporality: CUMULATIVE, dataPointType: DATA_POINT_TYPE.GAUGE, dataPoints },
    );
  }
  // An empty metric is not exported (the SDK's own readers drop them too).
  return metrics.filter((m) => m.dataPoints.length > 0);
}

/**
 * A producer reading a store through `read` at each collection, on the
 * conventions the environment asks for at that moment.
 */
export function createMetricProducer(read: () => MetricsReading): StoreMetricProducer {
  return {
    async collect(): Promise<OtelCollectionResult> {
      let metrics: OtelMetricData[];
      try {
        metrics = metricsOf(read(), conventionsFromEnv(), Date.now());
      } catch (e) {
        // The reader reports collection errors; the other producers still export.
        return { resourceMetrics: { resource: EMPTY_RESOURCE, scopeMetrics: [] }, errors: [e] };
      }
      return { resourceMetrics: { resource: EMPTY_RESOURCE, scopeMetrics: [{ scope: PRODUCER_SCOPE, metrics }] }, errors: [] };
    },
  };
}
