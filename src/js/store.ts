/** The event store: a bounded outbox of events plus running statistics. */

import type { EventStoreApi } from '../shared/api.js';
import type {
  Accounting,
  AnalyticsEvent,
  BudgetThresholdEvent,
  ComputedStats,
  EventInput,
  LatencyInput,
  LlmCompletedEvent,
  LlmFailedEvent,
  ModelLatency,
  ModelStats,
  RouterStartedEvent,
  RouterStoppedEvent,
} from '../shared/types.js';
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
import { Fifo } from './fifo.js';
import { SeqQueue } from './seq-queue.js';
import { IdSource, canonicalUuid } from './ids.js';
import { computeCostMicros, isPricingManager, lookupPrice, type PricingManager, type PriceEntry } from './pricing.js';
import { inferProviderUnchecked } from '../shared/provider.js';
import { createReceiver, offerToReceiver, type Receiver } from './stream.js';
import { LATENCY_BOUNDS_MICROS, bucketOf, histogram, msToMicros } from '../shared/latency.js';
import { renderPrometheus } from '../shared/prometheus.js';

const MICROS_PER_USD = 1_000_000;

/**
 * A buffered event: the public shape without the id, plus its number in this
 * store (its record order, from which the id is written when it is read).
 */
type Stored<E extends AnalyticsEvent> = Omit<E, 'eventId'> & { seq: number };
type StoredLlm = Stored<LlmCompletedEvent> | Stored<LlmFailedEvent>;
type StoredLocal = Stored<BudgetThresholdEvent> | Stored<RouterStartedEvent> | Stored<RouterStoppedEvent>;
type StoredEvent = StoredLlm | StoredLocal;

/** Running counters of one model, provider or agent. */
class Tally {
  requestCount = 0;
  failedCount = 0;
  inputTokens = 0;
  outputTokens = 0;
  costMicros = 0;

  completed(inputTokens: number, outputTokens: number, costMicros: number): void {
    this.requestCount++;
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
    this.costMicros += costMicros;
  }

  failed(): void {
    this.requestCount++;
    this.failedCount++;
  }

  toStats(): ModelStats {
    return {
      requestCount: this.requestCount,
      failedCount: this.failedCount,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      costMicros: this.costMicros,
      costUsd: this.costMicros / MICROS_PER_USD,
    };
  }
}

const LATENCY_BUCKETS = LATENCY_BOUNDS_MICROS.length + 1;
/** Latencies are `u64` microseconds in the Rust core: a larger value saturates (2^64 as a double). */
const U64_SATURATED = 2 ** 64;

/** Latency histograms of one model, allocated the first time a latency is recorded for it. */
class LatencyTally {
  /** Observations per bucket (not cumulative), the last one `+Inf`. */
  readonly duration: number[] = Array.from({ length: LATENCY_BUCKETS }, () => 0);
  durationSumMicros = 0;
  readonly ttft: number[] = Array.from({ length: LATENCY_BUCKETS }, () => 0);
  ttftSumMicros = 0;

  toLatency(): ModelLatency {
    return { duration: histogram(this.duration, this.durationSumMicros), ttft: histogram(this.ttft, this.ttftSumMicros) };
  }
}

/** Whole microseconds, as the Rust core converts them (saturating at `u64::MAX`). */
function micros(ms: number): number {
  const us = msToMicros(ms);
  return us < U64_SATURATED ? us : U64_SATURATED;
}

/** What the store remembers per model name, so that recording allocates nothing after the first time. */
interface ModelEntry {
  readonly tally: Tally;
  /** Latency histograms, from the first request of this model recorded with a latency. */
  latency: LatencyTally | null;
  /** The provider inferred from the name. */
  readonly inferred: string;
  /** The inferred provider's tally, looked up on first use (explicit providers may never need it). */
  inferredTally: Tally | null;
  /** The pricing manager `price` was looked up in. */
  pricing: PricingManager | null;
  price: PriceEntry | null;
}

function tallyTable(map: Map<string, Tally>): Record<string, ModelStats> {
  // Object.fromEntries defines own data properties, so a key such as
  // `__proto__` is stored as a key and never touches the prototype.
  return Object.fromEntries(Array.from(map, ([key, tally]) => [key, tally.toStats()]));
}

