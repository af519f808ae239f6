// Rendering of bench/.out/node.json and bench/.out/rust.json as markdown,
// and the targets computed from them. Used by run.mjs and bench/results.mjs.
import { fmt, fmtRatio } from './common.mjs';

/** The Node cases, in order: what run.mjs runs and how the tables are titled. */
export const NODE_CASES = [
  {
    id: 'record_completed',
    title: '1. `recordLlmCompleted`',
    impls: ['native', 'js', 'prom-client'],
    what:
      '4 models × 3 agents × provider id `ip_openai-001`, varying tokens. `tight`: 1,024 calls per sample, amortised ' +
      '(the native wrapper crosses into the addon once per 256 records), into one long-lived store drained between ' +
      'samples when nearly full, as a sync loop would (outside the timed part). `tight_with_latency`: the same with ' +
      '`{ durationMs, ttftMs }`; `tight_with_usage`: the plain call with cache read/write and reasoning parts (issue 10), no latencies, ' +
      '`usage_over_plain` its ratio to `tight` in the same run; the prom-client row is the reference a Node user would write instead (Counter by tokens ' +
      '+ Histogram of the duration, labels {model, provider}). `sparse`: one record per event-loop turn ' +
      '(`await setImmediate`), minus the same loop without the record: every native record then crosses on its own.',
  },
  { id: 'record_failed', title: '2. `recordLlmFailed`', impls: ['native', 'js'], what: 'Same rotation, error code `rate_limit` and a message; 1,024 calls per sample.' },
  { id: 'stats', title: '3. `stats()`, 200 models', impls: ['native', 'js'], what: '200 models × 5 requests, 3 agents, with latency histograms.' },
  { id: 'snapshot', title: '4. `snapshotEvents()`, 10,000 buffered events', impls: ['native', 'js'], what: 'Non-destructive copy of the whole buffer as plain objects.' },
  {
    id: 'workers',
    title: '5. `worker_threads` into one `EventStore.shared` store (native only)',
    impls: ['native'],
    what:
      'Aggregate throughput of 1 and of 2 workers recording the same total into `EventStore.shared(name, 1_000_000)`, ' +
      'timed from "go" (all workers warmed up and ready) to all "done" plus the `stats().totalRequests` check. ' +
      '`control_ratio_2_over_1`: the same workers with a private store each (nothing shared): the scaling the machine allowed at that moment.',
  },
  {
    id: 'memory',
    title: '6. Memory of 10,000 buffered events',
    impls: ['native', 'js'],
    nodeArgs: ['--expose-gc'],
    what:
      'Median over trials of the growth per event after `gc()`, store kept referenced. `bytes_per_event` is the JS heap ' +
      'for js and RSS (off-heap, noisy) for native; the Rust heap figure (dhat, exact) comes from `bench/.out/rust.json`.',
  },
  {
    id: 'sync',
    title: '7. Delivery: throughput, event-loop delay, mixed faults, a poison event, the spool',
    impls: ['native', 'js'],
    what:
      'The background loop (`start()`, 8 in flight, batch threshold 1) against a local Protocol 012 receiver in another ' +
      'process (202, keep-alive), timed until nothing is pending; every scenario checks the receiver holds each event ' +
      'exactly once. `events_per_sec`: 5,000 events pending at once; `loop_p99`: `monitorEventLoopDelay({ resolution: 1 })` ' +
      'meanwhile (it includes the 1 ms sampling period, see `idle_loop_p99`). `mixed_2000_ms`: 2,000 events with 1 ' +
      'connection in 13 dropped, 1 answer in 17 lost after storing, ten 503s then ten 429s with `Retry-After: 1` ' +
      '(honoured for every request), against `healthy_2000_ms`; `mixed_imposed_ms`: the pauses the receiver imposed (waves ' +
      'of 429s × Retry-After; with 8 in flight the ten 429s come in two waves: 2 s, a floor for any client that honours ' +
      'it), `mixed_beyond_imposed_over_healthy`: the rest of the mixed run / healthy; `..._retry_after_0_...`: the same ' +
      'faults with `Retry-After: 0`; `paced_...`: 2,000 events recorded at 2,000/s while delivering. `poison_1000_ms`: ' +
      '1,000 events behind a 413 poison event. `spool_*`: the same with a spool written every 100 ms; `record_ns_spool_*`: ' +
      '`recordLlmCompleted` while a client runs against an unreachable receiver, without and with a spool written every 50 ms.',
  },
  {
    id: 'meter',
    title: '8. `meterFetchResponse` on a 200-chunk stream',
    impls: ['native', 'js'],
    what:
      'A 200-chunk Chat Completions stream with usage at the end, read to its end through `meterFetchResponse` and, ' +
      'side by side in the same process (alternating rounds), passed through untouched (`new Response(upstream.body, upstream)`). ' +
      '`fetch_*`: the answer comes from `fetch()` to an SSE upstream in another process on 127.0.0.1. `in_memory_*`: the ' +
      'body is an in-memory ReadableStream of the 201 events, one per chunk (no network: the worst case).',
  },
  {
    id: 'router_overhead',
    title: '9. Router overhead of usage extraction (examples/router.mjs, `meterNodeResponse`)',
    impls: ['native', 'js'],
    what:
      'The example router as a plain proxy (analytics OFF, `store: null`) and metering every answer into an `EventStore` ' +
      '(ON), each in a process of its own, in front of the fake upstream (no latency, no faults) in a third; the client ' +
      'sends a fixed mix (Chat Completions streamed with usage and not, Responses and Anthropic Messages streamed), 8 in ' +
      'flight, in 12 short rounds alternating OFF and ON. `cpu_ratio`: ON / OFF requests per CPU-second of the router ' +
      'process (each router measures its own CPU time), the median of the per-round ratios; `wall_ratio`: the same in ' +
      'wall-clock requests/s, which the client, the upstream and other processes disturb.',
  },
  {
    id: 'metrics',
    title: '10. `prometheus()` and `metricProducer().collect()`, 200 models',
    impls: ['native', 'js'],
    what:
      'The store of case 3 (200 models × 5 requests, each with a duration, a time to first token and tokens): 200 GenAI ' +
      'series of 4 histograms each. `prometheus_200_models`: the exposition text (the native one rendered by the core); ' +
      '`collect_200_models`: one awaited `collect()` of the OpenTelemetry producer (median of the later two thirds of the calls).',
  },
  {
    id: 'cardinality',
    title: '11. 1,000,000 distinct model names into one store',
    impls: ['native', 'js'],
    what:
      'One default store (capacity 10,000 events, cardinality limit 2,000) records 1,000,000 completed requests, each ' +
      'with tokens, a duration and a time to first token, in a process of its own (`bench/node/cardinality.mjs`, ' +
      '`--expose-gc`): `distinct` names every model differently (`model-<i>-` + 40 characters, as an attacker ' +
      'controlling a request body would); `handful` cycles through 4 names: the baseline, what the capacity costs when ' +
      'names are harmless (the same 10,000 events buffered, the rest dropped). `rss_over_capacity_mb`: RSS growth of ' +
      '`distinct` minus that of `handful`, each measured after `gc()` with one `stats()` and one `prometheus()` done. ' +
      '`stats_1m_names` / `prometheus_1m_names`: median of 9 calls on the `distinct` store (2,001 model rows; 2,001 ' +
      'GenAI series of 4 histograms, the overflow series included); `_cpu`: the process\'s CPU time for the same calls.',
  },
];

