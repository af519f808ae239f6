/**
 * The pure-JS client's spool: undelivered events kept on disk so that they
 * survive the end of the process, in the same file format as the Rust core
 * (`crates/iron_runtime_analytics/src/sync/spool/record.rs`):
 *
 * ```text
 * file    = "IRSPOOL1" record*
 * record  = A5 5A | kind (1 byte) | length (u32 LE) | crc32 (u32 LE) | payload
 * kind    = 'E' (an event, as JSON with the protocol's field names) | 'D' (done: 16-byte ids)
 * crc32   = CRC-32 (IEEE) of kind, length and payload
 * ```
 *
 * Appended to, or replaced whole by a rename (compaction). Reading skips a
 * torn last record and garbage bytes, and counts them; nothing in the file
 * can make it fail. Synchronous file I/O: it runs on the loop's timer and at
 * exit, never on the recording path.
 *
 * Node cannot `flock`: the lock file `spool.lock` is created exclusively and
 * holds the owner's pid and a token of its run; a lock whose process is gone
 * (a crash), or that a past run with this same pid left (a restarted
 * container), is taken over. The Rust core writes its pid there too, so a
 * pure-JS client refuses a directory a live native one holds.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { AnalyticsEvent, LlmCompletedEvent, LlmFailedEvent } from '../../shared/types.js';
import type { SpoolStatus } from '../../shared/sync/types.js';

/** The spool file's name in its directory. */
export const SPOOL_FILE = 'events.spool';
/** The lock file's name in the spool directory. */
export const LOCK_FILE = 'spool.lock';

const HEADER = Buffer.from('IRSPOOL1', 'latin1');
const MAGIC_0 = 0xa5;
const MAGIC_1 = 0x5a;
const KIND_EVENT = 0x45; // 'E'
const KIND_DONE = 0x44; // 'D'
/** Magic, kind, length, checksum. */
const FRAME = 11;
const MAX_PAYLOAD = 1 << 20;
const IDS_PER_DONE = 4_096;
const ID_BYTES = 16;
/** Below this size the file is never compacted just for its dead records. */
const COMPACT_MIN_BYTES = 64 * 1024;

function frame(kind: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME + payload.length);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = kind;
  out.writeUInt32LE(payload.length, 3);
  out.writeUInt32LE(crc32(payload, crc32(out.subarray(2, 7))), 7);
  payload.copy(out, FRAME);
  return out;
}

/** The `E` record of an event: its JSON as the Rust core serializes an event. */
export function eventRecord(event: LlmCompletedEvent | LlmFailedEvent): Buffer {
  const json: Record<string, string | number> = {
    event_id: event.eventId,
    timestamp_ms: event.timestampMs,
    event_type: event.eventType,
  };
  if (event.agentId !== null) json.agent_id = event.agentId;
  if (event.providerId !== null) json.provider_id = event.providerId;
  json.provider = event.provider;
  json.model = event.model;
  if (event.eventType === 'llm_request_completed') {
    json.input_tokens = event.inputTokens;
    json.output_tokens = event.outputTokens;
    json.cost_micros = event.costMicros;
  } else {
    if (event.errorCode !== null) json.error_code = event.errorCode;
    if (event.errorMessage !== null) json.error_message = event.errorMessage;
  }
  return frame(KIND_EVENT, Buffer.from(JSON.stringify(json), 'utf8'));
}

/** `D` records for these ids. */
function doneRecords(ids: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_DONE) {
    const chunk = ids.slice(i, i + IDS_PER_DONE);
    out.push(frame(KIND_DONE, Buffer.from(chunk.map((id) => id.replaceAll('-', '')).join(''), 'hex')));
  }
  return out;
}

/** What a spool file held. */
export interface SpoolContents {
  /** The events not marked done, in file order, with their record sizes. */
  events: { event: LlmCompletedEvent | LlmFailedEvent; size: number }[];
  tornRecords: number;
  garbageBytes: number;
  unreadableRecords: number;
}

