// Healthy delivery throughput of this tree against another build of the
// package (e.g. main's), side by side in one run: 5,000 events to the
// receiver of bench/node/receiver.mjs (its own process), 8 in flight, after a
// warm-up of 500; by manual `syncEvents()` passes (the only path the old
// client's benchmark had) and, for this tree, by the background loop. The
// runs alternate (implementation, tree, path) round after round. Besides
// events/s (wall clock, which swings with the machine's load), each run
// reports the CPU time per event of the client's process (user + system,
// the addon's threads included) and of the receiver's: where the time goes,
// and figures that depend far less on what else the machine runs.
//
//   git archive main | tar -x -C /tmp/main && ln -s "$PWD/node_modules" /tmp/main/node_modules
//   (cd /tmp/main && npm run build:native && npm run build)
//   npm run build && node bench/node/sync-baseline.mjs /tmp/main/dist/index.mjs [--rounds 5]
//
// One run (internal): node sync-baseline.mjs --one <dist/index.mjs> <manual|loop>
import { execFileSync, fork } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DIST_URL, MODELS, median } from './common.mjs';

const N = 5_000;

async function one(dist, mode) {
  const { EventStore, PricingManager, SyncClient, SyncConfig, implementation } = await import(dist);
  const pricing = new PricingManager();
  const receiver = fork(fileURLToPath(new URL('./receiver.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve) => receiver.once('message', (m) => resolve(m.port)));
  const ask = (what) => new Promise((resolve) => (receiver.once('message', resolve), receiver.send(what)));
  const config = () =>
    new SyncConfig(`http://127.0.0.1:${port}`, 'ic_bench')
      .withBatchThreshold(mode === 'loop' ? 1 : 1_000_000)
      .withInterval(3_600_000)
      .withThresholdCheck(5)
      .withMaxBatch(N)
      .withMaxInFlight(8)
      .withStopDeadline(30_000);
  const deliver = async (n) => {
    await ask('reset');
    const store = EventStore.withCapacity(50_000);
    for (let i = 0; i < n; i++) store.recordLlmCompleted(pricing, MODELS[i & 3], 200 + i, 30, 'agent', 'ip_openai-001');
    store.len();
    const client = new SyncClient(store, config());
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const { cpuUs: receiverCpu0 } = await ask('count');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (mode === 'manual') {
      while (store.unsyncedCount() > 0) await client.syncEvents();
    } else {
      const handle = client.start();
      while (store.unsyncedCount() > 0) await sleep(2);
      await handle.stop();
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    delay.disable();
    const { count, cpuUs: receiverCpu1 } = await ask('count');
    if (count !== n) throw new Error(`the receiver holds ${count} events, expected ${n}`);
    return {
      eventsPerSec: n / (ms / 1000),
      loopP99: delay.percentile(99) / 1e6,
      clientCpuUsPerEvent: (cpu.user + cpu.system) / n,
      receiverCpuUsPerEvent: (receiverCpu1 - receiverCpu0) / n,
    };
  };
  await deliver(500);
  const result = await deliver(N);
  receiver.kill();
  return { implementation, mode, ...result };
}

if (process.argv[2] === '--one') {
  console.log(JSON.stringify(await one(process.argv[3], process.argv[4])));
} else {
  const other = process.argv[2];
  if (!other) throw new Error('usage: node bench/node/sync-baseline.mjs <other dist/index.mjs> [--rounds N]');
  const otherUrl = other.startsWith('file:') ? other : new URL(other, `file://${process.cwd()}/`).href;
  const i = process.argv.indexOf('--rounds');
  const rounds = i === -1 ? 5 : Number(process.argv[i + 1]);
  const variants = [
    ['other', otherUrl, 'manual'],
    ['this', DIST_URL, 'manual'],
    ['this', DIST_URL, 'loop'],
  ];
  const runs = [];
  for (let round = 0; round < rounds; round++) {
    for (const impl of round % 2 ? ['js', 'native'] : ['native', 'js']) {
      for (const [tree, dist, mode] of round % 2 ? [...variants].reverse() : variants) {
        const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--one', dist, mode], {
          env: { ...process.env, IRON_ANALYTICS_IMPL: impl },
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        runs.push({ tree, impl, ...JSON.parse(out.toString().trim().split('\n').at(-1)) });
        process.stderr.write('.');
      }
    }
  }
  process.stderr.write('\n');
  console.log(`${N} events, 8 in flight, ${rounds} rounds; other = ${other}\n`);
  console.log('| impl | tree | path | events/s median (min–max) | event-loop p99, ms (median) | client CPU µs/event (median) | receiver CPU µs/event (median) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const impl of ['native', 'js']) {
    for (const [tree, , mode] of variants) {
      const rs = runs.filter((r) => r.impl === impl && r.tree === tree && r.mode === mode);
      const e = rs.map((r) => r.eventsPerSec);
      const path = mode === 'manual' ? '`syncEvents()` passes' : 'background loop';
      console.log(
        `| ${impl} | ${tree} | ${path} | ${Math.round(median(e))} (${Math.round(Math.min(...e))}–${Math.round(Math.max(...e))}) | ` +
          `${median(rs.map((r) => r.loopP99)).toFixed(1)} | ${Math.round(median(rs.map((r) => r.clientCpuUsPerEvent)))} | ` +
          `${Math.round(median(rs.map((r) => r.receiverCpuUsPerEvent)))} |`,
      );
    }
  }
}
