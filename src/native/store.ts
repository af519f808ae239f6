/**
 * The native `EventStore`: arguments are validated with the same functions
 * as the fallback (so errors are identical), strings are interned to small
 * integers once per store object (so the hot path passes numbers only), and
 * readings are decoded from the addon's packed form.
 */
import type {
  Accounting,
  AnalyticsEvent,
  ComputedStats,
  EventInput,
  EventReceiver,
  LatencyInput,
} from '../shared/types.js';
import type { EventStoreApi, PricingManagerApi } from '../shared/api.js';
import {
  DEFAULT_CAPACITY,
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
  checkStreamingArgs,
} from '../shared/validate.js';
import { renderPrometheus } from '../shared/prometheus.js';
import type { NativeStoreHandle } from './loader.js';
import { addon } from './addon.js';
import { BATCH_RECORDS, BATCH_STRIDE, flushPending, schedule, unschedule } from './batch.js';
import { eventsFromPacked, statsFromPacked } from './packed.js';
import { handle, isPricing } from './pricing.js';
import { NativeReceiver } from './receiver.js';

const HANDLE_TOKEN = Symbol('native store handle');

export class EventStore implements EventStoreApi {
  #n: NativeStoreHandle;
  /** Names (models, providers, agents, ids, codes) by the id the addon gives them (see `learnNames`). */
  readonly #names: string[] = [];
  #models = new Map<string, number>();
  #agents = new Map<string, number>();
  #providerIds = new Map<string, number>();
  #pricings = new WeakMap<object, number>();
  #lastPricing: PricingManagerApi | null = null;
  #lastPricingIndex = -1;
  // The hot path: completed and failed requests are packed here and
  // handed to the addon in one call per BATCH_RECORDS or within
  // FLUSH_DELAY_MS, since a N-API call costs more than the recording
  // itself. Every read, and every other kind of record, flushes first, so
  // this thread always sees its own records, in order; other threads see
  // them within FLUSH_DELAY_MS.
  #batch = new Float64Array(BATCH_RECORDS * BATCH_STRIDE);
  #pending = 0;
  #codes = new Map<string, number>();
  /** Error messages of the batched failures, in order. */
  #messages: string[] = [];

  /** A store of the default capacity (10,000 events); see `withCapacity`. */
  constructor(...args: unknown[]) {
    // The factories below hand in an addon handle through a module-private token.
    this.#n = args[0] === HANDLE_TOKEN ? (args[1] as NativeStoreHandle) : new (addon().NativeStore)(DEFAULT_CAPACITY);
    registerStore(this);
  }

