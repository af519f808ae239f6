/**
 * A first-in first-out queue on a plain array: O(1) amortised push and shift,
 * indexed reads, no per-operation allocation. Shifted slots are cleared (so
 * the GC can take what they held) and the array is compacted once the dead
 * prefix outweighs the live part.
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Number of queued items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends an item at the back. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** Removes and returns the front item, or `undefined` if empty. */
  shift(): T | undefined {
    const items = this.#items;
    if (this.#head >= items.length) return undefined;
    const item = items[this.#head];
    items[this.#head++] = undefined;
    if (this.#head === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The item at `index` from the front (0 = oldest), or `undefined`. */
  at(index: number): T | undefined {
    return index >= 0 && index < this.length ? this.#items[this.#head + index] : undefined;
  }

  /** Removes everything. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
