/**
 * The API served by the napi-rs addon. Thin on purpose: arguments are
 * validated here with the same functions as the fallback (so errors are
 * identical), strings are interned to small integers once per store object
 * (so the hot path passes numbers only), and results are converted to the
 * contract's plain objects. Every behaviour lives in the Rust core.
 */
import type {
  Accounting,
  AnalyticsEvent,
  ComputedStats,
  EventInput,
  EventReceiver,
  LatencyInput,
  LatencyHistogram,
  ModelLatency,
  ModelPricing,
  ModelStats,
} from './types.js';
import {
  DEFAULT_CAPACITY,
  EVENT_TYPES,
  checkBudgetThresholdArgs,
  checkCapacity,
  checkCount,
  checkEventInput,
  checkIdList,
  checkInstance,
  checkLlmCompletedArgs,
  checkLlmCompletedWithProviderArgs,
  checkLlmFailedArgs,
  checkModel,
  checkPort,
  checkSharedArgs,
  checkStreamingArgs,
  checkString,
} from './validate.js';
import type {
  NativeBinding,
  NativePricingHandle,
  NativeStoreHandle,
  NativeSyncClientHandle,
  NativeSyncHandleHandle,
} from './binding.js';
import { SyncConfig, checkSyncConfig, tokenOf } from './sync/config.js';
import { SyncError, type SyncFailureKind } from './sync/errors.js';
import type { RejectedEvent, SyncClientApi, SyncHandleApi, SyncReport } from './sync/types.js';
import { PricingTableError } from './fallback/errors.js';
import { LATENCY_BOUNDS_MICROS } from './latency.js';
import { renderPrometheus } from './prometheus.js';

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
function eventsFromPacked(
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
function statsFromPacked(names: string[], newNames: string, n: Float64Array): ComputedStats {
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

function eventsFromJson(text: string): AnalyticsEvent[] {
  return (JSON.parse(text) as WireEvent[]).map(toEvent);
}

/** Completed requests buffered per store before one boundary crossing. */
const BATCH_RECORDS = 256;
/** Numbers per batched record: kind, pricing, model, input tokens (a failure: its message's length), output, agent, provider id, duration ms, TTFT ms, error code. */
const BATCH_STRIDE = 10;
/**
 * How long a record may wait in this thread before the addon sees it. Same-
 * thread reads flush first; this bounds what other threads (workers, the
 * sync loop) can miss, and lets a router recording one request per
 * event-loop turn still cross into the addon once per several records.
 */
const FLUSH_DELAY_MS = 2;

/** Stores with records not yet handed to the addon: flushed before the process exits. */
const pendingStores = new Set<{ flush(): void }>();
let exitHookInstalled = false;

/**
 * Hands every pending batch of this thread to the addon: reads and unbatched
 * records call it, so a thread sees its own records in order even through
 * another store object of the same shared store.
 */
function flushPending(): void {
  if (flushTimer !== null) {
    clearTimeout(flushTimer);
    flushTimer = null;
  }
  for (const store of pendingStores) store.flush();
}

let flushTimer: NodeJS.Timeout | null = null;

/**
 * The scheduled flush: an error here has no caller to reach (the addon only
 * fails on a key it never issued), so it becomes a process warning instead of
 * an uncaught exception that would take the router down.
 */
function flushFromTimer(): void {
  try {
    flushPending();
  } catch (e) {
    process.emitWarning(`iron-runtime-analytics: could not hand records to the addon: ${(e as Error).message}`);
  }
}

/** Marks a store as holding records and makes sure a flush is due soon. */
function schedule(store: { flush(): void }): void {
  pendingStores.add(store);
  if (flushTimer === null) {
    flushTimer = setTimeout(flushFromTimer, FLUSH_DELAY_MS);
    flushTimer.unref();
    installExitHook();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', flushPending);
}

const HANDLE_TOKEN = Symbol('native store handle');

/** Builds the native classes over a loaded binding. */
export function createNativeApi(binding: NativeBinding) {
  const handles = new WeakMap<object, NativePricingHandle>();

  class PricingManager {
    constructor() {
      handles.set(this, new binding.NativePricing());
    }

    /** A table in LiteLLM's `model_prices_and_context_window.json` format. */
    static fromLitellmJson(text: string): PricingManager {
      checkString(text, 'text');
      let handle: NativePricingHandle;
      try {
        handle = binding.NativePricing.fromLitellmJson(text);
      } catch (e) {
        throw new PricingTableError((e as Error).message);
      }
      const pricing = Object.create(PricingManager.prototype) as PricingManager;
      handles.set(pricing, handle);
      return pricing;
    }

    get size(): number {
      return handle(this).size;
    }

    get checkedOn(): string | null {
      return handle(this).checkedOn || null;
    }

    get(model: string): ModelPricing | null {
      checkModel(model);
      return handle(this).get(model) ?? null;
    }

    costMicros(model: string, inputTokens: number, outputTokens: number): number | null {
      checkLlmCompletedArgs(model, inputTokens, outputTokens, null, null, undefined);
      return handle(this).costMicros(model, inputTokens, outputTokens) ?? null;
    }
  }

  const isPricing = (value: unknown): boolean => typeof value === 'object' && value !== null && handles.has(value);

  function handle(pricing: PricingManager): NativePricingHandle {
    const h = handles.get(pricing);
    if (h === undefined) throw new TypeError('pricing must be a PricingManager');
    return h;
  }

  class NativeReceiver implements EventReceiver {
    #store: NativeStoreHandle;
    #queue: AnalyticsEvent[] = [];
    #waiters: ((event: AnalyticsEvent | null) => void)[] = [];
    #pumping = false;
    #closed = false;
    #channelSize: number;

    constructor(store: NativeStoreHandle, channelSize: number) {
      this.#store = store;
      this.#channelSize = channelSize;
    }

    /** Hands queued events to waiters in call order; after close, `null` to the rest. */
    #serve(): void {
      while (this.#waiters.length > 0 && this.#queue.length > 0) this.#waiters.shift()!(this.#queue.shift()!);
      if (this.#closed) while (this.#waiters.length > 0) this.#waiters.shift()!(null);
    }

    /** One wait at a time on the libuv pool (never the event loop), while anyone waits. */
    async #pump(): Promise<void> {
      if (this.#pumping) return;
      this.#pumping = true;
      try {
        while (this.#waiters.length > 0 && !this.#closed) {
          // Short slices, so close() is prompt.
          const batch = eventsFromJson(await this.#store.recvBatch(this.#channelSize, 50));
          this.#queue.push(...batch);
          this.#serve();
        }
      } finally {
        this.#pumping = false;
      }
    }

    recv(): Promise<AnalyticsEvent | null> {
      flushPending();
      if (this.#queue.length === 0 && !this.#closed) {
        this.#queue.push(...eventsFromJson(this.#store.tryRecvJson(this.#channelSize)));
      }
      if (this.#waiters.length === 0 && this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
      if (this.#closed) return Promise.resolve(this.#queue.shift() ?? null);
      return new Promise((resolve) => {
        this.#waiters.push(resolve);
        void this.#pump();
      });
    }

    tryRecv(): AnalyticsEvent | null {
      if (this.#queue.length === 0 && !this.#closed) {
        flushPending();
        this.#queue.push(...eventsFromJson(this.#store.tryRecvJson(this.#channelSize)));
      }
      return this.#queue.shift() ?? null;
    }

    close(): void {
      if (this.#closed) return;
      flushPending();
      // Events already in the channel are still delivered, then iteration ends;
      // the channel disconnects, so later events are neither queued nor counted.
      this.#queue.push(...eventsFromJson(this.#store.tryRecvJson(0xffffffff)));
      this.#store.closeStream();
      this.#closed = true;
      this.#serve();
    }

    droppedCount(): number {
      return this.#store.streamDroppedCount();
    }

    async *[Symbol.asyncIterator](): AsyncIterator<AnalyticsEvent> {
      try {
        for (;;) {
          const event = await this.recv();
          if (event === null) return;
          yield event;
        }
      } finally {
        this.close();
      }
    }
  }

  class EventStore {
    #n: NativeStoreHandle;
    /** Names (models, providers, agents, ids, codes) by the id the addon gives them (see `learnNames`). */
    readonly #names: string[] = [];
    #models = new Map<string, number>();
    #agents = new Map<string, number>();
    #providerIds = new Map<string, number>();
    #pricings = new WeakMap<object, number>();
    #lastPricing: PricingManager | null = null;
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
      this.#n = args[0] === HANDLE_TOKEN ? (args[1] as NativeStoreHandle) : new binding.NativeStore(DEFAULT_CAPACITY);
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
      pendingStores.delete(this);
      // One string crosses, not one per message (each costs a conversion).
      let messages = '';
      if (this.#messages.length > 0) {
        messages = this.#messages.join('');
        this.#messages = [];
      }
      this.#n.recordBatch(this.#batch, count, messages);
    }

    #pricingIndex(pricing: PricingManager): number {
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
      return EventStore.#wrap(new binding.NativeStore(capacity));
    }

    static withStreaming(capacity: number, channelSize: number): [EventStore, EventReceiver] {
      checkStreamingArgs(capacity, channelSize);
      const handle = new binding.NativeStore(capacity, channelSize);
      return [EventStore.#wrap(handle), new NativeReceiver(handle, channelSize)];
    }

    /** The process-wide store `name`: the same in the main thread and every worker. */
    static shared(name: string, capacity: number = DEFAULT_CAPACITY): EventStore {
      checkSharedArgs(name, capacity);
      const handle = binding.NativeStore.shared(name, capacity);
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
      pricing: PricingManager,
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
      pricing: PricingManager,
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
      return renderPrometheus(this.stats(), this.accounting(), this.unsyncedCount(), (m) => binding.inferProvider(m));
    }

    /** @internal The addon handle, for the native sync client. */
    get nativeHandle(): NativeStoreHandle {
      return this.#n;
    }
  }

  const nativeStores = new WeakMap<object, NativeStoreHandle>();
  const storeHandle = (store: unknown): NativeStoreHandle => {
    const h = typeof store === 'object' && store !== null ? nativeStores.get(store) : undefined;
    if (h === undefined) throw new TypeError('store must be an EventStore of the native implementation');
    return h;
  };
  const registerStore = (store: EventStore) => nativeStores.set(store, store.nativeHandle);

  /** The core logs from its own threads; the console belongs to this one. */
  const relayWarnings = (): void => {
    for (const warning of binding.takeWarnings()) console.warn(warning);
  };

  class NativeSyncHandle implements SyncHandleApi {
    #h: NativeSyncHandleHandle;
    #final: SyncReport | null = null;
    #relay: NodeJS.Timeout;

    constructor(h: NativeSyncHandleHandle) {
      this.#h = h;
      this.#relay = setInterval(relayWarnings, 100);
      this.#relay.unref();
    }

    /** Flushes what is pending (bounded by the stop deadline), then stops; runs off the event loop. */
    async stop(): Promise<SyncReport> {
      if (this.#final) return this.#final;
      flushPending();
      this.#final = await this.#h.stop();
      clearInterval(this.#relay);
      relayWarnings();
      return this.#final;
    }

    /** Counts so far: delivered and rejected since start, and what remains buffered. */
    report(): SyncReport {
      return this.#final ?? this.#h.report();
    }
  }

  /** Background sync on the addon's tokio runtime: JSON and HTTP never run on the JS thread. */
  class SyncClient implements SyncClientApi {
    #c: NativeSyncClientHandle;
    #config: SyncConfig;

    constructor(store: EventStore, config: SyncConfig) {
      const handle = storeHandle(store);
      checkSyncConfig(config, 'config');
      this.#config = config;
      this.#c = new binding.NativeSyncClient(handle, config.serverUrl, tokenOf(config), {
        intervalMs: config.intervalMs,
        batchThreshold: config.batchThreshold,
        timeoutMs: config.timeoutMs,
        maxInFlight: config.maxInFlight,
        backoffInitialMs: config.backoffInitialMs,
        backoffMaxMs: config.backoffMaxMs,
        stopDeadlineMs: config.stopDeadlineMs,
        maxBatch: config.maxBatch,
        thresholdCheckMs: config.thresholdCheckMs,
      });
    }

    /** The configuration (its token redacted when printed). */
    get config(): SyncConfig {
      return this.#config;
    }

    /** One pass now; resolves to the number delivered. */
    async syncEvents(): Promise<number> {
      flushPending();
      const delivered = await this.#c.syncEvents();
      relayWarnings();
      return delivered;
    }

    /** Starts the background loop. */
    start(): SyncHandleApi {
      flushPending();
      return new NativeSyncHandle(this.#c.start());
    }

    rejectedEvents(): RejectedEvent[] {
      return this.#c.rejectedEvents().map((r) => ({
        eventId: r.eventId,
        status: r.status,
        errorCode: r.errorCode ?? null,
        message: r.message,
      }));
    }

    deliveredCount(): number {
      return this.#c.deliveredCount();
    }

    rejectedCount(): number {
      return this.#c.rejectedCount();
    }

    /** The first transient failure of the last pass, or `null`. */
    lastError(): SyncError | null {
      relayWarnings();
      const f = this.#c.lastError();
      return f ? new SyncError(f.kind as SyncFailureKind, f.message, f.status ?? null, f.retryAfterMs ?? null) : null;
    }
  }

  return {
    SyncClient,
    registerStore,
    EventStore,
    PricingManager,
    inferProvider(model: string): string {
      checkModel(model);
      return binding.inferProvider(model);
    },
  };
}