  static #wrap(handle: NativeStoreHandle): EventStore {
    return new (EventStore as unknown as new (token: symbol, handle: NativeStoreHandle) => EventStore)(
      HANDLE_TOKEN,
      handle,
    );
  }

  /** Hands buffered records to the addon now (reads do this themselves). */
  flush(): void {
    if (this.#pending === 0) return;
    const count = this.#pending;
    this.#pending = 0;
    unschedule(this);
    // One string crosses, not one per message (each costs a conversion).
    let messages = '';
    if (this.#messages.length > 0) {
      messages = this.#messages.join('');
      this.#messages = [];
    }
    this.#n.recordBatch(this.#batch, count, messages);
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

  static withCapacity(capacity: number): EventStore {
    checkCapacity(capacity, 'capacity');
    return EventStore.#wrap(new (addon().NativeStore)(capacity));
  }

  static withStreaming(capacity: number, channelSize: number): [EventStore, EventReceiver] {
    checkStreamingArgs(capacity, channelSize);
    const handle = new (addon().NativeStore)(capacity, channelSize);
    return [EventStore.#wrap(handle), new NativeReceiver(handle, channelSize)];
  }

  /** The process-wide store `name`: the same in the main thread and every worker. */
  static shared(name: string, capacity: number = DEFAULT_CAPACITY): EventStore {
    checkSharedArgs(name, capacity);
    const handle = addon().NativeStore.shared(name, capacity);
    return EventStore.#wrap(handle);
  }

  #model(model: string): number {
    let key = this.#models.get(model);
    if (key === undefined) {
      key = this.#n.modelKey(model);
      this.#models.set(model, key);
    }
    return key;
  }

  #name(map: Map<string, number>, kind: number, name: string | null | undefined): number {
    if (name == null) return -1;
    let key = map.get(name);
    if (key === undefined) {
      key = this.#n.nameKey(kind, name);
      map.set(name, key);
    }
    return key;
  }

  recordLlmCompleted(
    pricing: PricingManagerApi,
    model: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
    latency?: LatencyInput,
  ): void {
    // The same table as last time (the usual case) needs no WeakMap lookups.
    const samePricing = pricing === this.#lastPricing;
    if (!samePricing) checkInstance(pricing, isPricing, 'pricing', 'PricingManager');
    checkLlmCompletedArgs(model, inputTokens, outputTokens, agentId, providerId, latency);
    const at = this.#pending * BATCH_STRIDE;
    const batch = this.#batch;
    batch[at] = 0;
    batch[at + 1] = samePricing ? this.#lastPricingIndex : this.#pricingIndex(pricing);
    batch[at + 2] = this.#model(model);
    batch[at + 3] = inputTokens;
    batch[at + 4] = outputTokens;
    batch[at + 5] = this.#name(this.#agents, 0, agentId);
    batch[at + 6] = this.#name(this.#providerIds, 1, providerId);
    batch[at + 7] = latency?.durationMs ?? -1;
    batch[at + 8] = latency?.ttftMs ?? -1;
    batch[at + 9] = -1;
    this.#pushed();
  }

  /** One more record is in the batch: hand the batch over when full, else schedule. */
  #pushed(): void {
    if (++this.#pending === BATCH_RECORDS) this.flush();
    else if (this.#pending === 1) schedule(this);
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
  ): void {
    checkLlmFailedArgs(model, agentId, providerId, errorCode, errorMessage);
    const at = this.#pending * BATCH_STRIDE;
    const batch = this.#batch;
    batch[at] = 1;
    batch[at + 1] = -1;
    batch[at + 2] = this.#model(model);
    // A free-form message is not interned (it may be unique): it travels
    // with the batch, joined to the others, by its length.
    if (errorMessage == null) batch[at + 3] = -1;
    else {
      this.#messages.push(errorMessage);
      batch[at + 3] = errorMessage.length;
    }
    batch[at + 4] = 0;
    batch[at + 5] = this.#name(this.#agents, 0, agentId);
    batch[at + 6] = this.#name(this.#providerIds, 1, providerId);
    batch[at + 7] = -1;
    batch[at + 8] = -1;
    batch[at + 9] = this.#name(this.#codes, 2, errorCode);
    this.#pushed();
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
          input.errorMessage ?? null,
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
    return eventsFromPacked(this.#names, this.#n.drainPacked());
  }

  snapshotEvents(): AnalyticsEvent[] {
    flushPending();
    return eventsFromPacked(this.#names, this.#n.snapshotPacked());
  }

  unsyncedEvents(limit?: number): AnalyticsEvent[] {
    if (limit !== undefined) checkCount(limit, 'limit');
    flushPending();
    return eventsFromPacked(this.#names, this.#n.unsyncedPacked(limit));
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
    flushPending();
    return this.#n.accounting().dropped;
  }

  evictedCount(): number {
    flushPending();
    return this.#n.accounting().evicted;
  }

  accounting(): Accounting {
    flushPending();
    return this.#n.accounting();
  }

  stats(): ComputedStats {
    flushPending();
    const packed = this.#n.statsPacked();
    return statsFromPacked(this.#names, packed.newNames, packed.numbers);
  }

  /** Prometheus text exposition of the stats and the outbox counters. */
  prometheus(): string {
    flushPending();
    return renderPrometheus(this.stats(), this.accounting(), this.unsyncedCount(), (m) => addon().inferProvider(m));
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

