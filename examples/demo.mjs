#!/usr/bin/env node
// `npm run demo`: a real LLM router run end to end, in one process.
//
//   fake OpenAI-compatible upstream ← router (examples/router.mjs) ← load driver
//                                        │ records every request in an EventStore
//                                        └─ SyncClient → local Protocol 012 collector
//
// 1. Measures the router's throughput with analytics OFF and ON (a fast
//    upstream without latency or faults, the same load, alternating phases).
// 2. Runs the load: 3 agents, 5 models, streamed and non-streamed, Chat
//    Completions, Responses API and Anthropic Messages, prompt caching, a
//    fine-tuned model the price table does not know, a few 429s, 500s,
//    dropped connections and errors inside 200 streams.
// 3. Stops the load, flushes the sync, prints per-model stats from the store,
//    and checks that the books balance: every request recorded once, every
//    event delivered, rejected or still buffered, the collector's count equal
//    to the delivered count. Exit code 0 when they do.
//
//   node examples/demo.mjs [--duration 10] [--concurrency 16] [--seed 42]
//                          [--overhead <s per side, 0 = skip>] [--port 0] [--keep-running]
//   IRON_ANALYTICS_IMPL=js node examples/demo.mjs    # the pure-JS implementation

import http from 'node:http';
import { parseArgs } from 'node:util';
import { EventStore, PricingManager, SyncClient, SyncConfig, implementation, nativeLoadError } from 'iron-runtime-analytics';
import { createCollector } from './collector.mjs';
import { createFakeUpstream, mulberry32 } from './fake-upstream.mjs';
import { createRouter } from './router.mjs';

/** A self-hosted fine-tune behind the same API: no price table knows it, so its requests are counted as unpriced. */
const FINE_TUNED = 'acme-support-ft-v2';
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'claude-3-5-sonnet-20241022', FINE_TUNED];
const IC_TOKEN = 'ic_demo_token';

/** Who sends what: model mix, share of streamed requests and of Responses API calls, prompt sizes (chars). */
const AGENTS = [
  { id: 'agent_support', weight: 0.45, models: [['gpt-4o-mini', 0.6], ['gpt-4o', 0.3], [FINE_TUNED, 0.1]], stream: 0.8, responses: 0.1, system: 600, user: [40, 800] },
  { id: 'agent_research', weight: 0.3, models: [['o3-mini', 0.45], ['claude-3-5-sonnet-20241022', 0.35], ['gpt-4o', 0.2]], stream: 0.6, responses: 0.3, system: 5200, user: [200, 4000] },
  { id: 'agent_batch', weight: 0.25, models: [['gpt-4o-mini', 0.5], ['claude-3-5-sonnet-20241022', 0.3], ['o3-mini', 0.2]], stream: 0.1, responses: 0.4, system: 1200, user: [1500, 9000] },
];

const USAGE = `usage: node examples/demo.mjs [options]
  --duration <s>      length of the main load (default 10)
  --concurrency <n>   requests in flight (default 16)
  --seed <n>          seeds prompts, usage, latency and faults (default 42)
  --overhead <s>      seconds per side of the OFF/ON throughput comparison (default: auto, 0 skips it)
  --port <n>          router port (default 0: any free port)
  --keep-running      keep the router, /stats and /metrics up after the report, until Ctrl-C`;

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '16' },
      seed: { type: 'string', default: '42' },
      overhead: { type: 'string' },
      port: { type: 'string', default: '0' },
      'keep-running': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name, ok) => {
    const v = Number(values[name]);
    if (!ok(v)) throw new Error(`--${name}: invalid value ${JSON.stringify(values[name])}\n${USAGE}`);
    return v;
  };
  const duration = num('duration', (v) => v > 0 && v <= 86_400);
  return {
    duration,
    concurrency: num('concurrency', (v) => Number.isInteger(v) && v >= 1 && v <= 1024),
    seed: num('seed', Number.isInteger),
    overhead: values.overhead === undefined ? Math.min(4, Math.max(1, Math.round(duration / 5))) : num('overhead', (v) => v >= 0 && v <= 600),
    port: num('port', (v) => Number.isInteger(v) && v >= 0 && v < 65536),
    keepRunning: values['keep-running'],
  };
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

