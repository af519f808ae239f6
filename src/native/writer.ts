/**
 * The writer of a native store's record batch: records go straight into
 * memory the addon owns (layout: `batch` in the binding's layout.json, as
 * generated constants), names as key indices the core keeps, or — past the
 * store's cardinality limit — as UTF-8 bytes beside the records.
 *
 * Key caches are bounded: the core keeps at most `cardinalityLimit` names
 * per kind, so a cache holds at most twice that many strings (a name and
 * its spellings with lone surrogates). Once the core answers that it keeps
 * no more names of a kind, new names of that kind go inline without asking.
 */
import type { NativeStoreHandle } from './loader.js';
import {
  BATCH_CHECK,
  BATCH_HEADER_CHECK,
  BATCH_HEADER_LEN,
  BATCH_HEADER_PENDING,
  BATCH_HEADER_RECORDED_AT_MS,
  BATCH_HEADER_STRING_BYTES_USED,
  BATCH_RECORDS,
  BATCH_STRING_BYTES,
  RECORD_LEN,
} from './generated/layout.js';

/** The most bytes one UTF-16 unit takes in UTF-8. */
const MAX_BYTES_PER_UNIT = 3;

/** A bounded map from a name to the key index the core gave it. */
export class KeyCache {
  readonly #keys = new Map<string, number>();
  readonly #max: number;
  /** The core keeps no more names of this kind: new ones go inline. */
  #full = false;

  constructor(cardinalityLimit: number) {
    this.#max = 2 * cardinalityLimit;
  }

  /** The key index of `name`, asking the core the first time; -1 to write it inline. */
  key(name: string, ask: (name: string) => number): number {
    const key = this.#keys.get(name);
    if (key !== undefined) return key;
    if (this.#full) return -1;
    const asked = ask(name);
    if (asked < 0) {
      this.#full = true;
      return -1;
    }
    if (this.#keys.size < this.#max) this.#keys.set(name, asked);
    return asked;
  }
}

const encoder = new TextEncoder();

export class RecordWriter {
  /** The batch's slots and string bytes: views of the addon's memory, or of a copy. */
  readonly slots: Float64Array;
  readonly #bytes: Uint8Array;
  readonly #n: NativeStoreHandle;
  /** False where the runtime copied the external buffer: flush hands the copy over. */
  readonly #shared: boolean;
  pending = 0;
  #used = 0;

  constructor(n: NativeStoreHandle) {
    this.#n = n;
    const buffer = n.batchBuffer();
    this.slots = new Float64Array(buffer, 0, BATCH_HEADER_LEN + BATCH_RECORDS * RECORD_LEN);
    this.#bytes = new Uint8Array(buffer, this.slots.byteLength, BATCH_STRING_BYTES);
    this.slots[BATCH_HEADER_CHECK] = BATCH_CHECK;
    this.#shared = n.batchIsShared();
  }

  /** Whether the records written survive the end of this thread without a flush. */
  get shared(): boolean {
    return this.#shared;
  }

  /** The first slot of the next record. */
  next(): number {
    return BATCH_HEADER_LEN + this.pending * RECORD_LEN;
  }

  /**
   * Whether the string area has room for `units` UTF-16 units of inline
   * strings (their worst case in UTF-8); if not, the caller flushes first.
   */
  hasRoom(units: number): boolean {
    return this.#used + units * MAX_BYTES_PER_UNIT <= BATCH_STRING_BYTES;
  }

  /** Writes `text` inline; the slot value naming it (`-(bytes + 2)`). */
  inlineName(text: string): number {
    return -(this.#write(text) + 2);
  }

  /** Writes an error message inline; its length in bytes. */
  message(text: string): number {
    return this.#write(text);
  }

  #write(text: string): number {
    // Lone surrogates become U+FFFD, as the core stores every string.
    const { written } = encoder.encodeInto(text, this.#bytes.subarray(this.#used));
    this.#used += written;
    this.slots[BATCH_HEADER_STRING_BYTES_USED] = this.#used;
    return written;
  }

  /** Counts the record written at `next()`; true when the batch is full. */
  commit(): boolean {
    // The batch's events are stamped when its first record was accepted.
    if (this.pending === 0) this.slots[BATCH_HEADER_RECORDED_AT_MS] = Date.now();
    this.slots[BATCH_HEADER_PENDING] = ++this.pending;
    return this.pending === BATCH_RECORDS;
  }

  /**
   * Hands the batch to the addon (a record it cannot take is counted lost
   * there); returns how many warnings the addon has queued.
   */
  flush(): number {
    if (this.pending === 0) return 0;
    this.pending = 0;
    this.#used = 0;
    const lost = this.#shared ? this.#n.flushBatch() : this.#n.flushBatchCopy(this.slots, this.#bytes);
    this.slots[BATCH_HEADER_PENDING] = 0;
    this.slots[BATCH_HEADER_STRING_BYTES_USED] = 0;
    return lost;
  }
}