/** A plain-object copy of a buffered event, with its id, without the store's bookkeeping. */
function toPublic(event: StoredEvent, ids: IdSource): AnalyticsEvent {
  const eventId = ids.idOf(event.seq);
  switch (event.eventType) {
    case 'llm_request_completed':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        provider: event.provider,
        model: event.model,
        providerId: event.providerId,
        inputTokens: event.inputTokens,
        outputTokens: event.outputTokens,
        costMicros: event.costMicros,
      };
    case 'llm_request_failed':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        provider: event.provider,
        model: event.model,
        providerId: event.providerId,
        errorCode: event.errorCode,
        errorMessage: event.errorMessage,
      };
    case 'budget_threshold_reached':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        thresholdPercent: event.thresholdPercent,
        currentSpendMicros: event.currentSpendMicros,
        budgetMicros: event.budgetMicros,
      };
    case 'router_started':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        port: event.port,
      };
    case 'router_stopped':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        totalRequests: event.totalRequests,
        totalCostMicros: event.totalCostMicros,
      };
  }
}

/** The tally of `key` in `map`, created on first use. */
function tallyIn(map: Map<string, Tally>, key: string): Tally {
  let tally = map.get(key);
  if (tally === undefined) {
    tally = new Tally();
    map.set(key, tally);
  }
  return tally;
}

/**
 * In-process analytics: running statistics of every LLM request recorded,
 * and a bounded buffer of events waiting to be synced (the outbox).
 *
 * The buffer holds at most `capacity` events. LLM events (completed, failed)
 * are sent by the sync client; budget and router events stay local. When the
 * buffer is full, the oldest local event is evicted to make room; if there is
 * none, a new LLM event is dropped (see {@link droppedCount}) and a new local
 * event is evicted at once. The statistics count every LLM event recorded,
 * dropped or not.
 */
export class EventStore implements EventStoreApi {
  #capacity = DEFAULT_CAPACITY;
  #receiver: Receiver | null = null;

  /** Ids, numbered in record order: an id's number finds its event again. */
  readonly #ids = new IdSource();
  /** Buffered LLM events, oldest first, removable by number. */
  readonly #llm = new SeqQueue<StoredLlm>();
  /** Buffered local events, oldest first (only ever removed from the front). */
  readonly #locals = new Fifo<StoredLocal>();

  #recorded = 0;
  #drained = 0;
  #synced = 0;
  #rejected = 0;
  #dropped = 0;
  #evicted = 0;
  #replayed = 0;

  #totalRequests = 0;
  #failedRequests = 0;
  #totalInputTokens = 0;
  #totalOutputTokens = 0;
  #totalCostMicros = 0;
  readonly #byModel = new Map<string, ModelEntry>();
  readonly #modelTallies = new Map<string, Tally>();
  readonly #byProvider = new Map<string, Tally>();
  readonly #byAgent = new Map<string, Tally>();

  /** A store with room for 10,000 events. */
  constructor() {}

  /** A store with room for `capacity` events (1..100,000,000). */
  static withCapacity(capacity: number): EventStore {
    checkCapacity(capacity, 'capacity');
    const store = new EventStore();
    store.#capacity = capacity;
    return store;
  }

  /**
   * A store whose every recorded event is also offered to a channel of
   * `channelSize` events, and the channel's receiver.
   */
  static withStreaming(capacity: number, channelSize: number): [EventStore, Receiver] {
    checkStreamingArgs(capacity, channelSize);
    const store = new EventStore();
    store.#capacity = capacity;
    const receiver = createReceiver(channelSize);
    store.#receiver = receiver;
    return [store, receiver];
  }

  /**
   * A store shared by every worker_thread of the process, by name. Needs the
   * native addon: the JS fallback always throws.
   */
  static shared(name: string, capacity?: number): EventStore {
    checkSharedArgs(name, capacity);
    throw new Error(
      `EventStore.shared(${JSON.stringify(name)}) needs the native addon (implementation 'native'): ` +
        'the pure-JS fallback cannot share memory across worker_threads. ' +
        'Install the prebuilt binary for this platform, or use one EventStore per thread.',
    );
  }

  // -------------------------------------------------------------------------
  // Recording
  //
  // Every record method returns nothing, as in the native implementation
  // (which batches records and cannot know an id or a drop at call time): the
  // ids are in snapshotEvents() / unsyncedEvents(), the drops and evictions in
  // droppedCount() / evictedCount() / accounting().
  // -------------------------------------------------------------------------

