// Instructions per record, counted by valgrind (callgrind): a figure the
// machine's load and CPU throttling do not move, beside the timed cases.
//
//   node bench/node/instructions.mjs            (needs valgrind and a built dist/ and addon)
//
// For each implementation and each call shape, a child records N1 and then
// N2 records into one store (no drain, no sync); the marginal instructions
// per record are (I(N2) - I(N1)) / (N2 - N1), which removes start-up, JIT
// warm-up and the addon's load. Shapes: `plain` is the positional
// recordLlmCompleted call; `usage` adds cache read/write and reasoning parts
// (bench/node/common.mjs USAGE_PARTS); `latency` adds { durationMs, ttftMs }.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHAPES = ['plain', 'usage', 'latency'];
const N1 = 100_000;
const N2 = 600_000;

if (process.argv[2] === '--child') {
  const [shape, count] = [process.argv[3], Number(process.argv[4])];
  const { EventStore, PricingManager } = await import('../../dist/index.mjs');
  const { AGENTS, ARGS_MASK, INPUT_TOKENS, LATENCIES, MODELS, OUTPUT_TOKENS, PROVIDER_ID, USAGE_PARTS } = await import('./common.mjs');
  const pricing = new PricingManager();
  const store = EventStore.withCapacity(N2 + 1);
  const details = shape === 'usage' ? USAGE_PARTS : shape === 'latency' ? LATENCIES : null;
  for (let i = 0; i < count; i++) {
    const j = i & ARGS_MASK;
    store.recordLlmCompleted(pricing, MODELS[i & 3], INPUT_TOKENS[j], OUTPUT_TOKENS[j], AGENTS[i % 3], PROVIDER_ID, details?.[j]);
  }
  if (store.accounting().recorded !== count) throw new Error('not every record was counted');
  process.exit(0);
}

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('instructions.mjs: valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}
const self = fileURLToPath(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'iron-instr-'));

/** Instructions of one child run. */
function instructions(impl, shape, count) {
  const out = join(dir, `${impl}.${shape}.${count}`);
  const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, self, '--child', shape, String(count)], {
    env: { ...process.env, IRON_ANALYTICS_IMPL: impl },
    encoding: 'utf8',
  });
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${impl} ${shape} ${count}: ${r.stderr.slice(-400)}`);
  return Number(m[1]);
}

const rows = [];
for (const impl of ['native', 'js']) {
  const per = {};
  for (const shape of SHAPES) per[shape] = (instructions(impl, shape, N2) - instructions(impl, shape, N1)) / (N2 - N1);
  rows.push({ impl, ...per });
}
rmSync(dir, { recursive: true, force: true });
const f = (v) => Math.round(v).toLocaleString('en-US');
const r = (a, b) => `${(a / b).toFixed(3)}×`;
console.log('| implementation | plain | with usage parts | usage / plain | with latency | latency / plain |');
console.log('|---|---|---|---|---|---|');
for (const x of rows) console.log(`| ${x.impl} | ${f(x.plain)} | ${f(x.usage)} | ${r(x.usage, x.plain)} | ${f(x.latency)} | ${r(x.latency, x.plain)} |`);
const [n, j] = rows;
console.log(`\nnative / js (plain): ${r(n.plain, j.plain)}  (instructions per recordLlmCompleted, marginal over ${N2 - N1} records)`);
