// Cross-check of the embedded price table (generated from LiteLLM) against a
// second source, pydantic's genai-prices: for every model both know, input,
// output and cache prices and the long-context tier must agree, or the
// disagreement must be listed below with its reason. The test fails on an
// unlisted disagreement and on a listed one that no longer disagrees.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { calcPrice, type ModelPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { PricingManager } from '../src/index.js';
import type { ModelPricing } from '../src/index.js';

const PRICES_JSON = resolve(__dirname, '../crates/iron_cost/data/prices.json');
const table = JSON.parse(readFileSync(PRICES_JSON, 'utf8')) as {
  checked_on: string;
  models: Array<{ model: string; provider: string }>;
};

/** The table's providers → genai-prices' provider ids. */
const PROVIDER: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'google',
  mistral: 'mistral',
  deepseek: 'deepseek',
  xai: 'x-ai',
};

type Kind = 'input' | 'output' | 'cache_read' | 'cache_write' | 'cache_write_1h';
const KINDS: Record<Kind, { ours: keyof Omit<ModelPricing, 'model' | 'longContext'>; theirs: string }> = {
  input: { ours: 'inputMicrosPerMillionTokens', theirs: 'input_mtok' },
  output: { ours: 'outputMicrosPerMillionTokens', theirs: 'output_mtok' },
  cache_read: { ours: 'cacheReadMicrosPerMillionTokens', theirs: 'cache_read_mtok' },
  cache_write: { ours: 'cacheWriteMicrosPerMillionTokens', theirs: 'cache_write_mtok' },
  cache_write_1h: { ours: 'cacheWrite1hMicrosPerMillionTokens', theirs: 'cache_write_1h_mtok' },
};
type Field = Kind | `tier.${Kind}` | 'threshold';

/** Prices in one shape: micro-dollars per million tokens, a price left out where unpublished. */
interface Canonical {
  /** Above this many prompt tokens the tier applies; null for no tier. */
  threshold: number | null;
  base: Partial<Record<Kind, number>>;
  tier: Partial<Record<Kind, number>>;
}

const micros = (usdPerMillion: number) => Math.round(usdPerMillion * 1e6);

function ours(pricing: ModelPricing): Canonical {
  const rates = (r: Omit<ModelPricing, 'model' | 'longContext'>) => {
    const out: Partial<Record<Kind, number>> = {};
    for (const [kind, { ours: key }] of Object.entries(KINDS) as Array<[Kind, (typeof KINDS)[Kind]]>) {
      if (r[key] !== null) out[kind] = r[key];
    }
    return out;
  };
  const tier = pricing.longContext;
  return { threshold: tier?.thresholdTokens ?? null, base: rates(pricing), tier: tier === null ? {} : rates(tier) };
}

/**
 * genai-prices' prices: a tiered price `{ base, tiers: [{ start, price }] }`
 * applies `price` to prompts of more than `start` tokens; a flat price next to
 * tiered ones is the same in the tier.
 */
function theirs(prices: ModelPrice): Canonical {
  const out: Canonical = { threshold: null, base: {}, tier: {} };
  for (const [kind, { theirs: key }] of Object.entries(KINDS) as Array<[Kind, (typeof KINDS)[Kind]]>) {
    const price = prices[key];
    if (price === undefined) continue;
    if (typeof price === 'number') {
      out.base[kind] = micros(price);
    } else {
      out.base[kind] = micros(price.base);
      out.threshold = price.tiers[0]!.start;
      out.tier[kind] = micros(price.tiers[0]!.price);
    }
  }
  if (out.threshold !== null) for (const kind of Object.keys(out.base) as Kind[]) out.tier[kind] ??= out.base[kind];
  return out;
}

function disagreements(a: Canonical, b: Canonical): Field[] {
  const fields: Field[] = [];
  if (a.threshold !== b.threshold) fields.push('threshold');
  for (const kind of Object.keys(KINDS) as Kind[]) {
    if (a.base[kind] !== b.base[kind]) fields.push(kind);
    if (a.threshold !== null && b.threshold !== null && a.tier[kind] !== b.tier[kind]) fields.push(`tier.${kind}`);
  }
  return fields;
}

// Reasons, one line each. "LiteLLM" is the release the entry says it is priced from.
const AT_272K =
  'genai-prices bills the tier from 272,000 prompt tokens (start 271,999), LiteLLM above 272,000: they differ at exactly 272,000';
const AT_200K_XAI =
  'genai-prices bills the tier from 200,000 prompt tokens (start 199,999), LiteLLM above 200,000: they differ at exactly 200,000';
