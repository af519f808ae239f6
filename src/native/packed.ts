/**
 * Decoding of the addon's packed readings (stats, events) into the
 * contract's plain objects. Layouts: `PackedStats` and `PackedEvents` in the
 * binding crate.
 */
import type {
  AnalyticsEvent,
  ComputedStats,
  LatencyHistogram,
  ModelLatency,
  ModelStats,
} from '../shared/types.js';
import { EVENT_TYPES } from '../shared/validate.js';
import { LATENCY_BOUNDS_MICROS } from '../shared/latency.js';

const MICROS_PER_USD = 1_000_000;

/** Numbers per histogram in the packed stats: count, sum µs, p50, p95, p99, then the buckets. */
const HISTOGRAM_NUMBERS = 5 + LATENCY_BOUNDS_MICROS.length + 1;

/** `out[key] = value`, except that a key such as `__proto__` becomes an own key, never the prototype. */
function put<T>(out: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * Appends the names a packed reading sends for the first time (`newNames`,
 * concatenated) to `names`, where the addon's name ids index them; their
 * `count` lengths end the numbers.
 */
function learnNames(names: string[], newNames: string, n: Float64Array, count: number): void {
  for (let i = n.length - count, from = 0; i < n.length; i++) {
    const to = from + (n[i] as number);
    names.push(newNames.slice(from, to));
    from = to;
  }
}

/** Numbers per event in the addon's packed events (layout: `PackedEvents` in the binding crate). */
const EVENT_NUMBERS = 11;
/** Characters per hyphenated event id. */
const ID_LENGTH = 36;

/** Builds the contract's events from the addon's packed events. */
export function eventsFromPacked(
  names: string[],
  packed: { newNames: string; ids: string; messages: string; numbers: Float64Array },
): AnalyticsEvent[] {
  const n = packed.numbers;
  const count = n[0] as number;
  learnNames(names, packed.newNames, n, n[1] as number);
  const name = (id: number): string | null => (id < 0 ? null : (names[id] as string));
  const { ids, messages } = packed;
  const events = new Array<AnalyticsEvent>(count);
  let messageAt = 0;
  for (let i = 0, at = 2; i < count; i++, at += EVENT_NUMBERS) {
    const eventId = ids.slice(i * ID_LENGTH, (i + 1) * ID_LENGTH);
    const timestampMs = n[at + 1] as number;
    const agentId = name(n[at + 2] as number);
    const eventType = EVENT_TYPES[n[at] as number];
    switch (eventType) {
      case 'llm_request_completed':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          provider: name(n[at + 3] as number) ?? 'unknown',
          model: name(n[at + 4] as number) ?? '',
          providerId: name(n[at + 5] as number),
          inputTokens: n[at + 6] as number,
          outputTokens: n[at + 7] as number,
          costMicros: n[at + 8] as number,
        };
        break;
      case 'llm_request_failed': {
        const messageLength = n[at + 10] as number;
        let errorMessage: string | null = null;
        if (messageLength >= 0) {
          errorMessage = messages.slice(messageAt, messageAt + messageLength);
          messageAt += messageLength;
        }
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          provider: name(n[at + 3] as number) ?? 'unknown',
          model: name(n[at + 4] as number) ?? '',
          providerId: name(n[at + 5] as number),
          errorCode: name(n[at + 9] as number),
          errorMessage,
        };
        break;
      }
      case 'budget_threshold_reached':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          thresholdPercent: n[at + 6] as number,
          currentSpendMicros: n[at + 7] as number,
          budgetMicros: n[at + 8] as number,
        };
        break;
      case 'router_started':
        events[i] = { eventId, timestampMs, agentId, eventType, port: n[at + 6] as number };
        break;
      case 'router_stopped':
        events[i] = {
          eventId,
          timestampMs,
          agentId,
          eventType,
          totalRequests: n[at + 6] as number,
          totalCostMicros: n[at + 7] as number,
        };
        break;
      default:
        throw new Error(`the addon sent an event of unknown kind ${n[at]}`);
    }
  }
  return events;
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

/**
 * Builds the contract's stats object from the addon's packed numbers
 * (layout: `PackedStats` in the binding crate). Keys arrive as ids into
 * `names`, which this store object keeps: each name crosses once. The
 * quantiles come computed by the core, so this only copies.
 */
