/** The event store: a bounded outbox of events plus running statistics. */

import type { EventStoreApi, PricingManagerApi } from '../shared/api.js';
import type {
  Accounting,
  AnalyticsEvent,
  ComputedStats,
  EventInput,
  EventStoreOptions,
  FailureDetails,
  ModelLatency,
  ModelStats,
  RecordDetails,
  RecordUsageOptions,
  Usage,
} from '../shared/types.js';
import {
  DEFAULT_CARDINALITY_LIMIT,
  CARDINALITY_OVERFLOW_KEY,
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
  wellFormed,
} from '../shared/validate.js';
import { Provider, inferProviderUnchecked } from '../shared/provider.js';
import { renderPrometheus } from '../shared/prometheus.js';
import { createMetricProducer, type StoreMetricProducer } from '../shared/otel.js';
import {
  DEFAULT_OPERATION,
  UNNAMED_ERROR_TYPE,
  WELL_KNOWN_OPERATIONS,
  conventionsFromEnv,
  type SeriesSnapshot,
} from '../shared/series.js';
import { recordUsageOn } from '../shared/record-usage.js';
import { Fifo } from './fifo.js';
import { SeqQueue } from './seq-queue.js';
import { IdSource, canonicalUuid } from './ids.js';
import { isPricingManager, lookupPrice, usageCostMicros, type PricingManager, type PriceEntry } from './pricing.js';
import { createReceiver, offerToReceiver, type Receiver } from './stream.js';
import { toPublic, type Stored, type StoredLlm, type StoredLocal } from './events.js';
import {
  KeptNames,
  LatencyTally,
  Saturation,
  SeriesTable,
  Tally,
  TallyTable,
  addOverflowRow,
  type Counts,
  type SeriesObservation,
} from './tally.js';
import type { BudgetThresholdEvent, LlmCompletedEvent, LlmFailedEvent, RouterStartedEvent, RouterStoppedEvent } from '../shared/types.js';

const MICROS_PER_USD = 1_000_000;
const MAX = Number.MAX_SAFE_INTEGER;
/** Built-in provider names: always kept on top of the cardinality limit, as in the core. */
const BUILT_IN_PROVIDERS: ReadonlySet<string> = new Set(Object.values(Provider));
const NO_PARTS: Counts = {
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
};

/** The series names a record may give: the model asked for and the operation (absent: the model, `chat`). */
interface SeriesNames {
  requestModel?: string | null;
  operation?: string | null;
}
const NO_SERIES_NAMES: SeriesNames = {};
const ALWAYS_KEPT_OPERATIONS: ReadonlySet<string> = new Set(WELL_KNOWN_OPERATIONS);

/** What the store remembers per kept model name, so that recording allocates nothing after the first time. */
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
  /** Warned about once as unpriced. */
  warned: boolean;
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
 * dropped or not, in breakdowns of at most `cardinalityLimit` names each.
 *
 * Strings are stored as the core stores them: a lone surrogate becomes
 * U+FFFD, an error message is cut to 2,048 characters.
 */
export class EventStore implements EventStoreApi {
  #capacity: number;
  #receiver: Receiver | null = null;
  readonly #limit: number;

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

  readonly #sat = new Saturation();
  readonly #totals = new Tally();
  /** Kept models (at most the limit), by well-formed name. */
  readonly #models = new Map<string, ModelEntry>();
  readonly #overflowModel = new Tally();
  #overflowLatency: LatencyTally | null = null;
  #overflowWarned = false;
  readonly #byProvider: TallyTable;
  readonly #byAgent: TallyTable;
  /** Provider ids, error codes and operation names, kept as the core keeps its labels. */
  readonly #labels: KeptNames;
  readonly #series: SeriesTable;
  readonly #startTimeMs = Date.now();

  /**
   * A store with room for `options.capacity` events (default 10,000) keeping
   * `options.cardinalityLimit` names per stats breakdown (default 2,000).
   * Any other argument is a `TypeError`.
   */
  constructor(options?: EventStoreOptions) {
    const { capacity, cardinalityLimit } = checkStoreOptions(options);
    this.#capacity = capacity;
    this.#limit = cardinalityLimit;
    this.#byProvider = new TallyTable(cardinalityLimit, BUILT_IN_PROVIDERS);
    this.#byAgent = new TallyTable(cardinalityLimit);
    this.#labels = new KeptNames(cardinalityLimit, ALWAYS_KEPT_OPERATIONS);
    this.#series = new SeriesTable(cardinalityLimit);
  }

