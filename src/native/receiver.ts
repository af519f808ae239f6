/** The native stream receiver: events the addon's channel holds, read off the event loop. */
import type { AnalyticsEvent, EventReceiver } from '../shared/types.js';
import type { NativeStoreHandle } from './loader.js';
import { flushPending } from './batch.js';
import { eventsFromPacked } from './packed.js';

export class NativeReceiver implements EventReceiver {
  #store: NativeStoreHandle;
  #queue: AnalyticsEvent[] = [];
  #waiters: ((event: AnalyticsEvent | null) => void)[] = [];
  #pumping = false;
  #closed = false;
  #channelSize: number;

  constructor(store: NativeStoreHandle, channelSize: number) {
    this.#store = store;
    this.#channelSize = channelSize;
  }

  /**
   * Hands queued events to waiters in call order; after close, `null` to the
   * rest, but only once no wait is in flight: a wait that took events off
   * the channel before close() must still hand them over.
   */
  #serve(): void {
    while (this.#waiters.length > 0 && this.#queue.length > 0) this.#waiters.shift()!(this.#queue.shift()!);
    if (this.#closed && !this.#pumping) while (this.#waiters.length > 0) this.#waiters.shift()!(null);
  }

  /** One wait at a time on the libuv pool (never the event loop), while anyone waits. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#waiters.length > 0 && !this.#closed) {
        // Short slices, so close() is prompt.
        const batch = eventsFromPacked(await this.#store.recvBatch(this.#channelSize, 50));
        this.#queue.push(...batch);
        this.#serve();
      }
    } finally {
      this.#pumping = false;
      this.#serve();
    }
  }

  recv(): Promise<AnalyticsEvent | null> {
    flushPending();
    if (this.#queue.length === 0 && !this.#closed) {
      this.#queue.push(...eventsFromPacked(this.#store.tryRecvPacked(this.#channelSize)));
    }
    if (this.#waiters.length === 0 && this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    if (this.#closed) return Promise.resolve(this.#queue.shift() ?? null);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      void this.#pump();
    });
  }

  tryRecv(): AnalyticsEvent | null {
    if (this.#queue.length === 0 && !this.#closed) {
      flushPending();
      this.#queue.push(...eventsFromPacked(this.#store.tryRecvPacked(this.#channelSize)));
    }
    return this.#queue.shift() ?? null;
  }

  close(): void {
    if (this.#closed) return;
    flushPending();
    // Events already in the channel are still delivered, then iteration ends;
    // the channel disconnects, so later events are neither queued nor counted.
    this.#queue.push(...eventsFromPacked(this.#store.tryRecvPacked(0xffffffff)));
    this.#store.closeStream();
    this.#closed = true;
    this.#serve();
  }

  droppedCount(): number {
    return this.#store.streamDroppedCount();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AnalyticsEvent> {
    try {
      for (;;) {
        const event = await this.recv();
        if (event === null) return;
        yield event;
      }
    } finally {
      this.close();
    }
  }
}

