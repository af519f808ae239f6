// The price-table generator (scripts/update-prices.mjs): which LiteLLM
// entries it takes, how it merges them into the table, and what it writes.
import { describe, expect, it } from 'vitest';
import { PricingManager } from '../src/js/pricing.js';

interface Entry {
  model: string;
  provider: string;
  priced_from: string;
  input_micros_per_mtok: number;
  output_micros_per_mtok: number;
  [field: string]: unknown;
}
interface Table {
  schema: number;
  checked_on: string;
  litellm_version: string;
  note: string;
  sources: Record<string, string>;
  litellm_providers: Record<string, string>;
  models: Entry[];
}
interface UpdatePrices {
  selectFirstParty(litellm: object, providers: Record<string, string>): Map<string, { keys: string[]; provider: string }>;
  readEntries(
    litellm: object,
    selected: Map<string, { keys: string[]; provider: string }>,
    pricedFrom: string,
    fromLitellmJson: (text: string) => PricingManager,
  ): { entries: Entry[]; warnings: string[] };
  mergeTable(table: Table, entries: Entry[], options: { litellmVersion: string; date: string }): Table;
  backfillEntries(table: Table, entries: Entry[]): Entry[];
  renderTable(table: Table): string;
}
interface GenPrices {
  validatePrices(document: unknown): { rows: unknown[] };
}

// Plain JavaScript modules: loaded by a path TypeScript does not resolve.
const SCRIPT = '../scripts/update-prices.mjs';
const GEN = '../scripts/gen-prices.mjs';
const script = (await import(SCRIPT)) as UpdatePrices;
const { validatePrices } = (await import(GEN)) as GenPrices;

const PROVIDERS = { openai: 'openai', gemini: 'google', deepseek: 'deepseek' };
const chat = (provider: string, input: number, output: number, extra: object = {}) => ({
  litellm_provider: provider,
  mode: 'chat',
  input_cost_per_token: input,
  output_cost_per_token: output,
  ...extra,
});

const LITELLM = {
  sample_spec: { input_cost_per_token: 0, output_cost_per_token: 0 },
  'gpt-x': chat('openai', 2.5e-6, 1e-5, { cache_read_input_token_cost: 1.25e-6 }),
  'gpt-x-responses': { ...chat('openai', 1e-6, 2e-6), mode: 'responses' },
  'ft:gpt-x': chat('openai', 3e-6, 1.2e-5),
  'text-embedding-x': { ...chat('openai', 2e-8, 0), mode: 'embedding' },
  'azure/gpt-x': chat('azure', 9e-6, 9e-6),
  'gemini/gemini-y': chat('gemini', 1.25e-6, 1e-5, {
    input_cost_per_token_above_200k_tokens: 2.5e-6,
    output_cost_per_token_above_200k_tokens: 1.5e-5,
  }),
  'gemini-y': chat('vertex_ai-language-models', 1.25e-6, 1e-5),
  'gemini/lyria-z': chat('gemini', 0, 0, { output_cost_per_image: 0.08 }),
  'gemini/gemma-free': chat('gemini', 0, 0),
  'deepseek-c': chat('deepseek', 2.8e-7, 4.2e-7),
  'deepseek/deepseek-c': chat('deepseek', 2.8e-7, 4.2e-7, { cache_creation_input_token_cost: 0 }),
  'deepseek/no-price': chat('deepseek', 1e-6, null as unknown as number),
};

const TABLE: Table = {
  schema: 2,
  checked_on: '2025-11-30',
  litellm_version: '1.0.0',
  note: 'old note',
  sources: { openai: 'https://o.example', google: 'https://g.example', deepseek: 'https://d.example' },
  litellm_providers: PROVIDERS,
  models: [
    { model: 'retired-gpt', provider: 'openai', priced_from: 'hand-checked 2025-11-30', input_micros_per_mtok: 1, output_micros_per_mtok: 2 },
    { model: 'gpt-x', provider: 'openai', priced_from: 'litellm 1.0.0', input_micros_per_mtok: 3, output_micros_per_mtok: 4 },
  ],
};

