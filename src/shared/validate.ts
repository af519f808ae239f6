/**
 * Argument validation shared by the native-backed wrapper and the pure-JS
 * fallback, so that both throw the same error class with the same message for
 * the same bad input. Every check runs before anything is counted or stored.
 *
 * Conventions: a value of the wrong JS type is a `TypeError`; a value of the
 * right type outside the allowed range is a `RangeError`. Messages name the
 * argument, say what was expected and show what was given.
 */

import type { EventType } from './types.js';

/** Default buffer capacity of `new EventStore()`. */
export const DEFAULT_CAPACITY = 10_000;
/** Default number of distinct names each stats breakdown keeps. */
export const DEFAULT_CARDINALITY_LIMIT = 2_000;
/** Largest cardinality limit accepted. */
export const MAX_CARDINALITY_LIMIT = 1_000_000;
/**
 * The key of the stats row that sums, per breakdown (model, provider, agent),
 * the requests of every name past the store's cardinality limit.
 */
export const CARDINALITY_OVERFLOW_KEY = '__overflow__';
/** The longest name accepted (model, provider, agent id, provider id, error code), in characters. */
export const MAX_NAME_CHARS = 256;
/** The most characters of an error message kept; a longer one is cut and ends with {@link TRUNCATION_MARK}. */
export const MAX_ERROR_MESSAGE_CHARS = 2_048;
/** What ends a truncated error message. */
export const TRUNCATION_MARK = '…';
/** Largest buffer capacity or channel size accepted. */
export const MAX_CAPACITY = 100_000_000;
/** Largest `thresholdPercent` accepted (a `u8` in the Rust core, as in the published crate). */
export const MAX_THRESHOLD_PERCENT = 255;
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

// ---------------------------------------------------------------------------
// Strings: both implementations store Unicode scalar values, as the Rust core
// does: a lone surrogate becomes U+FFFD (so '\uD800' and '\uDBFF' name the
// same row on both), and lengths are counted in characters (code points).
// ---------------------------------------------------------------------------

/** `text` with every lone surrogate replaced by U+FFFD (the string itself when it has none). */
export function wellFormed(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}

