/**
 * One-line metering of an LLM provider's answer on its way to the client:
 * {@link meterFetchResponse} for fetch-style routers (Hono, Next.js route
 * handlers, undici, Bun/Deno-style servers), {@link meterNodeResponse} for
 * `node:http` / Express-style ones. The body passes through unchanged while
 * usage, latency, time to first chunk and in-stream errors are read on the
 * side; exactly one event is recorded per answer.
 */
import type { Readable as ReadableType } from 'node:stream';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { EventStoreApi, PricingManagerApi } from '../shared/api.js';
import { checkModel, checkOptionalName, describeValue } from '../shared/validate.js';
import { SseUsageAccumulator } from './sse.js';
import { emptyParts, toUsage, usageFromResponse, type Usage } from './usage.js';

/** Options of {@link meterFetchResponse} and {@link meterNodeResponse}. */
export interface MeterOptions {
  /** The model the request asked for: recorded when the answer names none, and for failures. */
  requestModel: string;
  /** The agent that made the request. */
  agentId?: string | null;
  /** The provider key (credential) id the request used. */
  providerId?: string | null;
  /**
   * When the request to the provider was sent: a `performance.now()` value
   * (or a `Date.now()` one: values from 10¹² on are read as Unix
   * milliseconds). Default: when the meter function is called, which
   * leaves out the wait for the answer's headers.
   */
  startedAt?: number | null;
  /** Called once with what was recorded (or what recording threw); for logs and counters. */
  onRecord?: ((record: MeterRecord) => void) | null;
}

/** What a meter recorded for one answer, given to {@link MeterOptions.onRecord}. */
export interface MeterRecord {
  /** `completed`, or `failed` (HTTP error status, error inside the answer, cut short, client gone). */
  outcome: 'completed' | 'failed';
  /** The usage read from the answer, or `null` when it reported none. */
  usage: Usage | null;
  /** The failure's code (e.g. `rate_limit_exceeded`, `overloaded_error`, `client_disconnected`), or `null`. */
  errorCode: string | null;
  /** The failure's message, or `null`. */
  errorMessage: string | null;
  /** The upstream's HTTP status. */
  status: number;
  /** From `startedAt` to the end of the answer, milliseconds. */
  durationMs: number;
  /** From `startedAt` to the first chunk of a streamed (SSE) answer, else `null`. */
  ttftMs: number | null;
  /** What the store threw, if recording failed (the answer itself is never affected). */
  recordError: Error | null;
}

/** Largest answer kept in memory to read its usage or error message (it is passed on whatever its size). */
export const MAX_METERED_BODY_BYTES = 16 << 20;

/** The event's error code for an upstream HTTP status. */
export function errorCodeForStatus(status: number): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'upstream_error';
  if (status === 401 || status === 403) return 'authentication_error';
  return 'invalid_request';
}

/** Values of `startedAt` from this one on are Unix milliseconds (`Date.now()`), not `performance.now()`. */
const UNIX_MS_FROM = 1e12;

const now = (): number => performance.now();

/** The options, checked before anything is read or recorded. */
function checkOptions(store: unknown, pricing: unknown, options: unknown): MeterOptions {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(store) || typeof store.recordUsage !== 'function' || typeof store.recordLlmFailed !== 'function') {
    throw new TypeError(`store must be an EventStore, got ${describeValue(store)}`);
  }
  if (!isObject(pricing)) throw new TypeError(`pricing must be a PricingManager, got ${describeValue(pricing)}`);
  if (!isObject(options)) throw new TypeError(`options must be an object like { requestModel, agentId?, providerId?, startedAt? }, got ${describeValue(options)}`);
  checkModel(options.requestModel, 'options.requestModel');
  checkOptionalName(options.agentId, 'options.agentId');
  checkOptionalName(options.providerId, 'options.providerId');
  const startedAt = options.startedAt;
  if (startedAt !== undefined && startedAt !== null) {
    if (typeof startedAt !== 'number') throw new TypeError(`options.startedAt must be a number (performance.now() or Date.now()), got ${describeValue(startedAt)}`);
    if (!Number.isFinite(startedAt)) throw new RangeError(`options.startedAt must be a finite time, got ${startedAt}`);
  }
  if (options.onRecord !== undefined && options.onRecord !== null && typeof options.onRecord !== 'function') {
    throw new TypeError(`options.onRecord must be a function, got ${describeValue(options.onRecord)}`);
  }
  return options as unknown as MeterOptions;
}

