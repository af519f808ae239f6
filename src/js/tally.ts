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
  readonly #limit: number;
  readonly #alwaysKept: ReadonlySet<string>;
  /** Names kept that count against the limit. */
  #counted = 0;

  constructor(limit: number, alwaysKept: ReadonlySet<string> = new Set()) {
    this.#limit = limit;
    this.#alwaysKept = alwaysKept;
  }

  /** The tally of `name` (well-formed), created while there is room, else the overflow tally. */
  of(name: string): Tally {
    const tally = this.#tallies.get(name);
    if (tally !== undefined) return tally;
    const always = this.#alwaysKept.has(name);
    if (!always && this.#counted >= this.#limit) return this.#overflow;
    const created = new Tally();
    this.#tallies.set(name, created);
    if (!always) this.#counted++;
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
