/**
 * The contract: one interface per public class, which the native-backed
 * classes (`src/native/`) and the pure-JS ones (`src/js/`) both
 * `implement`, and one interface per class's static side, which each
 * implementation's class value must satisfy. The compiler checks both
 * implementations against these; `src/index.ts` exports whichever loaded,
 * typed by these interfaces, with no cast between them.
 */
import type {
  Accounting,
  AnalyticsEvent,
  ComputedStats,
  EventInput,
  EventReceiver,
  EventStoreOptions,
  FailureDetails,
  ModelPricing,
  RecordDetails,
  RecordUsageOptions,
  Usage,
} from './types.js';
import type { StoreMetricProducer } from './otel.js';
import type { SyncConfig } from './sync/config.js';
import type { SyncClientApi } from './sync/types.js';

/** A price table: the embedded one, or one loaded from LiteLLM's JSON. */
export interface PricingManagerApi {
  /** Number of models in the table. */
  readonly size: number;
  /** The date (`YYYY-MM-DD`) the embedded table was generated from LiteLLM; `null` for a loaded table. */
  readonly checkedOn: string | null;
  /** The prices of a model (cache prices and long-context tier included), or `null` if the table does not know it. */
  get(model: string): ModelPricing | null;
  /**
   * The cost in micro-dollars of a request with these totals and no cached
   * tokens (the long-context tier applies above its threshold), or `null`
   * for an unknown model.
   */
  costMicros(model: string, inputTokens: number, outputTokens: number): number | null;
}

/** The static side of `PricingManager`. */
export interface PricingManagerClass {
  /** The price table embedded in the package. */
  new (): PricingManagerApi;
  /** A table in LiteLLM's `model_prices_and_context_window.json` format. */
  fromLitellmJson(text: string): PricingManagerApi;
}

/**
 * The bounded outbox of analytics events with running statistics.
 *
 * Every record method returns nothing: the native implementation batches
 * records and cannot know an id or a drop at call time. The ids are in
 * `snapshotEvents()` / `unsyncedEvents()`, drops in `accounting()`.
 */
export interface EventStoreApi {
  /**
   * Records a completed LLM request: provider inferred from the model name,
   * cost from `pricing` over the token counts and their parts (0, counted
   * in `unpricedRequests` and warned about once, for a model it does not
   * know), the latency, if given, in the model's histograms.
   * `inputTokens` counts every prompt token, cached or not; `outputTokens`
   * every completion token, reasoning included; `details` gives the parts.
   */
  recordLlmCompleted(
    pricing: PricingManagerApi,
    model: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
    details?: RecordDetails | null,
  ): void;
  /**
   * Records a request from a toolkit `Usage` as it is: a failure when
   * `usage.error` is set, else a completed request with every part. The
   * model is `usage.model`, or `options.requestModel` when the answer named none.
   */
  recordUsage(pricing: PricingManagerApi, usage: Usage, options?: RecordUsageOptions | null): void;
  /** Records a completed LLM request with an explicit provider name. */
  recordLlmCompletedWithProvider(
    pricing: PricingManagerApi,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
  ): void;
  /**
   * Records a failed LLM request; provider inferred from the model name.
   * `details` gives its duration (counted in its series' duration histogram
   * with `error.type` = `errorCode`, or `_OTHER`), the model asked for and
   * the operation.
   */
  recordLlmFailed(
    model: string,
    agentId?: string | null,
    providerId?: string | null,
    errorCode?: string | null,
    errorMessage?: string | null,
    details?: FailureDetails | null,
  ): void;
  /** Records that an agent's spend crossed a budget threshold (a local event). */
  recordBudgetThreshold(
    thresholdPercent: number,
    currentSpendMicros: number,
    budgetMicros: number,
    agentId?: string | null,
  ): void;
  /** Records that the router started listening on `port` (a local event). */
  recordRouterStarted(port: number): void;
  /** Records that the router stopped, with the store's totals at this moment (a local event). */
  recordRouterStopped(): void;
  /** Records a pre-built event; the store assigns its id and timestamp. */
  record(input: EventInput): void;

  /** Removes the buffered LLM events with these ids as delivered; returns how many were removed. */
  markSynced(ids: string[]): number;
  /** Removes the buffered LLM events with these ids as rejected by the server; returns how many. */
  markRejected(ids: string[]): number;
  /** Removes and returns every buffered event, oldest first. */
  drainAll(): AnalyticsEvent[];
  /** Copies of every buffered event, oldest first; the buffer is unchanged. */
  snapshotEvents(): AnalyticsEvent[];
  /** Copies of the buffered LLM events waiting to be sent, oldest first (at most `limit`). */
  unsyncedEvents(limit?: number): AnalyticsEvent[];
  /** Number of buffered LLM events waiting to be sent. */
  unsyncedCount(): number;
  /** Number of buffered events of every kind. */
  len(): number;
  /** Whether the buffer holds no event. */
  isEmpty(): boolean;
  /** LLM events not buffered because the buffer was full of LLM events. */
  droppedCount(): number;
  /** Local events pushed out of (or kept out of) the full buffer. */
  evictedCount(): number;
  /** The buffer's accounting, read at one consistent instant. */
  accounting(): Accounting;
  /** A plain-object snapshot of the statistics of every LLM request recorded. */
  stats(): ComputedStats;
  /**
   * The GenAI series and the outbox counters in the Prometheus text format,
   * on the OpenTelemetry GenAI conventions v1.36.0, or the latest
   * experimental ones when `OTEL_SEMCONV_STABILITY_OPT_IN` lists
   * `gen_ai_latest_experimental`.
   */
  prometheus(): string;
  /**
   * The same metrics as an OpenTelemetry `MetricProducer`
   * (`@opentelemetry/sdk-metrics`, an optional peer dependency never loaded
   * here): pass it in a `PeriodicExportingMetricReader`'s
   * `metricProducers` to export over OTLP. Cumulative, histograms with their
   * buckets, started when the store was made.
   */
  metricProducer(): StoreMetricProducer;
}

/** The static side of `EventStore`. */
export interface EventStoreClass {
  /**
   * A store with room for `options.capacity` events (default 10,000) keeping
   * `options.cardinalityLimit` names per stats breakdown (default 2,000).
   * Any other argument is a `TypeError`.
   */
  new (options?: EventStoreOptions): EventStoreApi;
  /** A store with room for `capacity` events (1..100,000,000). */
  withCapacity(capacity: number): EventStoreApi;
  /** A store whose every recorded event is also offered to a bounded channel, and the channel's receiver. */
  withStreaming(capacity: number, channelSize: number): [EventStoreApi, EventReceiver];
  /** The process-wide store `name`, the same in every worker_thread (native addon only). */
  shared(name: string, capacity?: number): EventStoreApi;
}

/** The static side of `SyncClient`. */
export interface SyncClientClass {
  /** A client delivering `store`'s LLM events as `config` says. */
  new (store: EventStoreApi, config: SyncConfig): SyncClientApi;
}

/** One implementation of the whole API (native or pure JS), as `src/index.ts` picks it. */
export interface Backend {
  EventStore: EventStoreClass;
  PricingManager: PricingManagerClass;
  SyncClient: SyncClientClass;
  inferProvider(model: string): string;
}