/** The start time on the `performance.now()` clock. */
function startTime(startedAt: number | null | undefined): number {
  if (startedAt === undefined || startedAt === null) return now();
  return startedAt >= UNIX_MS_FROM ? startedAt - Date.now() + now() : startedAt;
}

let warnedRecordError = false;

/**
 * The side reading of one answer: fed every chunk, settled once (the first
 * of end, failure or cancellation wins), then records one event.
 */
class Metering {
  readonly #store: EventStoreApi;
  readonly #pricing: PricingManagerApi;
  readonly #options: MeterOptions;
  readonly #status: number;
  readonly #ok: boolean;
  readonly #start: number;
  readonly #sse: SseUsageAccumulator | null;
  #kept: Uint8Array[] | null;
  #keptBytes = 0;
  #ttftMs: number | null = null;
  #settled = false;

  constructor(store: EventStoreApi, pricing: PricingManagerApi, options: MeterOptions, status: number, contentType: string | null) {
    this.#store = store;
    this.#pricing = pricing;
    this.#options = options;
    this.#status = status;
    this.#ok = status >= 200 && status < 300;
    this.#start = startTime(options.startedAt);
    const isSse = contentType !== null && /^\s*text\/event-stream/i.test(contentType);
    this.#sse = this.#ok && isSse ? new SseUsageAccumulator() : null;
    // JSON answers and error bodies are kept (bounded) and parsed once, at the end.
    this.#kept = this.#sse === null ? [] : null;
  }

  /** Whether the event has been recorded. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Reads one chunk of the body on the side. */
  chunk(bytes: Uint8Array): void {
    if (this.#ttftMs === null) this.#ttftMs = now() - this.#start;
    if (this.#sse !== null) this.#sse.push(bytes);
    else if (this.#kept !== null && this.#keptBytes < MAX_METERED_BODY_BYTES) {
      this.#kept.push(bytes);
      this.#keptBytes += bytes.byteLength;
    }
  }

  /** The body ended: records the usage (completed, or failed when the answer carries an error or an error status). */
  end(): void {
    if (this.#settled) return;
    const durationMs = now() - this.#start;
    if (!this.#ok) {
      const body = this.#parseKept();
      this.#failed(errorCodeForStatus(this.#status), errorMessageOf(body) ?? `upstream answered HTTP ${this.#status}`, durationMs, null);
      return;
    }
    const usage = this.#sse !== null ? this.#sse.usage() : usageFromResponse(this.#parseKept());
    this.#settled = true;
    const ttftMs = this.#sse !== null ? this.#ttftMs : null;
    const o = this.#options;
    let recordError: Error | null = null;
    try {
      this.#store.recordUsage(this.#pricing, usage ?? toUsage(null, emptyParts(), null), {
        requestModel: o.requestModel,
        agentId: o.agentId,
        providerId: o.providerId,
        durationMs,
        ttftMs,
      });
    } catch (err) {
      recordError = asError(err);
    }
    const error = usage?.error ?? null;
    this.#report({
      outcome: error === null ? 'completed' : 'failed',
      usage,
      errorCode: error?.code ?? null,
      errorMessage: error?.message ?? null,
      status: this.#status,
      durationMs,
      ttftMs,
      recordError,
    });
  }

  /** The answer could not be read to its end (`network_error`) or the client went away (`client_disconnected`). */
  fail(code: string, message: string): void {
    if (this.#settled) return;
    this.#failed(code, message, now() - this.#start, this.#sse?.usage() ?? null);
  }

  #failed(code: string, message: string, durationMs: number, usage: Usage | null): void {
    this.#settled = true;
    const o = this.#options;
    let recordError: Error | null = null;
    try {
      this.#store.recordLlmFailed(usage?.model ?? o.requestModel, o.agentId, o.providerId, code, message);
    } catch (err) {
      recordError = asError(err);
    }
    this.#report({ outcome: 'failed', usage, errorCode: code, errorMessage: message, status: this.#status, durationMs, ttftMs: this.#ttftMs, recordError });
  }

  #report(record: MeterRecord): void {
    this.#kept = null;
    const onRecord = this.#options.onRecord;
    if (onRecord) {
      try {
        onRecord(record);
      } catch {
        // A logging callback must not break the answer.
      }
    } else if (record.recordError !== null && !warnedRecordError) {
      warnedRecordError = true;
      process.emitWarning(`iron-runtime-analytics: a metered answer could not be recorded: ${record.recordError.message} (further such warnings are not shown; pass onRecord to see each)`);
    }
  }

  #parseKept(): unknown {
    const kept = this.#kept;
    if (kept === null || kept.length === 0) return null;
    const bytes = kept.length === 1 ? kept[0]! : concat(kept, this.#keptBytes);
    try {
      return JSON.parse(DECODER.decode(bytes));
    } catch {
      return null;
    }
  }
}

