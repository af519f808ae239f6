/**
 * The public shapes of the TypeScript API, shared by the native-backed
 * implementation and the pure-JS fallback so that a program cannot tell them
 * apart except through `implementation` and speed.
 */

import type { PROVIDERS } from './generated/providers.js';
import type { EVENT_TYPES } from './validate.js';

/** Which implementation serves the API in this process. */
export type Implementation = 'native' | 'js';

/** The five kinds of analytics event. Only the two `llm_request_*` kinds are ever synced. */
export type EventType =
  | 'llm_request_completed'
  | 'llm_request_failed'
  | 'budget_threshold_reached'
  | 'router_started'
  | 'router_stopped';

/** Fields every event carries. */
export interface EventBase {
  /** Unique id (a UUID string); the key for idempotent delivery. */
  eventId: string;
  /** Unix time in milliseconds when the event was recorded. */
  timestampMs: number;
  /** The agent the event is attributed to, or `null`. */
  agentId: string | null;
}

/** A completed LLM request. */
export interface LlmCompletedEvent extends EventBase {
  eventType: 'llm_request_completed';
  /** Provider name, e.g. `openai`, `anthropic`, `google`, `unknown`. */
  provider: string;
  /** Model name as recorded. */
  model: string;
  /** Provider key id, e.g. `ip_openai-001`, or `null`. */
  providerId: string | null;
  /** Prompt tokens. */
  inputTokens: number;
  /** Completion tokens. */
  outputTokens: number;
  /** Cost in micro-dollars (1 USD = 1,000,000). */
  costMicros: number;
}

/** A failed LLM request. */
export interface LlmFailedEvent extends EventBase {
  eventType: 'llm_request_failed';
  /** Provider name. */
  provider: string;
  /** Model name as recorded. */
  model: string;
  /** Provider key id, or `null`. */
  providerId: string | null;
  /** Machine-readable error code, e.g. `rate_limit`, or `null`. */
  errorCode: string | null;
  /** Human-readable error message, or `null`. */
  errorMessage: string | null;
}

/** An agent crossed a budget threshold (local only, never synced). */
export interface BudgetThresholdEvent extends EventBase {
  eventType: 'budget_threshold_reached';
  /** The threshold crossed, in percent of the budget. */
  thresholdPercent: number;
  /** Spend so far, micro-dollars. */
  currentSpendMicros: number;
  /** The budget, micro-dollars. */
  budgetMicros: number;
}

/** The router started (local only). */
export interface RouterStartedEvent extends EventBase {
  eventType: 'router_started';
  /** The port it listens on. */
  port: number;
}

/** The router stopped (local only); carries the final totals. */
export interface RouterStoppedEvent extends EventBase {
  eventType: 'router_stopped';
  /** Completed + failed requests recorded over the store's life. */
  totalRequests: number;
  /** Total cost recorded over the store's life, micro-dollars. */
  totalCostMicros: number;
}

/** Any analytics event, as returned to JS (a plain-object copy). */
export type AnalyticsEvent =
  | LlmCompletedEvent
  | LlmFailedEvent
  | BudgetThresholdEvent
  | RouterStartedEvent
  | RouterStoppedEvent;

/** A pre-built event for {@link EventStoreApi.record}: the store assigns the id and timestamp. */
export type EventInput =
  | {
      eventType: 'llm_request_completed';
      provider: string;
      model: string;
      providerId?: string | null;
      inputTokens: number;
      outputTokens: number;
      costMicros: number;
      agentId?: string | null;
    }
  | {
      eventType: 'llm_request_failed';
      provider: string;
      model: string;
      providerId?: string | null;
      errorCode?: string | null;
      errorMessage?: string | null;
      agentId?: string | null;
    }
  | {
      eventType: 'budget_threshold_reached';
      thresholdPercent: number;
      currentSpendMicros: number;
      budgetMicros: number;
      agentId?: string | null;
    }
  | { eventType: 'router_started'; port: number }
  | { eventType: 'router_stopped'; totalRequests: number; totalCostMicros: number };

/** `true` when `A` and `B` are the same union. */
type SameUnion<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compiles only for `true`. */
type Holds<T extends true> = T;
/**
 * `EventType` is validation's `EVENT_TYPES` (whose order the native wrapper
 * checks against the addon's layout at compile time), and every kind has its
 * event and its input above: a kind added in one place only fails to compile
 * here, and once added everywhere, at every `switch` over kinds that does not
 * handle it yet.
 */
