/**
 * The OpenTelemetry GenAI series a store keeps (see the core's `series.rs`):
 * per operation, provider, request model, response model and error type,
 * the request count, cost, and the histograms of the GenAI client metrics.
 * Both implementations read them into this shape, from which
 * `prometheus()` (fallback) and `metricProducer()` (both) render.
 *
 * Versions of the conventions (the transition plan of
 * `docs/gen-ai/README.md`, open-telemetry/semantic-conventions v1.41.1):
 * v1.36.0 by default, the latest experimental ones when
 * `OTEL_SEMCONV_STABILITY_OPT_IN` lists `gen_ai_latest_experimental`.
 */
import { OTEL_NAMES, OTEL_SYSTEM_NAMES } from './generated/providers.js';
import { LATENCY_BOUNDS_MICROS } from './latency.js';

/** Upper bounds of `gen_ai.client.token.usage` buckets (the conventions': powers of 4, 1 to 67,108,864), then `+Inf`. */
export const TOKEN_BOUNDS: readonly number[] = Object.freeze(Array.from({ length: 14 }, (_, i) => 4 ** i));

/**
 * Upper bounds of `gen_ai.client.operation.time_to_first_chunk` buckets in
 * microseconds: the conventions give it the operation duration's list
 * (0.01 s doubling to 81.92 s; not the server metric's).
 */
export const TIME_TO_FIRST_CHUNK_BOUNDS_MICROS: readonly number[] = LATENCY_BOUNDS_MICROS;

/** Buckets per histogram of a series (the bounds, then `+Inf`). */
export const SERIES_BUCKET_COUNT = 15;

/** The `gen_ai.operation.name` of a request recorded without one. */
export const DEFAULT_OPERATION = 'chat';

/** The `error.type` of a failure recorded without an error code (the conventions' fallback). */
export const UNNAMED_ERROR_TYPE = '_OTHER';

/** The conventions' well-known operation names (v1.36.0): always kept by a store, on top of its cardinality limit. */
export const WELL_KNOWN_OPERATIONS: readonly string[] = Object.freeze([
  'chat',
  'create_agent',
  'embeddings',
  'execute_tool',
  'generate_content',
  'invoke_agent',
  'text_completion',
]);

/** Which version of the GenAI conventions an exposition follows. */
export type GenAiConventions = 'v1.36.0' | 'latest-experimental';

/** The environment variable of the conventions' transition plan. */
export const SEMCONV_OPT_IN_ENV = 'OTEL_SEMCONV_STABILITY_OPT_IN';

/** The conventions a value of `OTEL_SEMCONV_STABILITY_OPT_IN` asks for (a comma-separated list). */
export function conventionsFromOptIn(value: string | undefined): GenAiConventions {
  if (value === undefined) return 'v1.36.0';
  return value.split(',').some((item) => item.trim() === 'gen_ai_latest_experimental') ? 'latest-experimental' : 'v1.36.0';
}

/** The conventions this process's environment asks for. */
export function conventionsFromEnv(): GenAiConventions {
  return conventionsFromOptIn(typeof process === 'undefined' ? undefined : process.env[SEMCONV_OPT_IN_ENV]);
}

/** The attribute naming the provider: `gen_ai.system` in v1.36.0, `gen_ai.provider.name` from v1.37.0. */
export function providerAttribute(conventions: GenAiConventions): string {
  return conventions === 'v1.36.0' ? 'gen_ai.system' : 'gen_ai.provider.name';
}

/**
 * The conventions' well-known value for a provider name of the stats
 * (`google` → `gcp.gemini`, `xai` → `xai` / `x_ai`, `unknown` → `_OTHER`);
 * a name given explicitly when recording, as it is.
 */
export function providerValue(conventions: GenAiConventions, name: string): string {
  const table = conventions === 'v1.36.0' ? OTEL_SYSTEM_NAMES : OTEL_NAMES;
  return Object.hasOwn(table, name) ? (table[name] as string) : name;
}

/** The names of a series. */
export interface SeriesAttributes {
  /** `gen_ai.operation.name`. */
  operation: string;
  /** The provider name the stats keep (`openai`, `google`, …, or one given explicitly). */
  provider: string;
  /** `gen_ai.request.model`. */
  requestModel: string;
  /** `gen_ai.response.model`; `null` for a failed request. */
  responseModel: string | null;
  /** `error.type` of a failed request; `null` for a completed one. */
  errorType: string | null;
}

/** Bucket counts (not cumulative, the last one `+Inf`) and the sum of the observations. */
export interface BucketCounts {
  counts: number[];
  /** Microseconds for durations, tokens for token counts. */
  sum: number;
}

/** One series as a store reads it. */
export interface SeriesReading {
  /** `null` for the overflow series (every series past the cardinality limit). */
  attributes: SeriesAttributes | null;
  requestCount: number;
  costMicros: number;
  unpricedRequests: number;
  duration: BucketCounts;
  timeToFirstChunk: BucketCounts;
  inputTokens: BucketCounts;
  outputTokens: BucketCounts;
}

/** A store's series, sorted ({@link compareSeries}), and when it began counting. */
export interface SeriesSnapshot {
  series: SeriesReading[];
  /** Unix milliseconds: the start of every cumulative series. */
  startTimeMs: number;
}

/** The number of observations of a histogram. */
export function countOf(h: BucketCounts): number {
  let n = 0;
  for (const c of h.counts) n += c;
  return n;
}

/**
 * Compares strings by code point, as Rust compares `str` (UTF-8 bytes):
 * UTF-16 code units order surrogates (U+D800..DFFF) below U+E000..FFFF, code
 * points above them; shifting those two ranges fixes it.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x < 0xe000 ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y < 0xe000 ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** `null` first, then by code point. */
function compareOptional(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return compareCodePoints(a, b);
}

/** The core's series order: by operation, provider, request model, response model, error type; the overflow series last. */
export function compareSeries(a: { attributes: SeriesAttributes | null }, b: { attributes: SeriesAttributes | null }): number {
  const x = a.attributes;
  const y = b.attributes;
  if (x === null || y === null) return (x === null ? 1 : 0) - (y === null ? 1 : 0);
  return (
    compareCodePoints(x.operation, y.operation) ||
    compareCodePoints(x.provider, y.provider) ||
    compareCodePoints(x.requestModel, y.requestModel) ||
    compareOptional(x.responseModel, y.responseModel) ||
    compareOptional(x.errorType, y.errorType)
  );
}