const DECODER = new TextDecoder();

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The provider's error message (`{"error": {"message": …}}`, OpenAI and Anthropic alike), or `null`. */
function errorMessageOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as { error?: unknown; message?: unknown };
  const inner = typeof b.error === 'object' && b.error !== null ? (b.error as { message?: unknown }).message : b.error;
  const message = inner ?? b.message;
  return typeof message === 'string' ? message : null;
}

const CLIENT_GONE = 'the client closed the connection before the end of the answer';

/**
 * Meters a fetch `Response` from an LLM provider on its way to the client.
 *
 * Returns a `Response` with the same status, status text and headers whose
 * body is the upstream body, chunk for chunk, unchanged. While the client
 * reads it, the usage is read on the side (SSE streams incrementally; JSON
 * answers, kept up to {@link MAX_METERED_BODY_BYTES}, once at the end), with
 * the time to the first chunk and the duration. Exactly one event is
 * recorded in `store`:
 * - the body ended: a completed request with the usage
 *   (`store.recordUsage`), or a failure when the answer carries an error
 *   (an `error` event inside a 200 stream, an error object in a 200 body)
 *   or the status is not 2xx (`rate_limit_exceeded` for 429,
 *   `upstream_error` for 5xx, `authentication_error` for 401/403,
 *   `invalid_request` otherwise, with the provider's message);
 * - the body could not be read to its end: failed, `network_error`;
 * - the client cancelled the body (went away): failed, `client_disconnected`,
 *   and the upstream body is cancelled too.
 * A `Response` without a body is recorded at once. Recording never throws
 * into the answer (see {@link MeterOptions.onRecord}).
 *
 * @param store Where to record.
 * @param pricing Prices for the cost of completed requests.
 * @param response The provider's answer (its body must not have been read).
 * @param options The request's model, agent, provider key and start time.
 * @returns The `Response` to hand to the client.
 * @throws {TypeError | RangeError} On bad arguments, before anything is read or recorded.
 *
 * @example
 * ```ts
 * app.post('/v1/chat/completions', async (c) => {
 *   const body = await c.req.json();
 *   const startedAt = performance.now();
 *   const upstream = await fetch(UPSTREAM, { method: 'POST', headers, body: JSON.stringify(body) });
 *   return meterFetchResponse(store, pricing, upstream, { requestModel: body.model, startedAt });
 * });
 * ```
 */
