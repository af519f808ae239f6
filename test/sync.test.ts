/**
 * Background sync (Protocol 012) against a real HTTP server with injected
 * faults. Runs against both implementations (IRON_ANALYTICS_IMPL=native|js).
 *
 * Every scenario checks the end state the protocol promises: each LLM event
 * recorded is in the server's store exactly once with its exact fields, the
 * store's outbox is empty, and the counts add up.
 */
import util from 'node:util';
import { describe, expect, it } from 'vitest';
import { EventStore, SyncConfig, SyncClient, implementation } from '../src/index.js';
import { Schedule, backoffDelay } from '../src/js/sync/schedule.js';
import { IngestServer } from './helpers/ingest-server.js';
import {
  AGENT,
  TOKEN,
  expectAllDelivered,
  expectNoTokenInWarnings,
  expectStoredExactlyOnce,
  fastConfig,
  isLlm,
  pricing,
  recordMix,
  sleep,
  start,
  startServer,
  useSyncHarness,
  waitFor,
  warnings,
  warningsMatching,
} from './helpers/sync-harness.js';

useSyncHarness();

// ---------------------------------------------------------------------------
// SyncConfig
// ---------------------------------------------------------------------------

describe(`SyncConfig (${implementation})`, () => {
  it('has the Rust core defaults and immutable builders', () => {
    const base = new SyncConfig('http://localhost:3001', TOKEN);
    expect(base.serverUrl).toBe('http://localhost:3001');
    expect(base.ingestUrl).toBe('http://localhost:3001/api/v1/analytics/events');
    expect({
      interval: base.intervalMs,
      batchThreshold: base.batchThreshold,
      timeout: base.timeoutMs,
      maxInFlight: base.maxInFlight,
      backoff: [base.backoffInitialMs, base.backoffMaxMs],
      stopDeadline: base.stopDeadlineMs,
      maxBatch: base.maxBatch,
      thresholdCheck: base.thresholdCheckMs,
      maxEventBytes: base.maxEventBytes,
      spool: [base.spoolDir, base.spoolMaxBytes],
      spoolInterval: base.spoolIntervalMs,
      shutdownSignals: base.shutdownSignals,
    }).toStrictEqual({
      interval: 30_000,
      batchThreshold: 10,
      timeout: 30_000,
      maxInFlight: 8,
      backoff: [100, 30_000],
      stopDeadline: 10_000,
      maxBatch: 1_000,
      thresholdCheck: 20,
      maxEventBytes: 65_536,
      spool: [null, null],
      spoolInterval: 1_000,
      shutdownSignals: [],
    });

    const tuned = base
      .withInterval(5)
      .withBatchThreshold(2)
      .withTimeout(7)
      .withMaxInFlight(3)
      .withBackoff(1, 9)
      .withStopDeadline(0)
      .withMaxBatch(4)
      .withThresholdCheck(6)
      .withMaxEventBytes(2_048)
      .withSpool('/var/lib/router/spool', { maxBytes: 1 << 20 })
      .withSpoolInterval(7)
      .withShutdownSignals(['SIGTERM', 'SIGINT', 'SIGTERM']);
    expect(tuned).not.toBe(base);
    expect(base.intervalMs).toBe(30_000);
    expect(base.stopDeadlineMs).toBe(10_000);
    expect(tuned.toJSON()).toStrictEqual({
      serverUrl: 'http://localhost:3001',
      icToken: '<redacted>',
      intervalMs: 5,
      batchThreshold: 2,
      timeoutMs: 7,
      maxInFlight: 3,
      backoffInitialMs: 1,
      backoffMaxMs: 9,
      stopDeadlineMs: 0,
      maxBatch: 4,
      thresholdCheckMs: 6,
      maxEventBytes: 2_048,
      spool: { dir: '/var/lib/router/spool', maxBytes: 1 << 20 },
      spoolIntervalMs: 7,
      shutdownSignals: ['SIGTERM', 'SIGINT'],
    });
    expect(Object.keys(base)).toStrictEqual([]);
    expect(() => {
      (base as unknown as { intervalMs: number }).intervalMs = 1;
    }).toThrow(TypeError);
  });

  it('joins the ingestion path without doubling slashes and keeps a path prefix', () => {
    for (const url of ['http://h:1', 'http://h:1/', 'http://h:1//']) {
      expect(new SyncConfig(url, 't').ingestUrl).toBe('http://h:1/api/v1/analytics/events');
    }
    expect(new SyncConfig('https://h/prefix/', 't').ingestUrl).toBe('https://h/prefix/api/v1/analytics/events');
  });

  it('never shows the token', () => {
    const config = new SyncConfig('http://localhost:3001', TOKEN).withInterval(1_000);
    const shown = [
      String(config),
      `${config}`,
      JSON.stringify(config),
      JSON.stringify({ nested: config }),
      util.inspect(config),
      util.inspect(config, { showHidden: true, depth: Infinity }),
      util.format('%o %O %s %j', config, config, config, config),
      Object.keys(config).join(','),
      Object.getOwnPropertyNames(config).join(','),
    ];
    for (const text of shown) expect(text).not.toContain(TOKEN);
    expect(String(config)).toContain('<redacted>');
    expect(JSON.stringify(config)).toContain('<redacted>');
    expect(util.inspect(config)).toContain('<redacted>');
    expect(util.inspect(config)).toContain('http://localhost:3001');
    expect(Object.values(config)).not.toContain(TOKEN);
  });

  it('rejects bad arguments with TypeError or RangeError, never echoing the token', () => {
    const notUrls: unknown[] = [
      'localhost:3001',
      'ftp://example.com',
      'file:///etc/passwd',
      'not a url',
      '',
      'http://',
      'http://u:p@example.com',
      'http://example.com/?q=1',
      'http://example.com/#frag',
    ];
    for (const url of notUrls) expect(() => new SyncConfig(url as string, TOKEN), String(url)).toThrow(TypeError);
    for (const url of [undefined, null, 42, {}]) expect(() => new SyncConfig(url as string, TOKEN)).toThrow(TypeError);

    expect(() => new SyncConfig('http://h', '')).toThrow(RangeError);
    expect(() => new SyncConfig('http://h', '   ')).toThrow(RangeError);
    for (const token of [undefined, null, 42, {}]) {
      expect(() => new SyncConfig('http://h', token as string)).toThrow(TypeError);
    }
    try {
      new SyncConfig('ftp://h', TOKEN);
    } catch (error) {
      expect(String(error)).not.toContain(TOKEN);
    }

    const c = new SyncConfig('https://h', TOKEN);
    const positive: [string, (v: unknown) => unknown][] = [
      ['withInterval', (v) => c.withInterval(v as number)],
      ['withBatchThreshold', (v) => c.withBatchThreshold(v as number)],
      ['withTimeout', (v) => c.withTimeout(v as number)],
      ['withMaxInFlight', (v) => c.withMaxInFlight(v as number)],
      ['withMaxBatch', (v) => c.withMaxBatch(v as number)],
      ['withThresholdCheck', (v) => c.withThresholdCheck(v as number)],
      ['withBackoff initial', (v) => c.withBackoff(v as number, 1_000)],
      ['withBackoff max', (v) => c.withBackoff(1, v as number)],
    ];
    for (const [name, call] of positive) {
      for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) expect(() => call(bad), `${name}(${bad})`).toThrow(RangeError);
      for (const bad of ['10', null, undefined, 10n]) expect(() => call(bad), `${name}(${String(bad)})`).toThrow(TypeError);
    }
    expect(() => c.withStopDeadline(-1)).toThrow(RangeError);
    expect(() => c.withStopDeadline('1' as unknown as number)).toThrow(TypeError);
    expect(() => c.withBackoff(500, 100)).toThrow(RangeError);
    // Longer than Node's timers can wait.
    expect(() => c.withInterval(2 ** 31)).toThrow(RangeError);

    expect(() => c.withMaxEventBytes(1_023)).toThrow(RangeError);
    expect(() => c.withMaxEventBytes('64k' as unknown as number)).toThrow(TypeError);
    expect(() => c.withSpoolInterval(0)).toThrow(RangeError);
    expect(() => c.withSpool('', { maxBytes: 1 << 20 })).toThrow(TypeError);
    expect(() => c.withSpool(42 as unknown as string, { maxBytes: 1 << 20 })).toThrow(TypeError);
    expect(() => c.withSpool('/tmp/s', null as unknown as { maxBytes: number })).toThrow(TypeError);
    expect(() => c.withSpool('/tmp/s', { maxBytes: 4_095 })).toThrow(RangeError);
    expect(() => c.withSpool('/tmp/s', { maxBytes: 1.5e6 + 0.5 })).toThrow(RangeError);
    expect(() => c.withShutdownSignals('SIGTERM' as unknown as string[])).toThrow(TypeError);
    expect(() => c.withShutdownSignals(['SIGKILL'])).toThrow(RangeError);
    expect(() => c.withShutdownSignals([15 as unknown as string])).toThrow(TypeError);
    expect(c.withShutdownSignals([]).shutdownSignals).toStrictEqual([]);
  });
});

