import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager, PricingTableError } from '../src/index.js';

const PRICES_JSON = resolve(__dirname, '../crates/iron_cost/data/prices.json');

interface RatesFields {
  input_micros_per_mtok: number;
  output_micros_per_mtok: number;
  cache_read_micros_per_mtok?: number;
  cache_write_micros_per_mtok?: number;
  cache_write_1h_micros_per_mtok?: number;
}

interface PricesFile {
  checked_on: string;
  models: Array<RatesFields & { model: string; long_context?: RatesFields & { threshold_tokens: number } }>;
}

/** A price with no cache prices and no tier, as `get()` returns it. */
function plain(model: string, input: number, output: number) {
  return {
    model,
    inputMicrosPerMillionTokens: input,
    outputMicrosPerMillionTokens: output,
    cacheReadMicrosPerMillionTokens: null,
    cacheWriteMicrosPerMillionTokens: null,
    cacheWrite1hMicrosPerMillionTokens: null,
    longContext: null,
  };
}

/** One tier of prices.json as `get()` returns it. */
function rates(fields: RatesFields) {
  return {
    inputMicrosPerMillionTokens: fields.input_micros_per_mtok,
    outputMicrosPerMillionTokens: fields.output_micros_per_mtok,
    cacheReadMicrosPerMillionTokens: fields.cache_read_micros_per_mtok ?? null,
    cacheWriteMicrosPerMillionTokens: fields.cache_write_micros_per_mtok ?? null,
    cacheWrite1hMicrosPerMillionTokens: fields.cache_write_1h_micros_per_mtok ?? null,
  };
}

const U64_MAX = 2n ** 64n - 1n;

/** The cost formula, independently: exact integers, saturated to u64::MAX like the Rust core. */
function exactCost(inputTokens: number, outputTokens: number, inputRate: number, outputRate: number): number {
  const total = (BigInt(inputTokens) * BigInt(inputRate) + BigInt(outputTokens) * BigInt(outputRate)) / 1_000_000n;
  return Number(total > U64_MAX ? U64_MAX : total);
}

/** A LiteLLM-format document from [model, usd-per-input-token, usd-per-output-token] rows. */
function litellm(rows: Array<[string, number, number]>, extra: Record<string, unknown> = {}): string {
  const doc: Record<string, unknown> = {
    sample_spec: {
      input_cost_per_token: 0,
      output_cost_per_token: 0,
      max_tokens: 'LEGACY parameter. set to max_output_tokens if provider specifies it.',
    },
  };
  for (const [model, input, output] of rows) {
    doc[model] = { input_cost_per_token: input, output_cost_per_token: output, litellm_provider: 'openai', mode: 'chat' };
  }
  return JSON.stringify({ ...doc, ...extra });
}