/** The number of characters (code points) of `text`, counting at most to `max + 1`. */
function charsUpTo(text: string, max: number): number {
  // A character is one or two UTF-16 units: a short string needs no count.
  if (text.length <= max) return text.length;
  let n = 0;
  for (let i = 0; i < text.length; i++, n++) {
    if (n > max) return n;
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

/**
 * An error message as the stores keep it: well-formed, and cut at a
 * character boundary to {@link MAX_ERROR_MESSAGE_CHARS} characters, the last
 * one {@link TRUNCATION_MARK}, when longer.
 */
export function boundedMessage(message: string): string {
  const text = wellFormed(message);
  if (charsUpTo(text, MAX_ERROR_MESSAGE_CHARS) <= MAX_ERROR_MESSAGE_CHARS) return text;
  let end = 0;
  for (let n = 0; n < MAX_ERROR_MESSAGE_CHARS - 1; n++) {
    const c = text.charCodeAt(end);
    end += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
  }
  return text.slice(0, end) + TRUNCATION_MARK;
}

const NAME = `a string of at most ${MAX_NAME_CHARS} characters`;

/** A name of at most {@link MAX_NAME_CHARS} characters (model, provider, agent id, provider id, error code). */
function checkNameLength(value: string, name: string): void {
  if (value.length > MAX_NAME_CHARS && charsUpTo(value, MAX_NAME_CHARS) > MAX_NAME_CHARS) {
    throw new RangeError(`${name} must be ${NAME}, got one of ${charsUpTo(value, 2 ** 30)} characters (names are stats keys and labels, not free text)`);
  }
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

/** A required string (store name): a non-empty string. */
export function checkNonEmptyString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw typeError(name, NON_EMPTY, value);
  if (value.length === 0) throw rangeError(name, NON_EMPTY, value);
}

/** A required name (model, provider): a non-empty string of at most {@link MAX_NAME_CHARS} characters. */
export function checkName(value: unknown, name: string): asserts value is string {
  checkNonEmptyString(value, name);
  checkNameLength(value, name);
}

/** A model name: a non-empty string of at most {@link MAX_NAME_CHARS} characters. */
export function checkModel(value: unknown, name = 'model'): asserts value is string {
  checkName(value, name);
}

/** An optional name (agent id, provider id, error code): `string | null | undefined`, at most {@link MAX_NAME_CHARS} characters. */
export function checkOptionalName(value: unknown, name: string): asserts value is string | null | undefined {
  checkOptionalString(value, name);
  if (typeof value === 'string') checkNameLength(value, name);
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

/** A budget threshold in percent: an integer 0..255 (a `u8` in the Rust core, as in the published crate). */
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

function checkOptionalCount(value: unknown, name: string): void {
  if (value === undefined || value === null) return;
  checkCount(value, name);
}

const DETAILS =
  'an object like { durationMs?, ttftMs?, cacheReadTokens?, cacheWriteTokens?, cacheWrite1hTokens?, reasoningTokens?, requestModel?, operation? }';
const FAILURE_DETAILS = 'an object like { durationMs?, requestModel?, operation? }';

/** An optional request model and operation name: absent, or a non-empty name. */
/** The argument names of a details object's fields, as errors show them (`details.ttftMs`). */
interface DetailFieldNames {
  durationMs: string;
  ttftMs: string;
  cacheReadTokens: string;
  cacheWriteTokens: string;
  cacheWrite1hTokens: string;
  reasoningTokens: string;
  requestModel: string;
  operation: string;
}

function detailFieldNames(name: string): DetailFieldNames {
  return {
    durationMs: `${name}.durationMs`,
    ttftMs: `${name}.ttftMs`,
    cacheReadTokens: `${name}.cacheReadTokens`,
    cacheWriteTokens: `${name}.cacheWriteTokens`,
    cacheWrite1hTokens: `${name}.cacheWrite1hTokens`,
    reasoningTokens: `${name}.reasoningTokens`,
    requestModel: `${name}.requestModel`,
    operation: `${name}.operation`,
  };
}

/** Built once: the record calls check `details` on every call and must not concatenate names each time. */
const DETAILS_FIELDS = detailFieldNames('details');
const fieldNamesOf = (name: string): DetailFieldNames => (name === 'details' ? DETAILS_FIELDS : detailFieldNames(name));

function checkSeriesNames(d: Record<string, unknown>, f: DetailFieldNames): void {
  if (d.requestModel !== undefined && d.requestModel !== null) checkModel(d.requestModel, f.requestModel);
  if (d.operation !== undefined && d.operation !== null) checkName(d.operation, f.operation);
}

/** The optional details of a failed request (see `FailureDetails`). Other properties are ignored. */
export function checkFailureDetails(value: unknown, name = 'details'): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(name, FAILURE_DETAILS, value);
  const d = value as Record<string, unknown>;
  const f = fieldNamesOf(name);
  checkOptionalDuration(d.durationMs, f.durationMs);
  checkSeriesNames(d, f);
}

/**
 * The optional details of a completed request (see `RecordDetails`): absent
 * (`undefined`/`null`) or an object whose latencies are each absent or a
 * non-negative finite number, and whose token parts are each absent or a
 * non-negative safe integer, fitting in their whole: cache reads and writes
 * at most `inputTokens`, reasoning at most `outputTokens`. Other properties
 * are ignored.
 */
export function checkRecordDetails(value: unknown, inputTokens: number, outputTokens: number, name = 'details'): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(name, DETAILS, value);
  const d = value as Record<string, unknown>;
  const f = fieldNamesOf(name);
  checkOptionalDuration(d.durationMs, f.durationMs);
  checkOptionalDuration(d.ttftMs, f.ttftMs);
  checkOptionalCount(d.cacheReadTokens, f.cacheReadTokens);
  checkOptionalCount(d.cacheWriteTokens, f.cacheWriteTokens);
  checkOptionalCount(d.cacheWrite1hTokens, f.cacheWrite1hTokens);
  checkOptionalCount(d.reasoningTokens, f.reasoningTokens);
  checkSeriesNames(d, f);
  const cache = ((d.cacheReadTokens as number) ?? 0) + ((d.cacheWriteTokens as number) ?? 0) + ((d.cacheWrite1hTokens as number) ?? 0);
  if (cache > inputTokens) {
    throw new RangeError(
      `${name}: cache reads and writes (${cache}) exceed inputTokens (${inputTokens}): inputTokens must count every prompt token, cached or not`,
    );
  }
  const reasoning = (d.reasoningTokens as number) ?? 0;
  if (reasoning > outputTokens) {
    throw new RangeError(
      `${name}.reasoningTokens (${reasoning}) exceeds outputTokens (${outputTokens}): outputTokens must count every completion token, reasoning included`,
    );
  }
}

/** The former latency-only check, for callers that validate a latency alone. */
export function checkLatency(value: unknown, name = 'latency'): void {
  checkRecordDetails(value, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, name);
}

const OPTIONS = 'an options object like { capacity?, cardinalityLimit? }';
const LIMIT = `a positive safe integer no greater than ${MAX_CARDINALITY_LIMIT}`;

/**
 * The options of `new EventStore(options?)`: absent, or an object with only
 * `capacity` and `cardinalityLimit` (each optional). Anything else — a bare
 * number, an unknown key — is a `TypeError`, never silently ignored.
 */
export function checkStoreOptions(value: unknown, name = 'options'): { capacity: number; cardinalityLimit: number } {
  if (value === undefined) return { capacity: DEFAULT_CAPACITY, cardinalityLimit: DEFAULT_CARDINALITY_LIMIT };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const hint = typeof value === 'number' ? ` (for a capacity, pass { capacity: ${describeValue(value)} })` : '';
    throw new TypeError(`${name} must be ${OPTIONS}, got ${describeValue(value)}${hint}`);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'capacity' && key !== 'cardinalityLimit') {
      throw new TypeError(`${name} has an unknown option ${JSON.stringify(key)} (expected capacity, cardinalityLimit)`);
    }
  }
  const { capacity, cardinalityLimit } = value as { capacity?: unknown; cardinalityLimit?: unknown };
  if (capacity !== undefined) checkCapacity(capacity, `${name}.capacity`);
  if (cardinalityLimit !== undefined) {
    if (typeof cardinalityLimit !== 'number') throw typeError(`${name}.cardinalityLimit`, LIMIT, cardinalityLimit);
    if (!(Number.isInteger(cardinalityLimit) && cardinalityLimit >= 1 && cardinalityLimit <= MAX_CARDINALITY_LIMIT)) {
      throw rangeError(`${name}.cardinalityLimit`, LIMIT, cardinalityLimit);
    }
  }
  return {
    capacity: (capacity as number | undefined) ?? DEFAULT_CAPACITY,
    cardinalityLimit: (cardinalityLimit as number | undefined) ?? DEFAULT_CARDINALITY_LIMIT,
  };
}

