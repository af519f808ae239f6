/**
 * Argument validation shared by the native-backed wrapper and the pure-JS
 * fallback, so that both throw the same error class with the same message for
 * the same bad input. Every check runs before anything is counted or stored.
 *
 * Conventions: a value of the wrong JS type is a `TypeError`; a value of the
 * right type outside the allowed range is a `RangeError`. Messages name the
 * argument, say what was expected and show what was given.
 */

/** Default buffer capacity of `new EventStore()`. */
export const DEFAULT_CAPACITY = 10_000;
/** Largest buffer capacity or channel size accepted. */
export const MAX_CAPACITY = 100_000_000;
/** Largest `thresholdPercent` accepted (it is a `u32` in the Rust core). */
export const MAX_THRESHOLD_PERCENT = 4_294_967_295;
/** Largest TCP port. */
export const MAX_PORT = 65_535;

const MAX_SHOWN_STRING = 64;

/** A short, safe description of a value for an error message. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'string':
      return JSON.stringify(
        value.length > MAX_SHOWN_STRING ? `${value.slice(0, MAX_SHOWN_STRING)}…` : value,
      );
    case 'boolean':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      return Array.isArray(value) ? 'an array' : 'an object';
  }
}

function typeError(name: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${name} must be ${expected}, got ${describeValue(value)}`);
}

function rangeError(name: string, expected: string, value: unknown): RangeError {
  return new RangeError(`${name} must be ${expected}, got ${describeValue(value)}`);
}

const COUNT = 'a non-negative safe integer';

/**
 * A token count, cost, spend, budget or total: a non-negative safe integer.
 * `-0` is accepted (it is zero); callers store `value + 0` to normalise it.
 */
export function checkCount(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, COUNT, value);
  if (!(value >= 0 && Number.isSafeInteger(value))) throw rangeError(name, COUNT, value);
}

const NON_EMPTY = 'a non-empty string';

/** A required name (model, provider, store name): a non-empty string. */
export function checkNonEmptyString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw typeError(name, NON_EMPTY, value);
  if (value.length === 0) throw rangeError(name, NON_EMPTY, value);
}

/** A model name: a non-empty string. */
export function checkModel(value: unknown, name = 'model'): asserts value is string {
  checkNonEmptyString(value, name);
}

/** Any string (may be empty). */
export function checkString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
}

/** An optional string argument: `string | null | undefined`. */
export function checkOptionalString(
  value: unknown,
  name: string,
): asserts value is string | null | undefined {
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw typeError(name, 'a string, null or undefined', value);
  }
}

const CAPACITY = `a positive safe integer no greater than ${MAX_CAPACITY}`;

/** A buffer capacity or channel size: a positive integer up to {@link MAX_CAPACITY}. */
export function checkCapacity(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, CAPACITY, value);
  if (!(Number.isInteger(value) && value >= 1 && value <= MAX_CAPACITY)) {
    throw rangeError(name, CAPACITY, value);
  }
}

const PORT = `an integer from 0 to ${MAX_PORT}`;

/** A TCP port: an integer 0..65535. */
export function checkPort(value: unknown, name = 'port'): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, PORT, value);
  if (!(Number.isInteger(value) && value >= 0 && value <= MAX_PORT)) {
    throw rangeError(name, PORT, value);
  }
}

const PERCENT = `a non-negative safe integer no greater than ${MAX_THRESHOLD_PERCENT}`;

/** A budget threshold in percent: an integer 0..4294967295. */
export function checkThresholdPercent(
  value: unknown,
  name = 'thresholdPercent',
): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, PERCENT, value);
  if (!(Number.isInteger(value) && value >= 0 && value <= MAX_THRESHOLD_PERCENT)) {
    throw rangeError(name, PERCENT, value);
  }
}

const DURATION = 'a non-negative finite number';

function checkOptionalDuration(value: unknown, name: string): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number') throw typeError(name, DURATION, value);
  if (!(value >= 0 && Number.isFinite(value))) throw rangeError(name, DURATION, value);
}

/**
 * The optional latency of a completed request: absent (`undefined`/`null`) or
 * an object whose `durationMs` and `ttftMs` are each absent or a non-negative
 * finite number. Other properties are ignored.
 */
export function checkLatency(value: unknown, name = 'latency'): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(name, 'an object like { durationMs?: number, ttftMs?: number }', value);
  }
  const latency = value as { durationMs?: unknown; ttftMs?: unknown };
  checkOptionalDuration(latency.durationMs, `${name}.durationMs`);
  checkOptionalDuration(latency.ttftMs, `${name}.ttftMs`);
}

/** A list of event ids: an array of strings. */
export function checkIdList(value: unknown, name = 'ids'): asserts value is string[] {
  if (!Array.isArray(value)) throw typeError(name, 'an array of event id strings', value);
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i];
    if (typeof id !== 'string') throw typeError(`${name}[${i}]`, 'a string', id);
  }
}

/**
 * `value` must be one of this implementation's objects of a kind, e.g. its
 * `PricingManager`; `isInstance` is the implementation's own brand check.
 */
export function checkInstance(
  value: unknown,
  isInstance: (value: unknown) => boolean,
  name: string,
  typeName: string,
): void {
  if (!isInstance(value)) throw typeError(name, `a ${typeName}`, value);
}

// ---------------------------------------------------------------------------
// Per-method argument lists, in argument order (the first bad one is reported).
// ---------------------------------------------------------------------------

