/**
 * Latency histograms shared by both implementations: the same bucket bounds
 * as the Rust core (integer microseconds, so both bucket a value alike) and
 * the same quantile estimate (Prometheus's `histogram_quantile`).
 */
import type { LatencyHistogram } from './types.js';

/** Upper bounds of the latency buckets in microseconds: 0.01 s doubling to 81.92 s, then `+Inf`. */
export const LATENCY_BOUNDS_MICROS: readonly number[] = Object.freeze(
  Array.from({ length: 14 }, (_, i) => 10_000 * 2 ** i),
);

/** The same bounds in seconds (OpenTelemetry GenAI `gen_ai.client.operation.duration`). */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze(LATENCY_BOUNDS_MICROS.map((b) => b / 1e6));

/** Milliseconds as the stores keep them: whole microseconds. */
export function msToMicros(ms: number): number {
  return Math.round(ms * 1000);
}

/** A private, unfrozen copy for `bucketOf` (reads of a frozen array cost more in V8). */
const BOUNDS: number[] = LATENCY_BOUNDS_MICROS.slice();
const FIRST_BOUND = BOUNDS[0]!;
const LAST_BOUND = BOUNDS[BOUNDS.length - 1]!;
if (!BOUNDS.every((bound, i) => bound === FIRST_BOUND * 2 ** i)) {
  throw new Error('bucketOf assumes bounds that double from the first');
}

/** Index of the bucket holding `micros` (the first bound ≥ it, else `+Inf`). */
export function bucketOf(micros: number): number {
  if (!(micros > FIRST_BOUND)) return 0; // NaN and negatives too, as a search would
  if (micros > LAST_BOUND) return BOUNDS.length;
  // The bounds double: bucket i holds (10_000·2^(i-1), 10_000·2^i], so i is the
  // bit length of ceil(micros / 10_000) - 1. One exact comparison corrects a
  // rounding of the division at a bound. (A binary search costs 3-4x more:
  // its branches do not predict.)
  let i = 32 - Math.clz32(Math.ceil(micros / FIRST_BOUND) - 1);
  if (micros > BOUNDS[i]!) i++;
  else if (micros <= BOUNDS[i - 1]!) i--;
  return i;
}

function quantile(counts: readonly number[], count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.min(Math.max(q, 0), 1) * count;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    const previous = cumulative;
    cumulative += n;
    if (n > 0 && cumulative >= rank) {
      const last = LATENCY_BOUNDS_MICROS.length - 1;
      if (i > last) return LATENCY_BOUNDS_MICROS[last]! / 1e6;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MICROS[i - 1]! / 1e6;
      const upper = LATENCY_BOUNDS_MICROS[i]! / 1e6;
      return lower + (upper - lower) * ((rank - previous) / n);
    }
  }
  return null;
}

/** The public histogram object from bucket counts and the sum in microseconds. */
export function histogram(counts: readonly number[], sumMicros: number): LatencyHistogram {
  const count = counts.reduce((a, b) => a + b, 0);
  return {
    count,
    sumSeconds: sumMicros / 1e6,
    bucketCounts: [...counts],
    p50: quantile(counts, count, 0.5),
    p95: quantile(counts, count, 0.95),
    p99: quantile(counts, count, 0.99),
  };
}