describe('backoff (the pure-JS client)', () => {
  it('doubles from the first delay, adds up to as much jitter, never exceeds the cap', () => {
    const delays = (random: () => number): number[] =>
      Array.from({ length: 10 }, (_, attempt) => backoffDelay(attempt, 100, 1_000, random));
    expect(delays(() => 0)).toStrictEqual([100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(delays(() => 0.999_999)).toStrictEqual([200, 400, 800, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]);
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelay(i % 12, 10, 30_000);
      const base = Math.min(10 * 2 ** (i % 12), 30_000);
      expect(d).toBeGreaterThanOrEqual(base);
      expect(d).toBeLessThanOrEqual(Math.min(2 * base, 30_000));
    }
    expect(backoffDelay(10_000, 100, 30_000, () => 0.5)).toBe(30_000);
  });

  it('schedule: a failing event waits alone; a wave of outage signals is one step; a success opens the gate', () => {
    const schedule = new Schedule(new SyncConfig('http://h', 't').withBackoff(100, 1_000).withMaxInFlight(8));
    const now = 1_000_000;
    expect(schedule.eventFailed('a', now)).toMatchObject({ everyone: false });
    expect(schedule.eligible('a', now, false)).toBe(false);
    expect(schedule.eligible('a', now, true)).toBe(true); // a manual pass ignores backoffs
    expect(schedule.eligible('b', now, false)).toBe(true);
    expect(schedule.gate).toBeLessThanOrEqual(now);
    // Eight requests answered 429 together (all sent before the first answer): one pause of exactly the Retry-After.
    for (let i = 0; i < 8; i++) schedule.rateLimited(now + i, 1_000, now - 5);
    expect(schedule.gate).toBe(now + 1_000);
    schedule.settled('b', now + 10);
    expect(schedule.gate).toBe(now + 1_000); // a success never shortens a Retry-After
    schedule.forgive(now + 20);
    expect(schedule.gate).toBe(now + 1_000);
    expect(schedule.eligible('a', now + 20, false)).toBe(true); // stopping forgives the backoffs
    // Eight failures of single events in a row close the gate for everyone.
    const later = now + 5_000;
    const results = Array.from({ length: 8 }, (_, i) => schedule.eventFailed(`e${i}`, later));
    expect(results.slice(0, 7).every((r) => !r.everyone)).toBe(true);
    expect(results[7]).toMatchObject({ everyone: true });
    expect(schedule.gate).toBeGreaterThan(later);
    schedule.settled('e0', later + 1);
    expect(schedule.gate).toBe(later + 1);
  });

  it('schedule: a 429 pauses exactly as long as its Retry-After; its wave neither extends it nor starts a new one', () => {
    const schedule = new Schedule(new SyncConfig('http://h', 't').withBackoff(100, 1_000).withMaxInFlight(8));
    const sent = 1_000_000;
    const first = sent + 10;
    expect(schedule.rateLimited(first, 1_000, sent)).toStrictEqual({ everyone: true, delayMs: 1_000 });
    // The rest of the wave, sent before the pause began, answered later.
    for (let k = 1; k < 8; k++) schedule.rateLimited(first + 5 * k, 1_000, sent + k);
    expect(schedule.gate).toBe(first + 1_000);
    // After the pause: a request sent then and answered 429 is a new wave; its companions do not add to it.
    const resumed = first + 1_000;
    schedule.rateLimited(resumed + 3, 1_000, resumed);
    expect(schedule.gate).toBe(resumed + 3 + 1_000);
    schedule.rateLimited(resumed + 7, 1_000, resumed);
    expect(schedule.gate).toBe(resumed + 3 + 1_000);
    // Retry-After: 0 pauses nobody; no Retry-After: the global backoff.
    const zero = new Schedule(new SyncConfig('http://h', 't').withBackoff(100, 1_000));
    expect(zero.rateLimited(first, 0, sent)).toStrictEqual({ everyone: true, delayMs: 0 });
    const none = new Schedule(new SyncConfig('http://h', 't').withBackoff(100, 1_000));
    const { delayMs } = none.rateLimited(first, null, sent);
    expect(delayMs).toBeGreaterThanOrEqual(100);
    expect(delayMs).toBeLessThanOrEqual(200);
  });
});

// ---------------------------------------------------------------------------
// SyncClient
// ---------------------------------------------------------------------------

describe(`SyncClient (${implementation})`, () => {
  it('checks its arguments', async () => {
    const server = await startServer();
    const store = new EventStore();
    expect(() => new SyncClient({} as unknown as EventStore, fastConfig(server))).toThrow(TypeError);
    expect(() => new SyncClient(null as unknown as EventStore, fastConfig(server))).toThrow(TypeError);
    expect(() => new SyncClient(store, {} as unknown as SyncConfig)).toThrow(TypeError);
    expect(() => new SyncClient(store, { serverUrl: server.url } as unknown as SyncConfig)).toThrow(TypeError);
    const client = new SyncClient(store, fastConfig(server));
    expect(util.inspect(client)).not.toContain(TOKEN);
    expect(JSON.stringify(client) ?? '').not.toContain(TOKEN);
  });

  it('healthy server: one POST per event, exact fields, nothing posted twice', async () => {
    const server = await startServer();
    const store = new EventStore();
    recordMix(store, 25);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server));

    await expect(client.syncEvents()).resolves.toBe(25);
    expect(server.posts).toBe(25);
    expect(client.lastError()).toBeNull();
    expect(client.deliveredCount()).toBe(25);
    expect(client.rejectedCount()).toBe(0);
    expect(client.rejectedEvents()).toStrictEqual([]);
    expectAllDelivered(server, store, expected);

    await expect(client.syncEvents()).resolves.toBe(0);
    expect(server.posts).toBe(25);
    expect(server.duplicates).toBe(0);
    expect(warnings).toStrictEqual([]);
  });

  it('at most maxInFlight requests at once', async () => {
    const server = await startServer();
    server.delayAll(30);
    const store = new EventStore();
    recordMix(store, 20);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withMaxInFlight(3));
    await expect(client.syncEvents()).resolves.toBe(20);
    expect(server.maxConcurrent).toBeLessThanOrEqual(3);
    expect(server.maxConcurrent).toBeGreaterThan(1);
    expectAllDelivered(server, store, expected);
  });

  it('an event is never in flight twice: concurrent syncEvents() calls and the loop', async () => {
    const server = await startServer();
    server.delayAll(40);
    const store = new EventStore();
    recordMix(store, 20);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withMaxBatch(5).withBatchThreshold(1));
    const handle = start(client);
    const results = await Promise.all([client.syncEvents(), client.syncEvents(), client.syncEvents(), client.syncEvents()]);
    const report = await handle.stop();
    expect(results.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20);
    expect(server.posts).toBe(20);
    for (const event of expected) expect(server.postsFor(event.eventId)).toBe(1);
    expect(server.duplicates).toBe(0);
    expect(client.deliveredCount()).toBe(20);
    expectAllDelivered(server, store, expected);
    // The handle counts every delivery of its client since it started, manual passes included.
    expect(report).toStrictEqual({ delivered: 20, rejected: 0, remaining: 0, spooled: 0, replayed: 0 });
  });

  it('burst of 503s: events kept, retried with backoff, delivered once', async () => {
    const server = await startServer();
    server.fail503(6);
    const store = new EventStore();
    recordMix(store, 12);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server));

    await client.syncEvents();
    expect(client.lastError()).toMatchObject({ kind: 'server', status: 503 });
    expect(store.unsyncedCount()).toBeGreaterThan(0);

    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'the 503 burst to pass');
    const report = await handle.stop();
    expect(report.rejected).toBe(0);
    expect(report.remaining).toBe(0);
    expect(client.deliveredCount()).toBe(12);
    expect(server.requests.filter((r) => r.outcome === 503)).toHaveLength(6);
    expectAllDelivered(server, store, expected);
    expect(warningsMatching(/HTTP 503/)).toHaveLength(1);
  });

  it('connection dropped before the event is stored: retried, delivered once', async () => {
    const server = await startServer();
    server.dropBeforeStore(3);
    const store = new EventStore();
    recordMix(store, 10);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server));
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after dropped connections');
    const report = await handle.stop();
    expect(server.requests.filter((r) => r.outcome === 'dropped')).toHaveLength(3);
    expect(server.duplicates).toBe(0);
    expectAllDelivered(server, store, expected, report);
    expect(warningsMatching(/could not reach/)).toHaveLength(1);
  });

  it('answer lost after the event was stored: the retry comes back duplicate, stored once', async () => {
    const server = await startServer();
    server.dropAfterStore(3);
    const store = new EventStore();
    recordMix(store, 10);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server));
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after lost answers');
    const report = await handle.stop();
    expect(server.duplicates).toBe(3);
    expect(server.posts).toBe(13);
    // A duplicate is a delivery.
    expectAllDelivered(server, store, expected, report);
  });

  it('429 with Retry-After: 1: events kept, the next request waits at least the Retry-After', async () => {
    const server = await startServer();
    const store = new EventStore();
    recordMix(store, 3);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withMaxInFlight(1));

    // A manual pass stops at the 429 and says why.
    server.rateLimit(1, 1);
    await expect(client.syncEvents()).resolves.toBe(0);
    expect(client.lastError()).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 1_000 });
    expect(String(client.lastError())).not.toContain(TOKEN);
    expect(server.posts).toBe(1);
    expect(store.unsyncedCount()).toBe(3);

    // The loop honours it.
    server.rateLimit(1, 1);
    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after the rate limit');
    const report = await handle.stop();
    const limited = server.requests.filter((r) => r.outcome === 429);
    expect(limited).toHaveLength(2);
    const answeredAt = limited[1]!.answeredAt!;
    const next = server.requests.find((r) => r.at > answeredAt);
    expect(next).toBeDefined();
    expect(next!.at - answeredAt).toBeGreaterThanOrEqual(950);
    expectAllDelivered(server, store, expected, report);
    expect(warningsMatching(/HTTP 429/)).toHaveLength(1);
  });

  it('401 for a while: events kept meanwhile, delivered once the token is accepted', async () => {
    const server = await startServer();
    server.unauthorizedUntil(performance.now() + 600);
    const store = new EventStore();
    recordMix(store, 8);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server));
    const handle = start(client);

    await sleep(300);
    expect(server.posts).toBeGreaterThan(0);
    expect(server.accepted).toHaveLength(0);
    expect(store.unsyncedCount()).toBe(8);
    expect(store.accounting().rejected).toBe(0);
    expect(client.rejectedCount()).toBe(0);
    expect(client.lastError()).toMatchObject({ kind: 'unauthorized', status: 401 });

    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after the 401s');
    const report = await handle.stop();
    expectAllDelivered(server, store, expected, report);
    expect(warningsMatching(/HTTP 401/)).toHaveLength(1);
  });

  it('an unknown token is a 401: nothing rejected, nothing lost', async () => {
    const server = await startServer();
    const store = new EventStore();
    recordMix(store, 4);
    const client = new SyncClient(store, new SyncConfig(server.url, 'ic_someone_else').withMaxInFlight(1));
    await expect(client.syncEvents()).resolves.toBe(0);
    expect(client.lastError()).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect(store.unsyncedCount()).toBe(4);
    expect(client.rejectedCount()).toBe(0);
    for (const w of warnings) expect(w).not.toContain('ic_someone_else');
  });

  it('responses slower than the timeout: timed out, retried, stored once', async () => {
    const server = await startServer();
    server.slow(2, 600);
    const store = new EventStore();
    recordMix(store, 6);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withTimeout(150));

    const first = await client.syncEvents();
    expect(first).toBe(4);
    expect(client.lastError()).toMatchObject({ kind: 'timeout', status: null });
    expect(store.unsyncedCount()).toBe(2);

    const handle = start(client);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after the timeouts');
    const report = await handle.stop();
    expect(report).toStrictEqual({ delivered: 2, rejected: 0, remaining: 0, spooled: 0, replayed: 0 });
    // The slow requests are processed by the server after the client gave up.
    await waitFor(() => server.requests.every((r) => r.outcome !== null), 2_000, 'the slow requests to finish');
    expectAllDelivered(server, store, expected);
    expect(warningsMatching(/did not answer within 150 ms/)).toHaveLength(1);
  });

  it('server down for ~1.5 s, then up on the same port', async () => {
    const server = await startServer();
    await server.down();
    const store = new EventStore();
    recordMix(store, 10);
    const expected = store.snapshotEvents();
    const client = new SyncClient(store, fastConfig(server).withBackoff(10, 200));
    const handle = start(client);

    await sleep(1_500);
    expect(store.unsyncedCount()).toBe(10);
    expect(client.lastError()).toMatchObject({ kind: 'transport' });
    await server.up();
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'delivery after the server came back');
    const report = await handle.stop();
    expectAllDelivered(server, store, expected, report);
    expect(warningsMatching(/could not reach/)).toHaveLength(1);
  });

  it('events the server rejects (400/422) are marked rejected, kept in the ring, never retried', async () => {
    const server = await startServer();
    const store = new EventStore();
    recordMix(store, 3);
    store.recordLlmCompleted(pricing, 'bad-model-1', 10, 5);
    recordMix(store, 2);
    store.recordLlmFailed('bad-model-2', null, null, 'timeout', null);
    store.recordLlmCompleted(pricing, 'bad-422-model', 1, 1);
    store.recordLlmCompleted(pricing, 'bad-model-3', 1, 1, 'agent_local', 'ip_x');
    const all = store.snapshotEvents();
    const bad = all.filter((e) => 'model' in e && e.model.startsWith('bad-'));
    const good = all.filter((e) => !bad.includes(e));
    expect(bad).toHaveLength(4);
    const client = new SyncClient(store, fastConfig(server));
    const handle = start(client);

    await expect(client.syncEvents()).resolves.toBe(good.length);
    await waitFor(() => store.unsyncedCount() === 0, 5_000, 'the pass to settle');
    await client.syncEvents();
    await sleep(150); // several loop intervals: nothing is retried
    const report = await handle.stop();

    expect(report).toStrictEqual({ delivered: good.length, rejected: 4, remaining: 0, spooled: 0, replayed: 0 });
    expect(client.rejectedCount()).toBe(4);
    expect(client.lastError()).toBeNull();
    expect(store.accounting().rejected).toBe(4);
    expect(store.accounting().synced).toBe(good.length);
    expect(server.posts).toBe(all.length);
    for (const event of all) expect(server.postsFor(event.eventId)).toBe(1);
    expectStoredExactlyOnce(server, good);

    const ring = client.rejectedEvents();
    expect(ring).toHaveLength(4);
    const byId = new Map(ring.map((r) => [r.eventId, r]));
    for (const event of bad) {
      const model = (event as { model: string }).model;
      expect(byId.get(event.eventId)).toStrictEqual(
        model === 'bad-422-model'
          ? { eventId: event.eventId, status: 422, errorCode: 'UNPROCESSABLE_EVENT', message: 'model bad-422-model cannot be processed' }
          : { eventId: event.eventId, status: 400, errorCode: 'VALIDATION_ERROR', message: `model ${model} is not supported` },
      );
    }
    // Warned once per (status, code).
    expect(warningsMatching(/rejected event/)).toHaveLength(2);
    expect(warningsMatching(/HTTP 400, VALIDATION_ERROR/)).toHaveLength(1);
    expect(warningsMatching(/HTTP 422, UNPROCESSABLE_EVENT/)).toHaveLength(1);
    expectNoTokenInWarnings();
  });

  it('the ring keeps the last 64 rejections, oldest first', async () => {
    const server = await startServer();
    const store = new EventStore();
    for (let i = 0; i < 70; i++) store.recordLlmCompleted(pricing, `bad-${i}`, 1, 1);
    const ids = store.snapshotEvents().map((e) => e.eventId);
    // One request at a time, so that answers arrive in record order.
    const client = new SyncClient(store, fastConfig(server).withMaxInFlight(1));
    await expect(client.syncEvents()).resolves.toBe(0);
    expect(client.rejectedCount()).toBe(70);
    const ring = client.rejectedEvents();
    expect(ring.map((r) => r.eventId)).toStrictEqual(ids.slice(6));
    expect(ring.every((r) => r.status === 400 && r.errorCode === 'VALIDATION_ERROR')).toBe(true);
    expect(store.unsyncedCount()).toBe(0);
    expect(warningsMatching(/rejected event/)).toHaveLength(1);
  });

  it('a rejection message that echoes the token is redacted, in the ring and in the warning', async () => {
    const server = await startServer();
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'bad-echo-model', 1, 1);
    const id = store.snapshotEvents()[0]!.eventId;
    const client = new SyncClient(store, fastConfig(server));
    await client.syncEvents();
    const [rejected] = client.rejectedEvents();
    expect(rejected).toStrictEqual({
      eventId: id,
      status: 400,
      errorCode: 'VALIDATION_ERROR',
      message: 'bad event from <redacted>',
    });
    expect(warningsMatching(/rejected event/)).toHaveLength(1);
    expect(warnings[0]).toContain('<redacted>');
    expectNoTokenInWarnings();
  });

  it('the batch threshold triggers a pass long before the interval', async () => {
    const server = await startServer();
    const store = new EventStore();
    const client = new SyncClient(
      store,
      new SyncConfig(server.url, TOKEN).withInterval(60_000).withBatchThreshold(5).withThresholdCheck(10),
    );
    const handle = start(client);
    recordMix(store, 4);
    await sleep(300);
    expect(server.posts).toBe(0);
    recordMix(store, 1);
    const expected = store.snapshotEvents();
    await waitFor(() => store.unsyncedCount() === 0, 2_000, 'the threshold pass');
    const report = await handle.stop();
    expect(server.posts).toBe(5);
    expectAllDelivered(server, store, expected, report);
  });

  it('a pass every interval below the threshold', async () => {
    const server = await startServer();
    const store = new EventStore();
    const client = new SyncClient(store, fastConfig(server).withInterval(100).withBatchThreshold(1_000));
    const handle = start(client);
    recordMix(store, 2);
    const expected = store.snapshotEvents();
    await waitFor(() => store.unsyncedCount() === 0, 2_000, 'the interval pass');
    recordMix(store, 1);
    const more = store.snapshotEvents();
    await waitFor(() => store.unsyncedCount() === 0, 2_000, 'the next interval pass');
    const report = await handle.stop();
    expectAllDelivered(server, store, [...expected, ...more]);
    expect(report).toStrictEqual({ delivered: 3, rejected: 0, remaining: 0, spooled: 0, replayed: 0 });
  });

  it('stop() on a healthy server flushes everything: remaining 0', async () => {
    const server = await startServer();
    const store = new EventStore();
    const client = new SyncClient(
      store,
      new SyncConfig(server.url, TOKEN).withInterval(60_000).withBatchThreshold(1_000),
    );
    const handle = start(client);
    recordMix(store, 30);
    const expected = store.snapshotEvents();
    expect(handle.report()).toStrictEqual({ delivered: 0, rejected: 0, remaining: 30, spooled: 0, replayed: 0 });
    const report = await handle.stop();
    expectAllDelivered(server, store, expected, report);
    // Stopping again gives the same report.
    await expect(handle.stop()).resolves.toStrictEqual(report);
  });

  it('stop() with the server down returns within its deadline and reports what remains', async () => {
    const server = await startServer();
    await server.down();
    const store = new EventStore();
    recordMix(store, 7);
    const client = new SyncClient(store, fastConfig(server).withStopDeadline(400));
    const handle = start(client);
    await sleep(100);
    const t0 = performance.now();
    const report = await handle.stop();
    const elapsed = performance.now() - t0;
    // A functional bound (the deadline is honoured), with room for a loaded machine.
    expect(elapsed).toBeLessThan(400 + 2_500);
    expect(report).toStrictEqual({ delivered: 0, rejected: 0, remaining: 7, spooled: 0, replayed: 0 });
    expect(store.unsyncedCount()).toBe(7);
    expect(store.accounting().rejected).toBe(0);
  });

  it('stop() abandons requests still in flight at the deadline; their events stay buffered', async () => {
    const server = await startServer();
    server.delayAll(3_000);
    const store = new EventStore();
    recordMix(store, 5);
    const client = new SyncClient(
      store,
      fastConfig(server).withInterval(10).withTimeout(10_000).withStopDeadline(300),
    );
    const handle = start(client);
    await waitFor(() => server.posts === 5, 2_000, 'the requests to be in flight');
    const t0 = performance.now();
    const report = await handle.stop();
    // Returns at its deadline, not when the 3 s answers arrive (room for a loaded machine).
    expect(performance.now() - t0).toBeLessThan(300 + 2_500);
    expect(report).toStrictEqual({ delivered: 0, rejected: 0, remaining: 5, spooled: 0, replayed: 0 });
    expect(store.unsyncedCount()).toBe(5);
  });

  it('stop() with a zero deadline does not flush', async () => {
    const server = await startServer();
    const store = new EventStore();
    const client = new SyncClient(store, fastConfig(server).withInterval(60_000).withStopDeadline(0));
    const handle = start(client);
    recordMix(store, 3);
    const report = await handle.stop();
    expect(report).toStrictEqual({ delivered: 0, rejected: 0, remaining: 3, spooled: 0, replayed: 0 });
    expect(server.posts).toBe(0);
  });

  it('the loop never keeps the process alive (its timers are unref()ed)', async () => {
    const server = await startServer();
    const store = new EventStore();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await sleep(20);
    const before = timers();
    const client = new SyncClient(store, fastConfig(server));
    const handle = start(client);
    await sleep(120);
    expect(timers()).toBeLessThanOrEqual(before);
    recordMix(store, 2);
    await waitFor(() => store.unsyncedCount() === 0, 2_000, 'the interval pass');
    await sleep(30);
    expect(timers()).toBeLessThanOrEqual(before);
    await handle.stop();
  });

  it('local events (router lifecycle, budget) are never sent', async () => {
    const server = await startServer();
    const store = new EventStore();
    store.recordRouterStarted(8080);
    store.recordLlmCompleted(pricing, 'gpt-4', 10, 5);
    store.recordBudgetThreshold(80, 8_000_000, 10_000_000, 'agent_local');
    store.recordLlmFailed('gpt-4', null, null, 'rate_limit', null);
    store.recordRouterStopped();
    const all = store.snapshotEvents();
    const llm = all.filter(isLlm);
    expect(llm).toHaveLength(2);
    const client = new SyncClient(store, fastConfig(server));
    await expect(client.syncEvents()).resolves.toBe(2);
    const handle = start(client);
    await sleep(120);
    const report = await handle.stop();
    expect(server.posts).toBe(2);
    expectAllDelivered(server, store, llm);
    expect(report).toStrictEqual({ delivered: 0, rejected: 0, remaining: 0, spooled: 0, replayed: 0 });
    expect(store.snapshotEvents().map((e) => e.eventType)).toStrictEqual([
      'router_started',
      'budget_threshold_reached',
      'router_stopped',
    ]);
  });

  it('any valid port works, ports the global fetch refuses included (e.g. 6000)', async () => {
    // fetch() refuses these ("bad port"); node:http and the native client do not.
    let server: IngestServer | null = null;
    for (const port of [6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080]) {
      server = await IngestServer.start({ [TOKEN]: AGENT }, port).catch(() => null);
      if (server !== null) break;
    }
    if (server === null) throw new Error('none of the ports fetch refuses is free on this machine');
    try {
      const store = new EventStore();
      recordMix(store, 3);
      const client = new SyncClient(store, fastConfig(server));
      await expect(client.syncEvents()).resolves.toBe(3);
      expect(client.lastError()).toBeNull();
      expect(server.accepted).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  it('providers outside the protocol are sent as unknown', async () => {
    const server = await startServer();
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'gemini-1.5-pro', 100, 20);
    store.recordLlmFailed('mistral-large-latest', null, null, 'overloaded', null);
    store.record({
      eventType: 'llm_request_completed',
      provider: 'Anthropic',
      model: 'my-claude-proxy',
      providerId: null,
      inputTokens: 1,
      outputTokens: 2,
      costMicros: 3,
      agentId: null,
    });
    store.recordLlmCompleted(pricing, 'gpt-4o', 1, 1);
    const expected = store.snapshotEvents();
    const [google, mistral, explicit, openai] = expected.map((e) => e.eventId);
    expect(store.stats().byProvider).toHaveProperty('google');
    const client = new SyncClient(store, fastConfig(server));
    await expect(client.syncEvents()).resolves.toBe(4);
    const providerOf = (id: string | undefined): unknown =>
      server.accepted.find((s) => s.body.event_id === id)?.body.provider;
    expect(providerOf(google)).toBe('unknown');
    expect(providerOf(mistral)).toBe('unknown');
    expect(providerOf(explicit)).toBe('anthropic');
    expect(providerOf(openai)).toBe('openai');
    expectAllDelivered(server, store, expected);
  });

  it('never shows the token: not in warnings of any kind, not in errors', async () => {
    const server = await startServer();
    const store = new EventStore();
    recordMix(store, 12);
    // One request at a time, and timeouts far from the server's delays: no
    // outcome depends on how fast this machine is.
    const client = new SyncClient(store, fastConfig(server).withTimeout(200).withMaxInFlight(1));
    const faults: [string, () => void, RegExp][] = [
      ['server', () => server.fail503(1), /HTTP 503/],
      ['rate_limited', () => server.rateLimit(1, 0), /HTTP 429/],
      ['unauthorized', () => server.unauthorizedUntil(performance.now() + 60_000), /HTTP 401/],
      ['timeout', () => server.slow(1, 5_000), /did not answer within 200 ms/],
    ];
    for (const [kind, fault, warning] of faults) {
      fault();
      await client.syncEvents();
      const error = client.lastError();
      expect(error, kind).toMatchObject({ kind });
      expect(`${String(error)} ${error?.stack ?? ''} ${util.inspect(error)} ${JSON.stringify(error)}`).not.toContain(TOKEN);
      expect(warningsMatching(warning), kind).toHaveLength(1);
      server.unauthorizedUntil(0);
    }
    await server.down();
    await client.syncEvents();
    expect(client.lastError()).toMatchObject({ kind: 'transport' });
    expect(util.inspect(client.lastError())).not.toContain(TOKEN);
    expect(warningsMatching(/could not reach/)).toHaveLength(1);
    expectNoTokenInWarnings();
  });

  it('never shows the token when a rejection message is cut inside it, or the URL carries a query', async () => {
    const server = await startServer();
    const store = new EventStore();
    // The message is cut at 512 bytes: pads put the cut before, inside and after the token.
    const pads: number[] = [];
    for (let pad = 512 - TOKEN.length - 30; pad <= 512 - 12; pad += 3) pads.push(pad);
    for (const pad of pads) store.recordLlmCompleted(pricing, `bad-echo-pad-${pad}`, 1, 1);
    const client = new SyncClient(store, fastConfig(server));
    await client.syncEvents();
    const rejected = client.rejectedEvents();
    expect(rejected).toHaveLength(pads.length);
    const piece = TOKEN.slice(0, 6);
    for (const r of rejected) {
      expect(r.message).not.toContain(piece);
      expect(Buffer.byteLength(r.message)).toBeLessThanOrEqual(512 + Buffer.byteLength('…'));
    }
    expect(rejected.some((r) => r.message.endsWith('from <redacted>'))).toBe(true);
    for (const w of warnings) expect(w).not.toContain(piece);

    for (const url of [`http://127.0.0.1:1/?ic_token=${TOKEN}`, `http://127.0.0.1:1/#${TOKEN}`]) {
      let message = '';
      try {
        new SyncConfig(url, 'another_token');
      } catch (error) {
        message = String(error);
      }
      expect(message).toMatch(/must not have a query or a fragment/);
      expect(message).not.toContain(TOKEN);
    }
  });
});
