/**
 * The buffered LLM events, oldest first, removable by number in O(log n).
 *
 * Events are appended in increasing `seq` order (with gaps). A removal leaves
 * a tombstone found by binary search over the numbers, which are kept for
 * tombstones too; the arrays are compacted once tombstones outnumber live
 * events, so memory stays proportional to what is buffered and removals cost
 * O(log n) amortised.
 */
export class SeqQueue<T extends { readonly seq: number }> {
  #items: (T | undefined)[] = [];
  #seqs: number[] = [];
  /** Slots before `#head` are all tombstones. */
  #head = 0;
  #live = 0;

  /** Number of live events. */
  get size(): number {
    return this.#live;
  }

  /** Appends an event whose `seq` is greater than every one before. */
  push(item: T): void {
    this.#items.push(item);
    this.#seqs.push(item.seq);
    this.#live++;
  }

  /** Removes the live event numbered `seq`; returns whether there was one. */
  remove(seq: number): boolean {
    const seqs = this.#seqs;
    let lo = this.#head;
    let hi = seqs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = seqs[mid] as number;
      if (at < seq) lo = mid + 1;
      else if (at > seq) hi = mid - 1;
      else {
        const items = this.#items;
        if (items[mid] === undefined) return false;
        items[mid] = undefined;
        this.#live--;
        if (mid === this.#head) {
          let head = mid + 1;
          while (head < items.length && items[head] === undefined) head++;
          this.#head = head;
        }
        const dead = items.length - this.#live;
        if (dead > 32 && dead > this.#live) this.#compact();
        return true;
      }
    }
    return false;
  }

  #compact(): void {
    const items: T[] = [];
    const seqs: number[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item !== undefined) {
        items.push(item);
        seqs.push(item.seq);
      }
    }
    this.#items = items;
    this.#seqs = seqs;
    this.#head = 0;
  }

  /** The `index`-th slot from the oldest live one (may be a tombstone), or `undefined` past the end. */
  slot(index: number): T | undefined {
    return this.#items[this.#head + index];
  }

  /** Number of slots from the oldest live one to the end, tombstones included. */
  get slots(): number {
    return this.#items.length - this.#head;
  }

  /** Removes everything. */
  clear(): void {
    this.#items = [];
    this.#seqs = [];
    this.#head = 0;
    this.#live = 0;
  }
}
