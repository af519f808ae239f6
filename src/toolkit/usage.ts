/**
 * Token-usage extraction from non-streamed LLM provider responses
 * (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages).
 *
 * Pure TypeScript, no dependencies, never throws.
 */

/**
 * Token usage of one LLM request, normalised across providers.
 *
 * Every count is a non-negative safe integer. Counts are reported as the
 * provider reports them; in particular OpenAI's prompt counts *include* cached
 * tokens while Anthropic's `input_tokens` *excludes* cache reads and writes
 * (those are in {@link Usage.cacheReadTokens} and {@link Usage.cacheWriteTokens}).
 */
export interface Usage {
  /** The model the provider reports in the response, or `null` if absent (or not a non-empty string). */
  model: string | null;
  /** Prompt tokens: `prompt_tokens` (Chat Completions) or `input_tokens` (Responses, Anthropic; for Anthropic this excludes cache tokens). */
  inputTokens: number;
  /** Completion tokens: `completion_tokens` / `output_tokens`, including reasoning tokens as the provider counts them. */
  outputTokens: number;
  /** Prompt tokens served from the cache: OpenAI `*_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`. */
  cacheReadTokens: number;
  /** Prompt tokens written to the cache: Anthropic `cache_creation_input_tokens`; always 0 for OpenAI. */
  cacheWriteTokens: number;
  /** Reasoning tokens: OpenAI `completion_tokens_details.reasoning_tokens` / `output_tokens_details.reasoning_tokens`; always 0 for Anthropic. */
  reasoningTokens: number;
}

/** The wire format a usage object was recognised as. */
type UsageFormat = 'chat' | 'responses' | 'anthropic' | 'generic';

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
function field(obj: unknown, key: string): unknown {
  return isRecord(obj) ? obj[key] : undefined;
}

/** The reported model name, or `null` when absent, empty or not a string. */
export function modelOf(body: unknown): string | null {
  const m = field(body, 'model');
  return typeof m === 'string' && m.length > 0 ? m : null;
}

/**
 * Decides which wire format a usage object is, or `null` if it carries none of
 * the recognised token counters.
 */
function detectFormat(body: Rec, usage: Rec): UsageFormat | null {
  if (present(usage.prompt_tokens) || present(usage.completion_tokens)) return 'chat';
  const hasIo = present(usage.input_tokens) || present(usage.output_tokens);
  const hasDetails = present(usage.input_tokens_details) || present(usage.output_tokens_details);
  const hasCache = present(usage.cache_creation_input_tokens) || present(usage.cache_read_input_tokens);
  if (!hasIo && !hasCache) return null;
  // Body-level hints are the strongest, then usage-level ones.
  if (body.object === 'response') return 'responses';
  if (body.type === 'message') return 'anthropic';
  if (hasDetails) return 'responses';
  if (hasCache) return 'anthropic';
  return 'generic';
}

/**
 * Extracts {@link Usage} from `body.usage` in the given format. Internal helper
 * shared with the SSE accumulator.
 */
function extract(body: Rec, usage: Rec, format: UsageFormat): Usage {
  const model = modelOf(body);
  switch (format) {
    case 'chat':
      return {
        model,
        inputTokens: count(usage.prompt_tokens),
        outputTokens: count(usage.completion_tokens),
        cacheReadTokens: count(field(usage.prompt_tokens_details, 'cached_tokens')),
        cacheWriteTokens: 0,
        reasoningTokens: count(field(usage.completion_tokens_details, 'reasoning_tokens')),
      };
    case 'responses':
      return {
        model,
        inputTokens: count(usage.input_tokens),
        outputTokens: count(usage.output_tokens),
        cacheReadTokens: count(field(usage.input_tokens_details, 'cached_tokens')),
        cacheWriteTokens: 0,
        reasoningTokens: count(field(usage.output_tokens_details, 'reasoning_tokens')),
      };
    case 'anthropic':
      return {
        model,
        inputTokens: count(usage.input_tokens),
        outputTokens: count(usage.output_tokens),
        cacheReadTokens: count(usage.cache_read_input_tokens),
        cacheWriteTokens: count(usage.cache_creation_input_tokens),
        reasoningTokens: 0,
      };
    case 'generic':
      return {
        model,
        inputTokens: count(usage.input_tokens),
        outputTokens: count(usage.output_tokens),
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
      };
  }
}

/**
 * Extracts normalised token usage from a parsed (non-streamed) LLM response body.
 *
 * Understands OpenAI Chat Completions (`usage.prompt_tokens` …), OpenAI
 * Responses (`object: 'response'`, `usage.input_tokens` + `*_tokens_details`)
 * and Anthropic Messages (`type: 'message'`, `usage.input_tokens` +
 * `cache_*_input_tokens`). The format is detected from the fields:
 * `prompt_tokens`/`completion_tokens` ⇒ Chat Completions; otherwise
 * `object: 'response'` ⇒ Responses; `type: 'message'` ⇒ Anthropic;
 * `*_tokens_details` ⇒ Responses; `cache_*_input_tokens` ⇒ Anthropic; bare
 * `input_tokens`/`output_tokens` are read the same way for both.
 *
 * Rules:
 * - Returns `null` when `body` is not an object, has no `usage` object
 *   (missing, `null`, an array, a primitive), or the usage object has none of
 *   the recognised token counters.
 * - A count that is absent, `null`, or not a non-negative safe integer
 *   (negative, fractional, a string, NaN, too large) reads as `0`.
 * - `model` is the body's `model` when it is a non-empty string, else `null`.
 * - Never throws (a body whose property access throws yields `null`).
 *
 * @param body A `JSON.parse`d response body (any value is accepted).
 * @returns The usage, or `null` if the body reports none.
 */
export function usageFromResponse(body: unknown): Usage | null {
  try {
    if (!isRecord(body)) return null;
    const usage = body.usage;
    if (!isRecord(usage)) return null;
    const format = detectFormat(body, usage);
    return format === null ? null : extract(body, usage, format);
  } catch {
    return null;
  }
}