type EveryKindCovered = Holds<SameUnion<(typeof EVENT_TYPES)[number], EventType>> &
  Holds<SameUnion<AnalyticsEvent['eventType'], EventType>> &
  Holds<SameUnion<EventInput['eventType'], EventType>>;

/**
 * Aggregates for one model, provider or agent.
 *
 * Token counts follow the normalized usage model: `inputTokens` counts every
 * prompt token processed, cached or not, and `outputTokens` every completion
 * token, reasoning included; the cache and reasoning counts are parts of those.
 */
export interface ModelStats {
  /** Completed + failed requests. */
  requestCount: number;
  /** The failed part of `requestCount`. */
  failedCount: number;
  /** Prompt tokens (cached or not). */
  inputTokens: number;
  /** Completion tokens (reasoning included). */
  outputTokens: number;
  /** Cost, micro-dollars. */
  costMicros: number;
  /** Cost, US dollars (`costMicros / 1e6`). */
  costUsd: number;
  /** The part of `inputTokens` read from the provider's prompt cache. */
  cacheReadTokens: number;
  /** The part of `inputTokens` written to the prompt cache (5-minute and 1-hour writes). */
  cacheWriteTokens: number;
  /** The part of `outputTokens` spent on reasoning. */
  reasoningTokens: number;
  /** Completed requests whose model had no price (they cost 0). */
  unpricedRequests: number;
}

/**
 * A plain-object snapshot of the store's statistics.
 *
 * Each breakdown (`byModel`, `byProvider`, `byAgent`, `latencyByModel`) holds
 * at most the store's cardinality limit of names; requests of names past it
 * are summed in one row keyed {@link CARDINALITY_OVERFLOW_KEY}.
 *
 * Counts are exact integers up to `Number.MAX_SAFE_INTEGER`; a count that
 * would pass it stays at `Number.MAX_SAFE_INTEGER` and `saturated` is `true`
 * (the stores never wrap and never lose precision silently).
 */
export interface ComputedStats {
  /** Completed + failed requests. */
  totalRequests: number;
  /** Failed requests. */
  failedRequests: number;
  /** Prompt tokens over all requests. */
  totalInputTokens: number;
  /** Completion tokens over all requests. */
  totalOutputTokens: number;
  /** `totalInputTokens + totalOutputTokens`. */
  totalTokens: number;
  /** Total cost, micro-dollars. */
  totalCostMicros: number;
  /** Total cost, US dollars. */
  totalCostUsd: number;
  /** The part of `totalInputTokens` read from prompt caches. */
  totalCacheReadTokens: number;
  /** The part of `totalInputTokens` written to prompt caches. */
  totalCacheWriteTokens: number;
  /** The part of `totalOutputTokens` spent on reasoning. */
  totalReasoningTokens: number;
  /** Completed requests whose model had no price in the table used (they cost 0). */
  unpricedRequests: number;
  /** Whether some count reached `Number.MAX_SAFE_INTEGER` and stopped there. */
  saturated: boolean;
  /** Completed / total, a fraction 0..1 (1 when there are no requests). */
  successRate: number;
  /** Total cost / total requests, US dollars (0 when there are no requests). */
  avgCostPerRequestUsd: number;
  /** Total tokens / total requests (0 when there are no requests). */
  avgTokensPerRequest: number;
  /** Per model name. */
  byModel: Record<string, ModelStats>;
  /** Per provider name (`openai`, `anthropic`, `google`, …, `unknown`). */
  byProvider: Record<string, ModelStats>;
  /** Per agent id (requests without an agent are not listed). */
  byAgent: Record<string, ModelStats>;
  /** Latency histograms per model (only models recorded with a latency are listed). */
  latencyByModel: Record<string, ModelLatency>;
}

/**
 * The buffer's accounting, read at one consistent instant:
 * `recorded + replayed === buffered + drained + synced + rejected + dropped + evicted`.
 * `lost` counts records the store accepted but could not record (they are
 * outside the identity, never silent: `lostReason` says why).
 */
