/**
 * Incremental token-usage extraction from streamed (Server-Sent Events)
 * LLM responses: OpenAI Chat Completions, OpenAI Responses, Anthropic Messages.
 *
 * Pure TypeScript, no dependencies, never throws.
 */

import { isRecord, modelOf, usageFromResponse, validCount, type Usage } from './usage.js';

/** Options for {@link SseUsageAccumulator}. */
export interface SseUsageAccumulatorOptions {
  /**
   * Largest single line, and largest single event's data, the accumulator
   * will buffer, in UTF-16 code units (≈ bytes for the ASCII JSON providers
   * send). Anything longer marks the stream malformed. Default `1048576`
   * (1 MiB). Non-positive or non-integer values fall back to the default.
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

/** Usage state of an Anthropic Messages stream. */
interface AnthropicState {
  model: string | null;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Cumulative output count from the latest valid `message_delta`; `undefined` until one arrives. */
  outputTokens: number | undefined;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const BOM = 0xfeff;

/**
 * Accumulates token usage from the raw bytes (or text) of a streamed LLM
 * response, fed in arbitrarily split chunks.
 *
 * Feed every chunk of the response body to {@link SseUsageAccumulator.push};
 * call {@link SseUsageAccumulator.usage} at any time. For a well-formed stream
 * the result equals {@link usageFromResponse} of the equivalent non-streamed
 * response, however the bytes were split (inside a multi-byte UTF-8 character,
 * inside a line, between `\r` and `\n`).
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
 *   non-null input/cache counts, sent by newer API versions, override those of
 *   `message_start`).
 *
 * SSE is parsed per the WHATWG essentials: `\n`, `\r\n` or `\r` line ends; a
 * leading BOM is ignored; `:` comment lines are ignored; `data:` lines (one
 * optional space after the colon) are joined with `\n` and dispatched on a
 * blank line; `event:` sets the event name; other fields are ignored; an event
 * not yet terminated by a blank line has not been dispatched. Byte chunks go
 * through a streaming UTF-8 `TextDecoder` (invalid sequences become U+FFFD).
 * Memory is bounded: only the current partial line, the current event's data
 * and the usage counters are kept.
 *
 * Rules for malformed or incomplete streams ({@link SseUsageAccumulator.usage}
 * returns `null`):
 * - no usage has arrived yet (e.g. truncated before the usage chunk, or an
 *   OpenAI Chat stream without `include_usage`);
 * - an Anthropic stream with `message_start` but no `message_delta` carrying
 *   a valid `output_tokens` yet (the output count is unknown);
 * - an error: an `event: error` (once dispatched, i.e. with at least one
 *   `data:` line, as WHATWG requires), data whose JSON `type` is `"error"` or
 *   `"response.failed"`, or a JSON object with a non-null top-level `error`;
 * - malformed: data under an `event:` name that must carry usage
 *   (`message_start`, `message_delta`, `response.completed`,
 *   `response.incomplete`) that is not a JSON object, `message_start` without
 *   a `message.usage` object, `message_delta` without a `usage` object or
 *   before any `message_start`, a line or an event's data longer than
 *   `maxEventSize`, or a chunk that is not a string / `Uint8Array` /
 *   `ArrayBuffer` / `ArrayBufferView`.
 * Errors and malformation are sticky: once seen, `usage()` stays `null` and
 * further input is discarded.
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
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  /** True when the decoder may hold the first bytes of a split character. */
  #decoderDirty = false;
  /** True once any text has been seen (for BOM stripping). */
  #started = false;
  /** The current, not yet terminated line. */
  #line = '';
  /** The previous chunk ended with `\r`: a leading `\n` in the next one belongs to it. */
  #skipLF = false;
  /** The current event's data buffer (each data line + `\n`). */
  #data = '';
  /** The current event's `event:` name ('' = default `message`). */
  #event = '';
  /** An error or malformation was seen. */
  #failed = false;
  /** `data: [DONE]` was seen. */
  #done = false;
  /** Latest usage from an OpenAI Chat / Responses stream. */
  #openai: Usage | null = null;
  /** Latest model seen in any OpenAI Chat chunk (fallback for a usage chunk without one). */
  #lastModel: string | null = null;
  /** Anthropic stream state, set by `message_start`. */
  #anthropic: AnthropicState | null = null;

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
    if (this.#failed || this.#done) return;
    try {
      let text: string;
      if (typeof chunk === 'string') {
        text = this.#flushDecoder() + chunk;
      } else {
        const input: unknown = chunk;
        let bytes: Uint8Array;
        if (input instanceof Uint8Array) bytes = input;
        else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
        else {
          this.#fail();
          return;
        }
        text = this.#decoder.decode(bytes, { stream: true });
        this.#decoderDirty = true;
      }
      this.#feed(text);
    } catch {
      this.#fail();
    }
  }

  /**
   * Returns the usage known so far, or `null`.
   *
   * May be called at any time and any number of times; each call returns a
   * fresh object. See the class documentation for when the result is `null`.
   *
   * @returns The usage reported by the stream so far, or `null` if none is
   * known yet or the stream is malformed or reported an error.
   */
  usage(): Usage | null {
    if (this.#failed) return null;
    const a = this.#anthropic;
    if (a !== null) {
      if (a.outputTokens === undefined) return null;
      return {
        model: a.model,
        inputTokens: a.inputTokens,
        outputTokens: a.outputTokens,
        cacheReadTokens: a.cacheReadTokens,
        cacheWriteTokens: a.cacheWriteTokens,
        reasoningTokens: 0,
      };
    }
    return this.#openai === null ? null : { ...this.#openai };
  }

  /** Marks the stream malformed and drops buffered input. */
  #fail(): void {
    this.#failed = true;
    this.#line = '';
    this.#data = '';
    this.#event = '';
  }

