/**
 * Decoding of the addon's packed readings (stats, events) into the
 * contract's plain objects. Layouts: `stats` and `events` in the binding's
 * layout.json, as generated constants.
 */
import type {
  AnalyticsEvent,
  ComputedStats,
  LatencyHistogram,
  ModelLatency,
  ModelStats,
} from '../shared/types.js';
import { CARDINALITY_OVERFLOW_KEY, type EVENT_TYPES } from '../shared/validate.js';
import type { BucketCounts, SeriesReading, SeriesSnapshot } from '../shared/series.js';
import { LATENCY_BOUNDS_MICROS, histogram as histogramOf } from '../shared/latency.js';
import {
  EVENT_A,
  EVENT_AGENT,
  EVENT_B,
  EVENT_C,
  EVENT_ERROR_CODE,
  EVENT_KIND,
  EVENT_KINDS,
  EVENT_LEN,
  EVENT_MESSAGE,
  EVENT_MODEL,
  EVENT_PROVIDER,
  EVENT_PROVIDER_ID,
  EVENT_TIMESTAMP_MS,
  EVENTS_HEADER_EVENTS,
  EVENTS_HEADER_LEN,
  EVENTS_HEADER_STRINGS,
  HISTOGRAM_COUNT,
  HISTOGRAM_LEN,
  HISTOGRAM_P50,
  HISTOGRAM_P95,
  HISTOGRAM_P99,
  HISTOGRAM_SUM_MICROS,
  SERIES_BUCKETS,
  SERIES_HEADER_LEN,
  SERIES_HEADER_SERIES,
  SERIES_HEADER_START_TIME_MS,
  SERIES_HEADER_STRINGS,
  SERIES_HISTOGRAM_LEN,
  SERIES_ROW_COST_MICROS,
  SERIES_ROW_DURATION_SUM_MICROS,
  SERIES_ROW_ERROR_TYPE,
  SERIES_ROW_INPUT_TOKENS_SUM,
  SERIES_ROW_LEN,
  SERIES_ROW_OPERATION,
  SERIES_ROW_OUTPUT_TOKENS_SUM,
  SERIES_ROW_OVERFLOW,
  SERIES_ROW_PROVIDER,
  SERIES_ROW_REQUEST_COUNT,
  SERIES_ROW_REQUEST_MODEL,
  SERIES_ROW_RESPONSE_MODEL,
  SERIES_ROW_TIME_TO_FIRST_CHUNK_SUM_MICROS,
  SERIES_ROW_UNPRICED_REQUESTS,
  STATS_HEADER_LATENCY_ROWS,
  STATS_HEADER_LEN,
  STATS_HEADER_MODEL_ROWS,
  STATS_HEADER_NEW_MODEL_NAMES,
  STATS_HEADER_SATURATED,
  STATS_OVERFLOW_NAME,
  STATS_ROW_CACHE_READ_TOKENS,
  STATS_ROW_CACHE_WRITE_TOKENS,
  STATS_ROW_COST_MICROS,
  STATS_ROW_FAILED_COUNT,
  STATS_ROW_INPUT_TOKENS,
  STATS_ROW_LEN,
  STATS_ROW_NAME,
  STATS_ROW_OUTPUT_TOKENS,
  STATS_ROW_REASONING_TOKENS,
  STATS_ROW_REQUEST_COUNT,
  STATS_ROW_UNPRICED_REQUESTS,
} from './generated/layout.js';

const MICROS_PER_USD = 1_000_000;
/** Bucket counts per histogram, after its `HISTOGRAM_LEN` numbers. */
const BUCKETS = LATENCY_BOUNDS_MICROS.length + 1;
/** Characters per hyphenated event id. */
const ID_LENGTH = 36;