/** The record at `pos`, if a complete and valid one starts there. */
function recordAt(buf: Buffer, pos: number): { kind: number; payload: Buffer; next: number } | null {
  if (buf.length - pos < FRAME || buf[pos] !== MAGIC_0 || buf[pos + 1] !== MAGIC_1) return null;
  const kind = buf[pos + 2];
  if (kind !== KIND_EVENT && kind !== KIND_DONE) return null;
  const len = buf.readUInt32LE(pos + 3);
  if (len > MAX_PAYLOAD || pos + FRAME + len > buf.length) return null;
  const payload = buf.subarray(pos + FRAME, pos + FRAME + len);
  if (crc32(payload, crc32(buf.subarray(pos + 2, pos + 7))) !== buf.readUInt32LE(pos + 7)) return null;
  return { kind, payload, next: pos + FRAME + len };
}

/** Whether the bytes from `pos` to the end are the beginning of a record never finished. */
function isTornTail(buf: Buffer, pos: number): boolean {
  const rest = buf.length - pos;
  const kindOk = (k: number | undefined): boolean => k === KIND_EVENT || k === KIND_DONE;
  if (buf[pos] !== MAGIC_0 || (rest > 1 && buf[pos + 1] !== MAGIC_1) || (rest > 2 && !kindOk(buf[pos + 2]))) {
    return false;
  }
  if (rest < FRAME) return true;
  const len = buf.readUInt32LE(pos + 3);
  return len <= MAX_PAYLOAD && FRAME + len > rest;
}

const str = (v: unknown): v is string => typeof v === 'string';
const optStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function decodeEvent(payload: Buffer): LlmCompletedEvent | LlmFailedEvent | null {
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(payload.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    e = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const { event_id: id, event_type: type, provider, model, timestamp_ms: at } = e;
  if (!str(id) || !UUID.test(id.toLowerCase()) || !str(provider) || provider === '' || !str(model) || model === '') {
    return null;
  }
  if (!count(at)) return null;
  const base = {
    eventId: id.toLowerCase(),
    timestampMs: at,
    agentId: optStr(e.agent_id),
    provider,
    model,
    providerId: optStr(e.provider_id),
  };
  if (type === 'llm_request_completed') {
    const { input_tokens: input, output_tokens: output, cost_micros: cost } = e;
    if (!count(input) || !count(output) || !count(cost)) return null;
    return { ...base, eventType: type, inputTokens: input, outputTokens: output, costMicros: cost };
  }
  if (type === 'llm_request_failed') {
    return { ...base, eventType: type, errorCode: optStr(e.error_code), errorMessage: optStr(e.error_message) };
  }
  return null;
}

/** Reads a spool file's bytes. */
export function readSpool(buf: Buffer): SpoolContents {
  const contents: SpoolContents = { events: [], tornRecords: 0, garbageBytes: 0, unreadableRecords: 0 };
  const live = new Map<string, { event: LlmCompletedEvent | LlmFailedEvent; size: number }>();
  let pos = buf.subarray(0, HEADER.length).equals(HEADER) ? HEADER.length : 0;
  while (pos < buf.length) {
    const record = recordAt(buf, pos);
    if (record === null) {
      let resume = -1;
      for (let p = buf.indexOf(MAGIC_0, pos + 1); p !== -1; p = buf.indexOf(MAGIC_0, p + 1)) {
        if (recordAt(buf, p) !== null) {
          resume = p;
          break;
        }
      }
      if (resume !== -1) {
        contents.garbageBytes += resume - pos;
        pos = resume;
        continue;
      }
      if (isTornTail(buf, pos)) contents.tornRecords++;
      else contents.garbageBytes += buf.length - pos;
      break;
    }
    const size = record.next - pos;
    pos = record.next;
    if (record.kind === KIND_EVENT) {
      const event = decodeEvent(record.payload);
      if (event === null) contents.unreadableRecords++;
      // Written again (e.g. by a process that replayed it): keep one copy.
      else if (!live.has(event.eventId)) live.set(event.eventId, { event, size });
    } else if (record.payload.length % ID_BYTES !== 0) {
      contents.unreadableRecords++;
    } else {
      for (let i = 0; i < record.payload.length; i += ID_BYTES) {
        const hex = record.payload.toString('hex', i, i + ID_BYTES);
        live.delete(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
      }
    }
  }
  contents.events = [...live.values()];
  return contents;
}

/** The error thrown when another process (or client) holds the spool directory. */
function lockedError(dir: string): Error {
  return new Error(
    `the spool directory ${dir} is in use by another process (or another SyncClient of this one); ` +
      `give each process its own spool directory (if no process uses it, delete ${join(dir, LOCK_FILE)})`,
  );
}

function unavailableError(dir: string, error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(
    `cannot use the spool directory ${dir}: ${reason}; check that it exists (or can be created) and is writable`,
    { cause: error },
  );
}

/** Whether process `pid` is alive (on this host). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * This process among others with the same pid: a container restarted on the
 * same volume often gets the pid its previous run had.
 */
const INCARNATION = randomUUID();

/** Whether the lock file's content names a live owner other than a past run of this pid. */
function heldByOther(content: string): boolean {
  const [pidText, token] = content.trim().split(/\s+/);
  const owner = Number.parseInt(pidText ?? '', 10);
  if (!Number.isSafeInteger(owner) || owner <= 0) return false;
  // Our pid: another client of this very process, or a past run that had it.
  if (owner === process.pid) return token === INCARNATION;
  return alive(owner);
}

/** Takes the lock file; throws if a live process holds it. */
function lock(dir: string): string {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, `${process.pid} ${INCARNATION}\n`);
      } finally {
        closeSync(fd);
      }
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unavailableError(dir, error);
    }
    let content = '';
    try {
      content = readFileSync(path, 'utf8');
    } catch {
      // Gone meanwhile: try again.
    }
    if (heldByOther(content)) throw lockedError(dir);
    try {
      // Its owner is gone (a crash): take it over.
      unlinkSync(path);
    } catch {
      // Someone else took it over first: try again.
    }
  }
  throw lockedError(dir);
}

