/**
 * Incremental token-usage extraction from streamed (Server-Sent Events)
 * LLM responses: OpenAI Chat Completions, OpenAI Responses, Anthropic
 * Messages, Google Gemini (`alt=sse`).
 *
 * Pure TypeScript, no dependencies, never throws.
 */

import { Buffer } from 'node:buffer';
import {
  addParts,
  anthropicCounts,
  anthropicParts,
  emptyParts,
  errorOf,
  isRecord,
  modelOf,
  toUsage,
  usageError,
  usageFromResponse,
  type AnthropicCounts,
  type Usage,
  type UsageError,
  type UsageParts,
} from './usage.js';

/** Options for {@link SseUsageAccumulator}. */
export interface SseUsageAccumulatorOptions {
  /**
   * Largest single line, and largest single event's data, the accumulator
   * will buffer, in bytes of the UTF-8 stream. Anything longer marks the
   * stream malformed. Default `1048576` (1 MiB). Non-positive or non-integer
   * values fall back to the default.
   */
  maxEventSize?: number;
}

/** Default cap on a pending line / an event's data: 1 MiB. */
const DEFAULT_MAX_EVENT_SIZE = 1 << 20;

/**
 * SSE event names whose data must be a JSON object carrying usage. Unparseable
 * data under one of these names marks the stream malformed (rather than being
 * ignored like garbage elsewhere).
 */
const USAGE_EVENTS: ReadonlySet<string> = new Set([
  'message_start',
  'message_delta',
  'response.completed',
  'response.incomplete',
]);

/** Event types that carry usage or an error: the only typed events worth parsing. */
const PARSED_TYPES: ReadonlySet<string> = new Set([
  ...USAGE_EVENTS,
  'error',
  'response.failed',
  'response.error',
]);

