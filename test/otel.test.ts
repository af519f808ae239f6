// The OpenTelemetry bridge end to end: the real @opentelemetry/sdk-metrics
// reader and the real OTLP/HTTP exporter (JSON) post a store's metrics,
// through `store.metricProducer()`, to an OTLP receiver this test runs on
// 127.0.0.1 and decodes. Runs on both implementations.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValueType } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, PricingManager, implementation } from '../src/index.js';
import { CUMULATIVE, DATA_POINT_TYPE, VALUE_TYPE } from '../src/shared/otel.js';

// ---------------------------------------------------------------------------
// An OTLP/HTTP receiver (JSON encoding), as a Collector's otlp receiver takes it.
// ---------------------------------------------------------------------------

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
}
interface OtlpPoint {
  attributes?: { key: string; value: OtlpValue }[];
  startTimeUnixNano: string | number;
  timeUnixNano: string | number;
  count?: string | number;
  sum?: number;
  bucketCounts?: (string | number)[];
  explicitBounds?: number[];
  asDouble?: number;
  asInt?: string | number;
}
interface OtlpMetric {
  name: string;
  unit?: string;
  description?: string;
  histogram?: { dataPoints: OtlpPoint[]; aggregationTemporality: number };
  sum?: { dataPoints: OtlpPoint[]; aggregationTemporality: number; isMonotonic?: boolean };
  gauge?: { dataPoints: OtlpPoint[] };
}
interface OtlpRequest {
  resourceMetrics: { resource?: unknown; scopeMetrics: { scope: { name: string }; metrics: OtlpMetric[] }[] }[];
}

/** OTLP's AGGREGATION_TEMPORALITY_CUMULATIVE (the protocol's enum, not the SDK's). */
const OTLP_CUMULATIVE = 2;

const received: OtlpRequest[] = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/metrics' || !String(req.headers['content-type']).startsWith('application/json')) {
        res.writeHead(400).end();
        return;
      }
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const attrs = (p: OtlpPoint): Record<string, string | boolean> =>
  Object.fromEntries((p.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? a.value.boolValue ?? String(a.value.intValue)]));
const num = (v: string | number | undefined): number => Number(v);

/** The metrics of the last request, by name (only the store's scope). */
function lastExport(): Map<string, OtlpMetric> {
  const last = received[received.length - 1]!;
  const scopes = last.resourceMetrics.flatMap((r) => r.scopeMetrics).filter((s) => s.scope.name === 'iron-runtime-analytics');
  expect(scopes).toHaveLength(1);
  return new Map(scopes[0]!.metrics.map((m) => [m.name, m]));
}

/** A reader exporting `producer` (and an SDK meter's own metrics) to the receiver. */
function pipeline(producer: MetricProducer) {
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url }),
    exportIntervalMillis: 3_600_000,
    metricProducers: [producer],
  });
  const provider = new MeterProvider({ readers: [reader] });
  return { reader, provider };
}

const pricing = new PricingManager();