  /** A store with room for `capacity` events (1..100,000,000). */
  static withCapacity(capacity: number): EventStore {
    checkCapacity(capacity, 'capacity');
    return new EventStore({ capacity });
  }

  /**
   * A store whose every recorded event is also offered to a channel of
   * `channelSize` events, and the channel's receiver.
   */
  static withStreaming(capacity: number, channelSize: number): [EventStore, Receiver] {
    checkStreamingArgs(capacity, channelSize);
    const store = new EventStore({ capacity });
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
   * cost from `pricing` over the tokens and their parts (0, counted in
   * `unpricedRequests` and warned about once, for a model it does not know),
   * and the latency, if given, in the model's histograms. Counted in the
   * statistics even when the full buffer drops the event.
   *
   * @param details `{ durationMs?, ttftMs?, cacheReadTokens?, cacheWriteTokens?, cacheWrite1hTokens?, reasoningTokens?, requestModel?, operation? }`.
   */
  recordLlmCompleted(
    pricing: PricingManagerApi,
    model: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
    details?: RecordDetails | null,
  ): void {
    checkInstance(pricing, isPricingManager, 'pricing', 'PricingManager');
    checkLlmCompletedArgs(model, inputTokens, outputTokens, agentId, providerId, details);
    const counts = details == null ? null : countsOf(inputTokens, outputTokens, details);
    const name = wellFormed(model);
    const entry = this.#modelEntry(name);
    if (entry === null) {
      const inferred = inferProviderUnchecked(name);
      if (details != null && (details.durationMs != null || details.ttftMs != null)) {
        this.#overflowLatencyTally().observe(details.durationMs, details.ttftMs);
      }
      this.#completed(null, this.#overflowModel, this.#byProvider.of(inferred), pricing as PricingManager, name, inferred,
        counts ?? plain(inputTokens, outputTokens), agentId, providerId, details);
      return;
    }
    const providerTally = (entry.inferredTally ??= this.#byProvider.of(entry.inferred));
    if (details != null && (details.durationMs != null || details.ttftMs != null)) {
      (entry.latency ??= new LatencyTally()).observe(details.durationMs, details.ttftMs);
    }
    this.#completed(entry, entry.tally, providerTally, pricing as PricingManager, name, entry.inferred,
      counts ?? plain(inputTokens, outputTokens), agentId, providerId, details);
  }

  /** Records a request from a toolkit `Usage`: a failure when it carries an error, else completed with every part. */
  recordUsage(pricing: PricingManagerApi, usage: Usage, options?: RecordUsageOptions | null): void {
    recordUsageOn(this, pricing, usage, options);
  }

