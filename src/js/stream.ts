/** The streaming channel: a bounded queue from a store to one receiver. */

import type { AnalyticsEvent, EventReceiver } from '../shared/types.js';
import { Fifo } from './fifo.js';

type Waiter = (event: AnalyticsEvent | null) => void;

/** Creates a receiver for a channel of `channelSize` events (validated by the caller). */
export let createReceiver: (channelSize: number) => Receiver;
/** Offers an event to the channel: queued, handed to a waiting `recv()`, or dropped and counted. */
export let offerToReceiver: (receiver: Receiver, event: AnalyticsEvent) => void;

/**
 * The receiving end of a store's event stream, from
 * `EventStore.withStreaming(capacity, channelSize)`.
 *
 * Every recorded event is offered to a queue of at most `channelSize` events;
 * when it is full the event is not queued and {@link droppedCount} counts it:
 * the recorder never waits. A `recv()` already waiting takes the event
 * directly. Once closed, no more events are accepted (nor counted), the
 * queued ones are still delivered, then `recv()` resolves to `null` and
 * iteration ends.
 */
export class Receiver implements EventReceiver {
  readonly #queue = new Fifo<AnalyticsEvent>();
  readonly #waiters = new Fifo<Waiter>();
  readonly #channelSize: number;
  #dropped = 0;
  #closed = false;

  private constructor(channelSize: number) {
    this.#channelSize = channelSize;
  }

  static {
    createReceiver = (channelSize) => new Receiver(channelSize);
    offerToReceiver = (receiver, event) => receiver.#offer(event);
  }

  #offer(event: AnalyticsEvent): void {
    if (this.#closed) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter(event);
    } else if (this.#queue.length < this.#channelSize) {
      this.#queue.push(event);
    } else {
      this.#dropped++;
    }
  }

  /** The next event; waits for one if none is queued; `null` once closed and drained. */
  recv(): Promise<AnalyticsEvent | null> {
    const event = this.#queue.shift();
    if (event !== undefined) return Promise.resolve(event);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The next queued event, or `null` if none is queued right now. */
  tryRecv(): AnalyticsEvent | null {
    return this.#queue.shift() ?? null;
  }

  /** Stops accepting events; queued ones are still delivered, then iteration ends. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Waiters exist only while the queue is empty: there is nothing left for them.
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      waiter(null);
    }
  }

  /** Events not queued because the channel was full. */
  droppedCount(): number {
    return this.#dropped;
  }

  /** Iterates the events as they arrive; leaving the loop early closes the receiver. */
  [Symbol.asyncIterator](): AsyncIterator<AnalyticsEvent> {
    return {
      next: async (): Promise<IteratorResult<AnalyticsEvent>> => {
        const event = await this.recv();
        return event === null ? { done: true, value: undefined } : { done: false, value: event };
      },
      return: async (): Promise<IteratorResult<AnalyticsEvent>> => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }
}
