/**
 * Event ids: UUID-formatted (RFC 9562 version 8, RFC variant), unique without
 * a syscall per event, and cheap to map back to the event.
 *
 * One random seed per process; each store gets its own 80-bit prefix (the
 * seed with the store's number added to its first 48 bits, so prefixes of
 * different stores differ) and numbers its events in the last 48 bits.
 */

import { randomBytes } from 'node:crypto';

const LOW_DIGITS = 3;
/** The last 3 hex digits (12 bits) come from a table; the 9 before them change every 4096 ids. */
const LOW_RANGE = 16 ** LOW_DIGITS;
const LOW_HEX: readonly string[] = Array.from({ length: LOW_RANGE }, (_, i) =>
  i.toString(16).padStart(LOW_DIGITS, '0'),
);
const STORE_FIELD_RANGE = 2 ** 48;
/** 4096-id blocks in the 48-bit number field. */
const BLOCKS = STORE_FIELD_RANGE / LOW_RANGE;

function hex(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) out += (bytes[i] ?? 0).toString(16).padStart(2, '0');
  return out;
}

const seed = randomBytes(16);
seed[6] = ((seed[6] ?? 0) & 0x0f) | 0x80; // version 8 (custom layout)
seed[8] = ((seed[8] ?? 0) & 0x3f) | 0x80; // variant 10 (RFC 9562)
const seedStoreField = seed.readUIntBE(0, 6);
/** `-8xxx-yxxx-`: the part of the prefix every store shares. */
const sharedTail = `-${hex(seed, 6, 8)}-${hex(seed, 8, 10)}-`;
let storesCreated = 0;

const HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SIMPLE = /^[0-9a-fA-F]{32}$/;

const URN_PREFIX = 'urn:uuid:';

/** Whether `text` starts with `urn:uuid:` ignoring ASCII case only (Rust's `eq_ignore_ascii_case`). */
function isUrnPrefix(text: string): boolean {
  for (let i = 0; i < URN_PREFIX.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== URN_PREFIX.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The canonical (lowercase, hyphenated) form of a UUID written in any form
 * Rust's `Uuid::try_parse` reads: hyphenated, simple (32 hex digits),
 * `{braced}` or `urn:uuid:…` (the prefix in any ASCII case, as uuid 1.x
 * reads it), hex digits in either case; `null` otherwise.
 */
export function canonicalUuid(text: string): string | null {
  let hyphenated: string;
  switch (text.length) {
    case 36:
      hyphenated = text;
      break;
    case 38:
      if (text.charCodeAt(0) !== 0x7b || text.charCodeAt(37) !== 0x7d) return null; // { }
      hyphenated = text.slice(1, 37);
      break;
    case 45:
      if (!isUrnPrefix(text)) return null;
      hyphenated = text.slice(9);
      break;
    case 32:
      if (!SIMPLE.test(text)) return null;
      hyphenated = `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
      break;
    default:
      return null;
  }
  return HYPHENATED.test(hyphenated) ? hyphenated.toLowerCase() : null;
}

/**
 * The ids of one store. An id is a pure function of the store and the event's
 * number: `idOf(seq)` writes it (so a store may keep only the number and
 * write the id when the event is read), `seqOf()` reads it back, `take()`
 * hands out the next number's id.
 */
export class IdSource {
  /** `xxxxxxxx-xxxx-8xxx-yxxx-`: the first 24 characters of every id of this store. */
  readonly prefix: string;
  /** The number the next id will carry. */
  seq = 0;
  /** The 4096-id block `#head` was written for. */
  #block = 0;
  /** The id's first 33 characters for the numbers of `#block`. */
  #head: string;
  /**
   * Ids from elsewhere (events taken back from a spool) by number, and the
   * other way round; `null` until the first one.
   */
  #aliases: { idOf: Map<number, string>; seqOf: Map<string, number> } | null = null;

  constructor() {
    storesCreated += 1;
    const field = ((seedStoreField + storesCreated) % STORE_FIELD_RANGE).toString(16).padStart(12, '0');
    this.prefix = `${field.slice(0, 8)}-${field.slice(8)}${sharedTail}`;
    this.#head = `${this.prefix}000000000`;
  }

  /** The id of number `seq` (0 ≤ seq < 2^48): the same string every time. */
  idOf(seq: number): string {
    if (this.#aliases !== null) {
      const alias = this.#aliases.idOf.get(seq);
      if (alias !== undefined) return alias;
    }
    const block = Math.floor(seq / LOW_RANGE);
    if (block !== this.#block) {
      this.#block = block;
      this.#head = this.prefix + (block % BLOCKS).toString(16).padStart(12 - LOW_DIGITS, '0');
    }
    return this.#head + (LOW_HEX[seq % LOW_RANGE] as string);
  }

  /** A new id, numbered `seq` (which then advances). Unique for 2^48 ids per store. */
  take(): string {
    return this.idOf(this.seq++);
  }

  /**
   * Gives number `seq` the id `id` from elsewhere (canonical form), so that
   * `idOf(seq)` and `seqOf(id)` find each other.
   */
  alias(seq: number, id: string): void {
    this.#aliases ??= { idOf: new Map(), seqOf: new Map() };
    this.#aliases.idOf.set(seq, id);
    this.#aliases.seqOf.set(id, seq);
  }

  /** Forgets the alias `id` (its event left the store). */
  forget(id: string): void {
    const seq = this.#aliases?.seqOf.get(id);
    if (seq === undefined) return;
    this.#aliases?.seqOf.delete(id);
    this.#aliases?.idOf.delete(seq);
  }

  /** Forgets every alias. */
  forgetAll(): void {
    this.#aliases = null;
  }

  /** The number of an id of this store (in any form `canonicalUuid` reads), or -1. */
  seqOf(id: string): number {
    if (this.#aliases !== null) {
      const seq = this.#aliases.seqOf.get(canonicalUuid(id) ?? id);
      if (seq !== undefined) return seq;
    }
    let canonical: string | null = id;
    // lastIndexOf(…, 0) is a prefix test, markedly faster than startsWith in V8.
    if (!(id.length === 36 && id.lastIndexOf(this.prefix, 0) === 0)) {
      canonical = canonicalUuid(id);
      if (canonical === null || !canonical.startsWith(this.prefix)) return -1;
    }
    let seq = 0;
    for (let i = 24; i < 36; i++) {
      const c = canonical.charCodeAt(i);
      const digit =
        c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit < 0) return -1;
      seq = seq * 16 + digit;
    }
    return seq;
  }
}
