// The Node benchmark suite: native addon vs pure-JS fallback.
//
//   npm run bench                     (= npm run build --silent && node bench/node/run.mjs)
//   node bench/node/run.mjs --rounds 3 --cases record_completed,sync
//
// The two implementations cannot share a process (the package picks one at
// load time, from IRON_ANALYTICS_IMPL), so every case runs in a child process
// per implementation, alternating native / js / native / js over several
// rounds (the starting implementation alternates too). Each child measures
// with tinybench (or its own timed loop where tinybench does not fit) and
// prints its medians as JSON; this parent aggregates median / min / max over
// the rounds, prints one markdown table per case, and writes
// bench/.out/node.json. Options (or env): --rounds (BENCH_ROUNDS, 5),
// --cases (BENCH_CASES, all), --task-ms (BENCH_TASK_MS, 700: tinybench time
// per task), --worker-events (BENCH_WORKER_EVENTS, 1,000,000).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NODE_JSON, OUT_DIR, RESULT_PREFIX, RUST_JSON, maxOf, median, minOf } from './common.mjs';
import { NODE_CASES, evaluateTargets, renderNodeCase, renderTargets } from './report.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '5' },
    cases: { type: 'string', default: process.env.BENCH_CASES ?? '' },
    'task-ms': { type: 'string', default: process.env.BENCH_TASK_MS ?? '700' },
    'worker-events': { type: 'string', default: process.env.BENCH_WORKER_EVENTS ?? '1000000' },
  },
});
const rounds = Number(opts.rounds);
const taskMs = Number(opts['task-ms']);
const workerEvents = Number(opts['worker-events']);
const selected = opts.cases ? opts.cases.split(',').map((s) => s.trim()) : NODE_CASES.map((c) => c.id);
for (const id of selected) {
  if (!NODE_CASES.some((c) => c.id === id)) throw new Error(`unknown case ${id}; one of ${NODE_CASES.map((c) => c.id).join(', ')}`);
}
const cases = NODE_CASES.filter((c) => selected.includes(c.id));

const DIST = fileURLToPath(new URL('../../dist/index.mjs', import.meta.url));
if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (or \`npm run bench\`)`);
const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 180_000;

function runChild(def, impl, round) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...(def.nodeArgs ?? []), CHILD, def.id, impl], {
      env: {
        ...process.env,
        // The prom-client reference does not use the package; any implementation will do.
        IRON_ANALYTICS_IMPL: impl === 'prom-client' ? 'js' : impl,
        BENCH_ROUND: String(round),
        BENCH_TASK_MS: String(taskMs),
        BENCH_WORKER_EVENTS: String(workerEvents),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(`  [${def.id}/${impl}] ${d}`);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      const seconds = (Date.now() - started) / 1000;
      if (code !== 0 || !line) {
        resolve({ error: `exit ${code ?? signal}${line ? '' : ', no result'}: ${(stderr || stdout).trim().split('\n').slice(-8).join('\n')}`, seconds });
        return;
      }
      resolve({ result: JSON.parse(line.slice(RESULT_PREFIX.length)), seconds });
    });
  });
}

function git(...args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const raw = [];
const failures = [];
const t0 = Date.now();
console.error(`Node bench: ${cases.length} case(s) × ${rounds} round(s), tinybench ${taskMs} ms/task, ${cpus().length} CPUs, node ${process.version}`);
for (let round = 0; round < rounds; round++) {
  for (const def of cases) {
    // native first on even rounds, js first on odd ones; references last.
    const pair = def.impls.filter((i) => i === 'native' || i === 'js');
    const order = [...(round % 2 ? [...pair].reverse() : pair), ...def.impls.filter((i) => !pair.includes(i))];
    for (const impl of order) {
      const { result, error, seconds } = await runChild(def, impl, round);
      console.error(`[round ${round + 1}/${rounds}] ${def.id} ${impl}: ${error ? 'FAILED' : 'ok'} (${seconds.toFixed(1)} s)`);
      if (error) {
        failures.push({ case: def.id, impl, round, error });
        console.error(error);
      } else raw.push(result);
    }
  }
}
const totalSeconds = (Date.now() - t0) / 1000;

// Aggregate: per case, metric and implementation, the children's values over the rounds.
const out = {};
for (const def of cases) {
  const metrics = {};
  for (const r of raw.filter((x) => x.case === def.id)) {
    for (const [name, m] of Object.entries(r.metrics)) {
      const entry = (metrics[name] ??= { unit: m.unit, better: m.better, note: m.note ?? null, impls: {} });
      (entry.impls[r.impl] ??= { values: [] }).values.push(m.value);
    }
  }
  for (const m of Object.values(metrics)) {
    for (const s of Object.values(m.impls)) {
      Object.assign(s, { median: median(s.values), min: minOf(s.values), max: maxOf(s.values), n: s.values.length });
    }
    const n = m.impls.native?.median;
    const j = m.impls.js?.median;
    m.ratio_native_js = n !== undefined && j ? n / j : null;
  }
  out[def.id] = { title: def.title, what: def.what, metrics };
}

let rust = null;
if (existsSync(RUST_JSON)) {
  try {
    rust = JSON.parse(readFileSync(RUST_JSON, 'utf8'));
  } catch (e) {
    console.error(`ignoring ${RUST_JSON}: ${e.message}`);
  }
}

const node = {
  schema: 1,
  generated_at: new Date().toISOString(),
  git_rev: git('rev-parse', 'HEAD'),
  git_dirty: Boolean(git('status', '--porcelain')),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? null,
  command: `node bench/node/run.mjs --rounds ${rounds} --task-ms ${taskMs} --worker-events ${workerEvents}${opts.cases ? ` --cases ${opts.cases}` : ''}`,
  rounds,
  task_ms: taskMs,
  worker_events: workerEvents,
  total_seconds: totalSeconds,
  units_note: 'median/min/max over rounds (one child process per implementation per round); each child value is itself a median',
  cases: out,
  failures,
  raw,
};
mkdirSync(OUT_DIR, { recursive: true });
writeFileSync(NODE_JSON, `${JSON.stringify(node, null, 2)}\n`);

console.log(`\n## Node benchmarks (${rounds} rounds, ${totalSeconds.toFixed(0)} s)\n`);
for (const def of cases) console.log(renderNodeCase(node, def, rust));
console.log('## Targets\n');
console.log(renderTargets(evaluateTargets(node, rust)));
console.log(`\nwrote ${NODE_JSON}; \`node bench/results.mjs\` regenerates bench/RESULTS.md`);
if (failures.length) {
  console.error(`\n${failures.length} child run(s) FAILED:`);
  for (const f of failures) console.error(`- ${f.case}/${f.impl} round ${f.round + 1}: ${f.error}`);
  process.exit(1);
}