/** `out[key] = value`, except that a key such as `__proto__` becomes an own key, never the prototype. */
function put<T>(out: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/** Above this many keys, an object is built in V8's dictionary mode from the start. */
const DICTIONARY_KEYS = 32;

/**
 * An empty object about to receive `keys` computed keys. V8 turns an object
 * with many keys into a dictionary anyway, after building (and discarding)
 * a hidden class per key added; deleting a property switches it to
 * dictionary mode at once, which halves the time to fill 200 keys.
 */
function keyedObject<T>(keys: number): Record<string, T> {
  if (keys <= DICTIONARY_KEYS) return {};
  const out: Record<string, T> = { unused: undefined as T };
  delete out['unused'];
  return out;
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

/**
 * The names of a store object's stats rows by key index, per breakdown
 * (model, provider, agent): each crosses once. Bounded by the store's
 * cardinality limit, since only kept names have an index.
 */
export class StatsNames {
  readonly #names: string[][] = [[], [], []];
  /** Per breakdown, how many names from index 0 are held (what the addon need not send). */
  readonly #known = [0, 0, 0];

  known(): number[] {
    return this.#known;
  }

  name(breakdown: number, slot: number): string {
    return slot === STATS_OVERFLOW_NAME ? CARDINALITY_OVERFLOW_KEY : (this.#names[breakdown]![slot] as string);
  }

  /** Takes the new names of a reading: `(index, length)` pairs from `at`, text in `joined`. */
  learn(n: Float64Array, at: number, joined: string): void {
    let from = 0;
    for (let b = 0; b < 3; b++) {
      const names = this.#names[b]!;
      const count = n[STATS_HEADER_NEW_MODEL_NAMES + b] as number;
      for (let i = 0; i < count; i++, at += 2) {
        const to = from + (n[at + 1] as number);
        names[n[at] as number] = joined.slice(from, to);
        from = to;
      }
      let known = this.#known[b]!;
      while (names[known] !== undefined) known++;
      this.#known[b] = known;
    }
  }
}

function row(n: Float64Array, at: number): ModelStats {
  const costMicros = n[at + STATS_ROW_COST_MICROS] as number;
  return {
    requestCount: n[at + STATS_ROW_REQUEST_COUNT] as number,
    failedCount: n[at + STATS_ROW_FAILED_COUNT] as number,
    inputTokens: n[at + STATS_ROW_INPUT_TOKENS] as number,
    outputTokens: n[at + STATS_ROW_OUTPUT_TOKENS] as number,
    costMicros,
    costUsd: costMicros / MICROS_PER_USD,
    cacheReadTokens: n[at + STATS_ROW_CACHE_READ_TOKENS] as number,
    cacheWriteTokens: n[at + STATS_ROW_CACHE_WRITE_TOKENS] as number,
    reasoningTokens: n[at + STATS_ROW_REASONING_TOKENS] as number,
    unpricedRequests: n[at + STATS_ROW_UNPRICED_REQUESTS] as number,
  };
}

const quantile = (v: number): number | null => (Number.isNaN(v) ? null : v);

function histogram(n: Float64Array, at: number): LatencyHistogram {
  const bucketCounts = new Array<number>(BUCKETS);
  for (let b = 0; b < BUCKETS; b++) bucketCounts[b] = n[at + HISTOGRAM_LEN + b] as number;
  return {
    count: n[at + HISTOGRAM_COUNT] as number,
    sumSeconds: (n[at + HISTOGRAM_SUM_MICROS] as number) / 1e6,
    bucketCounts,
    p50: quantile(n[at + HISTOGRAM_P50] as number),
    p95: quantile(n[at + HISTOGRAM_P95] as number),
    p99: quantile(n[at + HISTOGRAM_P99] as number),
  };
}

/** Where the new-name pairs of a stats reading start. */
function namesStart(n: Float64Array): number {
  let pairs = 0;
  for (let b = 0; b < 3; b++) pairs += n[STATS_HEADER_NEW_MODEL_NAMES + b] as number;
  return n.length - 2 * pairs;
}

/**
 * Builds the contract's stats object from a packed reading. The quantiles
 * come computed by the core, so this only copies. A kept name equal to the
 * overflow key shares the overflow row, as in the core.
 */
export function statsFromPacked(names: StatsNames, packed: { names: string; numbers: Float64Array }): ComputedStats {
  const n = packed.numbers;
  names.learn(n, namesStart(n), packed.names);
  const totals = row(n, STATS_HEADER_LEN);
  let at = STATS_HEADER_LEN + STATS_ROW_LEN;
  const tables: Record<string, ModelStats>[] = [];
  for (let b = 0; b < 3; b++) {
    const rows = n[STATS_HEADER_MODEL_ROWS + b] as number;
    const out = keyedObject<ModelStats>(rows);
    for (let i = 0; i < rows; i++, at += STATS_ROW_LEN) {
      const key = names.name(b, n[at + STATS_ROW_NAME] as number);
      const value = row(n, at);
      const existing = out[key];
      if (existing !== undefined && Object.hasOwn(out, key)) mergeStats(existing, value);
      else put(out, key, value);
    }
    tables.push(out);
  }
  const latencyRows = n[STATS_HEADER_LATENCY_ROWS] as number;
  const latencyByModel = keyedObject<ModelLatency>(latencyRows);
  const histogramNumbers = HISTOGRAM_LEN + BUCKETS;
  for (let i = 0; i < latencyRows; i++) {
    const key = names.name(0, n[at] as number);
    const duration = histogram(n, at + 1);
    const ttft = histogram(n, at + 1 + histogramNumbers);
    at += 1 + 2 * histogramNumbers;
    const existing = latencyByModel[key];
    if (existing !== undefined && Object.hasOwn(latencyByModel, key)) {
      put(latencyByModel, key, { duration: mergeHistograms(existing.duration, duration), ttft: mergeHistograms(existing.ttft, ttft) });
    } else {
      put(latencyByModel, key, { duration, ttft });
    }
  }
  const totalRequests = totals.requestCount;
  const totalTokens = Math.min(totals.inputTokens + totals.outputTokens, Number.MAX_SAFE_INTEGER);
  const totalCostUsd = totals.costUsd;
  return {
    totalRequests,
    failedRequests: totals.failedCount,
    totalInputTokens: totals.inputTokens,
    totalOutputTokens: totals.outputTokens,
    totalTokens,
    totalCostMicros: totals.costMicros,
    totalCostUsd,
    totalCacheReadTokens: totals.cacheReadTokens,
    totalCacheWriteTokens: totals.cacheWriteTokens,
    totalReasoningTokens: totals.reasoningTokens,
    unpricedRequests: totals.unpricedRequests,
    saturated: n[STATS_HEADER_SATURATED] === 1 || totals.inputTokens + totals.outputTokens > Number.MAX_SAFE_INTEGER,
    successRate: totalRequests === 0 ? 1 : (totalRequests - totals.failedCount) / totalRequests,
    avgCostPerRequestUsd: totalRequests === 0 ? 0 : totalCostUsd / totalRequests,
    avgTokensPerRequest: totalRequests === 0 ? 0 : totalTokens / totalRequests,
    byModel: tables[0]!,
    byProvider: tables[1]!,
    byAgent: tables[2]!,
    latencyByModel,
  };
}

const sat = (a: number, b: number): number => Math.min(a + b, Number.MAX_SAFE_INTEGER);

/** Adds `b` into `a` (a kept name equal to the overflow key). */
function mergeStats(a: ModelStats, b: ModelStats): void {
  a.requestCount = sat(a.requestCount, b.requestCount);
  a.failedCount = sat(a.failedCount, b.failedCount);
  a.inputTokens = sat(a.inputTokens, b.inputTokens);
  a.outputTokens = sat(a.outputTokens, b.outputTokens);
  a.costMicros = sat(a.costMicros, b.costMicros);
  a.costUsd = a.costMicros / MICROS_PER_USD;
  a.cacheReadTokens = sat(a.cacheReadTokens, b.cacheReadTokens);
  a.cacheWriteTokens = sat(a.cacheWriteTokens, b.cacheWriteTokens);
  a.reasoningTokens = sat(a.reasoningTokens, b.reasoningTokens);
  a.unpricedRequests = sat(a.unpricedRequests, b.unpricedRequests);
}

function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  // Rare (a model literally named like the overflow key): recompute from the sums.
  const counts = a.bucketCounts.map((c, i) => c + (b.bucketCounts[i] ?? 0));
  return histogramOf(counts, Math.round((a.sumSeconds + b.sumSeconds) * 1e6));
}

// ---------------------------------------------------------------------------
// GenAI series
// ---------------------------------------------------------------------------

/** The strings of a reading: their lengths end `n`, their text is `joined`. */
function readingStrings(n: Float64Array, count: number, joined: string): string[] {
  const strings = new Array<string>(count);
  for (let i = 0, from = 0, at = n.length - count; i < count; i++, at++) {
    const to = from + (n[at] as number);
    strings[i] = joined.slice(from, to);
    from = to;
  }
  return strings;
}

/** Builds the GenAI series (sorted by the core) from a packed reading. */
export function seriesFromPacked(packed: { strings: string; numbers: Float64Array }): SeriesSnapshot {
  const n = packed.numbers;
  const count = n[SERIES_HEADER_SERIES] as number;
  const strings = readingStrings(n, n[SERIES_HEADER_STRINGS] as number, packed.strings);
  const text = (slot: number): string | null => (slot < 0 ? null : (strings[slot] as string));
  const buckets = (from: number, sum: number): BucketCounts => {
    // A plain loop: `Array.from(subarray)` cost ~1 µs a histogram (800 with
    // 200 series). Pushed, not `new Array(n)` filled: a packed array, which
    // later loops over it (counts, exporters) read faster than a holey one.
    const counts: number[] = [];
    for (let k = 0; k < SERIES_BUCKETS; k++) counts.push(n[from + k] as number);
    return { counts, sum };
  };
  const series = new Array<SeriesReading>(count);
  const rowNumbers = SERIES_ROW_LEN + SERIES_HISTOGRAM_LEN * SERIES_BUCKETS;
  for (let i = 0, at = SERIES_HEADER_LEN; i < count; i++, at += rowNumbers) {
    const h = at + SERIES_ROW_LEN;
    series[i] = {
      attributes:
        n[at + SERIES_ROW_OVERFLOW] === 1
          ? null
          : {
              operation: text(n[at + SERIES_ROW_OPERATION] as number) as string,
              provider: text(n[at + SERIES_ROW_PROVIDER] as number) as string,
              requestModel: text(n[at + SERIES_ROW_REQUEST_MODEL] as number) as string,
              responseModel: text(n[at + SERIES_ROW_RESPONSE_MODEL] as number),
              errorType: text(n[at + SERIES_ROW_ERROR_TYPE] as number),
            },
      requestCount: n[at + SERIES_ROW_REQUEST_COUNT] as number,
      costMicros: n[at + SERIES_ROW_COST_MICROS] as number,
      unpricedRequests: n[at + SERIES_ROW_UNPRICED_REQUESTS] as number,
      duration: buckets(h, n[at + SERIES_ROW_DURATION_SUM_MICROS] as number),
      timeToFirstChunk: buckets(h + SERIES_BUCKETS, n[at + SERIES_ROW_TIME_TO_FIRST_CHUNK_SUM_MICROS] as number),
      inputTokens: buckets(h + 2 * SERIES_BUCKETS, n[at + SERIES_ROW_INPUT_TOKENS_SUM] as number),
      outputTokens: buckets(h + 3 * SERIES_BUCKETS, n[at + SERIES_ROW_OUTPUT_TOKENS_SUM] as number),
    };
  }
  return { series, startTimeMs: n[SERIES_HEADER_START_TIME_MS] as number };
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/**
 * layout.json's event kinds (the addon's numbering) are the contract's
 * `EVENT_TYPES`, in the same order: a kind added on one side only, or
 * reordered, fails to compile here.
 */
type SameKinds = typeof EVENT_KINDS extends typeof EVENT_TYPES ? (typeof EVENT_TYPES extends typeof EVENT_KINDS ? true : false) : false;
true satisfies SameKinds;

/** Builds the contract's events from a packed reading, oldest first. */
export function eventsFromPacked(packed: { strings: string; ids: string; numbers: Float64Array }): AnalyticsEvent[] {
  const n = packed.numbers;
  const count = n[EVENTS_HEADER_EVENTS] as number;
  const strings = readingStrings(n, n[EVENTS_HEADER_STRINGS] as number, packed.strings);
  const text = (slot: number): string | null => (slot < 0 ? null : (strings[slot] as string));
  const ids = packed.ids;
  const events = new Array<AnalyticsEvent>(count);
  for (let i = 0, at = EVENTS_HEADER_LEN; i < count; i++, at += EVENT_LEN) {
    const eventId = ids.slice(i * ID_LENGTH, (i + 1) * ID_LENGTH);
    const timestampMs = n[at + EVENT_TIMESTAMP_MS] as number;
    const agentId = text(n[at + EVENT_AGENT] as number);
    const eventType = EVENT_KINDS[n[at + EVENT_KIND] as number];
    const a = n[at + EVENT_A] as number;
    const b = n[at + EVENT_B] as number;
    switch (eventType) {
      case 'llm_request_completed':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          provider: text(n[at + EVENT_PROVIDER] as number) ?? 'unknown',
          model: text(n[at + EVENT_MODEL] as number) ?? '',
          providerId: text(n[at + EVENT_PROVIDER_ID] as number),
          inputTokens: a,
          outputTokens: b,
          costMicros: n[at + EVENT_C] as number,
        };
        break;
      case 'llm_request_failed':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          provider: text(n[at + EVENT_PROVIDER] as number) ?? 'unknown',
          model: text(n[at + EVENT_MODEL] as number) ?? '',
          providerId: text(n[at + EVENT_PROVIDER_ID] as number),
          errorCode: text(n[at + EVENT_ERROR_CODE] as number),
          errorMessage: text(n[at + EVENT_MESSAGE] as number),
        };
        break;
      case 'budget_threshold_reached':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          thresholdPercent: a,
          currentSpendMicros: b,
          budgetMicros: n[at + EVENT_C] as number,
        };
        break;
      case 'router_started':
        events[i] = { eventId, timestampMs, agentId, eventType, port: a };
        break;
      case 'router_stopped':
        events[i] = { eventId, timestampMs, agentId, eventType, totalRequests: a, totalCostMicros: b };
        break;
      default:
        eventType satisfies undefined;
        throw new Error(`the addon sent an event of unknown kind ${n[at + EVENT_KIND]}`);
    }
  }
  return events;
}
