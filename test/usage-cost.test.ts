// The exact cost of a request's usage parts in the pure-JS fallback
// (`usageCostMicros`, what the store charges), each expectation worked out
// from the providers' published per-token prices, and its properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  lookupPrice,
  PricingManager,
  usageCostMicros,
  type PriceEntry,
  type PriceRates,
  type TokenCounts,
} from '../src/js/pricing.js';

/** USD per million tokens as a price sheet writes it ("2.50") → micro-dollars per million tokens. */
function usdPerMtok(price: string): number {
  const [whole, fraction = ''] = price.split('.');
  return Number(whole) * 1_000_000 + Number(fraction.padEnd(6, '0'));
}

/** [input, output, cache read, 5-minute write, 1-hour write], USD per million tokens; null = unpublished. */
type Sheet = [string, string, string | null, string | null, string | null];

function rates([input, output, read, write, write1h]: Sheet): PriceRates {
  const micros = (price: string | null) => (price === null ? null : usdPerMtok(price));
  return { input: usdPerMtok(input), output: usdPerMtok(output), cacheRead: micros(read), cacheWrite: micros(write), cacheWrite1h: micros(write1h) };
}

function entry(model: string, base: Sheet, tier: [number, Sheet] | null = null): PriceEntry {
  return { model, ...rates(base), longContext: tier === null ? null : { threshold: tier[0], ...rates(tier[1]) } };
}

/** OpenAI, openai.com/api/pricing (LiteLLM 1.110.2): gpt-4o. */
const GPT_4O: Sheet = ['2.50', '10', '1.25', null, null];
/** Anthropic, anthropic.com/pricing (LiteLLM 1.110.2): Claude Sonnet 4.5, prompts up to 200k tokens. */
const SONNET_4_5: Sheet = ['3', '15', '0.30', '3.75', '6'];
/** Anthropic's long-context prices for Sonnet 4 / 4.5 above 200k (anthropic.com/pricing; genai-prices 0.1.8). */
const SONNET_4_LONG: Sheet = ['6', '22.50', '0.60', '7.50', '12'];
/** Google, ai.google.dev/gemini-api/docs/pricing (LiteLLM 1.110.2): Gemini 2.5 Pro up to 200k, and above. */
const GEMINI_2_5_PRO: Sheet = ['1.25', '10', '0.125', null, null];
const GEMINI_2_5_PRO_LONG: Sheet = ['2.50', '15', '0.25', null, null];

function usage(input: number, output: number, parts: Partial<TokenCounts> = {}): TokenCounts {
  return { inputTokens: input, outputTokens: output, cacheReadTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0, reasoningTokens: 0, ...parts };
}

/** Each part × its per-token price from the sheet, in exact integers, floored once. */
function byHand(sheet: Sheet, parts: [uncached: number, read: number, write: number, write1h: number, output: number]): number {
  const r = rates(sheet);
  const prices = [r.input, r.cacheRead ?? r.input, r.cacheWrite ?? r.input, r.cacheWrite1h ?? r.input, r.output];
  const total = parts.reduce((sum, tokens, i) => sum + BigInt(tokens) * BigInt(prices[i]!), 0n);
  return Number(total / 1_000_000n);
}

const gpt4o = entry('gpt-4o', GPT_4O);
const sonnet = entry('claude-sonnet-4-x', SONNET_4_5, [200_000, SONNET_4_LONG]);
const gemini = entry('gemini-2.5-pro', GEMINI_2_5_PRO, [200_000, GEMINI_2_5_PRO_LONG]);

