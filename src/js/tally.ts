/**
 * The fallback's running counters: per model, provider and agent, and the
 * latency histograms. Every sum saturates at `Number.MAX_SAFE_INTEGER` (the
 * Rust core saturates at 2^64 − 1 and reports the same cap to JS), and
 * every breakdown keeps at most its cardinality limit of names, the rest
 * summed in one overflow row, as the core does.
 */
import type { ModelLatency, ModelStats } from '../shared/types.js';
import { CARDINALITY_OVERFLOW_KEY } from '../shared/validate.js';
import { LATENCY_BOUNDS_MICROS, bucketOf, histogram, msToMicros } from '../shared/latency.js';
import { TOKEN_BOUNDS, compareSeries, type SeriesAttributes, type SeriesReading } from '../shared/series.js';

const MICROS_PER_USD = 1_000_000;
const MAX = Number.MAX_SAFE_INTEGER;

/** Whether some count of the store hit the cap (shared by its tallies). */
export class Saturation {
  saturated = false;

  /** `a + b`, capped at `Number.MAX_SAFE_INTEGER`. */
  add(a: number, b: number): number {
    const sum = a + b;
    if (sum <= MAX) return sum;
    this.saturated = true;
    return MAX;
  }
}

/** The token counts of one completed request, normalized (parts included). */
export interface Counts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  /** 5-minute cache writes. */
  cacheWriteTokens: number;
  /** 1-hour cache writes. */
  cacheWrite1hTokens: number;
  reasoningTokens: number;
}

/** Running counters of one model, provider or agent (or of the totals). */
export class Tally {
  requestCount = 0;
  failedCount = 0;
  inputTokens = 0;
  outputTokens = 0;
  costMicros = 0;
  cacheReadTokens = 0;
  cacheWriteTokens = 0;
  reasoningTokens = 0;
  unpricedRequests = 0;

  completed(s: Saturation, c: Counts, costMicros: number, unpriced: boolean): void {
    this.requestCount = s.add(this.requestCount, 1);
    this.inputTokens = s.add(this.inputTokens, c.inputTokens);
    this.outputTokens = s.add(this.outputTokens, c.outputTokens);
    this.costMicros = s.add(this.costMicros, costMicros);
    if (c.cacheReadTokens !== 0) this.cacheReadTokens = s.add(this.cacheReadTokens, c.cacheReadTokens);
    // The stats count 5-minute and 1-hour writes together.
    if (c.cacheWriteTokens !== 0) this.cacheWriteTokens = s.add(this.cacheWriteTokens, c.cacheWriteTokens);
    if (c.cacheWrite1hTokens !== 0) this.cacheWriteTokens = s.add(this.cacheWriteTokens, c.cacheWrite1hTokens);
    if (c.reasoningTokens !== 0) this.reasoningTokens = s.add(this.reasoningTokens, c.reasoningTokens);
    if (unpriced) this.unpricedRequests = s.add(this.unpricedRequests, 1);
  }

  failed(s: Saturation): void {
    this.requestCount = s.add(this.requestCount, 1);
    this.failedCount = s.add(this.failedCount, 1);
  }

  toStats(): ModelStats {
    return {
      requestCount: this.requestCount,
      failedCount: this.failedCount,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      costMicros: this.costMicros,
      costUsd: this.costMicros / MICROS_PER_USD,
      cacheReadTokens: this.cacheReadTokens,
      cacheWriteTokens: this.cacheWriteTokens,
      reasoningTokens: this.reasoningTokens,
      unpricedRequests: this.unpricedRequests,
    };
  }
}

const LATENCY_BUCKETS = LATENCY_BOUNDS_MICROS.length + 1;
/** Latencies are `u64` microseconds in the Rust core: a larger value saturates (2^64 as a double). */
const U64_SATURATED = 2 ** 64;

/** Whole microseconds, as the Rust core converts them (saturating at `u64::MAX`). */
function micros(ms: number): number {
  const us = msToMicros(ms);
  return us < U64_SATURATED ? us : U64_SATURATED;
}

/** Latency histograms of one model, allocated the first time a latency is recorded for it. */
export class LatencyTally {
  /** Observations per bucket (not cumulative), the last one `+Inf`. */
  readonly duration: number[] = Array.from({ length: LATENCY_BUCKETS }, () => 0);
  durationSumMicros = 0;
  readonly ttft: number[] = Array.from({ length: LATENCY_BUCKETS }, () => 0);
  ttftSumMicros = 0;