describe('update-prices', () => {
  const selected = script.selectFirstParty(LITELLM, PROVIDERS);

  it("takes every chat/responses model of a maker's own API, without its prefix", () => {
    expect([...selected.keys()].sort()).toEqual(['deepseek-c', 'gemini-y', 'gemma-free', 'gpt-x', 'gpt-x-responses']);
    expect(selected.get('gemini-y')).toEqual({ keys: ['gemini/gemini-y'], provider: 'google' });
    // The provider-prefixed key first: it is the one read.
    expect(selected.get('deepseek-c')).toEqual({ keys: ['deepseek/deepseek-c', 'deepseek-c'], provider: 'deepseek' });
  });

  it('reads prices with the package reader and warns when two keys of one model disagree', () => {
    const { entries, warnings } = script.readEntries(LITELLM, selected, 'litellm 9.9.9', (text) => PricingManager.fromLitellmJson(text));
    const byName = new Map(entries.map((entry) => [entry.model, entry]));
    expect(byName.get('gpt-x')).toEqual({
      model: 'gpt-x',
      provider: 'openai',
      priced_from: 'litellm 9.9.9',
      input_micros_per_mtok: 2_500_000,
      output_micros_per_mtok: 10_000_000,
      cache_read_micros_per_mtok: 1_250_000,
    });
    expect(byName.get('gemini-y')!['long_context']).toEqual({
      threshold_tokens: 200_000,
      input_micros_per_mtok: 2_500_000,
      output_micros_per_mtok: 15_000_000,
    });
    expect(byName.get('deepseek-c')!['cache_write_micros_per_mtok']).toBe(0);
    expect(warnings).toEqual(['deepseek-c: LiteLLM prices deepseek-c differently from deepseek/deepseek-c; deepseek/deepseek-c is used']);
  });

  it('merges: models LiteLLM lists are replaced, the others kept; sorted by provider, then name', () => {
    const { entries } = script.readEntries(LITELLM, selected, 'litellm 9.9.9', (text) => PricingManager.fromLitellmJson(text));
    const merged = script.mergeTable(TABLE, entries, { litellmVersion: '9.9.9', date: '2026-11-30' });
    expect(merged.models.map((entry) => entry.model)).toEqual(['gpt-x', 'gpt-x-responses', 'retired-gpt', 'gemini-y', 'gemma-free', 'deepseek-c']);
    expect(merged.models.find((entry) => entry.model === 'retired-gpt')).toEqual(TABLE.models[0]);
    expect(merged.models.find((entry) => entry.model === 'gpt-x')!.priced_from).toBe('litellm 9.9.9');
    expect([merged.checked_on, merged.litellm_version]).toEqual(['2026-11-30', '9.9.9']);
    expect(merged.note).toContain('floor(');
    // What it writes is what it means, and the table readers accept it.
    expect(JSON.parse(script.renderTable(merged))).toEqual(merged);
    expect(validatePrices(JSON.parse(script.renderTable(merged))).rows).toHaveLength(6);
  });

  it('backfills only entries from outside LiteLLM, at the same input and output prices', () => {
    const older: Entry[] = [
      { model: 'retired-gpt', provider: 'openai', priced_from: 'litellm 0.1.0', input_micros_per_mtok: 1, output_micros_per_mtok: 2, cache_read_micros_per_mtok: 1 },
      { model: 'gpt-x', provider: 'openai', priced_from: 'litellm 0.1.0', input_micros_per_mtok: 3, output_micros_per_mtok: 4 },
      { model: 'new-model', provider: 'openai', priced_from: 'litellm 0.1.0', input_micros_per_mtok: 5, output_micros_per_mtok: 6 },
    ];
    expect(script.backfillEntries(TABLE, older).map((entry) => entry.model)).toEqual(['retired-gpt']);
    const repriced = [{ ...older[0]!, input_micros_per_mtok: 7 }];
    expect(script.backfillEntries(TABLE, repriced)).toEqual([]);
  });
});
