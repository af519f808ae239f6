/**
 * Token-usage extraction from non-streamed LLM provider responses (OpenAI
 * Chat Completions, OpenAI Responses, Anthropic Messages, Google Gemini),
 * normalized to one {@link Usage} model.
 *
 * Pure TypeScript, no dependencies, never throws.
 */
import type { Usage } from '../shared/types.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_NAME_CHARS } from '../shared/validate.js';

export type { Usage };

/** An error a provider reported inside a 200 answer or a stream. */
export type UsageError = NonNullable<Usage['error']>;

/** The wire format a usage object was recognised as. */
type UsageFormat = 'chat' | 'responses' | 'anthropic' | 'gemini' | 'generic';

type Rec = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value is "present" unless it is `undefined` or `null` (Anthropic sends `null` for unknown counts). */
function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/**
 * Returns `v` if it is a valid token count (a non-negative safe integer),
 * otherwise `undefined`. `-0` is normalised to `0`.
 */
export function validCount(v: unknown): number | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return undefined;
  return v === 0 ? 0 : v;
}

/** A token count, or 0 when absent or invalid. */
function count(v: unknown): number {
  return validCount(v) ?? 0;
}

/** Reads `obj[key]` when `obj` is a record, else `undefined`. */
export function field(obj: unknown, key: string): unknown {
  return isRecord(obj) ? obj[key] : undefined;
}

/** The reported model name, or `null` when absent, empty or not a string. */
export function modelOf(body: unknown): string | null {
  const m = field(body, 'model') ?? field(body, 'modelVersion');
  return typeof m === 'string' && m.length > 0 ? m : null;
}

/** `a + b`, stopping at `Number.MAX_SAFE_INTEGER` (hostile counts must not make an unsafe total). */
function add(a: number, b: number): number {
  return Math.min(a + b, Number.MAX_SAFE_INTEGER);
}

/** The counts of one request in the normalized model (see {@link toUsage}), before clamping. */
export interface UsageParts {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h: number;
  reasoning: number;
}

/** Zero counts. */
export function emptyParts(): UsageParts {
  return { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, cacheWrite1h: 0, reasoning: 0 };
}

/** `into += from`, part by part. */
export function addParts(into: UsageParts, from: UsageParts): void {
  into.input = add(into.input, from.input);
  into.output = add(into.output, from.output);
  into.cacheRead = add(into.cacheRead, from.cacheRead);
  into.cacheWrite = add(into.cacheWrite, from.cacheWrite);
  into.cacheWrite1h = add(into.cacheWrite1h, from.cacheWrite1h);
  into.reasoning = add(into.reasoning, from.reasoning);
}

/**
 * The normalized {@link Usage}: parts never exceed their totals (a provider
 * reporting more cached than prompt tokens is clamped, in the order cache
 * read, 5-minute write, 1-hour write), so `store.recordUsage` accepts it.
 */
export function toUsage(model: string | null, p: UsageParts, error: UsageError | null): Usage {
  const cacheReadTokens = Math.min(p.cacheRead, p.input);
  const cacheWriteTokens = Math.min(p.cacheWrite, p.input - cacheReadTokens);
  const cacheWrite1hTokens = Math.min(p.cacheWrite1h, p.input - cacheReadTokens - cacheWriteTokens);
  return {
    model,
    inputTokens: p.input,
    outputTokens: p.output,
    cacheReadTokens,
    cacheWriteTokens,
    cacheWrite1hTokens,
    reasoningTokens: Math.min(p.reasoning, p.output),
    error,
  };
}

/**
 * Anthropic counts: `input_tokens` excludes the cache, so the normalized
 * input is `input_tokens + cache_read_input_tokens + cache writes`. The
 * writes are split by lifetime: 1 hour from
 * `cache_creation.ephemeral_1h_input_tokens`, 5 minutes from
 * `cache_creation.ephemeral_5m_input_tokens`, or, without it,
 * `cache_creation_input_tokens` minus the 1-hour part. Thinking tokens
 * (`output_tokens_details.thinking_tokens`) are the reasoning part of
 * `output_tokens`.
 */
export interface AnthropicCounts {
  uncached: number;
  cacheRead: number;
  /** `cache_creation_input_tokens`: both lifetimes together. */
  cacheCreation: number;
  /** `cache_creation.ephemeral_5m_input_tokens`, when reported. */
  cache5m: number | undefined;
  /** `cache_creation.ephemeral_1h_input_tokens`, when reported. */
  cache1h: number | undefined;
  output: number | undefined;
  thinking: number;
}

