/**
 * Intermittent faults mixed together, and events that can never be
 * delivered: each failure holds back only its own event, an outage pauses
 * everyone, and every good event lands exactly once. Both implementations
 * (IRON_ANALYTICS_IMPL=native|js), against a real server on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { EventStore, SyncClient, implementation } from '../src/index.js';
import type { AnalyticsEvent } from '../src/index.js';
import {
  expectAllDelivered,
  expectNoTokenInWarnings,
  expectStoredExactlyOnce,
  fastConfig,
  pricing,
  recordMix,
  start,
  startServer,
  useSyncHarness,
  waitFor,
} from './helpers/sync-harness.js';

useSyncHarness();

/** Records a failed event whose message makes its body about `bytes` long; returns it. */
function recordBulky(store: EventStore, bytes: number): AnalyticsEvent {
  store.recordLlmFailed('gpt-4o', null, null, 'context_too_long', 'm'.repeat(bytes));
  return store.unsyncedEvents().at(-1) as AnalyticsEvent;
}

describe(`SyncClient under mixed faults (${implementation})`, () => {
  it('1 connection in 13 dropped, 1 answer in 17 lost, ten 503s and ten 429s: all 2,000 delivered exactly once', async () => {
    const server = await startServer();
    server.dropEvery(13);
    server.loseReplyEvery(17);
    server.burstAfter(300, 10, 10, 1);
    const store = new EventStore();
    recordMix(store, 2_000);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withMaxBatch(2_000).withBatchThreshold(1));
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 60_000, 'every event delivered');
    const report = await handle.stop();
    expectAllDelivered(server, store, expected, report);
    expect(server.overlaps).toBe(0);
    expect(server.requests.filter((r) => r.outcome === 503)).toHaveLength(10);
    expect(server.requests.filter((r) => r.outcome === 429)).toHaveLength(10);
    expect(server.requests.filter((r) => r.outcome === 'dropped').length).toBeGreaterThanOrEqual(Math.floor(2_000 / 17));
    expect(server.duplicates).toBeGreaterThan(0);
    // Nothing new started before a 429's Retry-After had passed, but the
    // requests already in flight when it came.
    const first429 = server.requests.findIndex((r) => r.outcome === 429);
    const answeredAt = server.requests[first429]!.answeredAt!;
    const within = server.requests.slice(first429 + 1).filter((r) => r.at < answeredAt + 950);
    expect(within.length).toBeLessThan(8);
  });

  it('a 413 poison event at the head is rejected with its reason; the 1,000 others are delivered exactly once', async () => {
    const server = await startServer();
    server.maxBodyBytes(2_048);
    const store = new EventStore();
    const poison = recordBulky(store, 3_000);
    recordMix(store, 1_000);
    const good = store.snapshotEvents().filter((e) => e.eventId !== poison.eventId);
    const client = new SyncClient(store, fastConfig(server).withMaxBatch(200).withBatchThreshold(1));
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 30_000, 'every event settled');
    const report = await handle.stop();
    expect(report).toStrictEqual({ delivered: 1_000, rejected: 1, remaining: 0, spooled: 0, replayed: 0 });
    expectStoredExactlyOnce(server, good);
    expect(client.rejectedEvents()).toStrictEqual([
      { eventId: poison.eventId, status: 413, errorCode: 'PAYLOAD_TOO_LARGE', message: 'request entity too large' },
    ]);
    expect(server.postsFor(poison.eventId)).toBe(1);
    expect(store.accounting().rejected).toBe(1);
    expectNoTokenInWarnings();
  });

  it('a body over maxEventBytes is rejected locally with its reason and never sent', async () => {
    const server = await startServer();
    const store = new EventStore();
    const huge = recordBulky(store, 3_000);
    recordMix(store, 20);
    const good = store.snapshotEvents().filter((e) => e.eventId !== huge.eventId);
    const client = new SyncClient(store, fastConfig(server).withMaxEventBytes(2_048));
    await expect(client.syncEvents()).resolves.toBe(20);
    expectStoredExactlyOnce(server, good);
    expect(server.postsFor(huge.eventId)).toBe(0);
    const [rejected] = client.rejectedEvents();
    expect(rejected).toMatchObject({ eventId: huge.eventId, status: 413, errorCode: 'EVENT_TOO_LARGE' });
    expect(rejected?.message).toMatch(/over the limit of 2048 bytes/);
    expect(store.unsyncedCount()).toBe(0);
  });

  it('an event that keeps failing waits alone with its own backoff while the others flow', async () => {
    const server = await startServer();
    server.failModel('flaky-');
    // Answers take a moment, so that requests overlap even with the client in this process.
    server.delayAll(5);
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'flaky-model', 1, 1);
    const stuck = store.snapshotEvents()[0]!;
    recordMix(store, 300);
    const good = store.snapshotEvents().slice(1);
    const client = new SyncClient(store, fastConfig(server).withMaxBatch(50).withBatchThreshold(1).withBackoff(50, 400));
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 1, 30_000, 'the others delivered');
    expect(store.unsyncedEvents()[0]?.eventId).toBe(stuck.eventId);
    expectStoredExactlyOnce(server, good);
    expect(server.maxConcurrent).toBeGreaterThan(1);
    const tries = server.requests.filter((r) => r.eventId === stuck.eventId).map((r) => r.at);
    for (let i = 1; i < tries.length; i++) expect(tries[i]! - tries[i - 1]!).toBeGreaterThanOrEqual(49);
    server.failModel(null);
    await waitFor(() => store.unsyncedCount() === 0, 30_000, 'the stuck one delivered');
    const report = await handle.stop();
    expect(report).toMatchObject({ delivered: 301, rejected: 0, remaining: 0 });
    expect(server.overlaps).toBe(0);
  });
});
