import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager, implementation, type AnalyticsEvent } from '../src/index.js';

const pricing = new PricingManager();

function ids(events: Array<AnalyticsEvent | null>): Array<string | undefined> {
  return events.map((e) => e?.eventId);
}

/** Settles like `promise`, or rejects after `ms`: a lost event fails the test at once instead of hanging it. */
async function within<T>(promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets the event loop run until `condition()` holds; fails after `ms`. */
async function until(condition: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Record methods return nothing: a buffered event's id is read from the buffer. */
function bufferedIds(store: EventStore): string[] {
  return store.snapshotEvents().map((e) => e.eventId);
}

describe('EventStore.withStreaming', () => {
  it('returns a store with the given capacity and a receiver', () => {
    const [store, receiver] = EventStore.withStreaming(2, 10);
    expect(store.len()).toBe(0);
    store.recordLlmFailed('gpt-4');
    store.recordLlmFailed('gpt-4');
    const kept = bufferedIds(store);
    expect(store.recordLlmFailed('gpt-4')).toBeUndefined();
    // Capacity 2: the third is dropped from the buffer (the stream still gets it).
    expect(store.accounting()).toMatchObject({ recorded: 3, buffered: 2, dropped: 1 });
    expect(bufferedIds(store)).toEqual(kept);
    expect(store.droppedCount()).toBe(1);
    expect(receiver.droppedCount()).toBe(0);
  });

  it('streams every recorded event in order, as the buffer holds them', async () => {
    const [store, receiver] = EventStore.withStreaming(100, 100);
    store.recordRouterStarted(8080);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50, 'agent', 'key');
    store.recordLlmFailed('claude-3-opus-20240229', null, null, 'timeout', 'slow');
    store.recordBudgetThreshold(80, 8, 10, 'agent');
    store.record({ eventType: 'llm_request_completed', provider: 'openai', model: 'x', inputTokens: 1, outputTokens: 2, costMicros: 3 });
    store.recordRouterStopped();
    receiver.close();
    const streamed: AnalyticsEvent[] = [];
    for await (const event of receiver) streamed.push(event);
    expect(streamed).toEqual(store.snapshotEvents());
    expect(streamed).toHaveLength(6);
    expect(receiver.droppedCount()).toBe(0);
  });

  it('streams events the full buffer dropped or evicted', async () => {
    const [store, receiver] = EventStore.withStreaming(1, 10);
    store.recordLlmFailed('gpt-4', null, null, 'first');
    const [kept] = bufferedIds(store);
    store.recordLlmFailed('gpt-4', null, null, 'second');
    store.recordRouterStarted(1);
    expect(store.accounting()).toMatchObject({ recorded: 3, buffered: 1, dropped: 1, evicted: 1 });
    expect(bufferedIds(store)).toEqual([kept]);
    const streamed = [receiver.tryRecv(), receiver.tryRecv(), receiver.tryRecv(), receiver.tryRecv()];
    expect(streamed.map((e) => e?.eventType)).toEqual(['llm_request_failed', 'llm_request_failed', 'router_started', undefined]);
    expect(streamed[0]!.eventId).toBe(kept);
    expect(streamed[1]).toMatchObject({ errorCode: 'second' });
    expect(streamed[1]!.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids(streamed.slice(0, 3))).size).toBe(3);
  });

  it('a full channel drops and counts without blocking the recorder', () => {
    const [store, receiver] = EventStore.withStreaming(100, 2);
    for (const n of [1, 2, 3, 4, 5]) store.recordLlmCompleted(pricing, 'gpt-4', n, n);
    const recorded = bufferedIds(store);
    expect(recorded).toHaveLength(5);
    expect(store.len()).toBe(5);
    expect(receiver.droppedCount()).toBe(3);
    expect(store.droppedCount()).toBe(0);
    expect(ids([receiver.tryRecv(), receiver.tryRecv()])).toEqual(recorded.slice(0, 2));
    expect(receiver.tryRecv()).toBeNull();
    // Room again: the next event is queued.
    store.recordLlmFailed('gpt-4');
    const sixth = bufferedIds(store).at(-1);
    expect(recorded).not.toContain(sixth);
    expect(receiver.tryRecv()!.eventId).toBe(sixth);
    expect(receiver.droppedCount()).toBe(3);
    // Stats are unaffected by the stream.
    expect(store.stats().totalRequests).toBe(6);
  });

  it('for-await receives events recorded while it waits', async () => {
    const [store, receiver] = EventStore.withStreaming(100, 4);
    const received: AnalyticsEvent[] = [];
    const consumer = (async () => {
      for await (const event of receiver) {
        received.push(event);
        if (received.length === 10) break;
      }
    })();
    for (let i = 0; i < 10; i++) {
      store.recordLlmCompleted(pricing, 'gpt-4', i, 0);
      // Let the consumer take each event before the next, so the small channel never fills.
      await until(() => received.length === i + 1, `event ${i} received (dropped: ${receiver.droppedCount()})`);
    }
    await within(consumer, 'the loop ends after 10 events');
    expect(received.map((e) => (e as { inputTokens: number }).inputTokens)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(received)).toEqual(bufferedIds(store));
    expect(receiver.droppedCount()).toBe(0);
    // Breaking out of the loop closed the receiver: later events are not queued.
    store.recordLlmFailed('gpt-4');
    expect(receiver.tryRecv()).toBeNull();
    await expect(receiver.recv()).resolves.toBeNull();
  });

  it('close() while a recv() waits never loses the event that wait was taking', async () => {
    // Recorded, handed over, then closed at once: the addon's waiting thread
    // may already have taken the event off the channel; close() must let it
    // reach the pending recv() rather than answer null.
    for (let i = 0; i < 200; i++) {
      const [store, receiver] = EventStore.withStreaming(10, 4);
      const pending = receiver.recv();
      await new Promise((resolve) => setImmediate(resolve));
      store.recordRouterStarted(i);
      expect(store.len()).toBe(1); // hands the record over
      if (i % 2) await new Promise((resolve) => setImmediate(resolve));
      receiver.close();
      const event = await within(pending, `recv() of round ${i}`);
      expect(event, `round ${i}`).not.toBeNull();
      expect(event!.eventId).toBe(bufferedIds(store)[0]);
      await expect(receiver.recv()).resolves.toBeNull();
    }
  });

  it('a pending recv() resolves when an event arrives', async () => {
    const [store, receiver] = EventStore.withStreaming(10, 2);
    const first = receiver.recv();
    const second = receiver.recv();
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    store.recordRouterStarted(1);
    store.recordLlmCompleted(pricing, 'gpt-4', 1, 1);
    const [a, b] = bufferedIds(store);
    expect((await within(first, 'first recv()'))!.eventId).toBe(a);
    expect((await within(second, 'second recv()'))!.eventId).toBe(b);
    expect(receiver.droppedCount()).toBe(0);
  });

  it('events offered to a channel of 1 while receivers wait are received or counted, never lost', async () => {
    const [store, receiver] = EventStore.withStreaming(10, 1);
    const first = receiver.recv();
    const second = receiver.recv();
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.recordRouterStarted(1);
    store.recordRouterStarted(2);
    const [a, b] = bufferedIds(store);
    expect((await within(first, 'first recv()'))!.eventId).toBe(a);
    if (implementation === 'js') {
      // The fallback hands an event straight to a waiting recv(): nothing queues, nothing drops.
      expect((await within(second, 'second recv()'))!.eventId).toBe(b);
      expect(receiver.droppedCount()).toBe(0);
    } else {
      // The addon's waiting thread may not have taken the first event off the
      // one-slot channel when the second arrives: then the second is dropped,
      // and counted.
      receiver.close();
      const got = await within(second, 'second recv()');
      if (got === null) {
        expect(receiver.droppedCount()).toBe(1);
      } else {
        expect(got.eventId).toBe(b);
        expect(receiver.droppedCount()).toBe(0);
      }
    }
  });

  it('close() delivers what is queued, then ends iteration and recv() resolves to null', async () => {
    const [store, receiver] = EventStore.withStreaming(10, 10);
    for (let i = 0; i < 3; i++) store.recordLlmFailed('gpt-4');
    const recorded = bufferedIds(store);
    receiver.close();
    store.recordLlmFailed('gpt-4'); // after close: not queued, not counted as dropped
    expect(receiver.droppedCount()).toBe(0);
    const received: AnalyticsEvent[] = [];
    for await (const event of receiver) received.push(event);
    expect(ids(received)).toEqual(recorded);
    await expect(receiver.recv()).resolves.toBeNull();
    expect(receiver.tryRecv()).toBeNull();
    receiver.close(); // idempotent
    expect(store.len()).toBe(4);
  });

  it('close() resolves pending recv() calls with null', async () => {
    const [, receiver] = EventStore.withStreaming(10, 10);
    const pending = [receiver.recv(), receiver.recv()];
    receiver.close();
    await expect(Promise.all(pending)).resolves.toEqual([null, null]);
  });

  it('streamed events are copies, independent of the buffer', async () => {
    const [store, receiver] = EventStore.withStreaming(10, 10);
    store.recordLlmCompleted(pricing, 'gpt-4', 150, 50);
    const streamed = receiver.tryRecv() as { model: string; costMicros: number };
    expect(streamed).toEqual(store.snapshotEvents()[0]);
    streamed.model = 'mutated';
    streamed.costMicros = 0;
    expect(store.snapshotEvents()[0]).toMatchObject({ model: 'gpt-4', costMicros: 7500 });
  });

  it('a store without streaming has no stream side effects', () => {
    const store = EventStore.withCapacity(1);
    store.recordLlmFailed('gpt-4');
    store.recordLlmFailed('gpt-4');
    expect(store.accounting()).toMatchObject({ recorded: 2, buffered: 1, dropped: 1 });
  });

  it('bad input to a streaming store is not streamed', () => {
    const [store, receiver] = EventStore.withStreaming(10, 10);
    const record = store.recordLlmCompleted as (...args: unknown[]) => unknown;
    expect(() => record.call(store, pricing, 'gpt-4', -1, 0)).toThrow(RangeError);
    expect(() => store.record({ eventType: 'router_started', port: -1 })).toThrow(RangeError);
    expect(receiver.tryRecv()).toBeNull();
    expect(receiver.droppedCount()).toBe(0);
  });
});