const HAND_NO_CACHE =
  'retired: keeps its hand-checked 2025-11-30 price without cache prices (no LiteLLM release we read lists it at this price with plausible cache prices)';
const HAND_NO_TIER = 'retired: its hand-checked 2025-11-30 price has only the base tier';
const OLD_NO_CACHE = 'retired: LiteLLM 1.80.0, the last release we read that lists it, has no price for this';
const SONNET_4_5_TIER =
  "LiteLLM 1.110.2 dropped the >200k tier from Anthropic's own entry (its bedrock and vertex_ai entries keep $6/$22.50); genai-prices keeps it";
const SONNET_4_TIER = "LiteLLM 1.80.0 lists Anthropic's >200k long-context prices for Sonnet 4; genai-prices has no tier for it";
const MATCHED_OTHER = 'genai-prices does not list this model and matches the name to another model';
const CACHE_ONLY_LITELLM = 'LiteLLM lists a cached-input price, genai-prices none';
const FREE_GEMMA = 'free on the Gemini API: LiteLLM lists $0, genai-prices no price';
const DEEPSEEK_WRITE = 'LiteLLM lists DeepSeek cache writes as free ($0); genai-prices lists no write price (DeepSeek reports none)';
const REPRICED =
  'the sources disagree on the price (LiteLLM 1.110.2 against genai-prices 0.1.8 of September 2026); not re-checked against the provider';
const OLD_TIER_XAI = 'LiteLLM 1.80.0 lists a >128k tier for Grok 4; genai-prices has none';
const MOVED_ALIAS = 'moving alias: LiteLLM 1.110.2 prices its current target, genai-prices 0.1.8 an earlier one';
const DEEPSEEK_V3_2 =
  "LiteLLM has DeepSeek's V3.2 price of September 2025 ($0.28 / $0.42, cache hit $0.028); genai-prices an earlier price";

