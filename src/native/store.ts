/**
 * The native `EventStore`: arguments are validated with the same functions
 * as the fallback (so errors are identical), records are written into the
 * addon's batch memory (names as key indices, see writer.ts), and readings
 * are decoded from the addon's packed form (packed.ts).
 */
import type {
  Accounting,
  AnalyticsEvent,
  ComputedStats,
  EventInput,
  EventReceiver,
  EventStoreOptions,
  FailureDetails,
  RecordDetails,
  RecordUsageOptions,
  Usage,
} from '../shared/types.js';
import type { EventStoreApi, PricingManagerApi } from '../shared/api.js';
import {
  DEFAULT_CAPACITY,
  DEFAULT_CARDINALITY_LIMIT,
  boundedMessage,
  checkBudgetThresholdArgs,
  checkCapacity,
  checkCount,
  checkEventInput,
  checkIdList,
  checkInstance,
  checkLlmCompletedArgs,
  checkLlmCompletedWithProviderArgs,
  checkLlmFailedArgs,
  checkPort,
  checkSharedArgs,
  checkStoreOptions,
  checkStreamingArgs,
} from '../shared/validate.js';
import { recordUsageOn } from '../shared/record-usage.js';
import { createMetricProducer, type StoreMetricProducer } from '../shared/otel.js';
import { conventionsFromEnv } from '../shared/series.js';
import type { NativeStoreHandle } from './loader.js';
import { addon } from './addon.js';
import { flushPending, schedule, unschedule } from './batch.js';
import {
  RECORD_AGENT,
  RECORD_CACHE_READ_TOKENS,
  RECORD_CACHE_WRITE1H_TOKENS,
  RECORD_CACHE_WRITE_TOKENS,
  RECORD_DURATION_MS,
  RECORD_ERROR_CODE,
  RECORD_INPUT_TOKENS,
  RECORD_KIND,
  RECORD_KIND_COMPLETED,
  RECORD_KIND_FAILED,
  RECORD_MESSAGE,
  RECORD_MODEL,
  RECORD_OPERATION,
  RECORD_OUTPUT_TOKENS,
  RECORD_PRICING,
  RECORD_PROVIDER_ID,
  RECORD_REASONING_TOKENS,
  RECORD_REQUEST_MODEL,
  RECORD_TTFT_MS,
} from './generated/layout.js';
import { StatsNames, eventsFromPacked, seriesFromPacked, statsFromPacked } from './packed.js';
import { handle, isPricing } from './pricing.js';
import { NativeReceiver } from './receiver.js';
import { KeyCache, RecordWriter } from './writer.js';
import { relayWarnings } from './warnings.js';

const HANDLE_TOKEN = Symbol('native store handle');
/** `nameKey` kinds. */
const AGENT = 0;
const LABEL = 1;

export class EventStore implements EventStoreApi {
  readonly #n: NativeStoreHandle;
  readonly #writer: RecordWriter;
  readonly #models: KeyCache;
  readonly #agents: KeyCache;
  /** Provider ids and error codes. */
  readonly #labels: KeyCache;
  readonly #statNames = new StatsNames();
  readonly #pricings = new WeakMap<object, number>();
  #lastPricing: PricingManagerApi | null = null;
  #lastPricingIndex = -1;
  /** Records this object could not hand to the addon at all (a flush that threw). */
  #lost = 0;
  #lostReason: string | null = null;
  readonly #askModel: (name: string) => number;
  readonly #askAgent: (name: string) => number;
  readonly #askLabel: (name: string) => number;

  /**
   * A store with room for `options.capacity` events (default 10,000) keeping
   * `options.cardinalityLimit` names per stats breakdown (default 2,000).
   */
  constructor(options?: EventStoreOptions) {
    // The factories below hand in an addon handle through a module-private token.
    const args = arguments as unknown as unknown[];
    if (args[0] === HANDLE_TOKEN) {
      this.#n = args[1] as NativeStoreHandle;
    } else {
      const { capacity, cardinalityLimit } = checkStoreOptions(options);
      this.#n = new (addon().NativeStore)(capacity, cardinalityLimit);
    }
    const n = this.#n;
    const limit = n.cardinalityLimit;
    this.#writer = new RecordWriter(n);
    this.#models = new KeyCache(limit);
    this.#agents = new KeyCache(limit);
    this.#labels = new KeyCache(limit);
    this.#askModel = (name) => n.modelKey(name);
    this.#askAgent = (name) => n.nameKey(AGENT, name);
    this.#askLabel = (name) => n.nameKey(LABEL, name);
    registerStore(this);
  }