export interface Accounting {
  /** Events offered to the buffer since the store was created. */
  recorded: number;
  /** Events in the buffer now. */
  buffered: number;
  /** Events removed by `drainAll()`. */
  drained: number;
  /** Events removed by `markSynced()` (delivered). */
  synced: number;
  /** Events removed by `markRejected()` (the server will never accept them). */
  rejected: number;
  /** LLM events refused because the buffer was full of LLM events. */
  dropped: number;
  /** Local events (lifecycle, budget) pushed out, oldest first, to make room. */
  evicted: number;
  /** Records accepted but never recorded (the native binding could not hand them over). */
  lost: number;
  /** Why records were last lost, or `null`. */
  lostReason: string | null;
  /**
   * Events recorded elsewhere and taken back from a sync spool at start (not
   * counted in the statistics again); those that found no room are in
   * `dropped`. The identity: `recorded + replayed = buffered + drained +
   * synced + rejected + dropped + evicted`.
   */
  replayed: number;
}

/** Price of one model. */
export interface ModelPricing {
  /** Model name as in the table. */
  model: string;
  /** Micro-dollars per million prompt tokens not read from or written to a cache ($30/M = 30_000_000). */
  inputMicrosPerMillionTokens: number;
  /** Micro-dollars per million completion tokens, reasoning included. */
  outputMicrosPerMillionTokens: number;
  /** Micro-dollars per million prompt tokens read from the cache; `null` if unpublished (charged at the input price). */
  cacheReadMicrosPerMillionTokens: number | null;
  /** Micro-dollars per million prompt tokens written to a 5-minute cache; `null` if unpublished (input price). */
  cacheWriteMicrosPerMillionTokens: number | null;
  /** Micro-dollars per million prompt tokens written to a 1-hour cache; `null` if unpublished (input price). */
  cacheWrite1hMicrosPerMillionTokens: number | null;
  /**
   * Higher prices for the whole request once its prompt (cached tokens
   * included) is longer than `thresholdTokens`; `null` if the model has none.
   */
  longContext: {
    thresholdTokens: number;
    inputMicrosPerMillionTokens: number;
    outputMicrosPerMillionTokens: number;
    cacheReadMicrosPerMillionTokens: number | null;
    cacheWriteMicrosPerMillionTokens: number | null;
    cacheWrite1hMicrosPerMillionTokens: number | null;
  } | null;
}

/**
 * The provider names {@link inferProvider} can return (stats may hold other
 * names given explicitly): `openai`, `anthropic`, `google`, `mistral`,
 * `deepseek`, `xai`, `unknown`, from the one list of providers.
 */
export type ProviderName = (typeof PROVIDERS)[keyof typeof PROVIDERS];

/**
 * Details of a completed request, the optional last argument of
 * `recordLlmCompleted`: its latency and the parts of its token counts. Every
 * field may be absent (or `null`). The parts are parts of the counts given
 * to `recordLlmCompleted`: cache reads and writes add up to at most
 * `inputTokens`, reasoning to at most `outputTokens`; more is a `RangeError`.
 */
export interface RecordDetails {
  /** Wall time of the whole request, milliseconds. */
  durationMs?: number | null;
  /** Time to the first token (streamed responses), milliseconds. */
  ttftMs?: number | null;
  /** Prompt tokens read from the provider's cache (OpenAI `cached_tokens`, Anthropic `cache_read_input_tokens`). */
  cacheReadTokens?: number | null;
  /** Prompt tokens written to the cache for 5 minutes (Anthropic `cache_creation_input_tokens`). */
  cacheWriteTokens?: number | null;
  /** Prompt tokens written to the cache for 1 hour (Anthropic `cache_creation.ephemeral_1h_input_tokens`). */
  cacheWrite1hTokens?: number | null;
  /** Completion tokens spent on reasoning (OpenAI `reasoning_tokens`, Anthropic thinking). */
  reasoningTokens?: number | null;
  /**
   * The model the request asked for (`gen_ai.request.model`), when the
   * recorded model is the one that answered (`gen_ai.response.model`, which
   * prices the request). Without it the recorded model is both.
   */
  requestModel?: string | null;
  /** The GenAI operation (`gen_ai.operation.name`): `chat` (the default), `text_completion`, `embeddings`, `generate_content`, … */
  operation?: string | null;
}