/** Every known disagreement: model → field → reason. Comments: ours / genai-prices (micro-dollars per million tokens; tokens for the threshold). */
const EXPECTED: Record<string, Partial<Record<Field, string>>> = {
  'gpt-4o-search-preview': {
    cache_read: CACHE_ONLY_LITELLM, // 1250000 / none
  },
  'gpt-4o-search-preview-2025-03-11': {
    cache_read: CACHE_ONLY_LITELLM, // 1250000 / none
  },
  'gpt-5.4': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.4-2026-03-05': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.4-pro': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.4-pro-2026-03-05': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.5': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.5-2026-04-23': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.5-pro': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.5-pro-2026-04-23': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.6': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.6-luna': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.6-sol': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-5.6-terra': {
    threshold: AT_272K, // 272000 / 271999
  },
  'gpt-6-astra': {
    threshold: AT_272K, // 272000 / 271999
  },
  'o1-mini-2024-09-12': {
    cache_read: HAND_NO_CACHE, // none / 550000
  },
  'claude-3-5-haiku-20241022': {
    cache_read: HAND_NO_CACHE, // none / 80000
    cache_write: HAND_NO_CACHE, // none / 1000000
    cache_write_1h: HAND_NO_CACHE, // none / 1600000
  },
  'claude-3-5-haiku-latest': {
    cache_read: HAND_NO_CACHE, // none / 80000
    cache_write: HAND_NO_CACHE, // none / 1000000
    cache_write_1h: HAND_NO_CACHE, // none / 1600000
  },
  'claude-3-haiku-20240307': {
    cache_read: HAND_NO_CACHE, // none / 30000
    cache_write: HAND_NO_CACHE, // none / 300000
    cache_write_1h: HAND_NO_CACHE, // none / 500000
  },
  'claude-3-opus-20240229': {
    cache_read: HAND_NO_CACHE, // none / 1500000
    cache_write: HAND_NO_CACHE, // none / 18750000
    cache_write_1h: HAND_NO_CACHE, // none / 30000000
  },
  'claude-3-opus-latest': {
    cache_read: HAND_NO_CACHE, // none / 1500000
    cache_write: HAND_NO_CACHE, // none / 18750000
    cache_write_1h: HAND_NO_CACHE, // none / 30000000
  },
  'claude-3-sonnet-20240229': {
    cache_read: HAND_NO_CACHE, // none / 300000
    cache_write: HAND_NO_CACHE, // none / 3750000
    cache_write_1h: HAND_NO_CACHE, // none / 6000000
  },
  'claude-opus-4-0': {
    cache_read: HAND_NO_CACHE, // none / 1500000
    cache_write: HAND_NO_CACHE, // none / 18750000
    cache_write_1h: HAND_NO_CACHE, // none / 30000000
  },
  'claude-sonnet-4-0': {
    cache_read: HAND_NO_CACHE, // none / 300000
    cache_write: HAND_NO_CACHE, // none / 3750000
    cache_write_1h: HAND_NO_CACHE, // none / 6000000
  },
  'claude-sonnet-4-20250514': {
    threshold: SONNET_4_TIER, // 200000 / none
  },
  'claude-sonnet-4-5': {
    threshold: SONNET_4_5_TIER, // none / 200000
  },
  'claude-sonnet-4-5-20250929': {
    threshold: SONNET_4_5_TIER, // none / 200000
  },
  'claude-sonnet-5-5': {
    cache_read: MATCHED_OTHER, // 100000 / 200000
  },
  'gemini-1.5-flash': {
    cache_read: OLD_NO_CACHE, // none / 18750
    'tier.cache_read': OLD_NO_CACHE, // none / 37500
  },
  'gemini-1.5-flash-002': {
    threshold: HAND_NO_TIER, // none / 128000
    cache_read: HAND_NO_CACHE, // none / 18750
  },
  'gemini-1.5-flash-8b': {
    threshold: MATCHED_OTHER, // none / 128000
    input: MATCHED_OTHER, // 37500 / 75000
    output: MATCHED_OTHER, // 150000 / 300000
    cache_read: MATCHED_OTHER, // none / 18750
  },
  'gemini-1.5-pro': {
    threshold: HAND_NO_TIER, // none / 128000
  },
  'gemini-1.5-pro-002': {
    threshold: HAND_NO_TIER, // none / 128000
  },
  'gemini-2.0-flash-lite': {
    cache_read: CACHE_ONLY_LITELLM, // 18750 / none
  },
  'gemini-2.5-pro-preview-tts': {
    cache_read: CACHE_ONLY_LITELLM, // 125000 / none
  },
  'gemini-3-pro-preview': {
    threshold: HAND_NO_TIER, // none / 200000
    cache_read: HAND_NO_CACHE, // none / 200000
  },
  'gemma-4-26b-a4b-it': {
    input: FREE_GEMMA, // 0 / none
    output: FREE_GEMMA, // 0 / none
  },
  'gemma-4-31b-it': {
    input: FREE_GEMMA, // 0 / none
    output: FREE_GEMMA, // 0 / none
  },
  'codestral-latest': {
    cache_read: CACHE_ONLY_LITELLM, // 30000 / none
  },
  'devstral-small-latest': {
    cache_read: CACHE_ONLY_LITELLM, // 10000 / none
  },
  'magistral-medium-latest': {
    input: MOVED_ALIAS, // 1500000 / 2000000
    output: MOVED_ALIAS, // 7500000 / 5000000
    cache_read: CACHE_ONLY_LITELLM, // 150000 / none
  },
  'magistral-small-latest': {
    input: MOVED_ALIAS, // 150000 / 500000
    output: MOVED_ALIAS, // 600000 / 1500000
    cache_read: CACHE_ONLY_LITELLM, // 15000 / none
  },
  'mistral-large-latest': {
    input: MOVED_ALIAS, // 500000 / 2000000
    output: MOVED_ALIAS, // 1500000 / 6000000
    cache_read: CACHE_ONLY_LITELLM, // 50000 / none
  },
  'mistral-medium': {
    input: MOVED_ALIAS, // 1500000 / 400000
    output: MOVED_ALIAS, // 7500000 / 2000000
    cache_read: MOVED_ALIAS, // 150000 / 40000
  },
  'mistral-medium-2505': {
    cache_read: OLD_NO_CACHE, // none / 40000
  },
  'mistral-medium-2508': {
    cache_read: HAND_NO_CACHE, // none / 40000
  },
  'mistral-small-latest': {
    input: MOVED_ALIAS, // 150000 / 100000
    output: MOVED_ALIAS, // 600000 / 300000
    cache_read: CACHE_ONLY_LITELLM, // 15000 / none
  },
  'mistral-tiny': {
    cache_read: CACHE_ONLY_LITELLM, // 25000 / none
  },
  'open-mistral-nemo': {
    input: REPRICED, // 300000 / 150000
    output: REPRICED, // 300000 / 150000
    cache_read: CACHE_ONLY_LITELLM, // 30000 / none
  },
  'pixtral-large-latest': {
    cache_read: CACHE_ONLY_LITELLM, // 200000 / none
  },
  'deepseek-chat': {
    input: DEEPSEEK_V3_2, // 280000 / 270000
    output: DEEPSEEK_V3_2, // 420000 / 1100000
    cache_read: DEEPSEEK_V3_2, // 28000 / 70000
    cache_write: DEEPSEEK_WRITE, // 0 / none
  },
  'deepseek-reasoner': {
    input: DEEPSEEK_V3_2, // 280000 / 550000
    output: DEEPSEEK_V3_2, // 420000 / 2190000
    cache_read: DEEPSEEK_V3_2, // 28000 / 140000
  },
  'deepseek-v3.2': {
    input: REPRICED, // 280000 / 228800
    output: REPRICED, // 400000 / 343200
    cache_read: CACHE_ONLY_LITELLM, // 28000 / none
  },
  'deepseek-v4-flash': {
    input: REPRICED, // 300000 / 220000
    output: REPRICED, // 1200000 / 660000
    cache_read: REPRICED, // 6000 / 7000
    cache_write: DEEPSEEK_WRITE, // 0 / none
  },
  'deepseek-v4-flash-vision-exp': {
    input: REPRICED, // 300000 / 220000
    output: REPRICED, // 1200000 / 660000
    cache_read: REPRICED, // 6000 / 7000
    cache_write: DEEPSEEK_WRITE, // 0 / none
  },
  'deepseek-v4-pro': {
    input: REPRICED, // 1320000 / 660000
    output: REPRICED, // 3960000 / 1980000
    cache_read: REPRICED, // 44000 / 22000
    cache_write: DEEPSEEK_WRITE, // 0 / none
  },
  'grok-3': {
    cache_read: OLD_NO_CACHE, // none / 750000
  },
  'grok-3-mini': {
    cache_read: OLD_NO_CACHE, // none / 75000
  },
  'grok-4': {
    cache_read: OLD_NO_CACHE, // none / 750000
  },
  'grok-4-0709': {
    threshold: OLD_TIER_XAI, // 128000 / none
    cache_read: OLD_NO_CACHE, // none / 750000
  },
  'grok-4-fast-non-reasoning': {
    threshold: OLD_TIER_XAI, // 128000 / none
  },
  'grok-4-fast-reasoning': {
    threshold: OLD_TIER_XAI, // 128000 / none
  },
  'grok-4.20': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-4.20-multi-agent': {
    threshold: REPRICED, // 200000 / none
    input: REPRICED, // 1250000 / 2000000
    output: REPRICED, // 2500000 / 6000000
  },
  'grok-4.3': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-4.3-latest': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-4.5': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-4.5-latest': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-4.6': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-build-0.1': {
    threshold: AT_200K_XAI, // 200000 / 199999
  },
  'grok-code-fast': {
    threshold: REPRICED, // 200000 / none
    input: REPRICED, // 1000000 / 200000
    output: REPRICED, // 2000000 / 1500000
    cache_read: REPRICED, // 200000 / 20000
  },
  'grok-code-fast-1': {
    threshold: REPRICED, // 200000 / none
    input: REPRICED, // 1000000 / 200000
    output: REPRICED, // 2000000 / 1500000
    cache_read: REPRICED, // 200000 / 20000
  },
  'grok-code-fast-1-0825': {
    threshold: REPRICED, // 200000 / none
    input: REPRICED, // 1000000 / 200000
    output: REPRICED, // 2000000 / 1500000
    cache_read: REPRICED, // 200000 / 20000
  },
};