async function listen(server, port = 0) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return `http://127.0.0.1:${server.address().port}`;
}

async function close(server) {
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
}

// ---------------------------------------------------------------------------
// Load driver
// ---------------------------------------------------------------------------

const pick = (rng, weighted) => {
  let r = rng() * weighted.reduce((s, [, w]) => s + w, 0);
  for (const [value, w] of weighted) if ((r -= w) < 0) return value;
  return weighted[weighted.length - 1][0];
};
const between = (rng, [lo, hi]) => lo + Math.floor(rng() * (hi - lo + 1));

/** Builds requests from a seeded RNG: prompts are slices of a fixed random text. */
function requestFactory(seed) {
  const rng = mulberry32(seed);
  const words = 'please summarize the following report about latency cost budgets agents routing models tokens streams and caching in detail with examples'.split(' ');
  let corpus = '';
  while (corpus.length < 20_000) corpus += words[Math.floor(rng() * words.length)] + ' ';
  const agents = AGENTS.map((a) => [a, a.weight]);
  return () => {
    const agent = pick(rng, agents);
    const model = pick(rng, agent.models);
    const stream = rng() < agent.stream;
    const anthropic = model.startsWith('claude');
    const responsesApi = !anthropic && rng() < agent.responses;
    const system = corpus.slice(0, agent.system); // the same per agent, as in real apps (cacheable)
    const len = between(rng, agent.user);
    const at = Math.floor(rng() * (corpus.length - len));
    const user = corpus.slice(at, at + len);
    const body = anthropic
      ? { model, max_tokens: 1024, system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: user }], stream }
      : responsesApi
        ? { model, instructions: system, input: user, stream }
        : {
            model,
            messages: [{ role: model.startsWith('o') ? 'developer' : 'system', content: system }, { role: 'user', content: user }],
            stream,
            ...(stream ? { stream_options: { include_usage: true } } : {}),
          };
    const path = anthropic ? '/v1/messages' : responsesApi ? '/v1/responses' : '/v1/chat/completions';
    return { path, agentId: agent.id, model, stream, payload: JSON.stringify(body) };
  };
}

/** What the client saw for one request. Expected failures are the ones the fake upstream injects. */
function classify(status, stream, bytes) {
  if (status === 429) return 'rate_limited';
  if (status === 500) return 'server_error';
  if (status === 502) return 'network_error';
  if (status !== 200) return `unexpected HTTP ${status}`;
  const text = bytes.toString('utf8');
  if (stream) {
    // The provider gave up inside the 200 stream (OpenAI error chunk / response.failed, Anthropic event: error).
    if (text.includes('event: error') || text.includes('event: response.failed') || text.includes('data: {"error"')) return 'stream_error';
    return text.includes('data: [DONE]') || text.includes('event: response.completed') || text.includes('event: message_stop') ? 'ok' : 'unexpected: truncated stream';
  }
  try {
    return JSON.parse(text).usage ? 'ok' : 'unexpected: no usage in the answer';
  } catch {
    return 'unexpected: invalid JSON answer';
  }
}

function send(agent, base, r) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let answered = false;
    const req = http.request(`${base}${r.path}`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-demo-not-a-real-key', 'x-agent-id': r.agentId },
    });
    req.setNoDelay(true);
    req.on('response', (res) => {
      answered = true;
      let first = null;
      const chunks = [];
      res.on('data', (c) => {
        first ??= performance.now() - t0;
        chunks.push(c);
      });
      res.on('end', () => resolve({ kind: classify(res.statusCode, r.stream, Buffer.concat(chunks)), ms: performance.now() - t0, ttft: first }));
      res.on('error', () => {});
      // The router breaks the answer when the upstream dropped the connection mid-stream.
      res.on('close', () => res.complete || resolve({ kind: 'aborted_mid_stream', ms: performance.now() - t0, ttft: first }));
    });
    req.on('error', (err) => resolve({ kind: answered ? 'aborted_mid_stream' : `unexpected: ${err.message}`, ms: performance.now() - t0, ttft: null }));
    req.end(r.payload);
  });
}