  /** Adds a request's latencies (validated; either may be absent). */
  observe(durationMs: number | null | undefined, ttftMs: number | null | undefined): void {
    if (durationMs != null) {
      const us = micros(durationMs);
      const bucket = bucketOf(us);
      this.duration[bucket] = (this.duration[bucket] as number) + 1;
      this.durationSumMicros = Math.min(this.durationSumMicros + us, U64_SATURATED);
    }
    if (ttftMs != null) {
      const us = micros(ttftMs);
      const bucket = bucketOf(us);
      this.ttft[bucket] = (this.ttft[bucket] as number) + 1;
      this.ttftSumMicros = Math.min(this.ttftSumMicros + us, U64_SATURATED);
    }
  }

  toLatency(): ModelLatency {
    return { duration: histogram(this.duration, this.durationSumMicros), ttft: histogram(this.ttft, this.ttftSumMicros) };
  }
}

/**
 * Tallies by name, at most `limit` of them (plus the names in `alwaysKept`,
 * e.g. the built-in provider names); every other name shares the overflow
 * tally, reported under {@link CARDINALITY_OVERFLOW_KEY}.
 */
export class TallyTable {
  readonly #tallies = new Map<string, Tally>();
  readonly #overflow = new Tally();
  readonly #kept: KeptNames;

  constructor(limit: number, alwaysKept: ReadonlySet<string> = new Set()) {
    this.#kept = new KeptNames(limit, alwaysKept);
  }