/** One Anthropic message of the stream (a stream may hold several, one after the other). */
interface AnthropicMessage {
  /** The counts so far; `output` stays `undefined` until a `message_delta` gives a valid one. */
  counts: AnthropicCounts;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const QUOTE = 34;
/** The UTF-8 byte order mark, as the bytes-as-characters text the accumulator scans. */
const BOM = '\xef\xbb\xbf';
/** Data starting with this names its type right away (`{"type":"message_delta",…`). */
const TYPE_PREFIX = '{"type":"';
/** A character that is not ASCII: text holding one is re-decoded as UTF-8 before `JSON.parse`. */
const NON_ASCII = /[^\x00-\x7f]/;
/** Copies bytes into a one-byte string, one character per byte (no decoding state, no U+FFFD). */
const bytesAsText: (this: Uint8Array, start: number, end: number) => string = Buffer.prototype.latin1Slice;

/** The real text of bytes held one per character. */
function utf8Of(text: string): string {
  return NON_ASCII.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text;
}

/**
 * The `type` of a JSON event read from its first bytes when it starts
 * `{"type":"…"`, else `null`. Lets the bulk of a stream (text deltas) be
 * skipped without parsing it.
 */
function sniffType(data: string): string | null {
  if (!data.startsWith(TYPE_PREFIX)) return null;
  const end = data.indexOf('"', TYPE_PREFIX.length);
  return end === -1 ? null : data.slice(TYPE_PREFIX.length, end);
}

/** How a Chat Completions text chunk of a stream that asked for usage ends (OpenAI's last key). */
const TEXT_CHUNK_END = '"usage":null}';
/** How an OpenAI error object starts. */
const ERROR_START = '{"error"';

/**
 * Whether compact JSON is a Chat Completions text chunk of a stream that asked
 * for usage: it ends with `"usage":null}` (OpenAI's last key) and is not an
 * error object. Two constant-time checks for the bulk of such a stream.
 */
function isTextChunk(data: string): boolean {
  return data.endsWith(TEXT_CHUNK_END) && !data.startsWith(ERROR_START);
}

/** A pattern's bytes, for comparing it in place inside a chunk. */
const bytesOf = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const DATA_FIELD = bytesOf('data:');
const EVENT_FIELD = bytesOf('event: ');
const TYPE_PREFIX_BYTES = bytesOf(TYPE_PREFIX);
const TEXT_CHUNK_END_BYTES = bytesOf(TEXT_CHUNK_END);
const ERROR_START_BYTES = bytesOf(ERROR_START);
/** {@link PARSED_TYPES} as bytes. */
const PARSED_TYPE_BYTES: readonly Uint8Array[] = [...PARSED_TYPES].map(bytesOf);

/** Whether `bytes` holds `pattern` at `at`. */
function bytesAt(bytes: Uint8Array, at: number, pattern: Uint8Array): boolean {
  const n = pattern.length;
  if (at < 0 || at + n > bytes.length) return false;
  for (let k = 0; k < n; k++) if (bytes[at + k] !== pattern[k]) return false;
  return true;
}

/** Whether `bytes` from `start` to `end` is one of {@link PARSED_TYPES}. */
function isParsedTypeAt(bytes: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  for (const type of PARSED_TYPE_BYTES) if (type.length === length && bytesAt(bytes, start, type)) return true;
  return false;
}

/**
 * Whether untyped-event data, `bytes` from `start` to `end`, would be ignored
 * by the accumulator without parsing it: the checks of its slow path (a
 * `{"type":"…"` that is not one of {@link PARSED_TYPES}, or, once the model
 * is known, a Chat Completions text chunk), made in place. `false` also
 * where only the slow path can tell (short data such as `[DONE]`, a chunk
 * that is not a text delta).
 */
function isIgnorableData(bytes: Uint8Array, start: number, end: number, modelKnown: boolean): boolean {
  if (end - start <= 16) return false;
  if (bytesAt(bytes, start, TYPE_PREFIX_BYTES)) {
    const typeStart = start + TYPE_PREFIX_BYTES.length;
    let quote = typeStart;
    while (quote < end && bytes[quote] !== QUOTE) quote++;
    if (quote < end) return !isParsedTypeAt(bytes, typeStart, quote);
  }
  return modelKnown && bytesAt(bytes, end - TEXT_CHUNK_END_BYTES.length, TEXT_CHUNK_END_BYTES) && !bytesAt(bytes, start, ERROR_START_BYTES);
}

/** A `"usage"`, `"usageMetadata"` or `"error"` key, and whether its value is `null`. */
const USAGE_OR_ERROR_KEY = /"(usage|usageMetadata|error)"\s*:\s*(null)?/g;

/**
 * Whether untyped JSON (a Chat Completions or Gemini chunk) may carry usage
 * or an error: it has a `"usage"` key whose value is not `null`, a
 * `"usageMetadata"` key or an `"error"` one. Raw `"usage"` can only be a key
 * or a string value (quotes inside strings are escaped), so a false positive
 * only costs a parse. One regular-expression pass (a string search for a
 * pattern starting with `"` is several times slower in V8).
 */
function mayCarryUsageOrError(data: string): boolean {
  USAGE_OR_ERROR_KEY.lastIndex = 0;
  for (let m = USAGE_OR_ERROR_KEY.exec(data); m !== null; m = USAGE_OR_ERROR_KEY.exec(data)) {
    if (m[1] !== 'usage' || m[2] === undefined) return true;
  }
  return false;
}

/**
 * Accumulates token usage from the raw bytes (or text) of a streamed LLM
 * response, fed in arbitrarily split chunks.
 *
 * Feed every chunk of the response body to {@link SseUsageAccumulator.push};
 * call {@link SseUsageAccumulator.usage} at any time. For a well-formed stream
 * the result equals {@link usageFromResponse} of the equivalent non-streamed
 * response, however the bytes were split (inside a multi-byte UTF-8 character,
 * inside a line, between `\r` and `\n`), and is normalized the same way
 * (see {@link Usage}).
 *
 * Supported streams:
 * - OpenAI Chat Completions with `stream_options: {include_usage: true}`: the
 *   chunk carrying a non-null `usage` object (normally the last one, with
 *   `choices: []`) supplies the usage; a later such chunk replaces it.
 *   `data: [DONE]` ends the stream: everything after it is ignored.
 * - OpenAI Responses: the usage of `response.completed` (or
 *   `response.incomplete`) `.response`.
 * - Anthropic Messages: model, input and cache counts from `message_start`,
 *   the cumulative output count from the latest `message_delta` (whose
 *   non-null input/cache/thinking counts, sent by newer API versions,
 *   override those of `message_start`). A stream holding several messages
 *   (`message_start` … `message_delta`, then the next `message_start` …)
 *   reports their sum.
 * - Google Gemini (`streamGenerateContent?alt=sse`): the latest
 *   `usageMetadata` (cumulative in every chunk).
 *
 * Errors reported inside the stream give a `Usage` whose `error` is set
 * (`{ code, message }`, the counts known so far alongside): an
 * `event: error` (Anthropic; non-JSON data gives the code `stream_error`),
 * data whose JSON `type` is `error`, `response.failed` or `response.error`
 * (OpenAI Responses), or a JSON object with a non-null top-level `error`
 * (OpenAI Chat Completions). The first error is kept; later input is ignored.
 *
 * SSE is parsed per the WHATWG essentials: `\n`, `\r\n` or `\r` line ends; a
 * leading UTF-8 BOM is ignored; `:` comment lines are ignored; `data:` lines (one
 * optional space after the colon) are joined with `\n` and dispatched on a
 * blank line; `event:` sets the event name; other fields are ignored; an event
 * not yet terminated by a blank line has not been dispatched. Byte chunks go
 * are scanned as they are, one character per byte (SSE's syntax is ASCII, and
 * UTF-8 never puts an ASCII byte inside a multi-byte character, so a chunk
 * may end anywhere); only the data of an event that is parsed is decoded as
 * UTF-8 (invalid sequences become U+FFFD). Text chunks are encoded as UTF-8
 * first.
 * Memory is bounded: only the current partial line, the current event's data
 * and the usage counters are kept.
 *
 * Speed: bytes are not decoded, and an event is `JSON.parse`d only when it
 * can carry usage or an error. Typed events (an `event:` name, or data
 * starting `{"type":"…"`) are parsed only when the type is `message_start`,
 * `message_delta`, `response.completed`, `response.incomplete`,
 * `response.failed`, `response.error` or `error`; untyped chunks (Chat
 * Completions, Gemini) are parsed until the model is known and then only
 * when they hold a non-null `"usage"`, a `"usageMetadata"` or an `"error"`.
 *
 * {@link SseUsageAccumulator.usage} returns `null` when:
 * - no usage has arrived yet (e.g. truncated before the usage chunk, or an
 *   OpenAI Chat stream without `include_usage`), and no error either;
 * - an Anthropic message has begun (`message_start`) but no `message_delta`
 *   carrying a valid `output_tokens` has arrived for it yet;
 * - the stream is malformed: data under an `event:` name that must carry
 *   usage (`message_start`, `message_delta`, `response.completed`,
 *   `response.incomplete`) that is not a JSON object, `message_start` without
 *   a `message.usage` object, `message_delta` without a `usage` object or
 *   before any `message_start`, a line or an event's data longer than
 *   `maxEventSize`, a chunk that is not a string / `Uint8Array` /
 *   `ArrayBuffer` / `ArrayBufferView`, or an `event:` line that comes after
 *   the data lines of its event and names one of the types above or `error`
 *   (the data of an event named otherwise is not kept). Malformation is sticky.
 *
 * Tolerated: data that is not JSON, or JSON that is not an object (e.g.
 * `null`), in any other event is ignored, so a garbage line in the middle of a
 * stream does not hide usage that arrives intact later. Within usage, counts
 * follow {@link usageFromResponse}: invalid counts read as 0, except that in a
 * `message_delta` an invalid or `null` count is ignored (the earlier value
 * stands).
 *
 * Neither `push` nor `usage` ever throws.
 */
export class SseUsageAccumulator {
  readonly #max: number;
  /** True once the first bytes were checked for a BOM. */
  #started = false;
  /** The first bytes of the stream while they may still be a BOM. */
  #head = '';
  /** The current, not yet terminated line. */
  #line = '';
  /** The previous chunk ended with `\r`: a leading `\n` in the next one belongs to it. */
  #skipLF = false;
  /** The current event's data lines joined with `\n`; `null` before its first data line. */
  #data: string | null = null;
  /** Data lines of the current event were skipped (its name said it carries neither usage nor an error). */
  #dropped = false;
  /** The current event's `event:` name ('' = default `message`). */
  #event = '';
  /** The stream is malformed. */
  #failed = false;
  /** The first error the stream reported. */
  #error: UsageError | null = null;
  /** `data: [DONE]` was seen. */
  #done = false;
  /** Latest usage from an OpenAI Chat / Responses or Gemini stream. */
  #latest: Usage | null = null;
  /** Latest model seen in any event. */
  #model: string | null = null;
  /** The Anthropic message being streamed, set by `message_start`. */
  #message: AnthropicMessage | null = null;
  /** The sum of the Anthropic messages before {@link #message}. */
  #finished: UsageParts | null = null;