// ---------------------------------------------------------------------------
// rust.json: read defensively (another script writes it)
// ---------------------------------------------------------------------------

function pick(obj, keys) {
  if (obj === null || typeof obj !== 'object') return null;
  for (const k of keys) if (typeof obj[k] === 'number' && Number.isFinite(obj[k])) return obj[k];
  return null;
}

/** The Rust benchmark ids with their median / min / max (ns), whatever the exact shape. */
export function rustBenchmarks(rust) {
  const raw = rust?.benchmarks;
  if (!raw || typeof raw !== 'object') return [];
  const entries = Array.isArray(raw) ? raw.map((b) => [b?.id ?? b?.name ?? '?', b]) : Object.entries(raw);
  return entries
    .map(([id, b]) => ({
      id: String(id),
      median: typeof b === 'number' ? b : pick(b, ['median_ns', 'median', 'point_estimate', 'ns', 'value']),
      min: pick(b, ['min_ns', 'min', 'lower_bound', 'ci_lower']),
      max: pick(b, ['max_ns', 'max', 'upper_bound', 'ci_upper']),
      opsPerSec: pick(b, ['ops_per_sec', 'throughput']),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

function rustMedian(rust, id) {
  return rustBenchmarks(rust).find((b) => b.id === id)?.median ?? null;
}

function rustHeapPerEvent(rust, impl = 'ours') {
  return pick(rust?.heap?.[impl], ['bytes_per_event', 'bytesPerEvent', 'per_event']);
}

// ---------------------------------------------------------------------------
// node.json accessors
// ---------------------------------------------------------------------------

export function nodeMetric(node, caseId, metric, impl) {
  return node?.cases?.[caseId]?.metrics?.[metric]?.impls?.[impl] ?? null;
}

function nodeMedian(node, caseId, metric, impl) {
  return nodeMetric(node, caseId, metric, impl)?.median ?? null;
}

// ---------------------------------------------------------------------------
// Targets: computed from the data, never hard-coded
// ---------------------------------------------------------------------------

/**
 * Each target: its value from the data, its threshold, whether it is met
 * (`null`: no data), and the value's range over the rounds when known.
 */
export function evaluateTargets(node, rust) {
  const t = [];
  const add = (area, what, value, op, threshold, unit, range = null, note = null) => {
    const met = value === null || value === undefined ? null : op === '≤' ? value <= threshold : op === '<' ? value < threshold : value >= threshold;
    t.push({ area, what, value, op, threshold, unit, met, range, note });
  };
  const ratioRange = (caseId, metric) => {
    const n = nodeMetric(node, caseId, metric, 'native');
    const j = nodeMetric(node, caseId, metric, 'js');
    return n && j && n.min !== null && j.max !== null ? [n.min / j.max, n.max / j.min] : null;
  };
  const range = (caseId, metric, impl = 'native') => {
    const m = nodeMetric(node, caseId, metric, impl);
    return m ? [m.min, m.max] : null;
  };
  const ratio = (caseId, metric) => {
    const n = nodeMedian(node, caseId, metric, 'native');
    const j = nodeMedian(node, caseId, metric, 'js');
    return n !== null && j !== null ? n / j : null;
  };

  add('Node', 'native `recordLlmCompleted` (tight) / js', ratio('record_completed', 'tight'), '≤', 0.6, '×', ratioRange('record_completed', 'tight'));
  add('Node', 'native `recordLlmCompleted` (tight)', nodeMedian(node, 'record_completed', 'tight', 'native'), '≤', 120, 'ns', range('record_completed', 'tight'));
  for (const impl of ['native', 'js']) {
    add('Node', `${impl} recording with usage parts / plain (tight)`, nodeMedian(node, 'record_completed', 'usage_over_plain', impl), '≤', 1.1, '×', range('record_completed', 'usage_over_plain', impl));
  }
  add('Node', 'native `stats()` (200 models) / js', ratio('stats', 'stats_200_models'), '≤', 1.0, '×', ratioRange('stats', 'stats_200_models'));
  for (const impl of ['native', 'js']) {
    add('Node', `${impl} \`prometheus()\` (200 models)`, nodeMedian(node, 'metrics', 'prometheus_200_models', impl), '≤', 2000, 'µs', range('metrics', 'prometheus_200_models', impl));
    add('Node', `${impl} \`metricProducer().collect()\` (200 models)`, nodeMedian(node, 'metrics', 'collect_200_models', impl), '≤', 2000, 'µs', range('metrics', 'collect_200_models', impl));
  }
  for (const impl of ['native', 'js']) {
    const m = (metric) => nodeMedian(node, 'cardinality', metric, impl);
    const r = (metric) => range('cardinality', metric, impl);
    add('Node', `${impl} RSS over the capacity's, 1,000,000 distinct names`, m('rss_over_capacity_mb'), '≤', 64, 'MB', r('rss_over_capacity_mb'));
    add('Node', `${impl} \`stats()\`, 1,000,000 distinct names`, m('stats_1m_names'), '≤', 5, 'ms', r('stats_1m_names'));
    add('Node', `${impl} \`prometheus()\`, 1,000,000 distinct names`, m('prometheus_1m_names'), '≤', 20, 'ms', r('prometheus_1m_names'));
  }
  const nodeControl = nodeMedian(node, 'workers', 'control_ratio_2_over_1', 'native');
  add(
    'Node',
    '2 workers / 1 worker (aggregate events/s)',
    nodeMedian(node, 'workers', 'ratio_2_over_1', 'native'),
    '≥',
    1.6,
    '×',
    range('workers', 'ratio_2_over_1'),
    nodeControl !== null ? `private-store control scaled ${fmtRatio(nodeControl)} (median) in the same runs` : null,
  );
  const meterRatio = (impl) => nodeMedian(node, 'meter', 'fetch_ratio', impl);
  for (const impl of ['native', 'js']) {
    add('Node', `\`meterFetchResponse\` / untouched, fetch, 200 chunks (${impl})`, meterRatio(impl), '≥', 0.95, '×', range('meter', 'fetch_ratio', impl));
  }
  for (const impl of ['native', 'js']) {
    add('Node', `router ON / OFF (plain proxy), requests per router CPU-second (${impl})`, nodeMedian(node, 'router_overhead', 'cpu_ratio', impl), '≥', 0.95, '×', range('router_overhead', 'cpu_ratio', impl));
  }
  add('Node', 'native sync throughput', nodeMedian(node, 'sync', 'events_per_sec', 'native'), '≥', 10_000, 'events/s', range('sync', 'events_per_sec'));
  add('Node', 'native event-loop p99 during sync', nodeMedian(node, 'sync', 'loop_p99', 'native'), '<', 5, 'ms', range('sync', 'loop_p99'));
  add('Node', 'js sync throughput', nodeMedian(node, 'sync', 'events_per_sec', 'js'), '≥', 4_000, 'events/s', range('sync', 'events_per_sec', 'js'));
  for (const impl of ['native', 'js']) {
    add('Node', `${impl} mixed faults / healthy (2,000 events)`, nodeMedian(node, 'sync', 'mixed_over_healthy', impl), '≤', 3, '×', range('sync', 'mixed_over_healthy', impl));
    add('Node', `${impl} spool-on / spool-off delivery`, nodeMedian(node, 'sync', 'spool_delivery_ratio', impl), '≥', 0.8, '×', range('sync', 'spool_delivery_ratio', impl));
    const on = nodeMedian(node, 'sync', 'record_ns_spool_on', impl);
    const off = nodeMedian(node, 'sync', 'record_ns_spool_off', impl);
    add('Node', `${impl} recording with spool / without`, on !== null && off ? on / off : null, '≤', 1.1, '×');
  }

  const ours = rustMedian(rust, 'record_llm_completed/ours');
  const up = rustMedian(rust, 'record_llm_completed/upstream');
  const relative = pick(rust?.relative_to_ours?.['record_llm_completed/ours'], ['upstream_over_ours']);
  const keyed = rustMedian(rust, 'record_llm_completed/ours_keyed');
  const batch = rustMedian(rust, 'record_llm_completed/ours_batch');
  const otherPaths = up && keyed !== null && batch !== null
    ? `with interned keys ${fmtRatio(keyed / up)}; in batches of 256, the Node binding's path, ${fmtRatio(batch / up)}; upstream ${fmt(up)} ns`
    : null;
  add('Rust', '`record_llm_completed` ours / upstream', ours !== null && up ? ours / up : relative ? 1 / relative : null, '≤', 0.06, '×', null, otherPaths);
  let scaling = pick(rust?.thread_scaling_1_to_2, ['ours']);
  if (scaling === null) {
    const t1 = rustMedian(rust, 'threads/ours/1_thread');
    const t2 = rustMedian(rust, 'threads/ours/2_threads');
    scaling = t1 !== null && t2 ? t1 / t2 : null;
  }
  const control = pick(rust?.thread_scaling_1_to_2, ['control']);
  const privateStores = pick(rust?.thread_scaling_1_to_2, ['ours_private_stores']);
  const controls = [
    privateStores !== null ? `a private store per thread ${fmtRatio(privateStores)}` : null,
    control !== null ? `share-nothing arithmetic ${fmtRatio(control)}` : null,
  ].filter(Boolean);
  add('Rust', '1 → 2 threads (ours)', scaling, '≥', 1.8, '×', null, controls.length > 0 ? `controls in the same run: ${controls.join(', ')}` : null);
  const fullScaling = (who) => {
    const t1 = rustMedian(rust, `threads/${who}_full_store/1_thread`);
    const t2 = rustMedian(rust, `threads/${who}_full_store/2_threads`);
    return t1 !== null && t2 ? t1 / t2 : null;
  };
  const upFull = fullScaling('upstream');
  add('Rust', '1 → 2 threads into one full store (ours)', fullScaling('ours'), '≥', 1.5, '×', null, upFull === null ? null : `upstream ${fmtRatio(upFull)} in the same run`);
  const stats1000 = rustMedian(rust, 'stats/ours/1000_models');
  add('Rust', '`stats()` 1,000 models (ours)', stats1000 === null ? null : stats1000 / 1000, '≤', 50, 'µs');
  add('Rust', 'heap per buffered event (ours, dhat)', rustHeapPerEvent(rust), '≤', 64, 'B');
  return t;
}

const verdict = (met) => (met === null ? '– no data' : met ? '✅ met' : '❌ not met');

export function renderTargets(targets) {
  const lines = ['| area | target | value (median) | range over rounds | verdict |', '|---|---|---|---|---|'];
  for (const t of targets) {
    const value = t.value === null ? '–' : `${t.unit === '×' ? fmtRatio(t.value) : `${fmt(t.value)} ${t.unit}`}`;
    const range = t.range && t.range.every((x) => Number.isFinite(x)) ? `${fmt(t.range[0])} – ${fmt(t.range[1])}` : '';
    const limit = `${t.op} ${t.unit === '×' ? fmtRatio(t.threshold) : `${fmt(t.threshold)} ${t.unit}`}`;
    lines.push(`| ${t.area} | ${t.what} ${limit} | ${value} | ${range} | ${verdict(t.met)}${t.note ? ` (${t.note})` : ''} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Node tables
// ---------------------------------------------------------------------------

export function renderNodeCase(node, def, rust) {
  const c = node?.cases?.[def.id];
  const out = [`### ${def.title}`, '', def.what, ''];
  if (!c) {
    out.push('_Not run._', '');
    return out.join('\n');
  }
  out.push('| metric | impl | median | min | max | unit | native/js |', '|---|---|---:|---:|---:|---|---:|');
  for (const [name, m] of Object.entries(c.metrics)) {
    const implNames = Object.keys(m.impls).sort((a, b) => def.impls.indexOf(a) - def.impls.indexOf(b));
    for (const impl of implNames) {
      const s = m.impls[impl];
      const r = impl === 'native' && m.ratio_native_js !== null && m.ratio_native_js !== undefined ? fmtRatio(m.ratio_native_js) : '';
      out.push(`| ${name} | ${impl} | ${fmt(s.median)} | ${fmt(s.min)} | ${fmt(s.max)} | ${m.unit} | ${r} |`);
    }
  }
  if (def.id === 'memory') {
    const ours = rustHeapPerEvent(rust, 'ours');
    const upstream = rustHeapPerEvent(rust, 'upstream');
    if (ours !== null) out.push(`| bytes_per_event | native (Rust heap, dhat, from rust.json) | ${fmt(ours)} | | | B/event | |`);
    if (upstream !== null) out.push(`| bytes_per_event | upstream 0.4.0 (Rust heap, dhat) | ${fmt(upstream)} | | | B/event | |`);
    if (ours === null) out.push('', '_No Rust heap figure: `bench/.out/rust.json` is missing or has no `heap.ours` (run `bash bench/run-rust.sh`)._');
  }
  const notes = [];
  if (def.id === 'record_completed') {
    const prom = nodeMedian(node, 'record_completed', 'tight_with_latency', 'prom-client');
    for (const impl of ['native', 'js']) {
      const v = nodeMedian(node, 'record_completed', 'tight_with_latency', impl);
      if (prom && v !== null) notes.push(`${impl} \`tight_with_latency\` / prom-client = ${fmtRatio(v / prom)}`);
    }
  }
  for (const [name, m] of Object.entries(c.metrics)) if (m.note) notes.push(`\`${name}\`: ${m.note}`);
  if (notes.length) out.push('', ...notes.map((n) => `- ${n}`));
  out.push('');
  return out.join('\n');
}

export function renderNodeTables(node, rust) {
  return NODE_CASES.map((def) => renderNodeCase(node, def, rust)).join('\n');
}

// ---------------------------------------------------------------------------
// Rust tables (whatever rust.json holds)
// ---------------------------------------------------------------------------

function renderObjectTable(obj, keyTitle) {
  // rows: keys of obj; columns: union of their scalar fields (or a single value column)
  const rows = Object.entries(obj ?? {});
  if (rows.length === 0) return '';
  if (rows.every(([, v]) => typeof v !== 'object' || v === null)) {
    return ['| ' + keyTitle + ' | value |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${typeof v === 'number' ? fmt(v) : String(v)} |`)].join('\n');
  }
  const cols = [...new Set(rows.flatMap(([, v]) => (v && typeof v === 'object' ? Object.keys(v) : [])))];
  const cell = (v) => (typeof v === 'number' ? (Math.abs(v) < 100 && !Number.isInteger(v) ? v.toFixed(2) : fmt(v)) : v === undefined || v === null ? '' : String(v));
  return [
    `| ${keyTitle} | ${cols.join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...rows.map(([k, v]) => `| ${k} | ${cols.map((c) => cell(v?.[c])).join(' | ')} |`),
  ].join('\n');
}

export function renderRust(rust) {
  if (!rust) return '_No `bench/.out/rust.json`: run `bash bench/run-rust.sh`._\n';
  const out = [];
  const meta = ['generated_at', 'git_rev', 'git_dirty', 'nproc', 'criterion_args', 'units']
    .filter((k) => rust[k] !== undefined)
    .map((k) => `- ${k}: \`${rust[k]}\``);
  if (meta.length) out.push(...meta, '');
  const benches = rustBenchmarks(rust);
  if (benches.length) {
    out.push('| benchmark id | median | min | max | unit | ops/s |', '|---|---:|---:|---:|---|---:|');
    for (const b of benches) out.push(`| ${b.id} | ${fmt(b.median)} | ${fmt(b.min)} | ${fmt(b.max)} | ns | ${fmt(b.opsPerSec ?? (b.median ? 1e9 / b.median : null))} |`);
    out.push('', 'min/max: as rust.json gives them (criterion: the 95% confidence interval of the median).', '');
  } else {
    out.push('_rust.json has no `benchmarks`._', '');
  }
  for (const [key, title] of [
    ['relative_to_ours', 'Relative to ours (other / ours: > 1 means ours is faster)'],
    ['thread_scaling_1_to_2', '1 → 2 threads: t(1 thread) / t(2 threads) (2.0 is perfect on 2 cores; `ours_private_stores` records the same into a store per thread, `control` shares nothing)'],
    ['heap', 'Heap (dhat)'],
  ]) {
    if (rust[key] && typeof rust[key] === 'object') out.push(`**${title}**`, '', renderObjectTable(rust[key], key === 'heap' ? 'impl' : 'id'), '');
  }
  return out.join('\n');
}