export function statsFromPacked(names: string[], newNames: string, n: Float64Array): ComputedStats {
  learnNames(names, newNames, n, n[9] as number);
  let at = 10; // after the five totals, the four row counts and the new-name count
  const key = (): string => names[n[at++] as number] as string;
  const table = (rows: number): Record<string, ModelStats> => {
    const out = keyedObject<ModelStats>(rows);
    for (let i = 0; i < rows; i++) {
      const name = key();
      const costMicros = n[at + 4] as number;
      put(out, name, {
        requestCount: n[at] as number,
        failedCount: n[at + 1] as number,
        inputTokens: n[at + 2] as number,
        outputTokens: n[at + 3] as number,
        costMicros,
        costUsd: costMicros / MICROS_PER_USD,
      });
      at += 5;
    }
    return out;
  };
  const quantile = (v: number): number | null => (Number.isNaN(v) ? null : v);
  const histogram = (): LatencyHistogram => {
    const bucketCounts = new Array<number>(HISTOGRAM_NUMBERS - 5);
    for (let b = 0; b < bucketCounts.length; b++) bucketCounts[b] = n[at + 5 + b] as number;
    const h: LatencyHistogram = {
      count: n[at] as number,
      sumSeconds: (n[at + 1] as number) / 1e6,
      bucketCounts,
      p50: quantile(n[at + 2] as number),
      p95: quantile(n[at + 3] as number),
      p99: quantile(n[at + 4] as number),
    };
    at += HISTOGRAM_NUMBERS;
    return h;
  };
  const totalRequests = n[0] as number;
  const failedRequests = n[1] as number;
  const totalInputTokens = n[2] as number;
  const totalOutputTokens = n[3] as number;
  const totalCostMicros = n[4] as number;
  const byModel = table(n[5] as number);
  const byProvider = table(n[6] as number);
  const byAgent = table(n[7] as number);
  const latencyRows = n[8] as number;
  const latencyByModel = keyedObject<ModelLatency>(latencyRows);
  for (let i = 0; i < latencyRows; i++) {
    const name = key();
    const duration = histogram();
    put(latencyByModel, name, { duration, ttft: histogram() });
  }
  const totalTokens = totalInputTokens + totalOutputTokens;
  const totalCostUsd = totalCostMicros / MICROS_PER_USD;
  return {
    totalRequests,
    failedRequests,
    totalInputTokens,
    totalOutputTokens,
    totalTokens,
    totalCostMicros,
    totalCostUsd,
    successRate: totalRequests === 0 ? 1 : (totalRequests - failedRequests) / totalRequests,
    avgCostPerRequestUsd: totalRequests === 0 ? 0 : totalCostUsd / totalRequests,
    avgTokensPerRequest: totalRequests === 0 ? 0 : totalTokens / totalRequests,
    byModel,
    byProvider,
    byAgent,
    latencyByModel,
  };
}

/** One event of the addon's JSON (Protocol 012 field names) → the contract's shape. */
interface WireEvent {
  event_id: string;
  timestamp_ms: number;
  event_type: AnalyticsEvent['eventType'];
  agent_id?: string;
  provider?: string;
  model?: string;
  provider_id?: string;
  input_tokens?: number;
  output_tokens?: number;
  cost_micros?: number;
  error_code?: string;
  error_message?: string;
  threshold_percent?: number;
  current_spend_micros?: number;
  budget_micros?: number;
  port?: number;
  total_requests?: number;
  total_cost_micros?: number;
}

// Plain object literals, not `{ ...base }`: spreading costs ~5 µs per event
// on Node 20, which made 10,000-event snapshots take ~50 ms.
function toEvent(e: WireEvent): AnalyticsEvent {
  switch (e.event_type) {
    case 'llm_request_completed':
      return {
        eventId: e.event_id,
        timestampMs: e.timestamp_ms,
        agentId: e.agent_id ?? null,
        eventType: e.event_type,
        provider: e.provider ?? 'unknown',
        model: e.model ?? '',
        providerId: e.provider_id ?? null,
        inputTokens: e.input_tokens ?? 0,
        outputTokens: e.output_tokens ?? 0,
        costMicros: e.cost_micros ?? 0,
      };
    case 'llm_request_failed':
      return {
        eventId: e.event_id,
        timestampMs: e.timestamp_ms,
        agentId: e.agent_id ?? null,
        eventType: e.event_type,
        provider: e.provider ?? 'unknown',
        model: e.model ?? '',
        providerId: e.provider_id ?? null,
        errorCode: e.error_code ?? null,
        errorMessage: e.error_message ?? null,
      };
    case 'budget_threshold_reached':
      return {
        eventId: e.event_id,
        timestampMs: e.timestamp_ms,
        agentId: e.agent_id ?? null,
        eventType: e.event_type,
        thresholdPercent: e.threshold_percent ?? 0,
        currentSpendMicros: e.current_spend_micros ?? 0,
        budgetMicros: e.budget_micros ?? 0,
      };
    case 'router_started':
      return {
        eventId: e.event_id,
        timestampMs: e.timestamp_ms,
        agentId: e.agent_id ?? null,
        eventType: e.event_type,
        port: e.port ?? 0,
      };
    case 'router_stopped':
      return {
        eventId: e.event_id,
        timestampMs: e.timestamp_ms,
        agentId: e.agent_id ?? null,
        eventType: e.event_type,
        totalRequests: e.total_requests ?? 0,
        totalCostMicros: e.total_cost_micros ?? 0,
      };
  }
}

export function eventsFromJson(text: string): AnalyticsEvent[] {
  return (JSON.parse(text) as WireEvent[]).map(toEvent);
}