  /**
   * Creates an empty accumulator for one response stream.
   *
   * @param options See {@link SseUsageAccumulatorOptions}.
   */
  constructor(options?: SseUsageAccumulatorOptions) {
    const max = options?.maxEventSize;
    this.#max =
      typeof max === 'number' && Number.isSafeInteger(max) && max > 0 ? max : DEFAULT_MAX_EVENT_SIZE;
  }

  /**
   * Feeds the next chunk of the response body.
   *
   * Accepts text or bytes (`Uint8Array`, `Buffer`, any `ArrayBufferView`,
   * `ArrayBuffer`), split anywhere. Never throws; an unsupported chunk type
   * marks the stream malformed.
   *
   * @param chunk The next piece of the stream.
   */
  push(chunk: string | Uint8Array): void {
    if (this.#failed || this.#done || this.#error !== null) return;
    try {
      let bytes: Uint8Array;
      if (typeof chunk === 'string') {
        bytes = Buffer.from(chunk, 'utf8');
      } else {
        const input: unknown = chunk;
        if (input instanceof Uint8Array) bytes = input;
        else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
        else {
          this.#fail();
          return;
        }
      }
      this.#feed(bytesAsText.call(bytes, 0, bytes.byteLength), bytes);
    } catch {
      this.#fail();
    }
  }

  /**
   * Returns the usage known so far, or `null`.
   *
   * May be called at any time and any number of times; each call returns a
   * fresh object. See the class documentation for when the result is `null`
   * and when its `error` is set.
   *
   * @returns The usage reported by the stream so far (with `error` set if the
   * stream reported one), or `null` if none is known yet or the stream is
   * malformed.
   */
  usage(): Usage | null {
    if (this.#failed) return null;
    const error = this.#error;
    const current = this.#message;
    if (current !== null || this.#finished !== null) {
      if (current !== null && current.counts.output === undefined && error === null) return null;
      const parts = emptyParts();
      if (this.#finished !== null) addParts(parts, this.#finished);
      if (current !== null) addParts(parts, anthropicParts(current.counts));
      return toUsage(this.#model, parts, error);
    }
    const latest = this.#latest;
    if (latest !== null) return { ...latest, model: latest.model ?? this.#model, error };
    return error === null ? null : toUsage(this.#model, emptyParts(), error);
  }

  /** Marks the stream malformed and drops buffered input. */
  #fail(): void {
    this.#failed = true;
    this.#line = '';
    this.#data = null;
    this.#event = '';
  }

  /** Keeps the first error the stream reports; later input is ignored. */
  #setError(error: UsageError): void {
    this.#error = error;
    this.#line = '';
    this.#data = null;
    this.#event = '';
  }

  /** Splits a chunk (`input`: `chunkBytes` one character per byte) into lines, keeping the unterminated tail. */
  #feed(input: string, chunkBytes: Uint8Array): void {
    let text = input;
    if (text.length === 0) return;
    // `text` is `bytes` one character per byte; `bytes` is `null` where a held
    // head makes them differ (then no event is skipped in place).
    let bytes: Uint8Array | null = chunkBytes;
    if (!this.#started) {
      // A BOM may arrive split over several chunks: hold the head until it is decided.
      if (this.#head.length > 0) {
        text = this.#head + text;
        bytes = null;
      }
      if (text.length < BOM.length && BOM.startsWith(text)) {
        this.#head = text;
        return;
      }
      this.#started = true;
      this.#head = '';
      if (text.startsWith(BOM)) {
        text = text.slice(BOM.length);
        bytes = bytes?.subarray(BOM.length) ?? null;
      }
    }
    const n = text.length;
    let pos = 0;
    if (this.#skipLF && n > 0) {
      this.#skipLF = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    // Line ends are found with indexOf (native scans); `\r` is rare, so its
    // position is looked up again only once passed.
    let cr = text.indexOf('\r', pos);
    let lf = text.indexOf('\n', pos);
    while (pos < n) {
      if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
      if (lf !== -1 && lf < pos) lf = text.indexOf('\n', pos);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < n) {
          next = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        } else {
          this.#skipLF = true;
          next = n;
        }
      } else if (lf !== -1) {
        if (bytes !== null && lf > pos && this.#line.length === 0 && this.#data === null) {
          const after = this.#skipEvents(text, bytes, pos, cr);
          if (after !== pos) {
            pos = after;
            continue;
          }
        }
        end = lf;
        next = lf + 1;
      } else {
        // Unterminated tail: keep it for the next chunk.
        if (this.#line.length + (n - pos) > this.#max) {
          this.#fail();
          return;
        }
        this.#line += pos === 0 ? text : text.slice(pos);
        return;
      }
      if (this.#line.length > 0) {
        const line = this.#line + text.slice(pos, end);
        this.#line = '';
        if (line.length > this.#max) {
          this.#fail();
          return;
        }
        this.#processLine(line, 0, line.length);
      } else {
        if (end - pos > this.#max) {
          this.#fail();
          return;
        }
        this.#processLine(text, pos, end);
      }
      pos = next;
      if (this.#failed || this.#done || this.#error !== null) return;
    }
  }

  /**
   * The fast path for the bulk of a stream (text deltas): skips, in place in
   * the chunk (`text`, and `bytes` for comparing without substrings), the
   * whole events from `from` on that would be ignored,
   * and returns the position after the last one (`from` when there is none).
   * It reads no substring and leaves the state the line-by-line path would
   * leave. It takes only events that lie wholly in `bytes` with `\n` line
   * ends (no `\r` before their end, `cr` being the next `\r` at or after
   * `from`, or -1), when no line or data is pending: `data: …` alone whose
   * data would be ignored (see {@link isIgnorableData}), or `event: <name>`
   * then one `data: …` line for a name whose data is never kept.
   */
  #skipEvents(text: string, bytes: Uint8Array, from: number, cr: number): number {
    const max = this.#max;
    const n = bytes.length;
    const modelKnown = this.#model !== null;
    let event = this.#event;
    let pos = from;
    while (pos < n) {
      const lf = text.indexOf('\n', pos);
      if (lf === -1 || lf - pos > max) break;
      const first = bytes[pos];
      let after: number;
      if (first === 100 /* d */) {
        if (event !== '' || bytes[lf + 1] !== LF || !bytesAt(bytes, pos, DATA_FIELD)) break;
        if (!isIgnorableData(bytes, bytes[pos + 5] === SPACE ? pos + 6 : pos + 5, lf, modelKnown)) break;
        after = lf + 2;
      } else if (first === 101 /* e */) {
        if (!bytesAt(bytes, pos, EVENT_FIELD) || pos + EVENT_FIELD.length === lf || isParsedTypeAt(bytes, pos + EVENT_FIELD.length, lf)) break;
        const data = lf + 1;
        const end = text.indexOf('\n', data);
        if (end === -1 || end - data > max || bytes[end + 1] !== LF || !bytesAt(bytes, data, DATA_FIELD)) break;
        after = end + 2;
      } else {
        break;
      }
      if (cr !== -1 && cr < after) break;
      pos = after;
      event = '';
    }
    if (pos !== from) {
      // What dispatching the skipped events would have reset.
      this.#event = '';
      this.#dropped = false;
    }
    return pos;
  }

  /** Interprets one complete SSE line, `text` from `start` to `end` (sliced only for the fields used). */
  #processLine(text: string, start: number, end: number): void {
    if (start === end) {
      this.#dispatch();
      return;
    }
    const first = text.charCodeAt(start);
    if (first === COLON) return; // comment
    if (first === 100 /* d */ && text.startsWith('data', start)) {
      let value: string;
      if (end - start === 4) value = '';
      else if (text.charCodeAt(start + 4) !== COLON) return; // a field such as `dataX`: unknown, ignored
      else if (this.#event !== '' && !PARSED_TYPES.has(this.#event)) {
        // The bulk of a typed stream (text deltas): its data is never parsed, so it is not kept.
        this.#dropped = true;
        return;
      } else value = text.slice(text.charCodeAt(start + 5) === SPACE ? start + 6 : start + 5, end);
      const data = this.#data;
      if ((data === null ? 0 : data.length + 1) + value.length > this.#max) {
        this.#fail();
        return;
      }
      // Data lines are joined with \n.
      this.#data = data === null ? value : `${data}\n${value}`;
      return;
    }
    if (first === 101 /* e */ && text.startsWith('event: ', start)) {
      this.#event = text.slice(start + 7, end);
      return;
    }
    const line = text.slice(start, end);
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    if (name === 'event') {
      const value = colon === -1 ? '' : line.slice(colon + 1);
      this.#event = value.charCodeAt(0) === SPACE ? value.slice(1) : value;
    }
    // `id`, `retry` and unknown fields are irrelevant to usage.
  }

  /** Dispatches the buffered event (on a blank line). */
  #dispatch(): void {
    const data = this.#data;
    const event = this.#event === '' ? 'message' : this.#event;
    const dropped = this.#dropped;
    this.#data = null;
    this.#event = '';
    this.#dropped = false;
    if (dropped && PARSED_TYPES.has(event)) {
      // An `event:` line after data lines turned a skipped event into one that must be read.
      this.#fail();
      return;
    }
    if (data === null) return;
    this.#handle(event, data);
  }