  /** The tally of `name` (well-formed), created while there is room, else the overflow tally. */
  of(name: string): Tally {
    const tally = this.#tallies.get(name);
    if (tally !== undefined) return tally;
    if (!this.#kept.keep(name)) return this.#overflow;
    const created = new Tally();
    this.#tallies.set(name, created);
    return created;
  }

  /** Whether `name` has its own row. */
  has(name: string): boolean {
    return this.#tallies.has(name);
  }

  /** The rows, the overflow row last (merged into a kept name equal to its key). */
  toRecord(): Record<string, ModelStats> {
    // Object.fromEntries defines own data properties, so a key such as
    // `__proto__` is stored as a key and never touches the prototype.
    const out = Object.fromEntries(Array.from(this.#tallies, ([key, tally]) => [key, tally.toStats()])) as Record<
      string,
      ModelStats
    >;
    addOverflowRow(out, this.#overflow);
    return out;
  }
}

/**
 * Adds the overflow tally to `out` under {@link CARDINALITY_OVERFLOW_KEY}
 * when it counted anything, merged into a kept name equal to that key (as
 * the core does).
 */
export function addOverflowRow(out: Record<string, ModelStats>, overflow: Tally): void {
  if (overflow.requestCount === 0) return;
  const row = overflow.toStats();
  const same = Object.hasOwn(out, CARDINALITY_OVERFLOW_KEY) ? out[CARDINALITY_OVERFLOW_KEY] : undefined;
  if (same === undefined) {
    Object.defineProperty(out, CARDINALITY_OVERFLOW_KEY, { value: row, enumerable: true, writable: true, configurable: true });
    return;
  }
  for (const k of Object.keys(row) as (keyof ModelStats)[]) {
    if (k !== 'costUsd') same[k] = Math.min(same[k] + row[k], MAX);
  }
  same.costUsd = same.costMicros / MICROS_PER_USD;
}

/**
 * Names of one kind kept up to `limit` (plus the names in `alwaysKept`), in
 * the order they are first met, as the core's interner keeps them: a name
 * past the limit is transient there, so a series naming one can only be
 * counted in the overflow series.
 */
export class KeptNames {
  readonly #names = new Set<string>();
  readonly #limit: number;
  readonly #alwaysKept: ReadonlySet<string>;
  #counted = 0;

  constructor(limit: number, alwaysKept: ReadonlySet<string> = new Set()) {
    this.#limit = limit;
    this.#alwaysKept = alwaysKept;
  }

  /** Keeps `name` while there is room; whether it is kept. */
  keep(name: string): boolean {
    if (this.#alwaysKept.has(name) || this.#names.has(name)) return true;
    if (this.#counted >= this.#limit) return false;
    this.#names.add(name);
    this.#counted++;
    return true;
  }
}

const TOKEN_BUCKETS = TOKEN_BOUNDS.length + 1;
const LAST_TOKEN_BOUND = TOKEN_BOUNDS[TOKEN_BOUNDS.length - 1]!;

/** Index of the token bucket holding `tokens` (the bounds are powers of 4: the first ≥ it, else `+Inf`). */
export function tokenBucketOf(tokens: number): number {
  if (tokens <= 1) return 0;
  if (tokens > LAST_TOKEN_BOUND) return TOKEN_BUCKETS - 1;
  // ceil(log2(tokens)) bits, two per power of 4 (exact: tokens < 2^27).
  return (33 - Math.clz32(tokens - 1)) >> 1;
}

/** What one request adds to its series. */
export interface SeriesObservation {
  durationMs: number | null | undefined;
  /** Completed requests only. */
  ttftMs: number | null | undefined;
  /** Input and output tokens of a completed request; `null` for a failure. */
  tokens: [number, number] | null;
  costMicros: number;
  unpriced: boolean;
}

/** The counters of one GenAI series. */
class SeriesTally {
  requestCount = 0;
  costMicros = 0;
  unpricedRequests = 0;
  /** Duration and time to first chunk (the same buckets as the per-model latency). */
  readonly latency = new LatencyTally();
  readonly input: number[] = Array.from({ length: TOKEN_BUCKETS }, () => 0);
  inputSum = 0;
  readonly output: number[] = Array.from({ length: TOKEN_BUCKETS }, () => 0);
  outputSum = 0;

  constructor(readonly attributes: SeriesAttributes | null) {}

  observe(s: Saturation, o: SeriesObservation): void {
    this.requestCount = s.add(this.requestCount, 1);
    this.costMicros = s.add(this.costMicros, o.costMicros);
    if (o.unpriced) this.unpricedRequests = s.add(this.unpricedRequests, 1);
    if (o.durationMs != null || o.ttftMs != null) this.latency.observe(o.durationMs, o.ttftMs);
    if (o.tokens !== null) {
      const [input, output] = o.tokens;
      const i = tokenBucketOf(input);
      this.input[i] = this.input[i]! + 1;
      this.inputSum = s.add(this.inputSum, input);
      const j = tokenBucketOf(output);
      this.output[j] = this.output[j]! + 1;
      this.outputSum = s.add(this.outputSum, output);
    }
  }

  toReading(): SeriesReading {
    const l = this.latency;
    return {
      attributes: this.attributes,
      requestCount: this.requestCount,
      costMicros: this.costMicros,
      unpricedRequests: this.unpricedRequests,
      duration: { counts: l.duration.slice(), sum: Math.min(l.durationSumMicros, MAX) },
      timeToFirstChunk: { counts: l.ttft.slice(), sum: Math.min(l.ttftSumMicros, MAX) },
      inputTokens: { counts: this.input.slice(), sum: this.inputSum },
      outputTokens: { counts: this.output.slice(), sum: this.outputSum },
    };
  }
}

/**
 * Series by their names, one map level per name (`null` is a key of its
 * own): a lookup hashes the strings the caller already holds, whose hashes
 * V8 caches, instead of building and hashing a joined key per request.
 */
type ByName<T> = Map<string | null, T>;
type SeriesIndex = ByName<ByName<ByName<ByName<ByName<SeriesTally>>>>>;

/** The map under `key`, made on first use. */
function level<T>(map: ByName<ByName<T>>, key: string | null): ByName<T> {
  let next = map.get(key);
  if (next === undefined) {
    next = new Map();
    map.set(key, next);
  }
  return next;
}

/**
 * The GenAI series of a store: the first `limit` series whose names are all
 * kept each count on their own; every other one in the overflow series.
 */
export class SeriesTable {
  readonly #series: SeriesTally[] = [];
  readonly #index: SeriesIndex = new Map();
  readonly #overflow = new SeriesTally(null);
  readonly #limit: number;
  /** The kept series in the core's order; `null` once a series is added (sorted again at the next reading). */
  #sorted: SeriesTally[] | null = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /**
   * Adds a request to the series its names (`SeriesAttributes`, in that
   * order) name; `kept`: every name of it is kept.
   */
  observe(
    s: Saturation,
    operation: string,
    provider: string,
    requestModel: string,
    responseModel: string | null,
    errorType: string | null,
    kept: boolean,
    o: SeriesObservation,
  ): void {
    let tally = kept ? this.#index.get(operation)?.get(provider)?.get(requestModel)?.get(responseModel)?.get(errorType) : this.#overflow;
    if (tally === undefined) {
      if (this.#series.length >= this.#limit) {
        // Past the limit nothing is added, not even an empty level.
        tally = this.#overflow;
      } else {
        tally = new SeriesTally({ operation, provider, requestModel, responseModel, errorType });
        level(level(level(level(this.#index, operation), provider), requestModel), responseModel).set(errorType, tally);
        this.#series.push(tally);
        this.#sorted = null;
      }
    }
    tally.observe(s, o);
  }

  /** The series with a request, sorted as the core sorts them (the overflow series last). */
  readings(): SeriesReading[] {
    // Sorted once per new series, not per reading (a scrape every few seconds, new series rarely).
    this.#sorted ??= [...this.#series].sort(compareSeries);
    const out = this.#sorted.map((tally) => tally.toReading());
    if (this.#overflow.requestCount > 0) out.push(this.#overflow.toReading());
    return out;
  }
}
