/**
 * The spool (`SyncConfig.withSpool`): undelivered events survive the client
 * and keep their ids; the file stays bounded; a damaged one is read as far as
 * it goes, and says what it skipped; one client per directory. Both
 * implementations, in this process (the end of a process: `exit.test.ts`).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventStore, SyncClient, SyncConfig, implementation } from '../src/index.js';
import type { AnalyticsEvent } from '../src/index.js';
import {
  TOKEN,
  expectStoredExactlyOnce,
  fastConfig,
  recordMix,
  start,
  startServer,
  useSyncHarness,
  waitFor,
  warningsMatching,
} from './helpers/sync-harness.js';

useSyncHarness();

const MIB = 1 << 20;
const SPOOL_FILE = 'events.spool';
const root = mkdtempSync(join(tmpdir(), 'iron-spool-'));
let dirs = 0;
const newDir = (): string => join(root, `spool-${dirs++}`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Nothing listens on port 1: every request is refused. */
const unreachable = (dir: string, maxBytes = MIB): SyncConfig =>
  new SyncConfig('http://127.0.0.1:1', TOKEN)
    .withInterval(50)
    .withBatchThreshold(1)
    .withThresholdCheck(5)
    .withBackoff(10, 80)
    .withStopDeadline(200)
    .withSpool(dir, { maxBytes });

/** Records `n` events with the server unreachable and stops: all spooled. Releases the directory. */
async function spoolUndelivered(dir: string, n: number): Promise<AnalyticsEvent[]> {
  const store = new EventStore();
  const client = new SyncClient(store, unreachable(dir));
  const handle = start(client);
  recordMix(store, n);
  const events = store.snapshotEvents();
  const report = await handle.stop();
  expect(report).toMatchObject({ remaining: n, spooled: n });
  expect(client.closeSpool()).toBe(n);
  return events;
}

