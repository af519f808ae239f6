// One side of bench case `cardinality` (run by child.mjs, in a process of its
// own so that its RSS is its alone; needs --expose-gc):
//
//   IRON_ANALYTICS_IMPL=native node --expose-gc bench/node/cardinality.mjs distinct
//   IRON_ANALYTICS_IMPL=native node --expose-gc bench/node/cardinality.mjs handful
//
// Records COUNT (BENCH_CARDINALITY_COUNT, 1,000,000) completed requests, each
// with tokens, a duration and a time to first token, into one default store
// (capacity 10,000 events, cardinality limit 2,000): `distinct` names every
// request's model differently (as an attacker controlling a request body
// would); `handful` cycles through four names, the baseline of what the
// store's capacity costs when names are not hostile. Prints one JSON line:
// the memory grown after a collection (with one stats() and one prometheus()
// done, so whatever they keep is counted), the time of stats() and of
// prometheus() (median of several calls, wall and CPU), and what the store shows.
import { performance } from 'node:perf_hooks';
import { DIST_URL, INPUT_TOKENS, OUTPUT_TOKENS, LATENCIES, ARGS_MASK, median } from './common.mjs';

const mode = process.argv[2];
if (mode !== 'distinct' && mode !== 'handful') throw new Error('mode: distinct or handful');
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const COUNT = Number(process.env.BENCH_CARDINALITY_COUNT ?? 1_000_000);
const CALLS = 9;

const { EventStore, PricingManager, implementation } = await import(DIST_URL);
console.warn = () => {}; // one warning per unpriced model among the first 2,000: expected

const memory = () => {
  globalThis.gc();
  globalThis.gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};
/** Median wall and CPU milliseconds of `fn` over CALLS calls (after one untimed call). */
const timed = (fn) => {
  fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < CALLS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e3);
  }
  return { wallMs: median(wall), cpuMs: median(cpu) };
};

const pricing = new PricingManager();
const store = new EventStore();
store.recordLlmCompleted(pricing, 'warm-up', 1, 1, 'warm-up');
store.len(); // flushes the native wrapper's batch
const before = memory();
const pad = 'x'.repeat(40);
const handful = ['gpt-4o', 'claude-3-5-sonnet', 'gemini-1.5-pro', 'mistral-large'].map((m) => `${m}-${pad}`);
const t0 = performance.now();
for (let i = 0; i < COUNT; i++) {
  const model = mode === 'distinct' ? `model-${i}-${pad}` : handful[i & 3];
  const a = i & ARGS_MASK;
  store.recordLlmCompleted(pricing, model, INPUT_TOKENS[a], OUTPUT_TOKENS[a], 'agent_support', undefined, LATENCIES[a]);
}
store.len();
const recordSeconds = (performance.now() - t0) / 1e3;
const recorded = memory();

let sink = 0;
const stats = timed(() => {
  const s = store.stats();
  sink += s.totalRequests;
});
const prometheus = timed(() => {
  // Reading a character flattens the string, as writing it to a socket would.
  const text = store.prometheus();
  sink += text.charCodeAt(text.length >> 1);
});
// Measured before the checks below, whose reading of the text would count.
const after = memory();
const s = store.stats();
const text = store.prometheus();
let series = 0;
for (let at = text.indexOf('\niron_analytics_requests_total{'); at >= 0; at = text.indexOf('\niron_analytics_requests_total{', at + 1)) series++;
const result = {
  implementation,
  mode,
  count: COUNT,
  recordSeconds,
  stats,
  prometheus,
  exposition_bytes: text.length,
  series,
  overflowMarked: text.includes('otel_metric_overflow="true"'),
  modelRows: Object.keys(s.byModel).length,
  totalRequests: s.totalRequests,
  sink: sink > 0,
  rssGrowthMb: (after.rss - before.rss) / 1e6,
  heapGrowthMb: (after.heapUsed - before.heapUsed) / 1e6,
  // Where it grew: by recording, then by the stats() and prometheus() calls.
  rssGrowthRecordingMb: (recorded.rss - before.rss) / 1e6,
  rssGrowthReadingMb: (after.rss - recorded.rss) / 1e6,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