describe('the embedded table', () => {
  const pricing = new PricingManager();

  it('prices gpt-4 and claude-3-opus', () => {
    expect(pricing.get('gpt-4')).toEqual(plain('gpt-4', 30_000_000, 60_000_000));
    // Retired: its hand-checked price, without cache prices (see crates/iron_cost/data/README.md).
    expect(pricing.get('claude-3-opus-20240229')).toEqual(plain('claude-3-opus-20240229', 15_000_000, 75_000_000));
    expect(pricing.get('claude-sonnet-4-5')).toMatchObject({
      cacheReadMicrosPerMillionTokens: 300_000, cacheWriteMicrosPerMillionTokens: 3_750_000, cacheWrite1hMicrosPerMillionTokens: 6_000_000,
    });
    expect(pricing.costMicros('gpt-4', 150, 50)).toBe(7500);
    expect(pricing.costMicros('claude-3-opus-20240229', 200, 100)).toBe(10500);
    expect(pricing.costMicros('gpt-4', 0, 0)).toBe(0);
  });

  it('knows nothing of unknown models', () => {
    expect(pricing.get('llama-3.1-70b')).toBeNull();
    expect(pricing.costMicros('llama-3.1-70b', 100, 100)).toBeNull();
  });

  it('looks up exact, then without provider/ prefixes, then ignoring ASCII case', () => {
    const gpt4 = pricing.get('gpt-4');
    expect(gpt4).not.toBeNull();
    expect(pricing.get('openai/gpt-4')).toEqual(gpt4);
    expect(pricing.get('GPT-4')).toEqual(gpt4);
    expect(pricing.get('OpenAI/GPT-4')).toEqual(gpt4);
    expect(pricing.get('Anthropic/Claude-3-Opus-20240229')!.model).toBe('claude-3-opus-20240229');
    expect(pricing.costMicros('openai/gpt-4', 150, 50)).toBe(7500);
    // Each leading segment is removed in turn.
    expect(pricing.get('openrouter/openai/gpt-4')).toEqual(gpt4);
    expect(pricing.get('/gpt-4')).toEqual(gpt4);
    expect(pricing.get('openai/')).toBeNull();
    expect(pricing.get('/')).toBeNull();
    expect(pricing.get('gpt-4 ')).toBeNull();
    expect(pricing.get('gpt-4/')).toBeNull();
  });

  // Never skipped: the table is part of the repository, and a missing file is a failure.
  it('matches crates/iron_cost/data/prices.json model for model', () => {
    expect(existsSync(PRICES_JSON), PRICES_JSON).toBe(true);
    const file = JSON.parse(readFileSync(PRICES_JSON, 'utf8')) as PricesFile;
    expect(pricing.checkedOn).toBe(file.checked_on);
    expect(pricing.size).toBe(file.models.length);
    for (const m of file.models) {
      const tier = m.long_context;
      expect(pricing.get(m.model)).toEqual({
        model: m.model,
        ...rates(m),
        longContext: tier === undefined ? null : { thresholdTokens: tier.threshold_tokens, ...rates(tier) },
      });
      for (const [i, o] of [[150, 50], [1, 1], [999_999, 1], [123_456_789, 987_654]] as const) {
        // The tier's prices above its threshold, for the whole request.
        const r = tier !== undefined && i > tier.threshold_tokens ? tier : m;
        expect(pricing.costMicros(m.model, i, o)).toBe(exactCost(i, o, r.input_micros_per_mtok, r.output_micros_per_mtok));
      }
    }
  });

  it('has a checked-on date', () => {
    expect(pricing.checkedOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(pricing.size).toBeGreaterThanOrEqual(2);
  });

  it('returns fresh objects', () => {
    const a = pricing.get('gpt-4')!;
    a.inputMicrosPerMillionTokens = 1;
    expect(pricing.get('gpt-4')!.inputMicrosPerMillionTokens).toBe(30_000_000);
  });

  it('rejects bad arguments', () => {
    const p = pricing as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => p['get']!.call(pricing, 1)).toThrow(TypeError);
    expect(() => p['get']!.call(pricing, '')).toThrow(RangeError);
    expect(() => p['costMicros']!.call(pricing, 'gpt-4', -1, 0)).toThrow(RangeError);
    expect(() => p['costMicros']!.call(pricing, 'gpt-4', 1, '2')).toThrow(TypeError);
    expect(() => p['costMicros']!.call(pricing, 'gpt-4', 1, 2 ** 53)).toThrow(RangeError);
    expect(() => p['costMicros']!.call(pricing, undefined, 1, 1)).toThrow(TypeError);
  });
});