describe('usageCostMicros', () => {
  it.each([
    // [case, price, usage, worked out by hand, the same from the sheet]
    ['OpenAI chat, 19,681 prompt tokens of which 3,712 cached', gpt4o, usage(19_681, 512, { cacheReadTokens: 3_712 }), 49_682, byHand(GPT_4O, [15_969, 3_712, 0, 0, 512])],
    ['OpenAI responses with reasoning (part of the output)', gpt4o, usage(1_000, 2_000, { reasoningTokens: 1_500 }), 22_500, byHand(GPT_4O, [1_000, 0, 0, 0, 2_000])],
    ['Anthropic stream, 5-minute write and cache read', sonnet, usage(9_632, 410, { cacheReadTokens: 6_289, cacheWriteTokens: 3_337 }), 20_568, byHand(SONNET_4_5, [6, 6_289, 3_337, 0, 410])],
    ['Anthropic, 1-hour cache write', sonnet, usage(2_600, 300, { cacheReadTokens: 500, cacheWrite1hTokens: 2_000 }), 16_950, byHand(SONNET_4_5, [100, 500, 0, 2_000, 300])],
    ['Anthropic, both writes', sonnet, usage(2_010, 50, { cacheWriteTokens: 1_000, cacheWrite1hTokens: 1_000 }), 10_530, byHand(SONNET_4_5, [10, 0, 1_000, 1_000, 50])],
    ['Claude Sonnet 4.x above 200k: the whole request at long-context prices', sonnet, usage(300_000, 2_000, { cacheReadTokens: 250_000, cacheWriteTokens: 20_000 }), 525_000, byHand(SONNET_4_LONG, [30_000, 250_000, 20_000, 0, 2_000])],
    ['Claude Sonnet 4.x at exactly 200k', sonnet, usage(200_000, 1_000), 615_000, byHand(SONNET_4_5, [200_000, 0, 0, 0, 1_000])],
    ['Gemini 2.5 Pro, 250,000 prompt tokens', gemini, usage(250_000, 1_000), 640_000, byHand(GEMINI_2_5_PRO_LONG, [250_000, 0, 0, 0, 1_000])],
    ['Gemini 2.5 Pro above 200k, cached tokens counted towards it', gemini, usage(250_000, 1_000, { cacheReadTokens: 100_000 }), 415_000, byHand(GEMINI_2_5_PRO_LONG, [150_000, 100_000, 0, 0, 1_000])],
    ['Gemini 2.5 Pro at 200k, half cached', gemini, usage(200_000, 1_000, { cacheReadTokens: 100_000 }), 147_500, byHand(GEMINI_2_5_PRO, [100_000, 100_000, 0, 0, 1_000])],
  ] as const)('%s', (_case, price, counts, workedOut, fromSheet) => {
    expect(fromSheet).toBe(workedOut);
    expect(usageCostMicros(price, counts)).toBe(workedOut);
  });

  it('prices the three quoted shapes with the embedded table', () => {
    const pricing = new PricingManager();
    const cost = (model: string, counts: TokenCounts) => usageCostMicros(lookupPrice(pricing, model)!, counts);
    expect(lookupPrice(pricing, 'claude-sonnet-4-5')).toEqual(entry('claude-sonnet-4-5', SONNET_4_5));
    expect(lookupPrice(pricing, 'gpt-4o')).toEqual(gpt4o);
    expect(lookupPrice(pricing, 'gemini-2.5-pro')).toEqual(gemini);
    expect(cost('claude-sonnet-4-5', usage(9_632, 410, { cacheReadTokens: 6_289, cacheWriteTokens: 3_337 }))).toBe(20_568);
    expect(cost('gpt-4o', usage(19_681, 512, { cacheReadTokens: 3_712 }))).toBe(49_682);
    expect(cost('gemini-2.5-pro', usage(250_000, 1_000))).toBe(640_000);
    expect(pricing.costMicros('gemini-2.5-pro', 250_000, 1_000)).toBe(640_000);
    // Sonnet 4 keeps Anthropic's >200k prices (from LiteLLM 1.80.0): 250,000 × $6 + 1,000 × $22.50.
    expect(cost('claude-sonnet-4-20250514', usage(250_000, 1_000))).toBe(1_522_500);
  });

  it('saturates at Number.MAX_SAFE_INTEGER', () => {
    const dear = entry('dear', ['18000000', '0', null, null, null]);
    expect(usageCostMicros(dear, usage(Number.MAX_SAFE_INTEGER, 0))).toBe(Number.MAX_SAFE_INTEGER);
  });
});