const USAGE = 'a Usage object (from usageFromResponse or SseUsageAccumulator)';

/**
 * The arguments of `recordUsage(pricing, usage, options?)` after `pricing`:
 * a `Usage` with valid counts and parts, a model (its own or
 * `options.requestModel`), optional names and latencies. Returns the model.
 */
export function checkRecordUsageArgs(usage: unknown, options: unknown): string {
  if (typeof usage !== 'object' || usage === null || Array.isArray(usage)) throw typeError('usage', USAGE, usage);
  const u = usage as Record<string, unknown>;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw typeError('options', 'an object like { requestModel?, agentId?, providerId?, durationMs?, ttftMs?, operation? }', options);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  if (u.model !== null && u.model !== undefined) checkModel(u.model, 'usage.model');
  if (o.requestModel !== null && o.requestModel !== undefined) checkModel(o.requestModel, 'options.requestModel');
  const model = (u.model ?? o.requestModel) as string | null | undefined;
  if (model == null) throw new TypeError('usage.model is null and options.requestModel is not given: the request needs a model');
  checkOptionalName(o.agentId, 'options.agentId');
  checkOptionalName(o.providerId, 'options.providerId');
  checkOptionalDuration(o.durationMs, 'options.durationMs');
  checkOptionalDuration(o.ttftMs, 'options.ttftMs');
  if (o.operation !== undefined && o.operation !== null) checkName(o.operation, 'options.operation');
  if (u.error !== null && u.error !== undefined) {
    if (typeof u.error !== 'object' || Array.isArray(u.error)) throw typeError('usage.error', 'null or { code, message }', u.error);
    const e = u.error as Record<string, unknown>;
    checkOptionalName(e.code, 'usage.error.code');
    checkOptionalString(e.message, 'usage.error.message');
    return model;
  }
  checkCount(u.inputTokens, 'usage.inputTokens');
  checkCount(u.outputTokens, 'usage.outputTokens');
  checkRecordDetails(u, u.inputTokens, u.outputTokens, 'usage');
  return model;
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
  checkOptionalName(agentId, 'agentId');
  checkOptionalName(providerId, 'providerId');
  checkRecordDetails(latency, inputTokens, outputTokens);
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
  checkName(provider, 'provider');
  checkCount(inputTokens, 'inputTokens');
  checkCount(outputTokens, 'outputTokens');
  checkOptionalName(agentId, 'agentId');
  checkOptionalName(providerId, 'providerId');
}