/** An open spool: the file, its lock, and which events it holds. */
export class Spool {
  readonly #dir: string;
  readonly #path: string;
  readonly #lockPath: string;
  readonly #maxBytes: number;
  #fd: number;
  #len: number;
  /** Events in the file and not marked done, with their record sizes. */
  #live = new Map<string, number>();
  #liveBytes = 0;
  /** Buffered events left out for lack of room, until they leave the buffer. */
  #excluded = new Set<string>();
  readonly #status: SpoolStatus;

  private constructor(dir: string, maxBytes: number, lockPath: string, contents: SpoolContents, len: number) {
    this.#dir = dir;
    this.#path = join(dir, SPOOL_FILE);
    this.#lockPath = lockPath;
    this.#maxBytes = maxBytes;
    this.#fd = openSync(this.#path, 'a');
    this.#len = len;
    this.#status = {
      dir,
      spooled: 0,
      fileBytes: 0,
      readBack: contents.events.length,
      leftOut: 0,
      tornRecords: contents.tornRecords,
      garbageBytes: contents.garbageBytes,
      unreadableRecords: contents.unreadableRecords,
      writeErrors: 0,
    };
  }

  /** Opens (creating if needed) the spool in `dir`, locks it, and reads back its events, oldest first. */
  static open(dir: string, maxBytes: number): { spool: Spool; events: (LlmCompletedEvent | LlmFailedEvent)[] } {
    let bytes: Buffer;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw unavailableError(dir, error);
    }
    const lockPath = lock(dir);
    let spool: Spool;
    let contents: SpoolContents;
    try {
      try {
        bytes = readFileSync(join(dir, SPOOL_FILE));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        bytes = Buffer.alloc(0);
      }
      contents = readSpool(bytes);
      spool = new Spool(dir, maxBytes, lockPath, contents, bytes.length);
      const events = contents.events.map((e) => e.event);
      const damaged = contents.tornRecords + contents.garbageBytes + contents.unreadableRecords > 0;
      if (damaged || !bytes.subarray(0, HEADER.length).equals(HEADER)) {
        // Never append after damage: rewrite the file with what was read.
        spool.#compact(events, true);
      } else {
        for (const { event, size } of contents.events) {
          spool.#live.set(event.eventId, size);
          spool.#liveBytes += size;
        }
      }
      return { spool, events };
    } catch (error) {
      unlinkSync(lockPath);
      throw unavailableError(dir, error);
    }
  }

  /** What the spool holds and has done. */
  status(): SpoolStatus {
    return { ...this.#status, spooled: this.#live.size, fileBytes: this.#len };
  }

  /** Events in the file now. */
  get spooled(): number {
    return this.#live.size;
  }

  /**
   * Brings the file in line with `events`, the store's undelivered events
   * (oldest first); with `durable`, also waits for the disk. Throws on an
   * I/O error, after counting it.
   */
  sync(events: readonly (LlmCompletedEvent | LlmFailedEvent)[], durable: boolean): void {
    try {
      this.#sync(events, durable);
    } catch (error) {
      this.#status.writeErrors++;
      throw error;
    }
  }

  #sync(events: readonly (LlmCompletedEvent | LlmFailedEvent)[], durable: boolean): void {
    const current = new Set<string>();
    for (const e of events) current.add(e.eventId);
    for (const id of this.#excluded) if (!current.has(id)) this.#excluded.delete(id);
    const done: string[] = [];
    let gone = 0;
    for (const [id, size] of this.#live) {
      if (!current.has(id)) {
        done.push(id);
        gone += size;
      }
    }
    const records = doneRecords(done);
    const added: [string, number][] = [];
    for (const e of events) {
      if (!this.#live.has(e.eventId) && !this.#excluded.has(e.eventId)) {
        const record = eventRecord(e);
        records.push(record);
        added.push([e.eventId, record.length]);
      }
    }
    if (records.length === 0) {
      if (durable) fsyncSync(this.#fd);
      return;
    }
    const appended = records.reduce((n, r) => n + r.length, 0);
    const liveAfter = this.#liveBytes - gone + added.reduce((n, [, size]) => n + size, 0);
    const lenAfter = this.#len + appended;
    const deadAfter = Math.max(0, lenAfter - HEADER.length - liveAfter);
    if (liveAfter === 0 || lenAfter > this.#maxBytes || (deadAfter > liveAfter && lenAfter > COMPACT_MIN_BYTES)) {
      this.#compact(events, durable);
      return;
    }
    writeSync(this.#fd, Buffer.concat(records, appended));
    this.#len = lenAfter;
    for (const id of done) this.#live.delete(id);
    for (const [id, size] of added) this.#live.set(id, size);
    this.#liveBytes = liveAfter;
    if (durable) fsyncSync(this.#fd);
  }

  /** Rewrites the file with `events` only, the newest that fit in `maxBytes`; the older ones are left out. */
  #compact(events: readonly (LlmCompletedEvent | LlmFailedEvent)[], durable: boolean): void {
    const budget = Math.max(0, this.#maxBytes - HEADER.length);
    const kept: [string, Buffer][] = [];
    let used = 0;
    let full = false;
    for (let i = events.length - 1; i >= 0; i--) {
      const event = events[i] as LlmCompletedEvent | LlmFailedEvent;
      if (this.#excluded.has(event.eventId)) continue;
      const record = full ? null : eventRecord(event);
      if (record !== null && used + record.length <= budget) {
        used += record.length;
        kept.push([event.eventId, record]);
      } else {
        // Once one does not fit, every older one is left out too: the oldest go first.
        full = true;
        this.#excluded.add(event.eventId);
        this.#status.leftOut++;
      }
    }
    kept.reverse();
    const tmp = `${this.#path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, Buffer.concat([HEADER, ...kept.map(([, r]) => r)], HEADER.length + used));
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    closeSync(this.#fd);
    this.#fd = openSync(this.#path, 'a');
    this.#len = HEADER.length + used;
    this.#live = new Map(kept.map(([id, r]) => [id, r.length]));
    this.#liveBytes = used;
  }

  /** Closes the file and releases the directory. */
  close(): void {
    closeSync(this.#fd);
    try {
      unlinkSync(this.#lockPath);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /** The spool directory. */
  get dir(): string {
    return this.#dir;
  }
}