  /** Flushes a pending partial character out of the decoder (as U+FFFD) before text input. */
  #flushDecoder(): string {
    if (!this.#decoderDirty) return '';
    this.#decoderDirty = false;
    return this.#decoder.decode();
  }

  /** Splits decoded text into lines, keeping the unterminated tail. */
  #feed(input: string): void {
    let text = input;
    const n0 = text.length;
    if (n0 === 0) return;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === BOM) text = text.slice(1);
    }
    const n = text.length;
    let pos = 0;
    if (this.#skipLF && n > 0) {
      this.#skipLF = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    while (pos < n) {
      let i = pos;
      let c = 0;
      while (i < n) {
        c = text.charCodeAt(i);
        if (c === LF || c === CR) break;
        i++;
      }
      if (i === n) {
        // Unterminated tail: keep it for the next chunk.
        if (this.#line.length + (n - pos) > this.#max) {
          this.#fail();
          return;
        }
        this.#line += text.slice(pos);
        return;
      }
      let line = text.slice(pos, i);
      if (this.#line.length > 0) {
        line = this.#line + line;
        this.#line = '';
      }
      if (line.length > this.#max) {
        this.#fail();
        return;
      }
      if (c === CR) {
        if (i + 1 < n) {
          pos = text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
        } else {
          this.#skipLF = true;
          pos = n;
        }
      } else {
        pos = i + 1;
      }
      this.#processLine(line);
      if (this.#failed || this.#done) return;
    }
  }

  /** Interprets one complete SSE line. */
  #processLine(line: string): void {
    if (line.length === 0) {
      this.#dispatch();
      return;
    }
    if (line.charCodeAt(0) === COLON) return; // comment
    const colon = line.indexOf(':');
    let name: string;
    let value: string;
    if (colon === -1) {
      name = line;
      value = '';
    } else {
      name = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === SPACE) value = value.slice(1);
    }
    if (name === 'data') {
      if (this.#data.length + value.length > this.#max) {
        this.#fail();
        return;
      }
      this.#data += value + '\n';
    } else if (name === 'event') {
      this.#event = value;
    }
    // `id`, `retry` and unknown fields are irrelevant to usage.
  }

  /** Dispatches the buffered event (on a blank line). */
  #dispatch(): void {
    const data = this.#data;
    const event = this.#event === '' ? 'message' : this.#event;
    this.#data = '';
    this.#event = '';
    if (data === '') return;
    this.#handle(event, data.slice(0, -1));
  }

  /** Updates the usage state from one event. */
  #handle(event: string, data: string): void {
    if (event === 'error') {
      this.#fail();
      return;
    }
    if (data.trim() === '[DONE]') {
      this.#done = true;
      this.#line = '';
      return;
    }
    // Fast path for the bulk of a stream (content deltas): once the model is
    // known, an event that cannot carry usage, an error or a Responses
    // lifecycle type changes nothing, so it is not parsed. Text that merely
    // mentions these words takes the slow path, which is still correct.
    if (
      (this.#lastModel !== null || this.#anthropic !== null) &&
      !USAGE_EVENTS.has(event) &&
      !data.includes('"usage"') &&
      !data.includes('"error"') &&
      !data.includes('response.')
    ) {
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      json = undefined;
    }
    if (!isRecord(json)) {
      if (USAGE_EVENTS.has(event)) this.#fail();
      return; // garbage outside usage-bearing events is ignored
    }
    const type = typeof json.type === 'string' ? json.type : event;
    if (type === 'error' || type === 'response.failed' || (json.error !== undefined && json.error !== null)) {
      this.#fail();
      return;
    }
    switch (type) {
      case 'message_start': {
        const msg = json.message;
        const u = isRecord(msg) ? msg.usage : undefined;
        if (!isRecord(u)) {
          this.#fail();
          return;
        }
        this.#anthropic = {
          model: modelOf(msg),
          inputTokens: validCount(u.input_tokens) ?? 0,
          cacheReadTokens: validCount(u.cache_read_input_tokens) ?? 0,
          cacheWriteTokens: validCount(u.cache_creation_input_tokens) ?? 0,
          outputTokens: undefined,
        };
        return;
      }
      case 'message_delta': {
        const a = this.#anthropic;
        const u = json.usage;
        if (a === null || !isRecord(u)) {
          this.#fail();
          return;
        }
        a.outputTokens = validCount(u.output_tokens) ?? a.outputTokens;
        a.inputTokens = validCount(u.input_tokens) ?? a.inputTokens;
        a.cacheReadTokens = validCount(u.cache_read_input_tokens) ?? a.cacheReadTokens;
        a.cacheWriteTokens = validCount(u.cache_creation_input_tokens) ?? a.cacheWriteTokens;
        return;
      }
      case 'response.completed':
      case 'response.incomplete': {
        const u = usageFromResponse(json.response);
        if (u !== null) this.#openai = u;
        return;
      }
      default: {
        // OpenAI Chat Completions chunk (or another event that may carry usage).
        const model = modelOf(json);
        if (model !== null) this.#lastModel = model;
        if (isRecord(json.usage)) {
          const u = usageFromResponse(json);
          if (u !== null) {
            if (u.model === null) u.model = this.#lastModel;
            this.#openai = u;
          }
        }
      }
    }
  }
}