describe(`spool (${implementation})`, () => {
  it('undelivered events survive the client, keep their ids and are delivered by the next one', async () => {
    const dir = newDir();
    const events = await spoolUndelivered(dir, 20);
    const server = await startServer();
    const store = new EventStore();
    const client = new SyncClient(store, fastConfig(server).withBatchThreshold(1).withSpool(dir, { maxBytes: MIB }));
    expect(client.spoolStatus()).toMatchObject({ dir, readBack: 20, tornRecords: 0, garbageBytes: 0 });
    expect(store.unsyncedCount()).toBe(0);
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 10_000, 'the replayed events delivered');
    const report = await handle.stop();
    expect(report).toStrictEqual({ delivered: 20, rejected: 0, remaining: 0, spooled: 0, replayed: 20 });
    // The original ids, timestamps and fields.
    expectStoredExactlyOnce(server, events);
    const a = store.accounting();
    expect(a).toMatchObject({ recorded: 0, replayed: 20, synced: 20, buffered: 0 });
    expect(store.stats().totalRequests).toBe(0);
    expect(statSync(join(dir, SPOOL_FILE)).size).toBe(8);
    client.closeSpool();
  });

  it('one client per directory: a second one throws until the first releases it', () => {
    const dir = newDir();
    const first = new SyncClient(new EventStore(), unreachable(dir));
    expect(() => new SyncClient(new EventStore(), unreachable(dir))).toThrow(/in use by another process/);
    expect(first.closeSpool()).toBe(0);
    expect(first.spoolStatus()).toBeNull();
    const second = new SyncClient(new EventStore(), unreachable(dir));
    expect(readFileSync(join(dir, 'spool.lock'), 'utf8').split(/\s+/)[0]).toBe(String(process.pid));
    second.closeSpool();
    // A lock left by a run that is gone is taken over, even one that had
    // this very pid (a restarted container); one held by a live process is not.
    writeFileSync(join(dir, 'spool.lock'), `${process.pid} a-past-run\n`);
    new SyncClient(new EventStore(), unreachable(dir)).closeSpool();
    writeFileSync(join(dir, 'spool.lock'), `${process.ppid}\n`);
    if (implementation === 'js') {
      // The native client takes its lock with flock; only the pure-JS one reads pids.
      expect(() => new SyncClient(new EventStore(), unreachable(dir))).toThrow(/in use by another process/);
    }
    // A file where the directory should be.
    const file = join(root, `not-a-dir-${dirs++}`);
    writeFileSync(file, 'x');
    expect(() => new SyncClient(new EventStore(), unreachable(join(file, 'spool')))).toThrow(/cannot use the spool directory/);
  });

  it('the loop writes the spool while it runs, at each spool interval', async () => {
    const dir = newDir();
    const store = new EventStore();
    const client = new SyncClient(store, unreachable(dir).withSpoolInterval(30));
    const handle = start(client);
    recordMix(store, 10);
    await waitFor(() => client.spoolStatus()?.spooled === 10, 10_000, 'spooled');
    recordMix(store, 5);
    await waitFor(() => client.spoolStatus()?.spooled === 15, 10_000, 'spooled again');
    // What a process killed now would leave: a copy of the file, read by a new client.
    const copy = newDir();
    mkdirSync(copy);
    copyFileSync(join(dir, SPOOL_FILE), join(copy, SPOOL_FILE));
    const reader = new SyncClient(new EventStore(), unreachable(copy));
    expect(reader.spoolStatus()).toMatchObject({ readBack: 15, tornRecords: 0 });
    reader.closeSpool();
    await handle.stop();
    client.closeSpool();
  });

  it('the file shrinks to its header once its events are delivered', async () => {
    const dir = newDir();
    await spoolUndelivered(dir, 400);
    expect(statSync(join(dir, SPOOL_FILE)).size).toBeGreaterThan(64 * 1024);
    const server = await startServer();
    const store = new EventStore();
    const config = fastConfig(server).withBatchThreshold(1).withSpool(dir, { maxBytes: MIB }).withSpoolInterval(20);
    const client = new SyncClient(store, config);
    const handle = start(client);
    await waitFor(() => client.spoolStatus()?.spooled === 0 && store.unsyncedCount() === 0, 20_000, 'trimmed');
    expect(client.spoolStatus()?.fileBytes).toBe(8);
    await handle.stop();
    expect(server.accepted).toHaveLength(400);
    client.closeSpool();
  });

  it('a torn last record is skipped and counted, and the file repaired', async () => {
    const dir = newDir();
    const events = await spoolUndelivered(dir, 5);
    const path = join(dir, SPOOL_FILE);
    truncateSync(path, statSync(path).size - 7);
    const store = new EventStore();
    const client = new SyncClient(store, unreachable(dir));
    expect(client.spoolStatus()).toMatchObject({ readBack: 4, tornRecords: 1, garbageBytes: 0 });
    const handle = start(client);
    expect(store.unsyncedEvents()).toStrictEqual(events.slice(0, 4));
    await handle.stop();
    client.closeSpool();
    const again = new SyncClient(new EventStore(), unreachable(dir));
    expect(again.spoolStatus()).toMatchObject({ readBack: 4, tornRecords: 0 });
    again.closeSpool();
  });

  it('garbage bytes are skipped up to the next record, and counted', async () => {
    const dir = newDir();
    const events = await spoolUndelivered(dir, 3);
    const path = join(dir, SPOOL_FILE);
    const bytes = readFileSync(path);
    writeFileSync(
      path,
      Buffer.concat([bytes.subarray(0, 8), Buffer.from('\x00\x01garbage\xA5\x5A', 'latin1'), bytes.subarray(8), Buffer.from('trailing noise, not a record')]),
    );
    const store = new EventStore();
    const client = new SyncClient(store, unreachable(dir));
    expect(client.spoolStatus()).toMatchObject({ readBack: 3, garbageBytes: 11 + 28, tornRecords: 0 });
    const handle = start(client);
    expect(store.unsyncedEvents()).toStrictEqual(events);
    await handle.stop();
    client.closeSpool();
  });

  it('maxBytes keeps the newest events and counts the ones left out (a full disk, simulated)', async () => {
    const dir = newDir();
    const store = new EventStore();
    const client = new SyncClient(store, unreachable(dir, 4_096));
    const handle = start(client);
    recordMix(store, 40);
    const events = store.snapshotEvents();
    const report = await handle.stop();
    const status = client.spoolStatus()!;
    expect(status.fileBytes).toBeLessThanOrEqual(4_096);
    const kept = status.spooled;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(40);
    expect(status.leftOut).toBe(40 - kept);
    expect(report).toMatchObject({ remaining: 40, spooled: kept });
    client.closeSpool();
    const next = new EventStore();
    const reader = new SyncClient(next, unreachable(dir, 4_096));
    const replay = start(reader);
    expect(next.unsyncedEvents()).toStrictEqual(events.slice(40 - kept));
    await replay.stop();
    reader.closeSpool();
  });

  it('a spool write that fails is counted and warned once; the events stay in memory and are still sent', async () => {
    const dir = newDir();
    const store = new EventStore();
    const client = new SyncClient(store, unreachable(dir, 4_096).withSpoolInterval(20));
    // Compaction writes a temporary file then renames it: a directory in its way makes every rewrite fail.
    mkdirSync(join(dir, `${SPOOL_FILE}.tmp`));
    const handle = start(client);
    recordMix(store, 40); // over 4 KiB: the spool must be rewritten
    await waitFor(() => (client.spoolStatus()?.writeErrors ?? 0) >= 1, 10_000, 'a failed write');
    recordMix(store, 40); // and again
    await waitFor(() => (client.spoolStatus()?.writeErrors ?? 0) >= 2, 10_000, 'another failed write');
    const report = await handle.stop();
    expect(report.remaining).toBe(80);
    expect(warningsMatching(/could not write the spool/)).toHaveLength(1);
    client.closeSpool();
  });

  it('a smaller store takes what fits and counts the rest dropped', async () => {
    const dir = newDir();
    const events = await spoolUndelivered(dir, 20);
    const store = EventStore.withCapacity(5);
    const client = new SyncClient(store, unreachable(dir));
    const handle = start(client);
    expect(store.unsyncedEvents()).toStrictEqual(events.slice(0, 5));
    const report = await handle.stop();
    expect(report).toMatchObject({ replayed: 5, spooled: 5 });
    const a = store.accounting();
    expect(a).toMatchObject({ replayed: 20, dropped: 15 });
    expect(a.recorded + a.replayed).toBe(a.buffered + a.drained + a.synced + a.rejected + a.dropped + a.evicted);
    client.closeSpool();
  });
});