/**
 * Runs `concurrency` clients for `seconds` (or until `stop()`), then waits for
 * the requests in flight. `onTick(results, elapsedSeconds)` runs every second.
 */
function runLoad({ base, concurrency, seconds, nextRequest, onTick }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const results = { done: 0, ok: 0, failed: 0, kinds: {}, unexpected: [], latencies: [], seconds: 0 };
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let stopped = false;
  const ticker = onTick ? setInterval(() => onTick(results, (performance.now() - start) / 1000), 1000) : null;
  const worker = async () => {
    while (!stopped && performance.now() < deadline) {
      const out = await send(agent, base, nextRequest());
      results.done++;
      results.kinds[out.kind] = (results.kinds[out.kind] ?? 0) + 1;
      if (out.kind === 'ok') {
        results.ok++;
        results.latencies.push(out.ms);
      } else {
        results.failed++;
        if (out.kind.startsWith('unexpected')) results.unexpected.push(out.kind);
      }
    }
  };
  const finished = Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    if (ticker) clearInterval(ticker);
    agent.destroy();
    results.seconds = (performance.now() - start) / 1000;
    return results;
  });
  return { finished, stop: () => (stopped = true) };
}

const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]);

// ---------------------------------------------------------------------------
// Router overhead: the same router as a plain proxy (analytics OFF), with
// usage parsing but a no-op store, and with the real store (analytics ON)
// ---------------------------------------------------------------------------

/** A store that records nothing: isolates the cost of reading usage from the cost of recording it. */
const noopStore = { recordUsage() {}, recordLlmCompleted() {}, recordLlmFailed() {} };

async function measureOverhead({ pricing, concurrency, secondsPerSide, seed }) {
  const fast = createFakeUpstream({ seed, latencyScale: 0, faults: null });
  const upstreamUrl = await listen(fast);
  // ON records into a store of its own (large enough not to drop), so the main run's books stay clean.
  const routers = {
    off: createRouter({ upstreamUrl, store: null, pricing }),
    parse: createRouter({ upstreamUrl, store: noopStore, pricing }),
    on: createRouter({ upstreamUrl, store: EventStore.withCapacity(500_000), pricing }),
  };
  const sides = Object.keys(routers);
  const bases = {};
  for (const side of sides) bases[side] = await listen(routers[side]);
  const nextRequest = requestFactory(seed + 1);
  const phase = (side, seconds) => runLoad({ base: bases[side], concurrency, seconds, nextRequest }).finished;
  for (const side of sides) await phase(side, 0.2); // warm-up (JIT, sockets)
  // Short slices in mirrored order (OFF PARSE ON ON PARSE OFF …): drift over
  // time (GC, other processes) weighs on every side alike.
  // Each round is one mirrored pass; a side's rate in a round, over OFF's in
  // the same round, is one ratio: the median of the rounds' ratios and their
  // range say how far one figure can be trusted on this machine.
  const slice = 0.25;
  const totals = Object.fromEntries(sides.map((side) => [side, { done: 0, seconds: 0 }]));
  const ratios = { parse: [], on: [] };
  for (let i = 0; i < Math.max(3, Math.round(secondsPerSide / (2 * slice))); i++) {
    const round = Object.fromEntries(sides.map((side) => [side, { done: 0, seconds: 0 }]));
    for (const side of [...sides, ...[...sides].reverse()]) {
      const r = await phase(side, slice);
      for (const t of [totals[side], round[side]]) {
        t.done += r.done;
        t.seconds += r.seconds;
      }
      if (r.unexpected.length > 0) throw new Error(`overhead phase: ${r.unexpected[0]}`);
    }
    const rate = (side) => round[side].done / round[side].seconds;
    for (const side of ['parse', 'on']) ratios[side].push(rate(side) / rate('off'));
  }
  const recordErrors = routers.on.counters.recordErrors + routers.parse.counters.recordErrors;
  await Promise.all([...sides.map((side) => close(routers[side])), close(fast)]);
  const rps = Object.fromEntries(sides.map((side) => [side, totals[side].done / totals[side].seconds]));
  const spread = (xs) => ({ median: [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)], min: Math.min(...xs), max: Math.max(...xs), rounds: xs.length });
  const on = spread(ratios.on);
  return { ...rps, parseRatio: spread(ratios.parse), onRatio: on, delta: (on.median - 1) * 100, recordErrors };
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const int = (n) => Math.round(n).toLocaleString('en-US');
const ms = (seconds) => (seconds === null || seconds === undefined ? '—' : (seconds * 1000).toFixed(1));
const pct = (f) => `${(f * 100).toFixed(1)}%`;
const signed = (p) => `${p >= 0 ? '+' : ''}${p.toFixed(1)}%`;