  /**
   * Records a completed LLM request: provider inferred from the model name,
   * cost from `pricing` (0 for a model it does not know), and the latency, if
   * given, in the model's histograms (`stats().latencyByModel`). Counted in
   * the statistics even when the full buffer drops the event.
   *
   * @param latency `{ durationMs?, ttftMs? }`, each absent/`null` when not measured.
   */
  recordLlmCompleted(
    pricing: PricingManager,
    model: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
    latency?: LatencyInput | null,
  ): void {
    checkInstance(pricing, isPricingManager, 'pricing', 'PricingManager');
    checkLlmCompletedArgs(model, inputTokens, outputTokens, agentId, providerId, latency);
    const entry = this.#modelEntry(model);
    const providerTally = (entry.inferredTally ??= this.#providerTally(entry.inferred));
    if (latency != null) this.#observeLatency(entry, latency.durationMs, latency.ttftMs);
    this.#completed(
      entry,
      providerTally,
      pricing,
      model,
      entry.inferred,
      inputTokens + 0,
      outputTokens + 0,
      agentId ?? null,
      providerId ?? null,
    );
  }

  /** Records a completed LLM request with an explicit provider name (e.g. `Provider.OpenAI`). */
  recordLlmCompletedWithProvider(
    pricing: PricingManager,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
  ): void {
    checkInstance(pricing, isPricingManager, 'pricing', 'PricingManager');
    checkLlmCompletedWithProviderArgs(model, provider, inputTokens, outputTokens, agentId, providerId);
    this.#completed(
      this.#modelEntry(model),
      this.#providerTally(provider),
      pricing,
      model,
      provider,
      inputTokens + 0,
      outputTokens + 0,
      agentId ?? null,
      providerId ?? null,
    );
  }

  /** Records a failed LLM request; provider inferred from the model name. */
  recordLlmFailed(
    model: string,
    agentId?: string | null,
    providerId?: string | null,
    errorCode?: string | null,
    errorMessage?: string | null,
  ): void {
    checkLlmFailedArgs(model, agentId, providerId, errorCode, errorMessage);
    const entry = this.#modelEntry(model);
    const providerTally = (entry.inferredTally ??= this.#providerTally(entry.inferred));
    this.#failed(
      entry.tally,
      providerTally,
      model,
      entry.inferred,
      agentId ?? null,
      providerId ?? null,
      errorCode ?? null,
      errorMessage ?? null,
    );
  }

  /** Records that an agent's spend crossed a budget threshold (a local event). */
  recordBudgetThreshold(
    thresholdPercent: number,
    currentSpendMicros: number,
    budgetMicros: number,
    agentId?: string | null,
  ): void {
    checkBudgetThresholdArgs(thresholdPercent, currentSpendMicros, budgetMicros, agentId);
    this.#budget(thresholdPercent + 0, currentSpendMicros + 0, budgetMicros + 0, agentId ?? null);
  }

  /** Records that the router started listening on `port` (a local event). */
  recordRouterStarted(port: number): void {
    checkPort(port);
    this.#routerStarted(port + 0);
  }

  /** Records that the router stopped, with the store's totals at this moment (a local event). */
  recordRouterStopped(): void {
    this.#routerStopped(this.#totalRequests, this.#totalCostMicros);
  }

  /**
   * Records a pre-built event; the store assigns its id and timestamp. A
   * `router_stopped` event carries the totals given, not the store's.
   */
  record(input: EventInput): void {
    checkEventInput(input);
    switch (input.eventType) {
      case 'llm_request_completed': {
        const model = input.model;
        const entry = this.#modelEntry(model);
        const providerTally = this.#providerTally(input.provider);
        const agentId = input.agentId ?? null;
        this.#countCompleted(entry.tally, providerTally, input.inputTokens, input.outputTokens, input.costMicros, agentId);
        this.#storeCompleted(
          model,
          input.provider,
          input.inputTokens + 0,
          input.outputTokens + 0,
          input.costMicros + 0,
          agentId,
          input.providerId ?? null,
        );
        return;
      }
      case 'llm_request_failed':
        this.#failed(
          this.#modelEntry(input.model).tally,
          this.#providerTally(input.provider),
          input.model,
          input.provider,
          input.agentId ?? null,
          input.providerId ?? null,
          input.errorCode ?? null,
          input.errorMessage ?? null,
        );
        return;
      case 'budget_threshold_reached':
        this.#budget(input.thresholdPercent + 0, input.currentSpendMicros + 0, input.budgetMicros + 0, input.agentId ?? null);
        return;
      case 'router_started':
        this.#routerStarted(input.port + 0);
        return;
      case 'router_stopped':
        this.#routerStopped(input.totalRequests + 0, input.totalCostMicros + 0);
        return;
    }
  }

  #modelEntry(model: string): ModelEntry {
    let entry = this.#byModel.get(model);
    if (entry === undefined) {
      const tally = new Tally();
      entry = {
        tally,
        latency: null,
        inferred: inferProviderUnchecked(model),
        inferredTally: null,
        pricing: null,
        price: null,
      };
      this.#byModel.set(model, entry);
      this.#modelTallies.set(model, tally);
    }
    return entry;
  }

  #providerTally(provider: string): Tally {
    return tallyIn(this.#byProvider, provider);
  }

  #agentTally(agentId: string): Tally {
    return tallyIn(this.#byAgent, agentId);
  }

  /** Adds a request's latencies (validated; either may be absent) to its model's histograms. */
  #observeLatency(entry: ModelEntry, durationMs: number | null | undefined, ttftMs: number | null | undefined): void {
    if (durationMs == null && ttftMs == null) return;
    const latency = (entry.latency ??= new LatencyTally());
    if (durationMs != null) {
      const us = micros(durationMs);
      const bucket = bucketOf(us);
      latency.duration[bucket] = (latency.duration[bucket] as number) + 1;
      latency.durationSumMicros = Math.min(latency.durationSumMicros + us, U64_SATURATED);
    }
    if (ttftMs != null) {
      const us = micros(ttftMs);
      const bucket = bucketOf(us);
      latency.ttft[bucket] = (latency.ttft[bucket] as number) + 1;
      latency.ttftSumMicros = Math.min(latency.ttftSumMicros + us, U64_SATURATED);
    }
  }

  #completed(
    entry: ModelEntry,
    providerTally: Tally,
    pricing: PricingManager,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agentId: string | null,
    providerId: string | null,
  ): void {
    if (entry.pricing !== pricing) {
      entry.pricing = pricing;
      entry.price = lookupPrice(pricing, model);
    }
    const price = entry.price;
    const costMicros =
      price === null ? 0 : computeCostMicros(inputTokens, outputTokens, price.input, price.output);
    this.#countCompleted(entry.tally, providerTally, inputTokens, outputTokens, costMicros, agentId);
    this.#storeCompleted(model, provider, inputTokens, outputTokens, costMicros, agentId, providerId);
  }

  #countCompleted(
    modelTally: Tally,
    providerTally: Tally,
    inputTokens: number,
    outputTokens: number,
    costMicros: number,
    agentId: string | null,
  ): void {
    this.#totalRequests++;
    this.#totalInputTokens += inputTokens;
    this.#totalOutputTokens += outputTokens;
    this.#totalCostMicros += costMicros;
    modelTally.completed(inputTokens, outputTokens, costMicros);
    providerTally.completed(inputTokens, outputTokens, costMicros);
    if (agentId !== null) this.#agentTally(agentId).completed(inputTokens, outputTokens, costMicros);
  }

  #storeCompleted(
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    costMicros: number,
    agentId: string | null,
    providerId: string | null,
  ): void {
    const admitted = this.#admit(false);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<LlmCompletedEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'llm_request_completed',
      agentId,
      provider,
      model,
      providerId,
      inputTokens,
      outputTokens,
      costMicros,
    };
    this.#keepLlm(event, admitted);
  }

  #failed(
    modelTally: Tally,
    providerTally: Tally,
    model: string,
    provider: string,
    agentId: string | null,
    providerId: string | null,
    errorCode: string | null,
    errorMessage: string | null,
  ): void {
    this.#totalRequests++;
    this.#failedRequests++;
    modelTally.failed();
    providerTally.failed();
    if (agentId !== null) this.#agentTally(agentId).failed();
    const admitted = this.#admit(false);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<LlmFailedEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'llm_request_failed',
      agentId,
      provider,
      model,
      providerId,
      errorCode,
      errorMessage,
    };
    this.#keepLlm(event, admitted);
  }

  #budget(thresholdPercent: number, currentSpendMicros: number, budgetMicros: number, agentId: string | null): void {
    const admitted = this.#admit(true);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<BudgetThresholdEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'budget_threshold_reached',
      agentId,
      thresholdPercent,
      currentSpendMicros,
      budgetMicros,
    };
    this.#keepLocal(event, admitted);
  }

  #routerStarted(port: number): void {
    const admitted = this.#admit(true);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<RouterStartedEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'router_started',
      agentId: null,
      port,
    };
    this.#keepLocal(event, admitted);
  }

  #routerStopped(totalRequests: number, totalCostMicros: number): void {
    const admitted = this.#admit(true);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<RouterStoppedEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'router_stopped',
      agentId: null,
      totalRequests,
      totalCostMicros,
    };
    this.#keepLocal(event, admitted);
  }

  /**
   * Counts an event offered to the buffer and makes room for it if needed.
   * Returns whether it is to be appended; if not, it has been counted as
   * dropped (LLM) or evicted (local: recorded and evicted at once).
   */
  #admit(local: boolean): boolean {
    this.#recorded++;
    return this.#makeRoom(local);
  }

  /** Makes room for one event (see {@link #admit}), counting it dropped or evicted if there is none. */
  #makeRoom(local: boolean): boolean {
    if (this.#llm.size + this.#locals.length < this.#capacity) return true;
    if (this.#locals.length > 0) {
      this.#locals.shift();
      this.#evicted++;
      return true;
    }
    if (local) this.#evicted++;
    else this.#dropped++;
    return false;
  }

  /** Buffers the event if admitted; streams it either way (the stream sees every record). */
  #keepLlm(event: StoredLlm, admitted: boolean): void {
    if (admitted) this.#llm.push(event);
    if (this.#receiver !== null) offerToReceiver(this.#receiver, toPublic(event, this.#ids));
  }

  #keepLocal(event: StoredLocal, admitted: boolean): void {
    if (admitted) this.#locals.push(event);
    if (this.#receiver !== null) offerToReceiver(this.#receiver, toPublic(event, this.#ids));
  }

  // -------------------------------------------------------------------------
  // The buffer
  // -------------------------------------------------------------------------

  /** Removes the buffered LLM events with these ids as delivered; returns how many were removed. */
  markSynced(ids: string[]): number {
    const removed = this.#removeLlm(ids);
    this.#synced += removed;
    return removed;
  }

  /** Removes the buffered LLM events with these ids as rejected by the server; returns how many were removed. */
  markRejected(ids: string[]): number {
    const removed = this.#removeLlm(ids);
    this.#rejected += removed;
    return removed;
  }

  /** Unknown ids, ids already removed and ids of local events are ignored. */
  #removeLlm(ids: string[]): number {
    checkIdList(ids);
    let removed = 0;
    for (const id of ids) {
      const seq = this.#ids.seqOf(id);
      if (seq >= 0 && this.#llm.remove(seq)) {
        removed++;
        this.#ids.forget(id);
      }
    }
    return removed;
  }

  /**
   * @internal Takes back LLM events recorded elsewhere (a sync spool
   * replayed at start; the sync client calls this): each keeps its id and
   * timestamp, is not counted in the statistics again, and takes room like
   * any LLM event (none left: dropped and counted). `accounting().replayed`
   * counts every event offered. Local events and events already buffered
   * are skipped. Returns how many were buffered.
   */
  restoreEvents(events: readonly AnalyticsEvent[]): number {
    let restored = 0;
    for (const event of events) {
      if (event.eventType !== 'llm_request_completed' && event.eventType !== 'llm_request_failed') continue;
      if (this.#ids.seqOf(event.eventId) >= 0) continue;
      this.#replayed++;
      if (!this.#makeRoom(false)) continue;
      const seq = this.#ids.seq++;
      // The same shape as a recorded event's (field order included).
      const { timestampMs, agentId, provider, model, providerId } = event;
      this.#llm.push(
        event.eventType === 'llm_request_completed'
          ? {
              seq,
              timestampMs,
              eventType: event.eventType,
              agentId,
              provider,
              model,
              providerId,
              inputTokens: event.inputTokens,
              outputTokens: event.outputTokens,
              costMicros: event.costMicros,
            }
          : {
              seq,
              timestampMs,
              eventType: event.eventType,
              agentId,
              provider,
              model,
              providerId,
              errorCode: event.errorCode,
              errorMessage: event.errorMessage,
            },
      );
      this.#ids.alias(seq, canonicalUuid(event.eventId) ?? event.eventId);
      restored++;
    }
    return restored;
  }

  /** Removes and returns every buffered event, oldest first. */
  drainAll(): AnalyticsEvent[] {
    const events = this.snapshotEvents();
    this.#ids.forgetAll();
    this.#llm.clear();
    this.#locals.clear();
    this.#drained += events.length;
    return events;
  }

  /** Copies of every buffered event, oldest first; the buffer is unchanged. */
  snapshotEvents(): AnalyticsEvent[] {
    const ids = this.#ids;
    const llm = this.#llm;
    const locals = this.#locals;
    const out = new Array<AnalyticsEvent>(llm.size + locals.length);
    let n = 0;
    let l = 0;
    let local = locals.at(0);
    for (let i = 0, slots = llm.slots; i < slots; i++) {
      const event = llm.slot(i);
      if (event === undefined) continue;
      while (local !== undefined && local.seq < event.seq) {
        out[n++] = toPublic(local, ids);
        local = locals.at(++l);
      }
      out[n++] = toPublic(event, ids);
    }
    while (local !== undefined) {
      out[n++] = toPublic(local, ids);
      local = locals.at(++l);
    }
    return out;
  }

  /**
   * Copies of the buffered LLM events (those waiting to be sent), oldest
   * first; at most `limit` of them if given.
   */
  unsyncedEvents(limit?: number): AnalyticsEvent[] {
    if (limit !== undefined) checkCount(limit, 'limit');
    const ids = this.#ids;
    const llm = this.#llm;
    const count = limit === undefined ? llm.size : Math.min(limit, llm.size);
    const out = new Array<AnalyticsEvent>(count);
    for (let i = 0, n = 0; n < count; i++) {
      const event = llm.slot(i);
      if (event !== undefined) out[n++] = toPublic(event, ids);
    }
    return out;
  }

  /** Number of buffered LLM events waiting to be sent. */
  unsyncedCount(): number {
    return this.#llm.size;
  }

  /** Number of buffered events of every kind. */
  len(): number {
    return this.#llm.size + this.#locals.length;
  }

  /** Whether the buffer holds no event. */
  isEmpty(): boolean {
    return this.len() === 0;
  }

  /** LLM events not buffered because the buffer was full of LLM events. */
  droppedCount(): number {
    return this.#dropped;
  }

  /** Local events pushed out of (or kept out of) the full buffer. */
  evictedCount(): number {
    return this.#evicted;
  }

  /** The buffer's accounting: `recorded + replayed = buffered + drained + synced + rejected + dropped + evicted`. */
  accounting(): Accounting {
    return {
      recorded: this.#recorded,
      buffered: this.len(),
      drained: this.#drained,
      synced: this.#synced,
      rejected: this.#rejected,
      dropped: this.#dropped,
      evicted: this.#evicted,
      replayed: this.#replayed,
    };
  }

  // -------------------------------------------------------------------------
  // Statistics
  // -------------------------------------------------------------------------

  /** A plain-object snapshot of the statistics of every LLM request recorded. */
  stats(): ComputedStats {
    const total = this.#totalRequests;
    const totalTokens = this.#totalInputTokens + this.#totalOutputTokens;
    const totalCostUsd = this.#totalCostMicros / MICROS_PER_USD;
    return {
      totalRequests: total,
      failedRequests: this.#failedRequests,
      totalInputTokens: this.#totalInputTokens,
      totalOutputTokens: this.#totalOutputTokens,
      totalTokens,
      totalCostMicros: this.#totalCostMicros,
      totalCostUsd,
      successRate: total === 0 ? 1 : (total - this.#failedRequests) / total,
      avgCostPerRequestUsd: total === 0 ? 0 : totalCostUsd / total,
      avgTokensPerRequest: total === 0 ? 0 : totalTokens / total,
      byModel: tallyTable(this.#modelTallies),
      byProvider: tallyTable(this.#byProvider),
      byAgent: tallyTable(this.#byAgent),
      latencyByModel: this.#latencyTable(),
    };
  }

  /** The models recorded with at least one latency, and their histograms. */
  #latencyTable(): Record<string, ModelLatency> {
    const entries: [string, ModelLatency][] = [];
    for (const [model, entry] of this.#byModel) {
      if (entry.latency !== null) entries.push([model, entry.latency.toLatency()]);
    }
    return Object.fromEntries(entries);
  }

  /**
   * The statistics and the outbox counters in the Prometheus text format
   * (0.0.4), for a `/metrics` endpoint: OpenTelemetry GenAI names where they
   * exist (`gen_ai_client_operation_duration_seconds`, …), labelled by model
   * and the provider inferred from its name.
   */
  prometheus(): string {
    return renderPrometheus(this.stats(), this.accounting(), this.unsyncedCount(), inferProviderUnchecked);
  }
}