export function meterFetchResponse(
  store: EventStoreApi,
  pricing: PricingManagerApi,
  response: Response,
  options: MeterOptions,
): Response {
  const o = checkOptions(store, pricing, options);
  if (typeof response !== 'object' || response === null || typeof response.status !== 'number' || typeof response.headers?.get !== 'function') {
    throw new TypeError(`response must be a fetch Response, got ${describeValue(response)}`);
  }
  if (response.bodyUsed) throw new TypeError('response: its body has already been read; meter it before reading');
  const metering = new Metering(store, pricing, o, response.status, response.headers.get('content-type'));
  const body = response.body;
  if (body === null) {
    metering.end();
    return response;
  }
  const reader = body.getReader();
  // The handlers are made once per answer, not per chunk.
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const onRead = (r: Awaited<ReturnType<typeof reader.read>>): void => {
    if (r.done) {
      metering.end();
      controller.close();
      return;
    }
    metering.chunk(r.value);
    controller.enqueue(r.value);
  };
  const onError = (err: unknown): void => {
    metering.fail('network_error', `the upstream answer broke off: ${asError(err).message}`);
    controller.error(err);
  };
  const metered = new ReadableStream<Uint8Array>(
    {
      start(c): void {
        controller = c;
      },
      pull(): Promise<void> {
        return reader.read().then(onRead, onError);
      },
      cancel(reason): Promise<void> {
        metering.fail('client_disconnected', CLIENT_GONE);
        return reader.cancel(reason);
      },
    },
    // No read-ahead: the upstream is read only as fast as the client reads.
    { highWaterMark: 0 },
  );
  return new Response(metered, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * Meters a `node:http` / Express-style answer from an LLM provider (the
 * `IncomingMessage` of `http.request`'s `'response'` event) on its way to
 * the client.
 *
 * Returns a `Readable` that yields the upstream body, chunk for chunk,
 * unchanged: write the status and headers to the client yourself, then
 * `pipeline(metered, res, …)` (or `metered.pipe(res)`). The semantics are
 * those of {@link meterFetchResponse}: exactly one event, recorded when the
 * client has read the body to its end (completed, or failed for an error
 * inside the answer or a non-2xx status), when the upstream breaks off
 * (`network_error`; the returned stream then errors, so the client sees a
 * broken answer, not a short one), or when the returned stream is destroyed
 * before its end (`client_disconnected`; the upstream is destroyed too —
 * `pipeline` does this when the client goes away). Back-pressure is kept:
 * a slow client pauses the upstream.
 *
 * @param store Where to record.
 * @param pricing Prices for the cost of completed requests.
 * @param upstream The provider's answer (not yet read).
 * @param options The request's model, agent, provider key and start time.
 * @returns The body to pipe to the client.
 * @throws {TypeError | RangeError} On bad arguments, before anything is read or recorded.
 */
export function meterNodeResponse(
  store: EventStoreApi,
  pricing: PricingManagerApi,
  upstream: IncomingMessage,
  options: MeterOptions,
): ReadableType {
  const o = checkOptions(store, pricing, options);
  if (!(upstream instanceof Readable) || typeof (upstream as { statusCode?: unknown }).statusCode !== 'number') {
    throw new TypeError(`upstream must be an http.IncomingMessage (a response), got ${describeValue(upstream)}`);
  }
  const contentType = upstream.headers['content-type'];
  const metering = new Metering(store, pricing, o, upstream.statusCode ?? 0, typeof contentType === 'string' ? contentType : null);
  let upstreamBroken = false;
  const out = new Readable({
    read(): void {
      upstream.resume();
    },
    destroy(err, callback): void {
      if (!upstreamBroken) metering.fail('client_disconnected', CLIENT_GONE);
      // Also reached by the auto-destroy after a normal end: an upstream read to its end is left alone.
      if (!upstream.readableEnded && !upstream.destroyed) upstream.destroy();
      callback(err);
    },
  });
  upstream.on('data', (chunk: Buffer) => {
    metering.chunk(chunk);
    if (!out.push(chunk)) upstream.pause();
  });
  upstream.on('end', () => out.push(null));
  out.on('end', () => metering.end());
  const brokenOff = (err?: Error): void => {
    if (upstream.complete || metering.settled || out.destroyed) return;
    upstreamBroken = true;
    const message = `the upstream answer broke off${err ? `: ${err.message}` : ''}`;
    metering.fail('network_error', message);
    out.destroy(err ?? new Error(message));
  };
  upstream.on('error', brokenOff);
  upstream.on('close', () => brokenOff());
  return out;
}