  static #wrap(handle: NativeStoreHandle): EventStore {
    return new (EventStore as unknown as new (token: symbol, handle: NativeStoreHandle) => EventStore)(
      HANDLE_TOKEN,
      handle,
    );
  }

  static withCapacity(capacity: number): EventStore {
    checkCapacity(capacity, 'capacity');
    return EventStore.#wrap(new (addon().NativeStore)(capacity, DEFAULT_CARDINALITY_LIMIT));
  }

  static withStreaming(capacity: number, channelSize: number): [EventStore, EventReceiver] {
    checkStreamingArgs(capacity, channelSize);
    const handle = new (addon().NativeStore)(capacity, DEFAULT_CARDINALITY_LIMIT, channelSize);
    return [EventStore.#wrap(handle), new NativeReceiver(handle, channelSize)];
  }

  /** The process-wide store `name`: the same in the main thread and every worker. */
  static shared(name: string, capacity: number = DEFAULT_CAPACITY): EventStore {
    checkSharedArgs(name, capacity);
    return EventStore.#wrap(addon().NativeStore.shared(name, capacity, DEFAULT_CARDINALITY_LIMIT));
  }

  /** Hands buffered records to the addon now (reads do this themselves). */
  flush(): void {
    const count = this.#writer.pending;
    if (count === 0) return;
    unschedule(this);
    try {
      // The core warns once per unpriced model, from this call.
      if (this.#writer.flush() > 0) relayWarnings();
    } catch (e) {
      // The addon answers every bad record by counting it; a flush that
      // throws lost the whole batch: counted here, never silently.
      this.#lost += count;
      this.#lostReason = `a batch the addon could not take: ${(e as Error).message}`;
    }
  }

  #pricingIndex(pricing: PricingManagerApi): number {
    let index = this.#pricings.get(pricing);
    if (index === undefined) {
      index = this.#n.registerPricing(handle(pricing));
      this.#pricings.set(pricing, index);
    }
    this.#lastPricing = pricing;
    this.#lastPricingIndex = index;
    return index;
  }

  /** The slot value of an optional name: a key index, -1 absent, or written inline. */
  #nameSlot(cache: KeyCache, ask: (name: string) => number, name: string | null | undefined): number {
    if (name == null) return -1;
    const key = cache.key(name, ask);
    return key >= 0 ? key : this.#writer.inlineName(name);
  }

  /** Makes room for a record whose strings may take `units` UTF-16 units inline. */
  #reserve(units: number): void {
    if (!this.#writer.hasRoom(units)) this.flush();
  }

  /** The record at `at` is written: hand the batch over when full, else schedule. */
  #commit(): void {
    if (this.#writer.commit()) this.flush();
    else if (this.#writer.pending === 1) schedule(this);
  }

  recordLlmCompleted(
    pricing: PricingManagerApi,
    model: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
    details?: RecordDetails | null,
  ): void {
    // The same table as last time (the usual case) needs no WeakMap lookups.
    const samePricing = pricing === this.#lastPricing;
    if (!samePricing) checkInstance(pricing, isPricing, 'pricing', 'PricingManager');
    checkLlmCompletedArgs(model, inputTokens, outputTokens, agentId, providerId, details);
    const pricingIndex = samePricing ? this.#lastPricingIndex : this.#pricingIndex(pricing);
    this.#reserve(
      model.length + (agentId?.length ?? 0) + (providerId?.length ?? 0) + (details?.requestModel?.length ?? 0) + (details?.operation?.length ?? 0),
    );
    const w = this.#writer;
    const f = w.slots;
    const at = w.next();
    f[at + RECORD_KIND] = RECORD_KIND_COMPLETED;
    f[at + RECORD_PRICING] = pricingIndex;
    f[at + RECORD_MODEL] = this.#nameSlot(this.#models, this.#askModel, model);
    f[at + RECORD_INPUT_TOKENS] = inputTokens;
    f[at + RECORD_OUTPUT_TOKENS] = outputTokens;
    f[at + RECORD_AGENT] = this.#nameSlot(this.#agents, this.#askAgent, agentId);
    f[at + RECORD_PROVIDER_ID] = this.#nameSlot(this.#labels, this.#askLabel, providerId);
    f[at + RECORD_ERROR_CODE] = -1;
    f[at + RECORD_MESSAGE] = -1;
    if (details == null) {
      f[at + RECORD_CACHE_READ_TOKENS] = 0;
      f[at + RECORD_CACHE_WRITE_TOKENS] = 0;
      f[at + RECORD_CACHE_WRITE1H_TOKENS] = 0;
      f[at + RECORD_REASONING_TOKENS] = 0;
      f[at + RECORD_DURATION_MS] = -1;
      f[at + RECORD_TTFT_MS] = -1;
      f[at + RECORD_REQUEST_MODEL] = -1;
      f[at + RECORD_OPERATION] = -1;
    } else {
      f[at + RECORD_CACHE_READ_TOKENS] = details.cacheReadTokens ?? 0;
      f[at + RECORD_CACHE_WRITE_TOKENS] = details.cacheWriteTokens ?? 0;
      f[at + RECORD_CACHE_WRITE1H_TOKENS] = details.cacheWrite1hTokens ?? 0;
      f[at + RECORD_REASONING_TOKENS] = details.reasoningTokens ?? 0;
      f[at + RECORD_DURATION_MS] = details.durationMs ?? -1;
      f[at + RECORD_TTFT_MS] = details.ttftMs ?? -1;
      this.#seriesSlots(at, details);
    }
    this.#commit();
  }

  /** The request model and operation slots, written after every other inline string of the record. */
  #seriesSlots(at: number, names: { requestModel?: string | null; operation?: string | null }): void {
    const f = this.#writer.slots;
    f[at + RECORD_REQUEST_MODEL] = this.#nameSlot(this.#models, this.#askModel, names.requestModel);
    f[at + RECORD_OPERATION] = this.#nameSlot(this.#labels, this.#askLabel, names.operation);
  }

  recordUsage(pricing: PricingManagerApi, usage: Usage, options?: RecordUsageOptions | null): void {
    recordUsageOn(this, pricing, usage, options);
  }

  recordLlmCompletedWithProvider(
    pricing: PricingManagerApi,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
  ): void {
    flushPending();
    checkInstance(pricing, isPricing, 'pricing', 'PricingManager');
    checkLlmCompletedWithProviderArgs(model, provider, inputTokens, outputTokens, agentId, providerId);
    this.#n.recordCompletedWithProvider(
      handle(pricing),
      model,
      provider,
      inputTokens,
      outputTokens,
      agentId ?? null,
      providerId ?? null,
    );
  }

  recordLlmFailed(
    model: string,
    agentId?: string | null,
    providerId?: string | null,
    errorCode?: string | null,
    errorMessage?: string | null,
    details?: FailureDetails | null,
  ): void {
    checkLlmFailedArgs(model, agentId, providerId, errorCode, errorMessage, details);
    // Cut before it crosses: a 10 MB message takes 2,048 characters of room.
    const message = errorMessage == null ? null : boundedMessage(errorMessage);
    this.#reserve(
      model.length + (agentId?.length ?? 0) + (providerId?.length ?? 0) + (errorCode?.length ?? 0) + (message?.length ?? 0) +
        (details?.requestModel?.length ?? 0) + (details?.operation?.length ?? 0),
    );
    const w = this.#writer;
    const f = w.slots;
    const at = w.next();
    f[at + RECORD_KIND] = RECORD_KIND_FAILED;
    f[at + RECORD_PRICING] = -1;
    // Inline strings go in field order: model, agent, provider id, code, message, request model, operation.
    f[at + RECORD_MODEL] = this.#nameSlot(this.#models, this.#askModel, model);
    f[at + RECORD_AGENT] = this.#nameSlot(this.#agents, this.#askAgent, agentId);
    f[at + RECORD_PROVIDER_ID] = this.#nameSlot(this.#labels, this.#askLabel, providerId);
    f[at + RECORD_ERROR_CODE] = this.#nameSlot(this.#labels, this.#askLabel, errorCode);
    f[at + RECORD_MESSAGE] = message === null ? -1 : w.message(message);
    f[at + RECORD_INPUT_TOKENS] = 0;
    f[at + RECORD_OUTPUT_TOKENS] = 0;
    f[at + RECORD_CACHE_READ_TOKENS] = 0;
    f[at + RECORD_CACHE_WRITE_TOKENS] = 0;
    f[at + RECORD_CACHE_WRITE1H_TOKENS] = 0;
    f[at + RECORD_REASONING_TOKENS] = 0;
    f[at + RECORD_DURATION_MS] = details?.durationMs ?? -1;
    f[at + RECORD_TTFT_MS] = -1;
    this.#seriesSlots(at, details ?? {});
    this.#commit();
  }

  recordBudgetThreshold(
    thresholdPercent: number,
    currentSpendMicros: number,
    budgetMicros: number,
    agentId?: string | null,
  ): void {
    flushPending();
    checkBudgetThresholdArgs(thresholdPercent, currentSpendMicros, budgetMicros, agentId);
    this.#n.recordBudgetThreshold(thresholdPercent, currentSpendMicros, budgetMicros, agentId ?? null);
  }

  recordRouterStarted(port: number): void {
    flushPending();
    checkPort(port);
    this.#n.recordRouterStarted(port);
  }

  recordRouterStopped(): void {
    flushPending();
    this.#n.recordRouterStopped();
  }

  record(input: EventInput): void {
    flushPending();
    checkEventInput(input);
    switch (input.eventType) {
      case 'llm_request_completed':
        this.#n.recordCompletedRaw(
          input.provider,
          input.model,
          input.providerId ?? null,
          input.inputTokens,
          input.outputTokens,
          input.costMicros,
          input.agentId ?? null,
        );
        return;
      case 'llm_request_failed':
        this.#n.recordFailedRaw(
          input.provider,
          input.model,
          input.providerId ?? null,
          input.errorCode ?? null,
          input.errorMessage == null ? null : boundedMessage(input.errorMessage),
          input.agentId ?? null,
        );
        return;
      case 'budget_threshold_reached':
        this.#n.recordBudgetThreshold(
          input.thresholdPercent,
          input.currentSpendMicros,
          input.budgetMicros,
          input.agentId ?? null,
        );
        return;
      case 'router_started':
        this.#n.recordRouterStarted(input.port);
        return;
      case 'router_stopped':
        this.#n.recordRouterStoppedTotals(input.totalRequests, input.totalCostMicros);
        return;
      default:
        // A kind added to EVENT_TYPES and not handled here fails to compile.
        input satisfies never;
    }
  }

  markSynced(ids: string[]): number {
    flushPending();
    checkIdList(ids);
    return this.#n.markSynced(ids);
  }

  markRejected(ids: string[]): number {
    flushPending();
    checkIdList(ids);
    return this.#n.markRejected(ids);
  }

  drainAll(): AnalyticsEvent[] {
    flushPending();
    return eventsFromPacked(this.#n.drainPacked());
  }

  snapshotEvents(): AnalyticsEvent[] {
    flushPending();
    return eventsFromPacked(this.#n.snapshotPacked());
  }

  unsyncedEvents(limit?: number): AnalyticsEvent[] {
    if (limit !== undefined) checkCount(limit, 'limit');
    flushPending();
    return eventsFromPacked(this.#n.unsyncedPacked(limit));
  }

  unsyncedCount(): number {
    flushPending();
    return this.#n.unsyncedCount();
  }

  len(): number {
    flushPending();
    return this.#n.len();
  }

  isEmpty(): boolean {
    flushPending();
    return this.#n.len() === 0;
  }

  droppedCount(): number {
    return this.accounting().dropped;
  }

  evictedCount(): number {
    return this.accounting().evicted;
  }

  accounting(): Accounting {
    flushPending();
    const a = this.#n.accounting();
    return {
      recorded: a.recorded,
      buffered: a.buffered,
      drained: a.drained,
      synced: a.synced,
      rejected: a.rejected,
      dropped: a.dropped,
      evicted: a.evicted,
      replayed: a.replayed,
      lost: a.lost + this.#lost,
      lostReason: this.#lostReason ?? this.#n.lostReason() ?? null,
    };
  }

  stats(): ComputedStats {
    flushPending();
    return statsFromPacked(this.#statNames, this.#n.statsPacked(this.#statNames.known()));
  }

  /** Prometheus text exposition of the GenAI series and the outbox counters, rendered by the core. */
  prometheus(): string {
    flushPending();
    return this.#n.prometheus(conventionsFromEnv() === 'latest-experimental');
  }

  /** The same metrics as an OpenTelemetry `MetricProducer`, cumulative since the core store was made. */
  metricProducer(): StoreMetricProducer {
    return createMetricProducer(() => {
      flushPending();
      return { ...seriesFromPacked(this.#n.seriesPacked()), accounting: this.accounting(), unsynced: this.#n.unsyncedCount() };
    });
  }

  /** @internal The addon handle, for the native sync client. */
  get nativeHandle(): NativeStoreHandle {
    return this.#n;
  }
}

const nativeStores = new WeakMap<object, NativeStoreHandle>();
/** The addon store behind a native `EventStore`, or a `TypeError`. */
export const storeHandle = (store: unknown): NativeStoreHandle => {
  const h = typeof store === 'object' && store !== null ? nativeStores.get(store) : undefined;
  if (h === undefined) throw new TypeError('store must be an EventStore of the native implementation');
  return h;
};
const registerStore = (store: EventStore) => nativeStores.set(store, store.nativeHandle);