/** Reads Anthropic counts; with `base`, an absent, `null` or invalid count keeps the base's value. */
export function anthropicCounts(u: Rec, base?: AnthropicCounts): AnthropicCounts {
  const creation = u.cache_creation;
  const pick = (v: unknown, old: number | undefined): number | undefined => validCount(v) ?? old;
  return {
    uncached: pick(u.input_tokens, base?.uncached) ?? 0,
    cacheRead: pick(u.cache_read_input_tokens, base?.cacheRead) ?? 0,
    cacheCreation: pick(u.cache_creation_input_tokens, base?.cacheCreation) ?? 0,
    cache5m: pick(field(creation, 'ephemeral_5m_input_tokens'), base?.cache5m),
    cache1h: pick(field(creation, 'ephemeral_1h_input_tokens'), base?.cache1h),
    output: pick(u.output_tokens, base?.output),
    thinking: pick(field(u.output_tokens_details, 'thinking_tokens'), base?.thinking) ?? 0,
  };
}

/** The normalized parts of Anthropic counts (see {@link AnthropicCounts}). */
export function anthropicParts(c: AnthropicCounts): UsageParts {
  const cacheWrite1h = c.cache1h ?? 0;
  const cacheWrite = c.cache5m ?? Math.max(0, c.cacheCreation - cacheWrite1h);
  return {
    input: add(add(add(c.uncached, c.cacheRead), cacheWrite), cacheWrite1h),
    output: c.output ?? 0,
    cacheRead: c.cacheRead,
    cacheWrite,
    cacheWrite1h,
    reasoning: c.thinking,
  };
}

/** Gemini `usageMetadata`: `candidatesTokenCount` excludes thoughts, so output = candidates + thoughts. */
function geminiParts(m: Rec): UsageParts {
  const thoughts = count(m.thoughtsTokenCount);
  return {
    input: count(m.promptTokenCount),
    output: add(count(m.candidatesTokenCount), thoughts),
    cacheRead: count(m.cachedContentTokenCount),
    cacheWrite: 0,
    cacheWrite1h: 0,
    reasoning: thoughts,
  };
}

/**
 * Decides which wire format a usage object is, or `null` if it carries none of
 * the recognised token counters.
 */
function detectFormat(body: Rec, usage: Rec): UsageFormat | null {
  if (present(usage.prompt_tokens) || present(usage.completion_tokens)) return 'chat';
  const hasIo = present(usage.input_tokens) || present(usage.output_tokens);
  const hasDetails = present(usage.input_tokens_details) || present(usage.output_tokens_details);
  const hasCache =
    present(usage.cache_creation_input_tokens) || present(usage.cache_read_input_tokens) || present(usage.cache_creation);
  if (!hasIo && !hasCache) return null;
  // Body-level hints are the strongest, then usage-level ones.
  if (body.object === 'response') return 'responses';
  if (body.type === 'message') return 'anthropic';
  if (hasCache) return 'anthropic';
  if (hasDetails) return 'responses';
  return 'generic';
}

/** The normalized parts of `usage` in the given format. */
function partsOf(usage: Rec, format: UsageFormat): UsageParts {
  switch (format) {
    case 'chat':
      return {
        input: count(usage.prompt_tokens),
        output: count(usage.completion_tokens),
        cacheRead: count(field(usage.prompt_tokens_details, 'cached_tokens')),
        cacheWrite: 0,
        cacheWrite1h: 0,
        reasoning: count(field(usage.completion_tokens_details, 'reasoning_tokens')),
      };
    case 'responses':
      return {
        input: count(usage.input_tokens),
        output: count(usage.output_tokens),
        cacheRead: count(field(usage.input_tokens_details, 'cached_tokens')),
        cacheWrite: 0,
        cacheWrite1h: 0,
        reasoning: count(field(usage.output_tokens_details, 'reasoning_tokens')),
      };
    case 'anthropic':
      return anthropicParts(anthropicCounts(usage));
    case 'gemini':
      return geminiParts(usage);
    case 'generic':
      return { ...emptyParts(), input: count(usage.input_tokens), output: count(usage.output_tokens) };
  }
}

