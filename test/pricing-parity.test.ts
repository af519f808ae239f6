// Pricing parity: the Rust core (through the addon) and the pure-JS fallback
// read the same tables into the same prices, resolve every name to the same
// entry, and charge every usage the same.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as fallback from '../src/js/pricing.js';
import { findNative } from '../src/native/loader.js';
import { createNativeApi } from '../src/native/index.js';
import { handle } from '../src/native/pricing.js';
import type { PricingManagerApi } from '../src/shared/api.js';

const loaded = findNative();
if (!loaded.binding) throw loaded.error; // parity needs the addon: `npm run build:native`
const native = createNativeApi(loaded.binding);

const PRICES_JSON = resolve(__dirname, '../crates/iron_cost/data/prices.json');
const FIXTURE = resolve(__dirname, '../crates/iron_cost/tests/fixtures/litellm_sample.json');
const embeddedModels = (JSON.parse(readFileSync(PRICES_JSON, 'utf8')) as { models: Array<{ model: string }> }).models.map((m) => m.model);

/** Both implementations' tables, loaded the same way. */
function both(load: (api: { PricingManager: { new (): PricingManagerApi; fromLitellmJson(text: string): PricingManagerApi } }) => PricingManagerApi) {
  return {
    native: load(native as never),
    js: load(fallback as never) as fallback.PricingManager,
  };
}

/** The fallback's cost of a usage, and the core's through the addon. */
function costs(tables: ReturnType<typeof both>, model: string, usage: fallback.TokenCounts) {
  const entry = fallback.lookupPrice(tables.js, model);
  return {
    native: handle(tables.native).costMicrosFor(model, usage) ?? null,
    js: entry === null ? null : fallback.usageCostMicros(entry, usage),
  };
}

/** Prompt sizes around the tiers' thresholds, and anything else. */
const BOUNDARIES = [32_000, 100_000, 128_000, 200_000, 272_000].flatMap((t) => [t - 1, t, t + 1]);
const total = fc.oneof(fc.constantFrom(...BOUNDARIES), fc.nat(300_000), fc.nat({ max: Number.MAX_SAFE_INTEGER }));
const share = fc.double({ min: 0, max: 1, noNaN: true });
/** A valid usage: the cached parts split off the input, reasoning a share of the output. */
const usageArb: fc.Arbitrary<fallback.TokenCounts> = fc
  .record({ input: total, output: total, read: share, write: share, write1h: share, reasoning: share })
  .map(({ input, output, read, write, write1h, reasoning }) => {
    const cacheReadTokens = Math.floor(input * read);
    const cacheWriteTokens = Math.floor((input - cacheReadTokens) * write);
    const cacheWrite1hTokens = Math.floor((input - cacheReadTokens - cacheWriteTokens) * write1h);
    return {
      inputTokens: input,
      outputTokens: output,
      cacheReadTokens,
      cacheWriteTokens,
      cacheWrite1hTokens,
      reasoningTokens: Math.floor(output * reasoning),
    };
  });

describe('pricing parity, native vs js', () => {
  const embedded = both((api) => new api.PricingManager());

  it('get() returns the same object for every embedded model, in any case and with a prefix', () => {
    expect(embedded.native.size).toBe(embedded.js.size);
    expect(embedded.native.checkedOn).toBe(embedded.js.checkedOn);
    for (const model of embeddedModels) {
      for (const name of [model, model.toUpperCase(), `openrouter/x/${model}`]) {
        expect(embedded.native.get(name), name).toEqual(embedded.js.get(name));
      }
    }
  });

  it('charges every usage the same on the embedded table', () => {
    fc.assert(
      fc.property(fc.constantFrom(...embeddedModels, 'unknown-model'), usageArb, (model, usage) => {
        const { native: n, js } = costs(embedded, model, usage);
        expect(n).toBe(js);
      }),
      { numRuns: 3_000 },
    );
  });

  it('reads a LiteLLM file into the same prices and resolves names alike', () => {
    const text = readFileSync(FIXTURE, 'utf8');
    const tables = both((api) => api.PricingManager.fromLitellmJson(text));
    expect(tables.native.size).toBe(tables.js.size);
    const names = Object.keys(JSON.parse(text) as object).flatMap((key) => [key, key.slice(key.lastIndexOf('/') + 1), key.toUpperCase()]);
    for (const name of names.filter((n) => n.length > 0)) {
      expect(tables.native.get(name), name).toEqual(tables.js.get(name));
    }
    expect(tables.js.get('gemini-2.0-flash')!.model).toBe('gemini/gemini-2.0-flash');
  });

  // Random LiteLLM-shaped documents: prices, cache prices, tiers, sellers and names drawn from small sets, so they collide.
  const usd = fc.oneof(fc.constantFrom(0, 1e-6, 3e-6, 1.25e-7, 2.5e-6), fc.double({ min: 0, max: 1e-3, noNaN: true }));
  const field = fc.constantFrom(
    'cache_read_input_token_cost',
    'input_cost_per_token_cache_hit',
    'cache_creation_input_token_cost',
    'cache_creation_input_token_cost_above_1hr',
    'input_cost_per_token_above_200k_tokens',
    'output_cost_per_token_above_200k_tokens',
    'cache_read_input_token_cost_above_200k_tokens',
    'input_cost_per_token_above_128k_tokens',
    'cache_creation_input_token_cost_above_1hr_above_128k_tokens',
    'input_cost_per_token_above_200k_tokens_batches',
  );
  const entry = fc.record({
    input_cost_per_token: usd,
    output_cost_per_token: usd,
    litellm_provider: fc.constantFrom('openai', 'gemini', 'anthropic', 'vertex_ai-language-models', 'azure', 'deepinfra'),
    extra: fc.dictionary(field, fc.oneof(usd, fc.constant(null))),
  }).map(({ extra, ...prices }) => ({ ...prices, ...extra }));
  const name = fc.tuple(fc.constantFrom('', 'gemini/', 'azure/', 'vertex_ai/', 'deepinfra/anthropic/'), fc.constantFrom('m', 'M', 'gpt-x', 'claude-y'))
    .map(([prefix, bare]) => prefix + bare);

  it('agrees on random LiteLLM documents: prices, lookups and costs', () => {
    fc.assert(
      fc.property(fc.dictionary(name, entry, { minKeys: 1, maxKeys: 8 }), usageArb, (document, usage) => {
        const text = JSON.stringify(document);
        const tables = both((api) => api.PricingManager.fromLitellmJson(text));
        expect(tables.native.size).toBe(tables.js.size);
        for (const lookup of ['m', 'M', 'gpt-x', 'claude-y', 'gemini/m', 'azure/gpt-x', 'x/claude-y', ...Object.keys(document)]) {
          expect(tables.native.get(lookup), lookup).toEqual(tables.js.get(lookup));
          const { native: n, js } = costs(tables, lookup, usage);
          expect(n, lookup).toBe(js);
        }
      }),
      { numRuns: 400 },
    );
  });
});
