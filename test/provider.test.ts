import { describe, expect, it } from 'vitest';
import { EventStore, PricingManager, Provider, inferProvider, type ProviderName } from '../src/index.js';

const cases: Array<[string, ProviderName]> = [
  ['gpt-4', 'openai'],
  ['gpt-4o-mini', 'openai'],
  ['GPT-4O', 'openai'],
  ['o1', 'openai'],
  ['o1-preview', 'openai'],
  ['o3', 'openai'],
  ['O3-mini', 'openai'],
  ['o4-mini', 'openai'],
  ['chatgpt-4o-latest', 'openai'],
  ['text-embedding-3-small', 'openai'],
  ['dall-e-3', 'openai'],
  ['DALL-E-2', 'openai'],
  ['whisper-1', 'openai'],
  ['tts-1-hd', 'openai'],
  ['claude-3-opus-20240229', 'anthropic'],
  ['Claude-3-haiku-20240307', 'anthropic'],
  ['gemini-1.5-flash', 'google'],
  ['Gemini-2.5-pro', 'google'],
  ['mistral-large-latest', 'mistral'],
  ['codestral-latest', 'mistral'],
  ['ministral-8b-latest', 'mistral'],
  ['pixtral-large-latest', 'mistral'],
  ['magistral-medium', 'mistral'],
  ['deepseek-chat', 'deepseek'],
  ['DeepSeek-Reasoner', 'deepseek'],
  ['grok-3', 'xai'],
  ['grok-4-0709', 'xai'],
  // A `provider/` prefix names its provider, as LiteLLM and OpenRouter spell models.
  ['openai/gpt-4', 'openai'],
  ['openai/gpt-4o', 'openai'],
  ['OpenAI/o3', 'openai'],
  ['anthropic/claude-3-opus', 'anthropic'],
  ['gemini/gemini-2.5-pro', 'google'],
  ['google/gemini-2.5-flash', 'google'],
  ['mistral/mistral-large-latest', 'mistral'],
  ['mistralai/mistral-small', 'mistral'],
  ['deepseek/deepseek-chat', 'deepseek'],
  ['xai/grok-4', 'xai'],
  ['x-ai/grok-4', 'xai'],
  // Not matches: exact prefixes only, on the name as given.
  ['o', 'unknown'],
  ['o2-mini', 'unknown'],
  ['gpt', 'unknown'],
  ['gpt4', 'unknown'],
  ['claude', 'unknown'],
  ['gemini', 'unknown'],
  ['mistral', 'unknown'],
  ['openrouter/openai/gpt-4', 'unknown'],
  ['azure/gpt-4o', 'unknown'],
  ['openai', 'unknown'],
  [' gpt-4', 'unknown'],
  ['llama-3.1-70b', 'unknown'],
  ['text-embedding', 'unknown'],
  ['tts1', 'unknown'],
  ['xai-grok', 'unknown'],
  // ASCII case folding only: U+212A KELVIN SIGN lowercases to "k" in Unicode, not in ASCII.
  ['gro\u212A-3', 'unknown'],
  // U+0130 (capital I with dot) is not an ASCII "I".
  ['m\u0130stral-large', 'unknown'],
];

describe('inferProvider', () => {
  it.each(cases)('%j → %s', (model, expected) => {
    expect(inferProvider(model)).toBe(expected);
  });

  it('rejects non-strings with TypeError and the empty name with RangeError', () => {
    const infer = inferProvider as (model: unknown) => string;
    for (const bad of [undefined, null, 42, {}, ['gpt-4']]) {
      expect(() => infer(bad)).toThrow(TypeError);
    }
    expect(() => infer('')).toThrow(RangeError);
    expect(() => infer('')).toThrow('model must be a non-empty string, got ""');
  });
});

describe('Provider', () => {
  it('names every provider and is frozen', () => {
    expect(Provider).toEqual({
      OpenAI: 'openai',
      Anthropic: 'anthropic',
      Google: 'google',
      Mistral: 'mistral',
      DeepSeek: 'deepseek',
      XAI: 'xai',
      Unknown: 'unknown',
    });
    expect(Object.isFrozen(Provider)).toBe(true);
    expect(() => {
      (Provider as Record<string, string>)['OpenAI'] = 'x';
    }).toThrow(TypeError);
    expect(Provider.OpenAI).toBe('openai');
  });
});

describe('recording infers the provider', () => {
  const pricing = new PricingManager();

  it('for completed and failed requests, per the same table', () => {
    const store = EventStore.withCapacity(cases.length * 2);
    for (const [model] of cases) {
      store.recordLlmCompleted(pricing, model, 1, 0);
      store.recordLlmFailed(model);
    }
    const events = store.snapshotEvents();
    const expected = cases.flatMap(([, p]) => [p, p]);
    expect(events.map((e) => (e as { provider: string }).provider)).toEqual(expected);

    const counts: Record<string, number> = {};
    for (const p of expected) counts[p] = (counts[p] ?? 0) + 1;
    const byProvider = store.stats().byProvider;
    expect(Object.fromEntries(Object.entries(byProvider).map(([p, s]) => [p, s.requestCount]))).toEqual(counts);
    for (const s of Object.values(byProvider)) expect(s.failedCount * 2).toBe(s.requestCount);
  });

  it('but an explicit provider wins and the inferred one is not listed', () => {
    const store = new EventStore();
    store.recordLlmCompletedWithProvider(pricing, 'gpt-4', Provider.Anthropic, 150, 50);
    store.record({ eventType: 'llm_request_failed', provider: 'my-gateway', model: 'claude-3-opus-20240229' });
    const stats = store.stats();
    expect(Object.keys(stats.byProvider).sort()).toEqual(['anthropic', 'my-gateway']);
    expect(stats.byProvider['anthropic']!.costMicros).toBe(7500);
    expect(store.snapshotEvents().map((e) => (e as { provider: string }).provider)).toEqual(['anthropic', 'my-gateway']);
  });

  it('keeps the model name as recorded (no case folding, no prefix stripping), its provider/ prefix naming the provider', () => {
    const store = new EventStore();
    store.recordLlmCompleted(pricing, 'OpenAI/GPT-4', 150, 50);
    expect(store.snapshotEvents()[0]).toMatchObject({ model: 'OpenAI/GPT-4', provider: 'openai', costMicros: 7500 });
    expect(Object.keys(store.stats().byModel)).toEqual(['OpenAI/GPT-4']);
  });
});