describe('store.metricProducer() over OTLP', () => {
  it('uses the SDK enum values its shapes declare', () => {
    expect(DATA_POINT_TYPE).toEqual({ HISTOGRAM: DataPointType.HISTOGRAM, GAUGE: DataPointType.GAUGE, SUM: DataPointType.SUM });
    expect(CUMULATIVE).toBe(AggregationTemporality.CUMULATIVE);
    expect(VALUE_TYPE).toEqual({ INT: ValueType.INT, DOUBLE: ValueType.DOUBLE });
  });

  it('exports every store metric, histograms with their buckets, cumulative from the store start', async () => {
    const before = Date.now();
    const store = new EventStore({ capacity: 3, cardinalityLimit: 5 });
    const after = Date.now();
    // Type-checked: the producer is a MetricProducer of the SDK.
    const producer: MetricProducer = store.metricProducer();
    const { reader, provider } = pipeline(producer);
    // The application's own metric travels with the store's.
    provider.getMeter('app').createCounter('app.requests').add(1);

    store.recordLlmCompleted(pricing, 'gpt-4o-2024-08-06', 1_000, 200, null, null, { durationMs: 850, ttftMs: 120, requestModel: 'gpt-4o' });
    store.recordLlmCompleted(pricing, 'gpt-4o-2024-08-06', 3, 5_000, null, null, { durationMs: 30, requestModel: 'gpt-4o' });
    store.recordLlmFailed('grok-4', null, null, 'rate_limit', null, { durationMs: 250 });
    store.recordLlmCompleted(pricing, 'unpriced-model', 1, 1); // buffer full at the next one
    store.recordLlmFailed('claude-3-haiku-20240307');
    await reader.forceFlush();

    const metrics = lastExport();
    const names = [...metrics.keys()].sort();
    console.log(`OTLP receiver got (${implementation}):`, names.join(', '));
    expect(names).toEqual([
      'gen_ai.client.operation.duration',
      'gen_ai.client.operation.time_to_first_chunk',
      'gen_ai.client.token.usage',
      'iron_analytics.cost_usd',
      'iron_analytics.events.buffered',
      'iron_analytics.events.delivered',
      'iron_analytics.events.dropped',
      'iron_analytics.events.evicted',
      'iron_analytics.events.rejected',
      'iron_analytics.events.unsynced',
      'iron_analytics.records.lost',
      'iron_analytics.requests',
      'iron_analytics.unpriced_requests',
    ]);
    const appScope = received[received.length - 1]!.resourceMetrics.flatMap((r) => r.scopeMetrics).find((s) => s.scope.name === 'app');
    expect(appScope?.metrics.map((m) => m.name)).toEqual(['app.requests']);

    // Every point cumulative, starting when the store was made.
    for (const m of metrics.values()) {
      const data = m.histogram ?? m.sum;
      if (data) expect(data.aggregationTemporality, m.name).toBe(OTLP_CUMULATIVE);
      for (const p of (m.histogram ?? m.sum ?? m.gauge)!.dataPoints) {
        const start = num(p.startTimeUnixNano) / 1e6;
        expect(start, m.name).toBeGreaterThanOrEqual(before - 1);
        expect(start, m.name).toBeLessThanOrEqual(after + 1);
        expect(num(p.timeUnixNano)).toBeGreaterThanOrEqual(num(p.startTimeUnixNano));
      }
    }

    const duration = metrics.get('gen_ai.client.operation.duration')!;
    expect(duration.unit).toBe('s');
    const byAttrs = (m: OtlpMetric) => new Map(m.histogram!.dataPoints.map((p) => [JSON.stringify(attrs(p)), p]));
    const gpt4o = { 'gen_ai.operation.name': 'chat', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-2024-08-06' };
    const grok = { 'gen_ai.operation.name': 'chat', 'gen_ai.system': 'xai', 'gen_ai.request.model': 'grok-4', 'error.type': 'rate_limit' };
    const points = byAttrs(duration);
    expect([...points.keys()].sort()).toEqual([JSON.stringify(gpt4o), JSON.stringify(grok)].sort());
    const d = points.get(JSON.stringify(gpt4o))!;
    expect(d.explicitBounds).toEqual([0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]);
    // 30 ms in (0.02, 0.04], 850 ms in (0.64, 1.28].
    expect(d.bucketCounts!.map(num)).toEqual([0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect([num(d.count), d.sum]).toEqual([2, 0.88]);
    expect(num(points.get(JSON.stringify(grok))!.count)).toBe(1);

    const ttfc = metrics.get('gen_ai.client.operation.time_to_first_chunk')!.histogram!.dataPoints;
    expect(ttfc.map(attrs)).toEqual([gpt4o]);

    const tokens = metrics.get('gen_ai.client.token.usage')!;
    expect(tokens.unit).toBe('{token}');
    const t = byAttrs(tokens);
    const input = t.get(JSON.stringify({ ...gpt4o, 'gen_ai.token.type': 'input' }))!;
    expect(input.explicitBounds).toEqual([1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]);
    // 3 in (1, 4], 1000 in (256, 1024].
    expect(input.bucketCounts!.map(num)).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([num(input.count), input.sum]).toEqual([2, 1003]);
    expect(t.get(JSON.stringify({ ...gpt4o, 'gen_ai.token.type': 'output' }))!.sum).toBe(5_200);

    const requests = metrics.get('iron_analytics.requests')!.sum!;
    expect(requests.isMonotonic).toBe(true);
    expect(requests.dataPoints.map((p) => num(p.asInt ?? p.asDouble)).reduce((a, b) => a + b)).toBe(5);
    const unpriced = metrics.get('iron_analytics.unpriced_requests')!.sum!.dataPoints.filter((p) => num(p.asInt ?? p.asDouble) > 0);
    expect(unpriced.map((p) => attrs(p)['gen_ai.request.model'])).toEqual(['unpriced-model']);
    const single = (name: string) => {
      const m = metrics.get(name)!;
      const p = (m.sum ?? m.gauge)!.dataPoints;
      expect(p).toHaveLength(1);
      return num(p[0]!.asInt ?? p[0]!.asDouble);
    };
    expect([single('iron_analytics.events.dropped'), single('iron_analytics.events.buffered'), single('iron_analytics.events.unsynced')]).toEqual([2, 3, 3]);

    // Later exports stay cumulative over the same start.
    const firstStart = d.startTimeUnixNano;
    store.recordLlmCompleted(pricing, 'gpt-4o-2024-08-06', 10, 10, null, null, { durationMs: 5, requestModel: 'gpt-4o' });
    await reader.forceFlush();
    const again = byAttrs(lastExport().get('gen_ai.client.operation.duration')!).get(JSON.stringify(gpt4o))!;
    expect(num(again.count)).toBe(3);
    expect(again.startTimeUnixNano).toEqual(firstStart);
    // A producer made later reports the same start: it is the store's.
    const later = await store.metricProducer().collect();
    const laterPoint = later.resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    expect(laterPoint.startTime[0] * 1e9 + laterPoint.startTime[1]).toBeCloseTo(num(firstStart), -3);
    await provider.shutdown();
  });

  it('a new store (a restarted router) starts its series later', async () => {
    const first = new EventStore();
    first.recordLlmFailed('gpt-4o', null, null, null, null, { durationMs: 1 });
    const a = (await first.metricProducer().collect()).resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = new EventStore();
    second.recordLlmFailed('gpt-4o', null, null, null, null, { durationMs: 1 });
    const b = (await second.metricProducer().collect()).resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints[0]!;
    const ns = (t: [number, number]) => t[0] * 1e9 + t[1];
    expect(ns(b.startTime)).toBeGreaterThan(ns(a.startTime));
  });

  it('follows OTEL_SEMCONV_STABILITY_OPT_IN at each collection', async () => {
    const store = new EventStore();
    store.recordLlmFailed('grok-4', null, null, 'timeout');
    const producer = store.metricProducer();
    const attributesNow = async () =>
      (await producer.collect()).resourceMetrics.scopeMetrics[0]!.metrics.find((m) => m.descriptor.name === 'iron_analytics.requests')!
        .dataPoints[0]!.attributes;
    const before = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    try {
      delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
      expect((await attributesNow())['gen_ai.system']).toBe('xai');
      process.env.OTEL_SEMCONV_STABILITY_OPT_IN = 'gen_ai_latest_experimental';
      const latest = await attributesNow();
      expect([latest['gen_ai.provider.name'], latest['gen_ai.system']]).toEqual(['x_ai', undefined]);
    } finally {
      if (before === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
      else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = before;
    }
  });

  it('the package never loads OpenTelemetry itself', () => {
    for (const bundle of ['dist/index.mjs', 'dist/index.cjs']) {
      expect(readFileSync(new URL(`../${bundle}`, import.meta.url), 'utf8'), bundle).not.toMatch(/@opentelemetry/);
    }
    const loaded = execFileSync(
      process.execPath,
      ['-e', "const m = require('./dist/index.cjs'); m.EventStore && console.log(Object.keys(require.cache).filter((k) => k.includes('@opentelemetry')).length)"],
      { cwd: new URL('..', import.meta.url), encoding: 'utf8' },
    );
    expect(loaded.trim()).toBe('0');
  });
});
