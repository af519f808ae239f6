// The official `openai` and `@anthropic-ai/sdk` clients through both example
// routers (node:http with meterNodeResponse, Hono with meterFetchResponse)
// against the fake upstream, streamed and not, with cached usage: what the
// store records equals what the SDK reports. Also errors inside 200 streams
// and a client abort mid-stream. Runs against the built package (dist/).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, PricingManager, type AnalyticsEvent, type ModelStats } from 'iron-runtime-analytics';
import { close, costOf, examples, listen, type Tokens } from './helpers/examples.js';

type Counters = { completed: number; failed: number; missingUsage: number; recordErrors: number };
interface FakeUpstreamModule {
  createFakeUpstream(options?: { seed?: number; latencyScale?: number; faults?: object | null }): Server;
}
interface RouterModule {
  createRouter(options: { upstreamUrl: string; store: EventStore; pricing: PricingManager; providerId?: string | null }): Server & { counters: Counters };
}
interface HonoRouterModule {
  createHonoRouter(options: { upstreamUrl: string; store: EventStore; pricing: PricingManager; providerId?: string | null }): {
    fetch: (request: Request) => Response | Promise<Response>;
    counters: Counters;
  };
}
interface NodeServerModule {
  serve(options: { fetch: (request: Request) => Response | Promise<Response>; port: number; hostname: string }, listening: () => void): Server;
}

const pricing = new PricingManager();

/** Polls until `check()` holds (the router records when it sees the connection close). */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

/** What /stats must say for one completed request with these normalized counts. */
function expectedRow(model: string, t: Tokens & { reasoning?: number }): ModelStats {
  const cost = costOf(model, t);
  return {
    requestCount: 1,
    failedCount: 0,
    inputTokens: t.input,
    outputTokens: t.output,
    costMicros: cost,
    costUsd: cost / 1e6,
    cacheReadTokens: t.cacheRead ?? 0,
    cacheWriteTokens: (t.cacheWrite ?? 0) + (t.cacheWrite1h ?? 0),
    reasoningTokens: t.reasoning ?? 0,
    unpricedRequests: pricing.get(model) === null ? 1 : 0,
  };
}

interface Harness {
  store: EventStore;
  base: string;
  counters: () => Counters;
  stop: () => Promise<void>;
}

const ROUTERS: { name: string; start: (upstreamUrl: string) => Promise<Harness> }[] = [
  {
    name: 'router.mjs (node:http, meterNodeResponse)',
    start: async (upstreamUrl) => {
      const { createRouter } = (await import(examples('router.mjs'))) as RouterModule;
      const store = new EventStore();
      const router = createRouter({ upstreamUrl, store, pricing, providerId: 'ip_test-001' });
      const base = await listen(router);
      return { store, base, counters: () => router.counters, stop: () => close(router) };
    },
  },
  {
    name: 'hono-router.mjs (Hono, meterFetchResponse)',
    start: async (upstreamUrl) => {
      const { createHonoRouter } = (await import(examples('hono-router.mjs'))) as HonoRouterModule;
      const { serve } = (await import('@hono/node-server')) as unknown as NodeServerModule;
      const store = new EventStore();
      const app = createHonoRouter({ upstreamUrl, store, pricing, providerId: 'ip_test-001' });
      const server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
      });
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return { store, base, counters: () => app.counters, stop: () => close(server) };
    },
  },
];

const failures = (store: EventStore): AnalyticsEvent[] => store.snapshotEvents().filter((e) => e.eventType === 'llm_request_failed');