/**
 * Details of a failed request, the optional last argument of
 * `recordLlmFailed`: every field may be absent (or `null`).
 */
export interface FailureDetails {
  /** Wall time until the request failed, milliseconds (it counts in `gen_ai.client.operation.duration` with its `error.type`). */
  durationMs?: number | null;
  /** The model the request asked for, when the recorded model is another (the one that failed). */
  requestModel?: string | null;
  /** The GenAI operation (`gen_ai.operation.name`), `chat` by default. */
  operation?: string | null;
}

/** The former name of {@link RecordDetails} (latency only), kept for existing callers. */
export type LatencyInput = RecordDetails;

/** Options of `store.recordUsage(pricing, usage, options)`. */
export interface RecordUsageOptions {
  /**
   * The model the request asked for: `gen_ai.request.model` of the request's
   * series, and the model recorded when the answer names none (else the
   * answer's model is recorded and prices the request).
   */
  requestModel?: string | null;
  /** The agent that made the request. */
  agentId?: string | null;
  /** The provider key (credential) id the request used. */
  providerId?: string | null;
  /** Wall time of the whole request, milliseconds. */
  durationMs?: number | null;
  /** Time to the first token, milliseconds. */
  ttftMs?: number | null;
  /** The GenAI operation (`gen_ai.operation.name`), `chat` by default. */
  operation?: string | null;
}

/**
 * Token usage of one request, normalized across providers (what
 * `usageFromResponse` and `SseUsageAccumulator` return): `inputTokens` counts
 * every prompt token processed, cached or not, `outputTokens` every
 * completion token, reasoning included; the other counts are parts of those.
 */
export interface Usage {
  /** The model the provider reports, or `null`. */
  model: string | null;
  /** Every prompt token processed, cached or not. */
  inputTokens: number;
  /** Every completion token, reasoning included. */
  outputTokens: number;
  /** The part of `inputTokens` read from the cache. */
  cacheReadTokens: number;
  /** The part of `inputTokens` written to the cache for 5 minutes. */
  cacheWriteTokens: number;
  /** The part of `inputTokens` written to the cache for 1 hour (Anthropic). */
  cacheWrite1hTokens: number;
  /** The part of `outputTokens` spent on reasoning. */
  reasoningTokens: number;
  /** An error the provider reported inside a 200 answer or a stream, or `null`. */
  error: { code: string; message: string } | null;
}

/** Options of `new EventStore(options)`. */
export interface EventStoreOptions {
  /** The most events the outbox holds (default 10,000; 1 to 100,000,000). */
  capacity?: number;
  /**
   * The most distinct names each stats breakdown (model, provider, agent)
   * keeps before summing the rest in the overflow row (default 2,000; 1 to
   * 1,000,000). Bounds memory whatever names callers send.
   */
  cardinalityLimit?: number;
}

/**
 * The receiving end of a store's event stream (`EventStore.withStreaming`).
 * Iterate it with `for await`; breaking out of the loop closes it.
 */
export interface EventReceiver extends AsyncIterable<AnalyticsEvent> {
  /** The next event; resolves to `null` once closed and drained. */
  recv(): Promise<AnalyticsEvent | null>;
  /** The next queued event, or `null` if none is queued right now. */
  tryRecv(): AnalyticsEvent | null;
  /** Stops the stream: queued events are still delivered, then iteration ends. */
  close(): void;
  /** Events not queued because the channel was full. */
  droppedCount(): number;
}

/** A latency histogram with the OpenTelemetry GenAI buckets (see `LATENCY_BUCKETS_SECONDS`). */
export interface LatencyHistogram {
  /** Observations. */
  count: number;
  /** Sum of all observations, seconds. */
  sumSeconds: number;
  /** Observations per bucket (not cumulative), one per bound then `+Inf`. */
  bucketCounts: number[];
  /** Median estimate in seconds (`null` without observations). */
  p50: number | null;
  /** 95th percentile estimate in seconds. */
  p95: number | null;
  /** 99th percentile estimate in seconds. */
  p99: number | null;
}

/** Request duration and time to first token of one model. */
export interface ModelLatency {
  /** Whole-request duration (`gen_ai.client.operation.duration`). */
  duration: LatencyHistogram;
  /** Time to the first token of streamed responses. */
  ttft: LatencyHistogram;
}