describe('the embedded table against genai-prices', () => {
  const pricing = new PricingManager();
  const when = new Date(`${table.checked_on}T12:00:00Z`);

  const found = new Map<string, Field[]>();
  let compared = 0;
  for (const { model, provider } of table.models) {
    const result = calcPrice({ input_tokens: 1, output_tokens: 1 }, model, { providerId: PROVIDER[provider]!, timestamp: when });
    if (result === null) continue;
    compared += 1;
    const fields = disagreements(ours(pricing.get(model)!), theirs(result.model_price));
    if (fields.length > 0) found.set(model, fields);
  }

  it('compares most of the table', () => {
    expect(compared).toBeGreaterThanOrEqual(200);
  });

  it('agrees except where a listed reason says why', () => {
    const unlisted = [...found].flatMap(([model, fields]) =>
      fields.filter((field) => EXPECTED[model]?.[field] === undefined).map((field) => `${model} ${field}`),
    );
    expect(unlisted).toEqual([]);
  });

  it('lists no disagreement that has gone away', () => {
    const stale = Object.entries(EXPECTED).flatMap(([model, fields]) =>
      Object.keys(fields)
        .filter((field) => !(found.get(model) ?? []).includes(field as Field))
        .map((field) => `${model} ${field}`),
    );
    expect(stale).toEqual([]);
  });
});