/** `recordLlmFailed(model, agentId?, providerId?, errorCode?, errorMessage?, details?)`. */
export function checkLlmFailedArgs(
  model: unknown,
  agentId: unknown,
  providerId: unknown,
  errorCode: unknown,
  errorMessage: unknown,
  details?: unknown,
): void {
  checkModel(model);
  checkOptionalName(agentId, 'agentId');
  checkOptionalName(providerId, 'providerId');
  checkOptionalName(errorCode, 'errorCode');
  checkOptionalString(errorMessage, 'errorMessage');
  checkFailureDetails(details);
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
  checkOptionalName(agentId, 'agentId');
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

/** The event kinds (their order is the addon's kind numbers: `events.kinds` in the binding's layout.json). */
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
  // Typed as a kind so that `tsc` flags a kind this switch does not check;
  // any other string still reaches `default` at run time.
  const kind = eventType as EventType;
  switch (kind) {
    case 'llm_request_completed':
      checkName(input.provider, `${name}.provider`);
      checkModel(input.model, `${name}.model`);
      checkOptionalName(input.providerId, `${name}.providerId`);
      checkCount(input.inputTokens, `${name}.inputTokens`);
      checkCount(input.outputTokens, `${name}.outputTokens`);
      checkCount(input.costMicros, `${name}.costMicros`);
      checkOptionalName(input.agentId, `${name}.agentId`);
      return;
    case 'llm_request_failed':
      checkName(input.provider, `${name}.provider`);
      checkModel(input.model, `${name}.model`);
      checkOptionalName(input.providerId, `${name}.providerId`);
      checkOptionalName(input.errorCode, `${name}.errorCode`);
      checkOptionalString(input.errorMessage, `${name}.errorMessage`);
      checkOptionalName(input.agentId, `${name}.agentId`);
      return;
    case 'budget_threshold_reached':
      checkThresholdPercent(input.thresholdPercent, `${name}.thresholdPercent`);
      checkCount(input.currentSpendMicros, `${name}.currentSpendMicros`);
      checkCount(input.budgetMicros, `${name}.budgetMicros`);
      checkOptionalName(input.agentId, `${name}.agentId`);
      return;
    case 'router_started':
      checkPort(input.port, `${name}.port`);
      return;
    case 'router_stopped':
      checkCount(input.totalRequests, `${name}.totalRequests`);
      checkCount(input.totalCostMicros, `${name}.totalCostMicros`);
      return;
    default:
      kind satisfies never;
      throw rangeError(`${name}.eventType`, expected, eventType);
  }
}