  /** Updates the usage state from one event. */
  #handle(event: string, data: string): void {
    if (event === 'error') {
      const json = parseObject(data);
      this.#setError(json === null ? usageError(undefined, 'stream_error', utf8Of(data)) : (errorOf(json) ?? usageError(json, 'error')));
      return;
    }
    if (data.length <= 16 && data.trim() === '[DONE]') {
      this.#done = true;
      this.#line = '';
      return;
    }
    // Fast path for the bulk of a stream (text deltas): skip what cannot
    // carry usage or an error without parsing it.
    const type = event === 'message' ? sniffType(data) : event;
    if (type !== null) {
      if (!PARSED_TYPES.has(type)) return;
    } else if (this.#model !== null && (isTextChunk(data) || !mayCarryUsageOrError(data))) {
      return;
    }
    const json = parseObject(data);
    if (json === null) {
      if (USAGE_EVENTS.has(event)) this.#fail();
      return; // garbage outside usage-bearing events is ignored
    }
    const jsonType = typeof json.type === 'string' ? json.type : event;
    const error = errorOf(json);
    if (error !== null) {
      if (jsonType === 'response.failed') this.#takeOpenAi(usageFromResponse(json.response));
      this.#setError(error);
      return;
    }
    switch (jsonType) {
      case 'message_start': {
        const msg = json.message;
        const u = isRecord(msg) ? msg.usage : undefined;
        if (!isRecord(u)) {
          this.#fail();
          return;
        }
        const before = this.#message;
        if (before !== null) {
          this.#finished ??= emptyParts();
          addParts(this.#finished, anthropicParts(before.counts));
        }
        this.#message = { counts: { ...anthropicCounts(u), output: undefined } };
        this.#noteModel(modelOf(msg));
        return;
      }
      case 'message_delta': {
        const m = this.#message;
        const u = json.usage;
        if (m === null || !isRecord(u)) {
          this.#fail();
          return;
        }
        m.counts = anthropicCounts(u, m.counts);
        return;
      }
      case 'response.completed':
      case 'response.incomplete':
        this.#takeOpenAi(usageFromResponse(json.response));
        return;
      default: {
        // A Chat Completions or Gemini chunk (or another event that may carry usage).
        this.#noteModel(modelOf(json));
        if (isRecord(json.usage) || isRecord(json.usageMetadata)) this.#takeOpenAi(usageFromResponse(json));
      }
    }
  }

  #noteModel(model: string | null): void {
    if (model !== null) this.#model = model;
  }

  /** Keeps the latest usage of an OpenAI or Gemini stream. */
  #takeOpenAi(u: Usage | null): void {
    if (u === null) return;
    this.#noteModel(u.model);
    this.#latest = { ...u, error: null };
  }
}

/** `data` parsed as JSON when it is an object, else `null`. */
function parseObject(data: string): Record<string, unknown> | null {
  try {
    const json: unknown = JSON.parse(utf8Of(data));
    return isRecord(json) ? json : null;
  } catch {
    return null;
  }
}