function table(rows, aligns) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r) => r.map((c, i) => (aligns[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd())
    .join('\n');
}

function modelTable(stats) {
  const rows = [['model', 'requests', 'success', 'cost ($)', 'input tok', 'cached', 'cache write', 'output tok', 'reasoning', 'unpriced', 'p50 ms', 'p95 ms', 'p99 ms', 'TTFT p50 ms']];
  const models = [...new Set([...MODELS, ...Object.keys(stats.byModel)])].filter((m) => stats.byModel[m]);
  for (const m of models) {
    const s = stats.byModel[m];
    const lat = stats.latencyByModel[m]; // absent for a model without a completed request
    rows.push([
      m,
      int(s.requestCount),
      pct(s.requestCount === 0 ? 1 : (s.requestCount - s.failedCount) / s.requestCount),
      s.costUsd.toFixed(6),
      int(s.inputTokens),
      int(s.cacheReadTokens),
      int(s.cacheWriteTokens),
      int(s.outputTokens),
      int(s.reasoningTokens),
      int(s.unpricedRequests),
      ms(lat?.duration.p50),
      ms(lat?.duration.p95),
      ms(lat?.duration.p99),
      ms(lat?.ttft.p50),
    ]);
  }
  rows.push([
    'TOTAL',
    int(stats.totalRequests),
    pct(stats.successRate),
    stats.totalCostUsd.toFixed(6),
    int(stats.totalInputTokens),
    int(stats.totalCacheReadTokens),
    int(stats.totalCacheWriteTokens),
    int(stats.totalOutputTokens),
    int(stats.totalReasoningTokens),
    int(stats.unpricedRequests),
    '',
    '',
    '',
    '',
  ]);
  return table(rows, ['l', ...rows[0].slice(1).map(() => 'r')]);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const opt = options(process.argv.slice(2));
  const why = implementation === 'js' && process.env.IRON_ANALYTICS_IMPL !== 'js' && nativeLoadError ? ` (native addon not loaded: ${nativeLoadError.message})` : '';
  console.log(`iron-runtime-analytics demo · implementation: ${implementation}${why} · seed ${opt.seed}\n`);
  const pricing = new PricingManager();

  // 1. Throughput with analytics OFF vs ON.
  let overhead = null;
  if (opt.overhead > 0) {
    console.log(`Router throughput, analytics OFF vs ON (fast upstream: no latency, no faults; concurrency ${opt.concurrency}; ${opt.overhead} s per side):`);
    overhead = await measureOverhead({ pricing, concurrency: opt.concurrency, secondsPerSide: opt.overhead, seed: opt.seed });
    const vs = (rps, r) =>
      `${int(rps).padStart(7)} req/s  ${signed((r.median - 1) * 100)} (median of ${r.rounds} rounds against OFF; range ${signed((r.min - 1) * 100)} to ${signed((r.max - 1) * 100)})`;
    console.log(`  OFF  plain proxy                          ${int(overhead.off).padStart(7)} req/s`);
    console.log(`       usage parsing, no-op store           ${vs(overhead.parse, overhead.parseRatio)}`);
    console.log(`  ON   usage parsing + EventStore           ${vs(overhead.on, overhead.onRatio)}`);
    console.log('  (load driver, router and upstream share this one thread and its wall clock: a wide range means a');
    console.log('   busy machine. `npm run bench -- --cases router_overhead` measures the router\'s own CPU time instead.)\n');
  }

  // 2. The servers of the main run.
  const upstream = createFakeUpstream({ seed: opt.seed });
  const collector = createCollector({ token: IC_TOKEN });
  const store = new EventStore();
  const upstreamUrl = await listen(upstream);
  const router = createRouter({
    upstreamUrl,
    store,
    pricing,
    providerId: (model) => (model.startsWith('claude') ? 'ip_anthropic-001' : 'ip_openai-001'),
  });
  const collectorUrl = await listen(collector);
  const routerUrl = await listen(router, opt.port);
  store.recordRouterStarted(router.address().port);
  const syncConfig = new SyncConfig(collectorUrl, IC_TOKEN).withInterval(1000).withBatchThreshold(50);
  const sync = new SyncClient(store, syncConfig).start();
  console.log(`  upstream   ${upstreamUrl}  fake OpenAI/Anthropic-compatible (${MODELS.join(', ')})`);
  console.log(`  router     ${routerUrl}  POST /v1/chat/completions, /v1/responses, /v1/messages · GET /stats, /metrics`);
  console.log(`  collector  ${collectorUrl}/api/v1/analytics/events  (Protocol 012)`);
  console.log('  sync       SyncClient → collector, every 1 s or 50 events');
  console.log(`\nLoad: ${opt.duration} s, concurrency ${opt.concurrency}, agents ${AGENTS.map((a) => a.id).join(', ')}\n`);

  // 3. The load, with a progress line once a second. Ctrl-C ends it early.
  const tty = process.stdout.isTTY === true;
  const load = runLoad({
    base: routerUrl,
    concurrency: opt.concurrency,
    seconds: opt.duration,
    nextRequest: requestFactory(opt.seed),
    onTick: (r, elapsed) => {
      const p50 = percentile([...r.latencies].sort((a, b) => a - b), 0.5);
      const line = `  [${elapsed.toFixed(0).padStart(3)} s] ${int(r.done).padStart(7)} requests  ${int(r.done / elapsed).padStart(5)} req/s  errors ${int(r.failed).padStart(4)}  p50 ${p50 === null ? '—' : p50.toFixed(1)} ms`;
      if (tty) process.stdout.write(`\r\x1b[K${line}`);
      else console.log(line);
    },
  });
  const early = () => load.stop();
  process.once('SIGINT', early);
  const results = await load.finished;
  process.removeListener('SIGINT', early);
  if (tty) process.stdout.write('\n');

  // 4. Flush the sync, then read everything.
  const report = await sync.stop();
  const stats = store.stats();
  const dropped = store.droppedCount();
  const c = collector.counts;
  const sorted = results.latencies.sort((a, b) => a - b);

  console.log(`\n${modelTable(stats)}\n`);
  const agents = Object.entries(stats.byAgent)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, s]) => `${id} ${int(s.requestCount)} req $${s.costUsd.toFixed(4)}`)
    .join(' · ');
  console.log(`by agent      ${agents}`);
  console.log(`client side   ${int(results.done)} requests in ${results.seconds.toFixed(1)} s (${int(results.done / results.seconds)} req/s), end-to-end p50 ${percentile(sorted, 0.5)?.toFixed(1) ?? '—'} / p95 ${percentile(sorted, 0.95)?.toFixed(1) ?? '—'} / p99 ${percentile(sorted, 0.99)?.toFixed(1) ?? '—'} ms`);
  const failures = Object.entries(results.kinds).filter(([k]) => k !== 'ok');
  console.log(`failures      ${failures.length === 0 ? 'none' : failures.map(([k, n]) => `${k} ${n}`).join(' · ')}  (injected by the fake upstream)`);
  console.log(`events        recorded ${int(stats.totalRequests)} (completed ${int(stats.totalRequests - stats.failedRequests)}, failed ${int(stats.failedRequests)}) · dropped ${int(dropped)}`);
  console.log(`sync          delivered ${int(report.delivered)} · rejected ${int(report.rejected)} · remaining ${int(report.remaining)} · collector received ${int(c.accepted)} (duplicates ${int(c.duplicates)}, rejected ${int(c.rejected)})`);
  if (overhead) {
    console.log(`overhead      analytics OFF ${int(overhead.off)} req/s · ON ${int(overhead.on)} req/s · difference ${signed(overhead.delta)} (median of ${overhead.onRatio.rounds} rounds, range ${signed((overhead.onRatio.min - 1) * 100)} to ${signed((overhead.onRatio.max - 1) * 100)})`);
  }

  // 5. Do the books balance?
  const checks = [];
  const check = (ok, text) => checks.push({ ok, text });
  check(stats.totalRequests === results.done, `every request recorded once: ${stats.totalRequests} events for ${results.done} requests`);
  const u = upstream.counters;
  const injected = u.rateLimited + u.serverErrors + u.resets + u.midStreamResets + u.streamErrors;
  check(
    stats.failedRequests === results.failed && results.failed === injected,
    `every failure recorded as failed: ${stats.failedRequests} recorded = ${results.failed} seen by the clients = ${injected} injected by the upstream`,
  );
  check(results.unexpected.length === 0, `no unexpected client errors${results.unexpected.length ? `: ${results.unexpected.length}, first: ${results.unexpected[0]}` : ''}`);
  const rc = router.counters;
  const recordErrors = rc.recordErrors + rc.internalErrors + (overhead?.recordErrors ?? 0);
  check(recordErrors === 0, `recording never threw${recordErrors ? `: ${recordErrors} errors, last: ${rc.lastRecordError}` : ''}`);
  check(c.accepted === report.delivered, `collector received (${c.accepted}) = delivered (${report.delivered})`);
  const sum = report.delivered + report.rejected + report.remaining + dropped;
  check(sum === stats.totalRequests, `delivered + rejected + remaining + dropped (${sum}) = LLM events recorded (${stats.totalRequests})`);
  check(c.rejected === 0 && report.rejected === 0, `no event rejected by the collector${c.firstRejection ? `: ${c.firstRejection}` : ''}`);
  if (report.remaining === 0 && report.rejected === 0 && dropped === 0) {
    const same = c.costMicros === stats.totalCostMicros && c.inputTokens === stats.totalInputTokens && c.outputTokens === stats.totalOutputTokens;
    check(same, `collector totals = store totals (cost ${c.costMicros} / ${stats.totalCostMicros} µ$, tokens ${c.inputTokens + c.outputTokens} / ${stats.totalTokens})`);
  }
  const ft = stats.byModel[FINE_TUNED];
  const ftCompleted = ft ? ft.requestCount - ft.failedCount : 0;
  check(stats.unpricedRequests === ftCompleted, `unpriced requests (${stats.unpricedRequests}) = completed requests of the model without a price, ${FINE_TUNED} (${ftCompleted})`);
  const failed = checks.filter((x) => !x.ok);
  console.log('');
  for (const x of checks) console.log(`${x.ok ? 'ok  ' : 'FAIL'}  ${x.text}`);
  console.log(failed.length === 0 ? '\nAll checks passed.' : `\n${failed.length} check(s) failed.`);
  const exitCode = failed.length === 0 ? 0 : 1;

  // 6. Leave the router up for a browser / Prometheus, or shut everything down.
  const shutdown = async (handle) => {
    if (handle) await handle.stop();
    store.recordRouterStopped();
    await Promise.all([close(router), close(upstream), close(collector)]);
  };
  if (!opt.keepRunning) {
    await shutdown(null);
    return exitCode;
  }
  const again = new SyncClient(store, syncConfig).start();
  console.log(`
Still running — Ctrl-C to stop.
  stats      ${routerUrl}/stats
  metrics    ${routerUrl}/metrics      (Prometheus target 127.0.0.1:${router.address().port})
  collector  ${collectorUrl}/stats
  try        curl -s ${routerUrl}/v1/chat/completions -H 'content-type: application/json' -H 'x-agent-id: me' \\
               -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'`);
  await new Promise((resolve) => process.once('SIGINT', resolve));
  console.log('\nstopping…');
  await shutdown(again);
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`demo failed: ${err?.stack ?? err}`);
    process.exitCode = 1;
  },
);
