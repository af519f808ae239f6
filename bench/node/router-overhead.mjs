// Case `router_overhead` (run by child.mjs): what the toolkit's usage extraction
// and recording cost the example router (examples/router.mjs, which meters with
// `meterNodeResponse`), against the same router as a plain proxy (analytics OFF,
// `store: null`) — issue 10's "≤ 5% of its proxy throughput".
//
// Three processes besides this one: the fake upstream (examples/fake-upstream.mjs,
// no latency, no faults) and two routers, OFF and ON, each in a process of its
// own. This process is the client: keep-alive connections, a fixed mix of
// requests (Chat Completions streamed with usage and not, Responses streamed,
// Anthropic Messages streamed), a few requests in flight. Short rounds alternate
// OFF and ON (order swapped each round); each router reports the CPU time
// (user + system) its own process spent in the round, so the figure is the
// router's capacity per CPU-second and the client's and upstream's work, and
// other processes on the machine, stay out of it.
//
//   node bench/node/router-overhead.mjs upstream        (a child: the fake upstream)
//   node bench/node/router-overhead.mjs router off|on   (a child: one router)
import http from 'node:http';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const SELF = fileURLToPath(import.meta.url);
const ROUNDS = 12;
const PER_ROUND = 240;
const IN_FLIGHT = 8;

/** Listens on an ephemeral port of 127.0.0.1 and sends it to the parent; answers `cpu` with this process's CPU time. */
function serveChild(server) {
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'cpu') {
      const c = process.cpuUsage();
      process.send({ cpuUs: c.user + c.system });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[2] === 'upstream') {
  const { createFakeUpstream } = await import('../../examples/fake-upstream.mjs');
  serveChild(createFakeUpstream({ seed: 7, latencyScale: 0, faults: null }));
} else if (process.argv[2] === 'router') {
  const [side, upstreamUrl] = process.argv.slice(3);
  const lib = await import('iron-runtime-analytics');
  const { createRouter } = await import('../../examples/router.mjs');
  const store = side === 'on' ? new lib.EventStore({ capacity: 1_000_000 }) : null;
  serveChild(createRouter({ upstreamUrl, store, pricing: new lib.PricingManager() }));
}

/** The request mix, one body per kind, cycled. */
function requests() {
  const text = 'please summarize the following report about latency, cost budgets and routing in detail. '.repeat(20);
  const chat = (stream) => ({
    path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'system', content: text }, { role: 'user', content: 'go' }], stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
  });
  return [
    chat(true),
    chat(true),
    chat(false),
    { path: '/v1/responses', body: JSON.stringify({ model: 'gpt-4o-mini', instructions: text, input: 'go', stream: true }) },
    { path: '/v1/messages', body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, system: text, messages: [{ role: 'user', content: 'go' }], stream: true }) },
  ];
}

/** Starts a child in `role` and waits for its port; `ask()` requests its CPU time. */
async function startChild(args) {
  const child = fork(SELF, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  const ask = () => new Promise((resolve) => child.once('message', (m) => resolve(m.cpuUs)).send('cpu'));
  return { child, port, ask };
}

export async function caseRouterOverhead({ metric, check, info }) {
  const upstream = await startChild(['upstream']);
  const routers = {};
  try {
    for (const side of ['off', 'on']) routers[side] = await startChild(['router', side, `http://127.0.0.1:${upstream.port}`]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const mix = requests();
    let sent = 0;
    const one = (port) =>
      new Promise((resolve, reject) => {
        const r = mix[sent++ % mix.length];
        const req = http.request({ host: '127.0.0.1', port, path: r.path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-agent-id': 'bench' } }, (res) => {
          let bytes = 0;
          res.on('data', (c) => (bytes += c.length));
          res.on('end', () => (res.statusCode === 200 && bytes > 0 ? resolve() : reject(new Error(`router answered ${res.statusCode} (${bytes} bytes)`))));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(r.body);
      });
    /** `n` requests, `IN_FLIGHT` at a time; the router's CPU µs per request and the wall-clock requests/s. */
    const round = async (side, n) => {
      const { port, ask } = routers[side];
      const cpu0 = await ask();
      const t0 = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next++ < n) await one(port);
      }));
      const wall = (performance.now() - t0) / 1000;
      return { cpuPerRequest: ((await ask()) - cpu0) / n, perSecond: n / wall };
    };
    for (const side of ['off', 'on', 'off', 'on']) await round(side, PER_ROUND); // warm-up (JIT, sockets)
    const runs = { off: [], on: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const side of r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) runs[side].push(await round(side, PER_ROUND));
    }
    agent.destroy();
    // Per round: ON's requests per router CPU-second over OFF's (= OFF's CPU per request over ON's).
    const cpuRatios = runs.off.map((off, i) => off.cpuPerRequest / runs.on[i].cpuPerRequest);
    const wallRatios = runs.off.map((off, i) => runs.on[i].perSecond / off.perSecond);
    const range = (xs) => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
    metric('off_cpu_us_per_request', median(runs.off.map((x) => x.cpuPerRequest)), 'µs', 'lower', 'router process CPU per request, plain proxy (analytics OFF)');
    metric('on_cpu_us_per_request', median(runs.on.map((x) => x.cpuPerRequest)), 'µs', 'lower', 'router process CPU per request, metered and recorded (analytics ON)');
    metric('cpu_ratio', median(cpuRatios), '×', 'higher', `ON / OFF requests per router CPU-second, median of ${ROUNDS} alternating rounds, per-round ratios ${range(cpuRatios)}`);
    metric('wall_ratio', median(wallRatios), '×', 'higher', `the same in wall-clock requests/s (disturbed by the client, the upstream and other processes), per-round ratios ${range(wallRatios)}`);

    // The ON router recorded every request it served, none failed.
    const stats = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: routers.on.port, path: '/stats' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      }).on('error', reject);
    });
    const served = (ROUNDS + 2) * PER_ROUND;
    const totals = stats.stats;
    info.onStats = { totalRequests: totals.totalRequests, failedRequests: totals.failedRequests };
    check(totals.totalRequests === served && totals.failedRequests === 0, `router_overhead: ON recorded ${totals.totalRequests} requests (${totals.failedRequests} failed), served ${served}`);
  } finally {
    for (const c of [upstream, ...Object.values(routers)]) c.child.kill();
  }
}
