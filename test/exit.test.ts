/**
 * The end of the process, in real child processes (through the built
 * package, dist/): a child records N events while the Control API is
 * unreachable, then ends one way or another. With a spool, a second process
 * on the same directory delivers what the first left: the server sees
 * exactly N events in every case but SIGKILL (where only what the last
 * periodic write held survives). Without a spool, the one line on stderr
 * counts the events lost. Both implementations (IRON_ANALYTICS_IMPL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EventStore, SyncClient, SyncConfig, implementation } from '../src/index.js';
import { IngestServer } from './helpers/ingest-server.js';

const entry = new URL('../dist/index.mjs', import.meta.url).href;
const childScript = fileURLToPath(new URL('./helpers/exit-child.mjs', import.meta.url));
const TOKEN = 'ic_exit_tests_4Kq9';
const AGENT = 'agent_exit_tests';
const N = 50;
/** Longer than two spool intervals (100 ms): the periodic write has happened. */
const SETTLE_MS = 400;
const root = mkdtempSync(join(tmpdir(), 'iron-exit-'));
let dirs = 0;
const newDir = (): string => join(root, `spool-${dirs++}`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the child; `onLine` sees each stdout line (to signal it at the right moment). */
function runChild(
  mode: 'first' | 'second',
  options: Record<string, unknown>,
  onLine?: (line: string, child: ChildProcess) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, mode, JSON.stringify({ entry, token: TOKEN, ...options })], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        onLine?.(line, child);
      }
    });
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the ${mode} child did not end within 45 s:\n${stdout}\n${stderr}`));
    }, 45_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A URL where nothing listens: every request is refused. */
async function deadUrl(): Promise<string> {
  const server = await IngestServer.start({ [TOKEN]: AGENT });
  await server.close();
  return server.url;
}

/** The counts of the stderr lines about lost events. */
function lostLines(stderr: string): number[] {
  return [...stderr.matchAll(/iron-runtime-analytics: (\d+) undelivered events? lost at exit/g)].map((m) => Number(m[1]));
}

type Path = 'return' | 'exit' | 'uncaught' | 'sigterm' | 'sigterm with withShutdownSignals' | 'sigkill';

/** Runs the first process along `path`. */
async function endFirst(path: Path, spoolDir: string | null): Promise<Run> {
  const options = {
    url: await deadUrl(),
    n: N,
    spoolDir,
    stopDeadlineMs: 300,
    spoolIntervalMs: 100,
    signals: path === 'sigterm with withShutdownSignals',
    path: { return: 'return', exit: 'exit', uncaught: 'uncaught', sigkill: 'spooled' }[path as string] ?? 'wait',
  };
  return runChild('first', options, (line, child) => {
    if (line !== 'RECORDED') return;
    if (path === 'sigkill') child.kill('SIGKILL');
    else if (path.startsWith('sigterm')) setTimeout(() => child.kill('SIGTERM'), SETTLE_MS);
  });
}

const PATHS: Path[] = ['return', 'exit', 'uncaught', 'sigterm', 'sigterm with withShutdownSignals', 'sigkill'];

function expectEnded(path: Path, run: Run): void {
  switch (path) {
    case 'return':
    case 'exit':
      expect(run.code, run.stderr).toBe(0);
      break;
    case 'uncaught':
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('an exception nobody catches');
      break;
    case 'sigterm':
    case 'sigterm with withShutdownSignals':
      // With withShutdownSignals too: the signal ends the process as it would have.
      expect(run.signal).toBe('SIGTERM');
      break;
    case 'sigkill':
      expect(run.signal).toBe('SIGKILL');
      break;
  }
}

describe(`the end of the process (${implementation})`, () => {
  describe('without a spool: one line on stderr counts what is lost', () => {
    it.each(PATHS)('%s', async (path) => {
      const run = await endFirst(path, null);
      expectEnded(path, run);
      // The signal's default action and SIGKILL leave no chance to say anything.
      const expected = path === 'sigterm' || path === 'sigkill' ? [] : [N];
      expect(lostLines(run.stderr), run.stderr).toStrictEqual(expected);
    });
  });

  describe('with a spool: a second process delivers the rest', () => {
    it.each(PATHS)('%s', async (path) => {
      const spoolDir = newDir();
      const first = await endFirst(path, spoolDir);
      expectEnded(path, first);
      expect(lostLines(first.stderr), first.stderr).toStrictEqual([]);

      const server = await IngestServer.start({ [TOKEN]: AGENT });
      try {
        const second = await runChild('second', { url: server.url, spoolDir });
        expect(second.code, second.stderr).toBe(0);
        const report = JSON.parse(/REPORT (.*)/.exec(second.stdout)?.[1] ?? 'null') as Record<string, number>;
        const ids = new Set(server.accepted.map((s) => s.body.event_id));
        expect(ids.size).toBe(server.accepted.length);
        if (path === 'sigkill') {
          // The first N were in the spool before the kill; the N after may or may not be.
          expect(ids.size).toBeGreaterThanOrEqual(N);
          expect(ids.size).toBeLessThanOrEqual(2 * N);
        } else {
          expect(ids.size).toBe(N);
        }
        expect(report).toMatchObject({ delivered: ids.size, replayed: ids.size, remaining: 0, spooled: 0 });
        expect(server.accepted.every((s) => s.agentId === AGENT)).toBe(true);
      } finally {
        await server.close();
      }
    });

    it('two processes on one spool directory: the second is refused, nothing is corrupted', async () => {
      const spoolDir = newDir();
      const url = await deadUrl();
      let refused: Run | null = null;
      let inProcessError = '';
      const first = await runChild(
        'first',
        { url, n: N, spoolDir, path: 'wait', stopDeadlineMs: 300, spoolIntervalMs: 100 },
        (line, child) => {
          if (line !== 'RECORDED') return;
          setTimeout(() => {
            try {
              new SyncClient(new EventStore(), new SyncConfig(url, TOKEN).withSpool(spoolDir, { maxBytes: 1 << 20 }));
            } catch (error) {
              inProcessError = String(error);
            }
            void runChild('second', { url, spoolDir }).then((run) => {
              refused = run;
              child.kill('SIGTERM');
            });
          }, SETTLE_MS);
        },
      );
      expect(first.signal).toBe('SIGTERM');
      expect(inProcessError).toMatch(/in use by another process/);
      expect(refused).not.toBeNull();
      expect(refused!.code).not.toBe(0);
      expect(refused!.stderr).toMatch(/in use by another process/);
      // The first one's events are all there for the next process.
      const server = await IngestServer.start({ [TOKEN]: AGENT });
      try {
        const second = await runChild('second', { url: server.url, spoolDir });
        expect(second.code, second.stderr).toBe(0);
        expect(new Set(server.accepted.map((s) => s.body.event_id)).size).toBe(N);
      } finally {
        await server.close();
      }
    });
  });
});
