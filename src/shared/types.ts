/**
 * The public shapes of the TypeScript API, shared by the native-backed
 * implementation and the pure-JS fallback so that a program cannot tell them
 * apart except through `implementation` and speed.
 */

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

/** Aggregates for one model, provider or agent. */
export interface ModelStats {
  /** Completed + failed requests. */
  requestCount: number;
  /** The failed part of `requestCount`. */
  failedCount: number;
  /** Prompt tokens. */
  inputTokens: number;
  /** Completion tokens. */
  outputTokens: number;
  /** Cost, micro-dollars. */
  costMicros: number;
  /** Cost, US dollars (`costMicros / 1e6`). */
  costUsd: number;
}

/** A plain-object snapshot of the store's statistics. */
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
  /** Micro-dollars per million prompt tokens ($30/M = 30_000_000). */
  inputMicrosPerMillionTokens: number;
  /** Micro-dollars per million completion tokens. */
  outputMicrosPerMillionTokens: number;
}

/** The provider names {@link inferProvider} can return (stats may hold other names given explicitly). */
export type ProviderName =
  | 'openai'
  | 'anthropic'
  | 'google'
  | 'mistral'
  | 'deepseek'
  | 'xai'
  | 'unknown';

/**
 * Latency of a completed request, the optional last argument of
 * `recordLlmCompleted`. Reserved: validated when given (each field absent or a
 * non-negative finite number), not yet recorded.
 */
export interface LatencyInput {
  /** Wall time of the whole request, milliseconds. */
  durationMs?: number | null;
  /** Time to the first token, milliseconds. */
  ttftMs?: number | null;
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