  /** Records a completed LLM request with an explicit provider name (e.g. `Provider.OpenAI`). */
  recordLlmCompletedWithProvider(
    pricing: PricingManagerApi,
    model: string,
    provider: string,
    inputTokens: number,
    outputTokens: number,
    agentId?: string | null,
    providerId?: string | null,
  ): void {
    checkInstance(pricing, isPricingManager, 'pricing', 'PricingManager');
    checkLlmCompletedWithProviderArgs(model, provider, inputTokens, outputTokens, agentId, providerId);
    const name = wellFormed(model);
    const providerName = wellFormed(provider);
    const entry = this.#modelEntry(name);
    this.#completed(entry, entry?.tally ?? this.#overflowModel, this.#byProvider.of(providerName), pricing as PricingManager,
      name, providerName, plain(inputTokens, outputTokens), agentId, providerId, null);
  }

  /**
   * Records a failed LLM request; provider inferred from the model name.
   * `details`: `{ durationMs?, requestModel?, operation? }`.
   */
  recordLlmFailed(
    model: string,
    agentId?: string | null,
    providerId?: string | null,
    errorCode?: string | null,
    errorMessage?: string | null,
    details?: FailureDetails | null,
  ): void {
    checkLlmFailedArgs(model, agentId, providerId, errorCode, errorMessage, details);
    const name = wellFormed(model);
    const entry = this.#modelEntry(name);
    const inferred = entry?.inferred ?? inferProviderUnchecked(name);
    const providerTally = entry === null ? this.#byProvider.of(inferred) : (entry.inferredTally ??= this.#byProvider.of(inferred));
    this.#failed(entry?.tally ?? this.#overflowModel, providerTally, name, inferred, agentId, providerId, errorCode, errorMessage,
      entry !== null, details);
  }

  /** Records that an agent's spend crossed a budget threshold (a local event). */
  recordBudgetThreshold(
    thresholdPercent: number,
    currentSpendMicros: number,
    budgetMicros: number,
    agentId?: string | null,
  ): void {
    checkBudgetThresholdArgs(thresholdPercent, currentSpendMicros, budgetMicros, agentId);
    this.#budget(thresholdPercent + 0, currentSpendMicros + 0, budgetMicros + 0, agentId == null ? null : wellFormed(agentId));
  }

  /** Records that the router started listening on `port` (a local event). */
  recordRouterStarted(port: number): void {
    checkPort(port);
    this.#routerStarted(port + 0);
  }

  /** Records that the router stopped, with the store's totals at this moment (a local event). */
  recordRouterStopped(): void {
    this.#routerStopped(this.#totals.requestCount, this.#totals.costMicros);
  }

  /**
   * Records a pre-built event; the store assigns its id and timestamp. A
   * `router_stopped` event carries the totals given, not the store's.
   */
  record(input: EventInput): void {
    checkEventInput(input);
    switch (input.eventType) {
      case 'llm_request_completed': {
        const name = wellFormed(input.model);
        const provider = wellFormed(input.provider);
        const entry = this.#modelEntry(name);
        const counts = plain(input.inputTokens + 0, input.outputTokens + 0);
        const cost = Math.min(input.costMicros + 0, MAX);
        const agentId = input.agentId == null ? null : wellFormed(input.agentId);
        this.#countCompleted(entry?.tally ?? this.#overflowModel, this.#byProvider.of(provider), counts, cost, false, agentId);
        const providerId = input.providerId == null ? null : wellFormed(input.providerId);
        this.#observeSeries(name, entry !== null, provider, providerId, undefined, NO_SERIES_NAMES, {
          durationMs: null,
          ttftMs: null,
          tokens: [counts.inputTokens, counts.outputTokens],
          costMicros: cost,
          unpriced: false,
        });
        this.#storeCompleted(name, provider, counts, cost, agentId, providerId);
        return;
      }
      case 'llm_request_failed': {
        const name = wellFormed(input.model);
        const entry = this.#modelEntry(name);
        this.#failed(entry?.tally ?? this.#overflowModel, this.#byProvider.of(wellFormed(input.provider)), name,
          wellFormed(input.provider), input.agentId, input.providerId, input.errorCode, input.errorMessage, entry !== null, null);
        return;
      }
      case 'budget_threshold_reached':
        this.#budget(input.thresholdPercent + 0, input.currentSpendMicros + 0, input.budgetMicros + 0,
          input.agentId == null ? null : wellFormed(input.agentId));
        return;
      case 'router_started':
        this.#routerStarted(input.port + 0);
        return;
      case 'router_stopped':
        this.#routerStopped(input.totalRequests + 0, input.totalCostMicros + 0);
        return;
      default:
        // A kind added to EVENT_TYPES and not handled here fails to compile.
        input satisfies never;
    }
  }

  /** The entry of a kept model (created while under the limit), or `null` past it. */
  #modelEntry(name: string): ModelEntry | null {
    let entry = this.#models.get(name);
    if (entry === undefined) {
      if (this.#models.size >= this.#limit) return null;
      entry = {
        tally: new Tally(),
        latency: null,
        inferred: inferProviderUnchecked(name),
        inferredTally: null,
        pricing: null,
        price: null,
        warned: false,
      };
      this.#models.set(name, entry);
    }
    return entry;
  }

  #overflowLatencyTally(): LatencyTally {
    return (this.#overflowLatency ??= new LatencyTally());
  }

  #completed(
    entry: ModelEntry | null,
    modelTally: Tally,
    providerTally: Tally,
    pricing: PricingManager,
    model: string,
    provider: string,
    counts: Counts,
    agentId: string | null | undefined,
    providerId: string | null | undefined,
    details: (RecordDetails & SeriesNames) | null | undefined,
  ): void {
    let price: PriceEntry | null;
    if (entry === null) {
      price = lookupPrice(pricing, model);
    } else {
      if (entry.pricing !== pricing) {
        entry.pricing = pricing;
        entry.price = lookupPrice(pricing, model);
      }
      price = entry.price;
    }
    // Exact, priced over the parts, capped at Number.MAX_SAFE_INTEGER as the core reports it.
    const cost = price === null ? 0 : usageCostMicros(price, counts);
    if (price === null) this.#warnUnpriced(entry, model);
    const agent = agentId == null ? null : wellFormed(agentId);
    this.#countCompleted(modelTally, providerTally, counts, cost, price === null, agent);
    const id = providerId == null ? null : wellFormed(providerId);
    this.#observeSeries(model, entry !== null, provider, id, undefined, details ?? NO_SERIES_NAMES, {
      durationMs: details?.durationMs,
      ttftMs: details?.ttftMs,
      tokens: [counts.inputTokens, counts.outputTokens],
      costMicros: cost,
      unpriced: price === null,
    });
    this.#storeCompleted(model, provider, counts, cost, agent, id);
  }

  /**
   * Adds a request to its GenAI series. Names are kept in the order the
   * native wrapper hands them to the core (provider id, error code, request
   * model, operation), so that both implementations keep the same ones.
   *
   * @param errorCode `undefined` for a completed request.
   */
  #observeSeries(
    model: string,
    modelKept: boolean,
    provider: string,
    providerId: string | null,
    errorCode: string | null | undefined,
    names: SeriesNames,
    o: SeriesObservation,
  ): void {
    if (providerId !== null) this.#labels.keep(providerId);
    const failed = errorCode !== undefined;
    const errorType = !failed ? null : errorCode === null ? UNNAMED_ERROR_TYPE : errorCode;
    // Every name is kept (or found past its limit) whatever the others are;
    // the series is the overflow one if a name it carries is past its limit
    // (a failure carries no response model: the recorded one is not in it).
    const errorKept = errorCode == null || this.#labels.keep(errorCode);
    const requestModel = names.requestModel == null ? model : wellFormed(names.requestModel);
    const requestKept = requestModel === model ? modelKept : this.#modelEntry(requestModel) !== null;
    const operation = names.operation == null ? DEFAULT_OPERATION : wellFormed(names.operation);
    const operationKept = this.#labels.keep(operation);
    const providerKept = BUILT_IN_PROVIDERS.has(provider) || this.#byProvider.has(provider);
    const kept = errorKept && requestKept && operationKept && providerKept && (failed || modelKept);
    this.#series.observe(this.#sat, operation, provider, requestModel, failed ? null : model, errorType, kept, o);
  }

  /** Warns once per kept model (once for all models past the limit) that it has no price. */
  #warnUnpriced(entry: ModelEntry | null, model: string): void {
    if (entry === null) {
      if (this.#overflowWarned) return;
      this.#overflowWarned = true;
      console.warn(
        `iron-runtime-analytics: no price for model ${JSON.stringify(model)} (and maybe other models past the cardinality limit): ` +
          'their requests cost 0 and are counted in unpricedRequests; not logged again',
      );
      return;
    }
    if (entry.warned) return;
    entry.warned = true;
    console.warn(
      `iron-runtime-analytics: no price for model ${JSON.stringify(model)} in the price table: its requests cost 0 and are ` +
        'counted in unpricedRequests; load a current table (PricingManager.fromLitellmJson) or add the model (not logged again for this model)',
    );
  }

  #countCompleted(
    modelTally: Tally,
    providerTally: Tally,
    counts: Counts,
    costMicros: number,
    unpriced: boolean,
    agentId: string | null,
  ): void {
    const s = this.#sat;
    this.#totals.completed(s, counts, costMicros, unpriced);
    modelTally.completed(s, counts, costMicros, unpriced);
    providerTally.completed(s, counts, costMicros, unpriced);
    if (agentId !== null) this.#byAgent.of(agentId).completed(s, counts, costMicros, unpriced);
  }

  #storeCompleted(
    model: string,
    provider: string,
    counts: Counts,
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
      inputTokens: counts.inputTokens,
      outputTokens: counts.outputTokens,
      costMicros,
    };
    this.#keepLlm(event, admitted);
  }

  #failed(
    modelTally: Tally,
    providerTally: Tally,
    model: string,
    provider: string,
    agentId: string | null | undefined,
    providerId: string | null | undefined,
    errorCode: string | null | undefined,
    errorMessage: string | null | undefined,
    modelKept: boolean,
    details: FailureDetails | null | undefined,
  ): void {
    const s = this.#sat;
    const agent = agentId == null ? null : wellFormed(agentId);
    this.#totals.failed(s);
    modelTally.failed(s);
    providerTally.failed(s);
    if (agent !== null) this.#byAgent.of(agent).failed(s);
    const id = providerId == null ? null : wellFormed(providerId);
    const code = errorCode == null ? null : wellFormed(errorCode);
    this.#observeSeries(model, modelKept, provider, id, code, details ?? NO_SERIES_NAMES, {
      durationMs: details?.durationMs,
      ttftMs: null,
      tokens: null,
      costMicros: 0,
      unpriced: false,
    });
    const admitted = this.#admit(false);
    if (!admitted && this.#receiver === null) return;
    const event: Stored<LlmFailedEvent> = {
      seq: this.#ids.seq++,
      timestampMs: Date.now(),
      eventType: 'llm_request_failed',
      agentId: agent,
      provider,
      model,
      providerId: id,
      errorCode: code,
      errorMessage: errorMessage == null ? null : boundedMessage(errorMessage),
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
      // The fallback records synchronously: nothing can be accepted and lost.
      lost: 0,
      lostReason: null,
    };
  }

  // -------------------------------------------------------------------------
  // Statistics
  // -------------------------------------------------------------------------

  /** A plain-object snapshot of the statistics of every LLM request recorded. */
  stats(): ComputedStats {
    const t = this.#totals;
    const total = t.requestCount;
    const totalTokens = Math.min(t.inputTokens + t.outputTokens, MAX);
    const totalCostUsd = t.costMicros / MICROS_PER_USD;
    const rows: [string, ModelStats][] = [];
    for (const [key, entry] of this.#models) {
      // A model kept only as some request's requested model has no row (as in the core).
      if (entry.tally.requestCount > 0) rows.push([key, entry.tally.toStats()]);
    }
    const byModel = Object.fromEntries(rows) as Record<string, ModelStats>;
    addOverflowRow(byModel, this.#overflowModel);
    return {
      totalRequests: total,
      failedRequests: t.failedCount,
      totalInputTokens: t.inputTokens,
      totalOutputTokens: t.outputTokens,
      totalTokens,
      totalCostMicros: t.costMicros,
      totalCostUsd,
      totalCacheReadTokens: t.cacheReadTokens,
      totalCacheWriteTokens: t.cacheWriteTokens,
      totalReasoningTokens: t.reasoningTokens,
      unpricedRequests: t.unpricedRequests,
      saturated: this.#sat.saturated || t.inputTokens + t.outputTokens > MAX,
      successRate: total === 0 ? 1 : (total - t.failedCount) / total,
      avgCostPerRequestUsd: total === 0 ? 0 : totalCostUsd / total,
      avgTokensPerRequest: total === 0 ? 0 : totalTokens / total,
      byModel,
      byProvider: this.#byProvider.toRecord(),
      byAgent: this.#byAgent.toRecord(),
      latencyByModel: this.#latencyTable(),
    };
  }

  /** The models recorded with at least one latency, and their histograms. */
  #latencyTable(): Record<string, ModelLatency> {
    const entries: [string, ModelLatency][] = [];
    for (const [model, entry] of this.#models) {
      if (entry.latency !== null) entries.push([model, entry.latency.toLatency()]);
    }
    const out = Object.fromEntries(entries) as Record<string, ModelLatency>;
    if (this.#overflowLatency !== null) {
      Object.defineProperty(out, CARDINALITY_OVERFLOW_KEY, {
        value: this.#overflowLatency.toLatency(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  /**
   * The statistics and the outbox counters in the Prometheus text format
   * (0.0.4), for a `/metrics` endpoint: OpenTelemetry GenAI names where they
   * exist (`gen_ai_client_operation_duration_seconds`, …), labelled by model
   * and the provider inferred from its name.
   */
  prometheus(): string {
    return renderPrometheus(this.#series.readings(), this.accounting(), this.unsyncedCount(), conventionsFromEnv());
  }

  /** The GenAI series, sorted, and when this store began counting. */
  #seriesSnapshot(): SeriesSnapshot {
    return { series: this.#series.readings(), startTimeMs: this.#startTimeMs };
  }

  /**
   * The same metrics as {@link prometheus} as an OpenTelemetry
   * `MetricProducer` (for a `PeriodicExportingMetricReader`'s
   * `metricProducers`): cumulative since this store was made.
   */
  metricProducer(): StoreMetricProducer {
    return createMetricProducer(() => ({ ...this.#seriesSnapshot(), accounting: this.accounting(), unsynced: this.unsyncedCount() }));
  }
}

/** The token counts of a request without parts. */
function plain(inputTokens: number, outputTokens: number): Counts {
  return { ...NO_PARTS, inputTokens: inputTokens + 0, outputTokens: outputTokens + 0 };
}

/** The token counts of a request with its (validated) parts. */
function countsOf(inputTokens: number, outputTokens: number, d: RecordDetails): Counts {
  return {
    inputTokens: inputTokens + 0,
    outputTokens: outputTokens + 0,
    cacheReadTokens: (d.cacheReadTokens ?? 0) + 0,
    cacheWriteTokens: (d.cacheWriteTokens ?? 0) + 0,
    cacheWrite1hTokens: (d.cacheWrite1hTokens ?? 0) + 0,
    reasoningTokens: (d.reasoningTokens ?? 0) + 0,
  };
}