/** `recordLlmCompleted(pricing, model, inputTokens, outputTokens, agentId?, providerId?, latency?)`, after `pricing`. */
export function checkLlmCompletedArgs(
  model: unknown,
  inputTokens: unknown,
  outputTokens: unknown,
  agentId: unknown,
  providerId: unknown,
  latency: unknown,
): void {
  checkModel(model);
  checkCount(inputTokens, 'inputTokens');
  checkCount(outputTokens, 'outputTokens');
  checkOptionalString(agentId, 'agentId');
  checkOptionalString(providerId, 'providerId');
  checkLatency(latency);
}

/** `recordLlmCompletedWithProvider(pricing, model, provider, inputTokens, outputTokens, agentId?, providerId?)`, after `pricing`. */
export function checkLlmCompletedWithProviderArgs(
  model: unknown,
  provider: unknown,
  inputTokens: unknown,
  outputTokens: unknown,
  agentId: unknown,
  providerId: unknown,
): void {
  checkModel(model);
  checkNonEmptyString(provider, 'provider');
  checkCount(inputTokens, 'inputTokens');
  checkCount(outputTokens, 'outputTokens');
  checkOptionalString(agentId, 'agentId');
  checkOptionalString(providerId, 'providerId');
}

/** `recordLlmFailed(model, agentId?, providerId?, errorCode?, errorMessage?)`. */
export function checkLlmFailedArgs(
  model: unknown,
  agentId: unknown,
  providerId: unknown,
  errorCode: unknown,
  errorMessage: unknown,
): void {
  checkModel(model);
  checkOptionalString(agentId, 'agentId');
  checkOptionalString(providerId, 'providerId');
  checkOptionalString(errorCode, 'errorCode');
  checkOptionalString(errorMessage, 'errorMessage');
}

/** `recordBudgetThreshold(thresholdPercent, currentSpendMicros, budgetMicros, agentId?)`. */
export function checkBudgetThresholdArgs(
  thresholdPercent: unknown,
  currentSpendMicros: unknown,
  budgetMicros: unknown,
  agentId: unknown,
): void {
  checkThresholdPercent(thresholdPercent);
  checkCount(currentSpendMicros, 'currentSpendMicros');
  checkCount(budgetMicros, 'budgetMicros');
  checkOptionalString(agentId, 'agentId');
}

/** `EventStore.withStreaming(capacity, channelSize)`. */
export function checkStreamingArgs(capacity: unknown, channelSize: unknown): void {
  checkCapacity(capacity, 'capacity');
  checkCapacity(channelSize, 'channelSize');
}

/** `EventStore.shared(name, capacity?)`: `capacity` may be `undefined` (default 10_000). */
export function checkSharedArgs(name: unknown, capacity: unknown): void {
  checkNonEmptyString(name, 'name');
  if (capacity !== undefined) checkCapacity(capacity, 'capacity');
}

/** The event kinds, in the order of the addon's packed kind numbers (`PackedEvents`). */
export const EVENT_TYPES = [
  'llm_request_completed',
  'llm_request_failed',
  'budget_threshold_reached',
  'router_started',
  'router_stopped',
] as const;

/**
 * The input of the low-level `record(input)`: an object with a known
 * `eventType` and the fields that kind needs. Fields not used by the kind
 * (e.g. `agentId` on router events) are ignored.
 */
export function checkEventInput(value: unknown, name = 'input'): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw typeError(name, 'an event object with an eventType', value);
  }
  const input = value as Record<string, unknown>;
  const eventType = input.eventType;
  const expected = `one of ${EVENT_TYPES.join(', ')}`;
  if (typeof eventType !== 'string') throw typeError(`${name}.eventType`, expected, eventType);
  switch (eventType) {
    case 'llm_request_completed':
      checkNonEmptyString(input.provider, `${name}.provider`);
      checkModel(input.model, `${name}.model`);
      checkOptionalString(input.providerId, `${name}.providerId`);
      checkCount(input.inputTokens, `${name}.inputTokens`);
      checkCount(input.outputTokens, `${name}.outputTokens`);
      checkCount(input.costMicros, `${name}.costMicros`);
      checkOptionalString(input.agentId, `${name}.agentId`);
      return;
    case 'llm_request_failed':
      checkNonEmptyString(input.provider, `${name}.provider`);
      checkModel(input.model, `${name}.model`);
      checkOptionalString(input.providerId, `${name}.providerId`);
      checkOptionalString(input.errorCode, `${name}.errorCode`);
      checkOptionalString(input.errorMessage, `${name}.errorMessage`);
      checkOptionalString(input.agentId, `${name}.agentId`);
      return;
    case 'budget_threshold_reached':
      checkThresholdPercent(input.thresholdPercent, `${name}.thresholdPercent`);
      checkCount(input.currentSpendMicros, `${name}.currentSpendMicros`);
      checkCount(input.budgetMicros, `${name}.budgetMicros`);
      checkOptionalString(input.agentId, `${name}.agentId`);
      return;
    case 'router_started':
      checkPort(input.port, `${name}.port`);
      return;
    case 'router_stopped':
      checkCount(input.totalRequests, `${name}.totalRequests`);
      checkCount(input.totalCostMicros, `${name}.totalCostMicros`);
      return;
    default:
      throw rangeError(`${name}.eventType`, expected, eventType);
  }
}