describe.each(ROUTERS)('$name with the official SDKs', ({ start }) => {
  let upstream: Server;
  let h: Harness;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    const { createFakeUpstream } = (await import(examples('fake-upstream.mjs'))) as FakeUpstreamModule;
    upstream = createFakeUpstream({ seed: 11, latencyScale: 0.05, faults: null });
    const upstreamUrl = await listen(upstream);
    h = await start(upstreamUrl);
    openai = new OpenAI({ apiKey: 'sk-test-not-real', baseURL: `${h.base}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: 'sk-ant-test-not-real', baseURL: h.base, maxRetries: 0 });
  });
  afterAll(async () => {
    await h.stop();
    await close(upstream);
  });

  /** The store's row for `model` after one request: it must be the only request of that model. */
  const row = (model: string): ModelStats | undefined => h.store.stats().byModel[model];
  const fake = (usage: string, extra: Record<string, string> = {}) => ({ headers: { 'x-fake-usage': usage, ...extra } });

  it('Chat Completions, not streamed, cached prompt: the store records what the SDK reports', async () => {
    const answer = await openai.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] },
      fake('19681,412,3712,0'),
    );
    const u = answer.usage!;
    expect(u.prompt_tokens_details?.cached_tokens).toBe(3712);
    expect(row('gpt-4o')).toEqual(expectedRow('gpt-4o', { input: u.prompt_tokens, output: u.completion_tokens, cacheRead: u.prompt_tokens_details!.cached_tokens! }));
  });

  it('Chat Completions, streamed with include_usage, reasoning model', async () => {
    const stream = await openai.chat.completions.create(
      { model: 'o3-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'think' }] },
      fake('2306,514,2048,192'),
    );
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let text = '';
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage).not.toBeNull();
    await eventually(() => row('o3-mini') !== undefined, 'the stream recorded');
    expect(row('o3-mini')).toEqual(
      expectedRow('o3-mini', {
        input: usage!.prompt_tokens,
        output: usage!.completion_tokens,
        cacheRead: usage!.prompt_tokens_details!.cached_tokens!,
        reasoning: usage!.completion_tokens_details!.reasoning_tokens!,
      }),
    );
    expect(h.store.stats().latencyByModel['o3-mini']?.ttft.count).toBe(1);
  });

  it('Responses, not streamed', async () => {
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hello' }, fake('5210,781,4096,0'));
    const u = response.usage!;
    expect(row('gpt-4o-mini')).toEqual(expectedRow('gpt-4o-mini', { input: u.input_tokens, output: u.output_tokens, cacheRead: u.input_tokens_details.cached_tokens }));
  });

  it('Responses, streamed through responses.stream() (the full event sequence)', async () => {
    const stream = openai.responses.stream({ model: 'o4-mini', input: 'hello' }, fake('3000,900,1024,600'));
    let deltas = 0;
    stream.on('response.output_text.delta', () => deltas++);
    const final = await stream.finalResponse();
    expect(deltas).toBeGreaterThan(0);
    expect(final.output_text.length).toBeGreaterThan(0);
    const u = final.usage!;
    await eventually(() => row('o4-mini') !== undefined, 'the stream recorded');
    expect(row('o4-mini')).toEqual(
      expectedRow('o4-mini', { input: u.input_tokens, output: u.output_tokens, cacheRead: u.input_tokens_details.cached_tokens, reasoning: u.output_tokens_details.reasoning_tokens }),
    );
  });

  it('Anthropic Messages, not streamed, cache read and 5-minute write', async () => {
    const message = await anthropic.messages.create(
      { model: 'claude-3-5-sonnet-20241022', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] },
      fake('9632,410,6289,0,3337,0'),
    );
    const u = message.usage;
    expect(u.input_tokens).toBe(6);
    expect(row('claude-3-5-sonnet-20241022')).toEqual(
      expectedRow('claude-3-5-sonnet-20241022', {
        input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0),
        output: u.output_tokens,
        cacheRead: u.cache_read_input_tokens!,
        cacheWrite: u.cache_creation?.ephemeral_5m_input_tokens ?? 0,
        cacheWrite1h: u.cache_creation?.ephemeral_1h_input_tokens ?? 0,
      }),
    );
  });

  it('Anthropic Messages, streamed through messages.stream(), 1-hour cache write', async () => {
    const stream = anthropic.messages.stream(
      { model: 'claude-3-7-sonnet-20250219', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] },
      fake('5040,120,0,0,2000,3000'),
    );
    const message = await stream.finalMessage();
    const u = message.usage;
    expect(u.cache_creation?.ephemeral_1h_input_tokens).toBe(3000);
    await eventually(() => row('claude-3-7-sonnet-20250219') !== undefined, 'the stream recorded');
    expect(row('claude-3-7-sonnet-20250219')).toEqual(
      expectedRow('claude-3-7-sonnet-20250219', {
        input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0),
        output: u.output_tokens,
        cacheWrite: u.cache_creation!.ephemeral_5m_input_tokens,
        cacheWrite1h: u.cache_creation!.ephemeral_1h_input_tokens,
      }),
    );
  });

  it('an error event inside a 200 stream is a failure with its code (OpenAI chat, Responses, Anthropic)', async () => {
    const before = failures(h.store).length;
    const chat = await openai.chat.completions.create(
      { model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'x' }] },
      fake('100,200', { 'x-fake-fault': 'stream-error' }),
    );
    await expect(async () => {
      for await (const _ of chat) void _;
    }).rejects.toThrow();
    // The SDK hands a response.failed over as a response whose status is failed.
    const failedResponse = await openai.responses.stream({ model: 'gpt-4.1-mini', input: 'x' }, fake('100,200', { 'x-fake-fault': 'stream-error' })).finalResponse();
    expect(failedResponse.status).toBe('failed');
    await expect(
      anthropic.messages
        .stream({ model: 'claude-3-5-haiku-20241022', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, fake('100,200', { 'x-fake-fault': 'stream-error' }))
        .finalMessage(),
    ).rejects.toThrow(/Overloaded/);
    await eventually(() => failures(h.store).length === before + 3, 'three failures recorded');
    const got = failures(h.store)
      .slice(before)
      .map((e) => (e.eventType === 'llm_request_failed' ? [e.model, e.errorCode] : null));
    expect(got).toEqual([
      ['gpt-4.1', 'server_error'],
      ['gpt-4.1-mini', 'server_error'],
      ['claude-3-5-haiku-20241022', 'overloaded_error'],
    ]);
    for (const m of ['gpt-4.1', 'gpt-4.1-mini', 'claude-3-5-haiku-20241022']) expect(row(m)).toMatchObject({ requestCount: 1, failedCount: 1, inputTokens: 0, costMicros: 0 });
  });

  it('a 429 through the SDK is a failure, rate_limit_exceeded', async () => {
    const before = failures(h.store).length;
    await expect(openai.chat.completions.create({ model: 'gpt-4-turbo', messages: [] }, fake('1,1', { 'x-fake-fault': '429' }))).rejects.toThrow(/Rate limit/);
    await eventually(() => failures(h.store).length === before + 1, 'the 429 recorded');
    expect(failures(h.store).at(-1)).toMatchObject({ model: 'gpt-4-turbo', errorCode: 'rate_limit_exceeded', providerId: 'ip_test-001' });
  });

  it('the client aborts mid-stream: failed, client_disconnected, recorded once', async () => {
    const before = failures(h.store).length;
    const controller = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'gpt-3.5-turbo', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] },
      { ...fake('100,2000', { 'x-fake-fault': 'hang' }), signal: controller.signal },
    );
    let chunks = 0;
    // The SDK ends the iteration quietly when its own signal aborts it.
    for await (const _ of stream) {
      void _;
      if (++chunks === 2) controller.abort();
    }
    expect(chunks).toBe(2);
    await eventually(() => failures(h.store).length === before + 1, 'the abort recorded');
    expect(failures(h.store).at(-1)).toMatchObject({ model: 'gpt-3.5-turbo', errorCode: 'client_disconnected' });
    expect(row('gpt-3.5-turbo')).toMatchObject({ requestCount: 1, failedCount: 1 });
    // Nothing more arrives later for that request.
    await new Promise((r) => setTimeout(r, 50));
    expect(row('gpt-3.5-turbo')?.requestCount).toBe(1);
  });

  it('books: every request recorded exactly once, nothing thrown while recording', () => {
    const c = h.counters();
    const stats = h.store.stats();
    expect(c.recordErrors).toBe(0);
    expect(c.completed + c.failed).toBe(stats.totalRequests);
    expect(c.failed).toBe(stats.failedRequests);
    expect(h.store.accounting().recorded).toBe(stats.totalRequests);
  });
});