const U64_MAX = 2n ** 64n - 1n;
const price = fc.oneof(fc.integer({ min: 0, max: 100_000_000 }), fc.bigInt({ min: 0n, max: U64_MAX }).map(Number));
const cachePrice = fc.option(price, { nil: null });
const rateArb = fc.record({ input: price, output: price, cacheRead: cachePrice, cacheWrite: cachePrice, cacheWrite1h: cachePrice });
const entryArb: fc.Arbitrary<PriceEntry> = fc.record({
  model: fc.constant('m'),
  base: rateArb,
  tier: fc.option(fc.record({ threshold: fc.nat(), rates: rateArb }), { nil: null }),
}).map(({ model, base, tier }) => ({ model, ...base, longContext: tier === null ? null : { threshold: tier.threshold, ...tier.rates } }));
const count = fc.oneof(fc.nat(1_000_000), fc.nat({ max: Number.MAX_SAFE_INTEGER }));
/** Any counts, parts that do not fit in their wholes included. */
const countsArb: fc.Arbitrary<TokenCounts> = fc.record({
  inputTokens: count,
  outputTokens: count,
  cacheReadTokens: count,
  cacheWriteTokens: count,
  cacheWrite1hTokens: count,
  reasoningTokens: count,
});

/** The formula with the Rust core's clamping, in BigInt, saturated at MAX_SAFE_INTEGER. */
function reference(e: PriceEntry, u: TokenCounts): number {
  const r = e.longContext !== null && u.inputTokens > e.longContext.threshold ? e.longContext : e;
  const read = Math.min(u.cacheReadTokens, u.inputTokens);
  const write = Math.min(u.cacheWriteTokens, u.inputTokens - read);
  const write1h = Math.min(u.cacheWrite1hTokens, u.inputTokens - read - write);
  const terms: Array<[number, number]> = [
    [u.inputTokens - read - write - write1h, r.input],
    [read, r.cacheRead ?? r.input],
    [write, r.cacheWrite ?? r.input],
    [write1h, r.cacheWrite1h ?? r.input],
    [u.outputTokens, r.output],
  ];
  const total = terms.reduce((sum, [tokens, rate]) => sum + BigInt(tokens) * BigInt(rate), 0n) / 1_000_000n;
  return total > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(total);
}

describe('usageCostMicros properties', () => {
  it('is the exact formula for any counts, and never throws', () => {
    fc.assert(
      fc.property(entryArb, countsArb, (e, u) => {
        expect(usageCostMicros(e, u)).toBe(reference(e, u));
      }),
      { numRuns: 3_000 },
    );
  });

  it('is monotone: more tokens of any part never cost less (tiers at least as dear as the base)', () => {
    const parts = fc.tuple(fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(1_000_000));
    fc.assert(
      fc.property(rateArb, fc.integer({ min: 1, max: 3 }), fc.nat(4_000_000), parts, fc.nat(1_000_000), fc.nat(4), (base, factor, threshold, p, extra, part) => {
        const up = (rate: number) => rate * factor;
        const tier = {
          threshold,
          input: up(base.input),
          output: up(base.output),
          cacheRead: base.cacheRead === null ? null : up(base.cacheRead),
          cacheWrite: base.cacheWrite === null ? null : up(base.cacheWrite),
          cacheWrite1h: base.cacheWrite1h === null ? null : up(base.cacheWrite1h),
        };
        const e: PriceEntry = { model: 'm', ...base, longContext: tier };
        const counts = ([uncached, read, write, write1h, output]: number[]) =>
          usage(uncached! + read! + write! + write1h!, output!, { cacheReadTokens: read!, cacheWriteTokens: write!, cacheWrite1hTokens: write1h! });
        const more = [...p];
        more[part]! += extra;
        expect(usageCostMicros(e, counts(more))).toBeGreaterThanOrEqual(usageCostMicros(e, counts(p)));
      }),
      { numRuns: 2_000 },
    );
  });
});
