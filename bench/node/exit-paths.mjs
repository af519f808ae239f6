// The end of the process, measured: a child records N events against a slow
// receiver (about 100 events/s get through), lets the client work for a
// while, then ends by one path; with a spool, a second process on the same
// directory delivers the rest to a healthy receiver. For each implementation,
// path and spool on/off: delivered by the first process, spooled (what the
// second one replayed), lost (N minus both, counted by the receiver), and the
// first process's stderr line.
//
//   npm run build && node bench/node/exit-paths.mjs [--n 1000] [--after-ms 1500]
//
// The child is the one test/exit.test.ts uses (test/helpers/exit-child.mjs).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST_URL } from './common.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const N = arg('n', 1_000);
const AFTER_MS = arg('after-ms', 1_500);
const TOKEN = 'ic_exit_paths';
const CHILD = fileURLToPath(new URL('../../test/helpers/exit-child.mjs', import.meta.url));

/** A receiver answering 202 after `delayMs`; counts unique events. */
function receiver(delayMs) {
  const seen = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        const id = JSON.parse(Buffer.concat(chunks).toString('utf8')).event_id;
        const duplicate = seen.has(id);
        seen.add(id);
        res.writeHead(duplicate ? 200 : 202, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ event_id: id, status: duplicate ? 'duplicate' : 'accepted' }));
      }, delayMs);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) }),
    ),
  );
}

function run(impl, mode, options, onLine) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, mode, JSON.stringify({ entry: DIST_URL, token: TOKEN, ...options })], {
      env: { ...process.env, IRON_ANALYTICS_IMPL: impl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
      for (const line of c.split('\n')) if (line) onLine?.(line, child);
    });
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const PATHS = [
  ['return from the script', 'return', false, null],
  ['process.exit()', 'exit', false, null],
  ['uncaught exception', 'uncaught', false, null],
  ['SIGTERM', 'wait', false, 'SIGTERM'],
  ['SIGTERM, withShutdownSignals', 'wait', true, 'SIGTERM'],
  ['SIGKILL', 'wait', false, 'SIGKILL'],
];

const root = mkdtempSync(join(tmpdir(), 'iron-exit-paths-'));
const rows = [];
try {
  for (const impl of ['native', 'js']) {
    for (const [name, path, signals, signal] of PATHS) {
      for (const spool of [false, true]) {
        const slow = await receiver(20);
        const spoolDir = spool ? join(root, `${impl}-${path}-${signals}-${rows.length}`) : null;
        const first = await run(
          impl,
          'first',
          { url: slow.url, n: N, path, signals, spoolDir, maxInFlight: 2, stopDeadlineMs: 1_000, spoolIntervalMs: 1_000, afterMs: signal ? 0 : AFTER_MS },
          (line, child) => {
            if (line === 'RECORDED' && signal) setTimeout(() => child.kill(signal), AFTER_MS);
          },
        );
        await slow.close();
        let replayed = 0;
        if (spool) {
          const healthy = await receiver(0);
          const second = await run(impl, 'second', { url: healthy.url, spoolDir });
          await healthy.close();
          replayed = JSON.parse(/REPORT (.*)/.exec(second.stdout)?.[1] ?? '{"replayed":0}').replayed;
          // Unique over both receivers: a duplicate is not a new delivery.
          for (const id of healthy.seen) if (slow.seen.has(id)) replayed--;
        }
        // Read last: the slow receiver may still store a request the dead client sent.
        const delivered = slow.seen.size;
        const line = /iron-runtime-analytics: .*/.exec(first.stderr)?.[0] ?? '—';
        rows.push({ impl, name, spool, delivered, spooled: replayed, lost: N - delivered - replayed, line, end: first.signal ?? `exit ${first.code}` });
        process.stderr.write('.');
      }
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
process.stderr.write('\n');
console.log(`N = ${N} events; the first process ends ${AFTER_MS} ms after recording (a slow receiver: ~100 events/s, 2 in flight); stop deadline 1 s, spool interval 1 s\n`);
console.log('| impl | path | spool | delivered | spooled | lost | ended | stderr |');
console.log('|---|---|---|---:|---:|---:|---|---|');
for (const r of rows) {
  console.log(`| ${r.impl} | ${r.name} | ${r.spool ? 'on' : 'off'} | ${r.delivered} | ${r.spooled} | ${r.lost} | ${r.end} | ${r.line.replace(/\|/g, '\\|')} |`);
}