/** Cuts `text` to at most `max` code points. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  return points.length <= max ? text : points.slice(0, max).join('');
}

/** The first argument that is a non-empty string, else `null`. */
function firstString(...values: unknown[]): string | null {
  for (const v of values) if (typeof v === 'string' && v.length > 0) return v;
  return null;
}

/**
 * An error as the store records it: `code` from the provider's `code` (or
 * `type`), at most 256 characters (a longer one is cut), `fallbackCode` when
 * it names none; `message` at most 2,048 characters.
 */
export function usageError(value: unknown, fallbackCode: string, fallbackMessage = ''): UsageError {
  const code = firstString(field(value, 'code'), field(value, 'type')) ?? fallbackCode;
  const message = firstString(field(value, 'message')) ?? fallbackMessage;
  return { code: cut(code, MAX_NAME_CHARS), message: cut(message, MAX_ERROR_MESSAGE_CHARS) };
}

/**
 * The error a 200 body or a stream event carries, or `null`: OpenAI's
 * `{"error": {...}}` (Chat Completions) and `error` / `response.error`
 * events, a Responses object whose `status` is `failed` (its `error`),
 * a `response.failed` event, Anthropic's `{"type": "error", "error": {...}}`.
 */
export function errorOf(json: Rec): UsageError | null {
  const type = json.type;
  if (type === 'response.failed') {
    const err = field(json.response, 'error');
    return usageError(err, 'response_failed', 'the response failed');
  }
  if (json.object === 'response' && json.status === 'failed') return usageError(json.error, 'response_failed', 'the response failed');
  if (present(json.error)) return usageError(isRecord(json.error) ? json.error : json, 'error', typeof json.error === 'string' ? json.error : '');
  if (type === 'error' || type === 'response.error') return usageError(json, 'error');
  return null;
}

/**
 * Extracts normalized token usage from a parsed (non-streamed) LLM response body.
 *
 * Understands OpenAI Chat Completions (`usage.prompt_tokens` …), OpenAI
 * Responses (`object: 'response'`, `usage.input_tokens` + `*_tokens_details`),
 * Anthropic Messages (`type: 'message'`, `usage.input_tokens` +
 * `cache_*_input_tokens` + `cache_creation`) and Google Gemini
 * (`usageMetadata`). The format is detected from the fields:
 * `prompt_tokens`/`completion_tokens` ⇒ Chat Completions; otherwise
 * `object: 'response'` ⇒ Responses; `type: 'message'` ⇒ Anthropic;
 * Anthropic cache fields ⇒ Anthropic; `*_tokens_details` ⇒ Responses; bare
 * `input_tokens`/`output_tokens` are read the same way for both.
 *
 * The result is normalized ({@link Usage}): `inputTokens` counts every prompt
 * token, cached or not (Anthropic's `input_tokens` plus its cache reads and
 * writes), `outputTokens` every completion token (Gemini's candidates plus
 * thoughts); cache and reasoning counts are parts of those, never more.
 *
 * Rules:
 * - An error carried in the body (see {@link errorOf}) gives a `Usage` with
 *   `error` set (and whatever counts the body has, else 0).
 * - Otherwise `null` when `body` is not an object, has no usage object, or
 *   the usage object has none of the recognised token counters.
 * - A count that is absent, `null`, or not a non-negative safe integer
 *   (negative, fractional, a string, NaN, too large) reads as `0`.
 * - `model` is the body's `model` (Gemini: `modelVersion`) when it is a
 *   non-empty string, else `null`.
 * - Never throws (a body whose property access throws yields `null`).
 *
 * @param body A `JSON.parse`d response body (any value is accepted).
 * @returns The usage, or `null` if the body reports none.
 */
export function usageFromResponse(body: unknown): Usage | null {
  try {
    if (!isRecord(body)) return null;
    const error = errorOf(body);
    const usage = body.usage;
    let parts: UsageParts | null = null;
    if (isRecord(usage)) {
      const format = detectFormat(body, usage);
      if (format !== null) parts = partsOf(usage, format);
    } else if (isRecord(body.usageMetadata)) {
      parts = partsOf(body.usageMetadata, 'gemini');
    }
    if (parts === null && error === null) return null;
    return toUsage(modelOf(body), parts ?? emptyParts(), error);
  } catch {
    return null;
  }
}
