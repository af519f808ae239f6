/**
 * The spool's file format is written twice, by the Rust core and by the
 * pure-JS client (`src/js/sync/spool.ts`). Here the file this
 * implementation's client writes is read back by the TypeScript reader: with
 * the native addon, that checks the two agree; with the fallback, that its
 * writer and reader do.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventStore, SyncClient, SyncConfig, implementation } from '../src/index.js';
import { readSpool, SPOOL_FILE } from '../src/js/sync/spool.js';
import { TOKEN, pricing, recordMix } from './helpers/sync-harness.js';

const root = mkdtempSync(join(tmpdir(), 'iron-spool-format-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe(`spool file format (${implementation} writer, TypeScript reader)`, () => {
  it('holds every undelivered event with its id, timestamp and fields, and nothing delivered', async () => {
    const dir = join(root, 'a');
    const store = new EventStore();
    const config = new SyncConfig('http://127.0.0.1:1', TOKEN).withStopDeadline(0).withSpool(dir, { maxBytes: 1 << 20 });
    const client = new SyncClient(store, config);
    recordMix(store, 30);
    store.recordLlmFailed('gpt-4o', 'agent_ü', 'ip_x', 'code "quoted"', 'message with ✓ and \\ and \n');
    store.recordLlmCompleted(pricing, 'gpt-4o', 0, 0);
    const handle = client.start();
    const [first, second] = store.unsyncedEvents(2);
    store.markSynced([first!.eventId, second!.eventId]); // gone before the first write: never spooled
    const expected = store.unsyncedEvents();
    const report = await handle.stop();
    expect(report.spooled).toBe(expected.length);
    client.closeSpool();

    const bytes = readFileSync(join(dir, SPOOL_FILE));
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('IRSPOOL1');
    const contents = readSpool(bytes);
    expect({ torn: contents.tornRecords, garbage: contents.garbageBytes, unreadable: contents.unreadableRecords }).toStrictEqual({
      torn: 0,
      garbage: 0,
      unreadable: 0,
    });
    expect(contents.events.map((e) => e.event)).toStrictEqual(expected);
    expect(contents.events.reduce((n, e) => n + e.size, 8)).toBe(bytes.length);
  });
});
