// A process that records events with a running sync client and then ends in
// a given way, through the built package (dist/). Used by test/exit.test.ts
// and bench/node/exit-paths.mjs.
//
//   node exit-child.mjs first  '{"entry","url","token","n","path","spoolDir","signals","stopDeadlineMs","spoolIntervalMs","maxInFlight","afterMs"}'
//   node exit-child.mjs second '{"entry","url","token","spoolDir"}'
//
// first: records `n` events, prints `RECORDED` on stdout, lets the client
// work for `afterMs` (default 0), then ends by `path`:
//   return   the script returns (the event loop runs dry: beforeExit)
//   exit     process.exit(0) at once
//   uncaught an exception nobody catches
//   wait     stays alive until the parent signals it (SIGTERM, SIGKILL)
//   spooled  (for SIGKILL) records n, waits until the spool (if any) holds
//            them, prints SPOOLED, records n more, prints RECORDED, and waits
// second: starts a client on the same spool directory, waits until nothing
//   is pending, stops, and prints `REPORT {json}`.
const [mode, json] = process.argv.slice(2);
const opts = JSON.parse(json);
const { EventStore, PricingManager, SyncClient, SyncConfig } = await import(opts.entry);
const pricing = new PricingManager();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let config = new SyncConfig(opts.url, opts.token)
  .withInterval(50)
  .withBatchThreshold(1)
  .withThresholdCheck(5)
  .withBackoff(20, 200)
  .withTimeout(5_000)
  .withMaxInFlight(opts.maxInFlight ?? 8)
  .withStopDeadline(opts.stopDeadlineMs ?? 2_000);
if (opts.spoolDir) config = config.withSpool(opts.spoolDir, { maxBytes: 16 << 20 }).withSpoolInterval(opts.spoolIntervalMs ?? 100);
if (opts.signals) config = config.withShutdownSignals(['SIGTERM', 'SIGINT']);
const store = new EventStore();
const client = new SyncClient(store, config);

function record(n, from = 0) {
  for (let i = from; i < from + n; i++) {
    if (i % 4 === 3) store.recordLlmFailed('gpt-4o-mini', 'agent_exit', null, 'timeout', `attempt ${i}`);
    else store.recordLlmCompleted(pricing, 'gpt-4o', 100 + i, 20, 'agent_exit', 'ip_openai-001');
  }
}

if (mode === 'second') {
  const handle = client.start();
  const until = performance.now() + 30_000;
  while (store.unsyncedCount() > 0 && performance.now() < until) await sleep(10);
  const report = await handle.stop();
  process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
} else {
  client.start();
  if (opts.path === 'spooled') {
    record(opts.n);
    while (opts.spoolDir && (client.spoolStatus()?.spooled ?? 0) < opts.n) await sleep(5);
    process.stdout.write('SPOOLED\n');
    record(opts.n, opts.n);
  } else {
    record(opts.n);
  }
  process.stdout.write('RECORDED\n');
  if (opts.afterMs) await sleep(opts.afterMs);
  switch (opts.path) {
    case 'exit':
      process.exit(0);
      break;
    case 'uncaught':
      setTimeout(() => {
        throw new Error('an exception nobody catches');
      }, 0);
      break;
    case 'wait':
    case 'spooled':
      setInterval(() => {}, 1 << 30);
      break;
    default:
      // 'return': nothing keeps the process alive but the sync client's flush.
      break;
  }
}