describe('cost arithmetic', () => {
  it('floors once, at the end', () => {
    // 1.5e-7 USD/token = 150,000 micro-dollars per million tokens: each token costs 0.15 micro-dollars.
    const p = PricingManager.fromLitellmJson(litellm([['m', 1.5e-7, 2.5e-7]]));
    expect(p.get('m')).toEqual(plain('m', 150_000, 250_000));
    expect(p.costMicros('m', 6, 0)).toBe(0); // 0.9
    expect(p.costMicros('m', 7, 0)).toBe(1); // 1.05
    expect(p.costMicros('m', 3, 3)).toBe(1); // 0.45 + 0.75 = 1.2, not 0 + 0
    expect(p.costMicros('m', 2, 2)).toBe(0); // 0.3 + 0.5 = 0.8
    expect(p.costMicros('m', 4, 2)).toBe(1); // 0.6 + 0.5 = 1.1
  });

  it('is exact beyond 2^53 (BigInt path) and saturates at u64::MAX', () => {
    const p = PricingManager.fromLitellmJson(litellm([['big', 0.003, 0.007]]));
    const rate = p.get('big')!;
    expect(rate.inputMicrosPerMillionTokens).toBe(3_000_000_000);
    // 3,000,000,123 × 3e9 ≈ 9e18: past 2^53, below 2^64.
    expect(p.costMicros('big', 3_000_000_123, 1)).toBe(Number((3_000_000_123n * 3_000_000_000n + 7_000_000_000n) / 1_000_000n));
    const max = Number.MAX_SAFE_INTEGER;
    expect(p.costMicros('big', max, max)).toBe(2 ** 64); // u64::MAX, as the nearest double
    expect(p.costMicros('big', max, max)).toBe(exactCost(max, max, 3_000_000_000, 7_000_000_000));
    // The embedded gpt-4 at the largest token counts: exact, then rounded to a double.
    expect(new PricingManager().costMicros('gpt-4', max, max)).toBe(Number(BigInt(max) * 90n));
  });

  it('equals the BigInt formula for any token counts', () => {
    const p = PricingManager.fromLitellmJson(
      litellm([['a', 1e-12, 3e-12], ['b', 0.00003, 0.00006], ['c', 1.23456e-7, 9.87654e-6], ['d', 0.01, 0.02], ['e', 1.8e7, 1e5]]),
    );
    const models = ['a', 'b', 'c', 'd', 'e'];
    const tokens = fc.oneof(
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(0, 1, 999_999, 1_000_000, 1_000_001, Number.MAX_SAFE_INTEGER),
    );
    fc.assert(
      fc.property(fc.constantFrom(...models), tokens, tokens, (model, i, o) => {
        const rate = p.get(model)!;
        expect(p.costMicros(model, i, o)).toBe(
          exactCost(i, o, rate.inputMicrosPerMillionTokens, rate.outputMicrosPerMillionTokens),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('is what recording charges', () => {
    const p = PricingManager.fromLitellmJson(litellm([['m', 1.5e-7, 2.5e-7], ['gpt-4', 1e-6, 2e-6]]));
    const store = new EventStore();
    store.recordLlmCompleted(p, 'm', 3, 3);
    store.recordLlmCompleted(p, 'gpt-4', 150, 50); // this table's gpt-4: 150 + 100
    store.recordLlmCompleted(new PricingManager(), 'gpt-4', 150, 50); // the embedded one: 7500
    store.recordLlmCompleted(p, 'nope', 1_000_000, 1_000_000);
    expect(store.snapshotEvents().map((e) => (e as { costMicros: number }).costMicros)).toEqual([1, 250, 7500, 0]);
    expect(store.stats().totalCostMicros).toBe(1 + 250 + 7500);
  });
});

describe('PricingManager.fromLitellmJson', () => {
  it('loads models, skipping sample_spec and entries without both prices', () => {
    const text = litellm([['gpt-4', 0.00003, 0.00006], ['claude-3-opus-20240229', 0.000015, 0.000075]], {
      'text-embedding-3-small': { input_cost_per_token: 2e-8, mode: 'embedding' },
      'dall-e-3': { output_cost_per_pixel: 0.0001, mode: 'image_generation' },
      'null-priced': { input_cost_per_token: null, output_cost_per_token: 1e-6 },
      'not-an-object': 42,
      'an-array': [1, 2],
      'a-null': null,
      'one-missing-one-bad': { input_cost_per_token: 'not checked: the entry is skipped' },
      free: { input_cost_per_token: 0, output_cost_per_token: -0 },
      // Kept (it counts in size) though no lookup can reach it: model names are non-empty.
      '': { input_cost_per_token: 1e-6, output_cost_per_token: 1e-6 },
    });
    const p = PricingManager.fromLitellmJson(text);
    expect(p.size).toBe(4);
    expect(p.checkedOn).toBeNull();
    expect(p.get('sample_spec')).toBeNull();
    expect(p.get('text-embedding-3-small')).toBeNull();
    expect(p.get('dall-e-3')).toBeNull();
    expect(p.get('null-priced')).toBeNull();
    expect(p.get('not-an-object')).toBeNull();
    expect(p.get('gpt-4')).toEqual(plain('gpt-4', 30_000_000, 60_000_000));
    expect(p.get('free')).toEqual(plain('free', 0, 0));
    expect(Object.is(p.get('free')!.outputMicrosPerMillionTokens, 0)).toBe(true);
    expect(p.get('one-missing-one-bad')).toBeNull();
    expect(p.costMicros('gpt-4', 150, 50)).toBe(7500);
    expect(p.costMicros('claude-3-opus-20240229', 200, 100)).toBe(10500);
  });

  it('converts USD per token once, rounding to the nearest micro-dollar per million tokens', () => {
    const values = [3e-7, 1.1e-6, 2.5e-6, 1.25e-7, 7e-8, 0.000015, 1e-12, 4e-13, 6e-13];
    const p = PricingManager.fromLitellmJson(litellm(values.map((v, i) => [`m${i}`, v, v * 2])));
    values.forEach((v, i) => {
      expect(p.get(`m${i}`)).toEqual(plain(`m${i}`, Math.round(v * 1e12), Math.round(v * 2 * 1e12)));
    });
    expect(p.get('m0')!.inputMicrosPerMillionTokens).toBe(300_000);
    expect(p.get('m7')!.inputMicrosPerMillionTokens).toBe(0);
    expect(p.get('m8')!.inputMicrosPerMillionTokens).toBe(1);
  });

  it('accepts prices up to just below 2^64 micro-dollars per million tokens', () => {
    const p = PricingManager.fromLitellmJson(litellm([['dear', 1.8e7, 0]]));
    expect(p.get('dear')!.inputMicrosPerMillionTokens).toBe(18_000_000_000_000_000_000);
    expect(p.costMicros('dear', 1, 0)).toBe(18_000_000_000_000);
    expect(p.costMicros('dear', 2_000_000, 0)).toBe(2 ** 64); // saturated
  });

  it('resolves provider prefixes and case like the embedded table', () => {
    const p = PricingManager.fromLitellmJson(
      litellm([['azure/gpt-4', 1e-6, 1e-6], ['gpt-4', 2e-6, 2e-6], ['GPT-X', 3e-6, 3e-6], ['gpt-x', 4e-6, 4e-6]]),
    );
    expect(p.get('azure/gpt-4')!.model).toBe('azure/gpt-4'); // exact wins
    expect(p.get('bedrock/gpt-4')!.model).toBe('gpt-4'); // prefix stripped; a real name beats a bare name
    expect(p.get('GPT-4')!.model).toBe('gpt-4');
    expect(p.get('gpt-x')!.model).toBe('gpt-x');
    expect(p.get('GPT-X')!.model).toBe('GPT-X');
    // Ambiguous by case: the first name in byte order wins, whatever the file order.
    expect(p.get('Gpt-X')!.model).toBe('GPT-X');
    // Only ASCII case is folded: the Kelvin sign (U+212A) is not a "k".
    const grok = PricingManager.fromLitellmJson(litellm([['grok-3', 3e-6, 1.5e-5]]));
    expect(grok.get('GROK-3')!.model).toBe('grok-3');
    expect(grok.get('gro\u212A-3')).toBeNull();
    const reversed = PricingManager.fromLitellmJson(litellm([['gpt-x', 4e-6, 4e-6], ['GPT-X', 3e-6, 3e-6]]));
    expect(reversed.get('gPT-x')!.model).toBe('GPT-X');
  });

  it('answers to the bare name of a prefixed model unless prices disagree', () => {
    const p = PricingManager.fromLitellmJson(
      litellm([
        ['mistral/codestral-latest', 1e-6, 1e-6],
        ['codestral-2501', 2e-6, 2e-6],
        ['azure/gpt-x', 8e-6, 8e-6],
        ['openai/gpt-x', 1e-6, 1e-6],
        ['vertex/gpt-x', 1e-6, 1e-6],
        ['vertex/flash', 3e-6, 3e-6],
        ['gemini/flash', 3e-6, 3e-6],
      ]),
    );
    expect(p.get('codestral-latest')!.model).toBe('mistral/codestral-latest');
    expect(p.get('Codestral-Latest')!.model).toBe('mistral/codestral-latest');
    expect(p.get('codestral-2501')!.model).toBe('codestral-2501');
    // Shared at different prices: not guessed.
    expect(p.get('gpt-x')).toBeNull();
    expect(p.get('GPT-X')).toBeNull();
    expect(p.get('openai/gpt-x')!.model).toBe('openai/gpt-x');
    expect(p.get('router/azure/gpt-x')!.model).toBe('azure/gpt-x');
    // Shared at the same price: the first in byte order (not file order) answers.
    expect(p.get('flash')!.model).toBe('gemini/flash');
    expect(p.size).toBe(7);
  });

  it('matches names with non-ASCII characters exactly, folding only ASCII', () => {
    const p = PricingManager.fromLitellmJson(litellm([['modèle-É', 4e-12, 4e-12]]));
    expect(p.get('modèle-É')!.inputMicrosPerMillionTokens).toBe(4);
    expect(p.get('MODèLE-É')!.model).toBe('modèle-É');
    expect(p.get('modèle-é')).toBeNull();
  });

  it.each([
    ['invalid JSON', '{ "gpt-4": ', /JSON/],
    ['an empty string', '', /JSON/],
    ['an out-of-range number', '{ "m": { "input_cost_per_token": 1e999, "output_cost_per_token": 0 } }', /m/],
    ['an array', '[]', /object/],
    ['null', 'null', /object/],
    ['a number', '42', /object/],
    ['no priced entry', litellm([], { 'text-embedding-3-small': { input_cost_per_token: 2e-8 } }), /none of its 2 entries/],
    ['an empty object', '{}', /none of its 0 entries/],
    ['a string input price', litellm([], { 'gpt-4': { input_cost_per_token: '0.00003', output_cost_per_token: 0.00006 } }), /`gpt-4`.*`input_cost_per_token`.*found a string/],
    ['a negative output price', litellm([], { 'claude-x': { input_cost_per_token: 1e-6, output_cost_per_token: -1e-6 } }), /`claude-x`.*`output_cost_per_token`.*negative/],
    ['a boolean price', litellm([], { m2: { input_cost_per_token: 1e-6, output_cost_per_token: true } }), /`m2`.*`output_cost_per_token`.*found a boolean/],
    ['an object price', litellm([], { m3: { input_cost_per_token: { usd: 1 }, output_cost_per_token: 1 } }), /`m3`.*`input_cost_per_token`.*found an object/],
    ['a price of 2^64 micro-dollars per million tokens or more', litellm([['huge', 1e8, 0]]), /`huge`.*`input_cost_per_token`.*too large/],
  ])('throws PricingTableError on %s', (_name, text, message) => {
    let thrown: unknown;
    try {
      PricingManager.fromLitellmJson(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PricingTableError);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe('PricingTableError');
    expect((thrown as Error).message).toMatch(message);
  });

  it('rejects a non-string argument with TypeError', () => {
    const load = PricingManager.fromLitellmJson as (text: unknown) => PricingManager;
    expect(() => load({})).toThrow(TypeError);
    expect(() => load(undefined)).toThrow(TypeError);
    expect(() => load(Buffer.from('{}'))).toThrow(TypeError);
  });

  it('a bad price fails the whole table even when other entries are fine', () => {
    const text = litellm([['ok', 1e-6, 1e-6]], { bad: { input_cost_per_token: -1, output_cost_per_token: 0 } });
    expect(() => PricingManager.fromLitellmJson(text)).toThrow(PricingTableError);
  });
});

describe('the pricing argument of the store', () => {
  it('must be a PricingManager', () => {
    const store = new EventStore();
    store.recordLlmCompleted(new PricingManager(), 'gpt-4', 150, 50);
    const stats = store.stats();
    const record = store.recordLlmCompleted as (...args: unknown[]) => unknown;
    // An object that passes instanceof without being one is refused too.
    const fake = Object.create(PricingManager.prototype) as unknown;
    for (const bad of [{ get: () => null }, 'pricing', null, undefined, fake, PricingManager]) {
      expect(() => record.call(store, bad, 'claude-3-opus-20240229', 1, 1)).toThrow(TypeError);
      expect(() => record.call(store, bad, 'claude-3-opus-20240229', 1, 1)).toThrow(/^pricing must be a PricingManager/);
      expect(store.stats()).toEqual(stats);
      expect(store.len()).toBe(1);
    }
  });
});

describe('PricingManager.fromLitellmJson: cache prices, tiers and sellers', () => {
  const FIXTURE = resolve(__dirname, '../crates/iron_cost/tests/fixtures/litellm_sample.json');
  const p = PricingManager.fromLitellmJson(readFileSync(FIXTURE, 'utf8'));

  it('reads cache prices, 1-hour writes and a long-context tier', () => {
    expect(p.get('claude-3-7-sonnet-latest')).toEqual({
      ...plain('claude-3-7-sonnet-latest', 3_000_000, 15_000_000),
      cacheReadMicrosPerMillionTokens: 300_000,
      cacheWriteMicrosPerMillionTokens: 3_750_000,
      cacheWrite1hMicrosPerMillionTokens: 6_000_000,
    });
    expect(p.get('gemini-2.5-pro')).toEqual({
      ...plain('gemini/gemini-2.5-pro', 1_250_000, 10_000_000),
      cacheReadMicrosPerMillionTokens: 125_000,
      longContext: {
        thresholdTokens: 200_000,
        inputMicrosPerMillionTokens: 2_500_000,
        outputMicrosPerMillionTokens: 15_000_000,
        cacheReadMicrosPerMillionTokens: 250_000,
        cacheWriteMicrosPerMillionTokens: null,
        cacheWrite1hMicrosPerMillionTokens: null,
      },
    });
    // Above 200k prompt tokens the whole request is at the tier: 250,000 × $2.50 + 1,000 × $15.
    expect(p.costMicros('gemini-2.5-pro', 250_000, 1_000)).toBe(640_000);
    expect(p.costMicros('gemini-2.5-pro', 200_000, 1_000)).toBe(260_000);
  });

  it('prefers the maker over resellers for a bare name; the full name finds the reseller', () => {
    expect(p.get('gemini-2.0-flash')!.model).toBe('gemini/gemini-2.0-flash');
    expect(p.get('Google/Gemini-2.0-Flash')!.model).toBe('gemini/gemini-2.0-flash');
    expect(p.get('vertex_ai/gemini-2.0-flash')!.model).toBe('vertex_ai/gemini-2.0-flash');
    expect(p.get('claude-3-7-sonnet-latest')!.model).toBe('claude-3-7-sonnet-latest');
    expect(p.get('deepinfra/anthropic/claude-3-7-sonnet-latest')!.model).toBe('deepinfra/anthropic/claude-3-7-sonnet-latest');
    expect(p.get('mistral-large-latest')!.model).toBe('mistral/mistral-large-latest');
    expect(p.get('azure/mistral-large-latest')!.model).toBe('azure/mistral-large-latest');
    // Only resellers, at different prices: not guessed.
    expect(p.get('gpt-x')).toBeNull();
  });

  it('reads DeepSeek cache hits, the lowest threshold, and tier prices missing from the tier as the base', () => {
    const q = PricingManager.fromLitellmJson(
      JSON.stringify({
        d: { input_cost_per_token: 2.8e-7, output_cost_per_token: 4.2e-7, input_cost_per_token_cache_hit: 2.8e-8 },
        q: {
          input_cost_per_token: 1e-6,
          output_cost_per_token: 2e-6,
          cache_read_input_token_cost: 1e-7,
          input_cost_per_token_above_256k_tokens: 9e-6,
          input_cost_per_token_above_32k_tokens: 4e-6,
          cache_creation_input_token_cost_above_1hr_above_32k_tokens: 5e-6,
          output_cost_per_token_above_16k_tokens: null,
          output_cost_per_token_above_8k_tokens_batches: 1,
        },
      }),
    );
    expect(q.get('d')!.cacheReadMicrosPerMillionTokens).toBe(28_000);
    expect(q.get('q')!.longContext).toEqual({
      thresholdTokens: 32_000,
      inputMicrosPerMillionTokens: 4_000_000,
      outputMicrosPerMillionTokens: 2_000_000,
      cacheReadMicrosPerMillionTokens: 100_000,
      cacheWriteMicrosPerMillionTokens: null,
      cacheWrite1hMicrosPerMillionTokens: 5_000_000,
    });
  });

  it.each([
    ['cache_read_input_token_cost', '"0.1"', /`m`.*`cache_read_input_token_cost`.*found a string/],
    ['cache_creation_input_token_cost_above_1hr', '-1e-6', /`cache_creation_input_token_cost_above_1hr`.*negative/],
    ['output_cost_per_token_above_200k_tokens', '1e9', /`output_cost_per_token_above_200k_tokens`.*too large/],
    ['input_cost_per_token_above_99999999999999999999k_tokens', '1e-6', /threshold 99999999999999999999k tokens is too large/],
  ])('throws PricingTableError on a bad %s', (field, value, message) => {
    const text = `{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6, "${field}": ${value}}}`;
    expect(() => PricingManager.fromLitellmJson(text)).toThrow(PricingTableError);
    expect(() => PricingManager.fromLitellmJson(text)).toThrow(message);
  });
});
