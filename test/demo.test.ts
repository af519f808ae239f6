// The demo (`npm run demo`) and the example router (examples/router.mjs),
// against the built package (dist/): run `npm run build` first.
import { spawn } from 'node:child_process';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, PricingManager } from 'iron-runtime-analytics';
import { close, costOf, examples, listen } from './helpers/examples.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'claude-3-5-sonnet-20241022'];

// The examples are plain .mjs (copyable, no build step): typed here by what the test uses.
interface Sent {
  path: string;
  model: string | null;
  stream: boolean;
  status: number;
  body: Buffer | null;
}
type FakeUpstream = Server & { sent: Sent[] };
type Router = Server & { counters: { recordErrors: number; missingUsage: number; internalErrors: number } };
interface FakeUpstreamModule {
  createFakeUpstream(options?: { seed?: number; latencyScale?: number; faults?: object | null; record?: boolean }): FakeUpstream;
}
interface RouterModule {
  createRouter(options: {
    upstreamUrl: string;
    store: EventStore | null;
    pricing: PricingManager;
    agentHeader?: string;
    providerId?: string | null | ((model: string) => string | null);
  }): Router;
}
/** Runs `node examples/demo.mjs args` from the repository root. */
function runDemo(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['examples/demo.mjs', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples/router.mjs in front of the fake upstream', () => {
  let upstream: FakeUpstream;
  let upstreamUrl: string;
  let createRouter: RouterModule['createRouter'];
  const pricing = new PricingManager();
  let router: Router | null = null;

  beforeAll(async () => {
    const fake = (await import(examples('fake-upstream.mjs'))) as FakeUpstreamModule;
    ({ createRouter } = (await import(examples('router.mjs'))) as RouterModule);
    upstream = fake.createFakeUpstream({ seed: 7, latencyScale: 0.2, faults: null, record: true });
    upstreamUrl = await listen(upstream);
  });
  afterEach(async () => {
    if (router) await close(router);
    router = null;
  });
  afterAll(async () => {
    await close(upstream);
  });

  /** A fresh store and router for each test. */
  async function start(): Promise<{ store: EventStore; base: string }> {
    const store = new EventStore();
    router = createRouter({ upstreamUrl, store, pricing, providerId: 'ip_test-001' });
    return { store, base: await listen(router) };
  }

  const post = (base: string, path: string, body: object, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  /** The bytes the upstream sent for its latest answer to `model`. */
  const sentFor = (model: string): Buffer => {
    const s = upstream.sent.filter((x) => x.model === model).at(-1);
    expect(s?.body).toBeInstanceOf(Buffer);
    return s!.body!;
  };

  it('non-streamed: records the exact usage and cost, passes the body through', async () => {
    const { store, base } = await start();
    const res = await post(base, '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { 'x-agent-id': 'agent_t', 'x-fake-usage': '123,45,64,0' });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.equals(sentFor('gpt-4o'))).toBe(true);
    expect(JSON.parse(bytes.toString()).usage.prompt_tokens_details.cached_tokens).toBe(64);

    const stats = store.stats();
    // 64 of the 123 prompt tokens were read from the cache: priced at the cache-read rate
    // (the input rate when the table has none), the other 59 at the input rate.
    const cost = costOf('gpt-4o', { input: 123, output: 45, cacheRead: 64 });
    expect(stats.byModel['gpt-4o']).toEqual({
      requestCount: 1, failedCount: 0, inputTokens: 123, outputTokens: 45, costMicros: cost, costUsd: cost / 1e6,
      cacheReadTokens: 64, cacheWriteTokens: 0, reasoningTokens: 0, unpricedRequests: 0,
    });
    expect(stats.totalCostMicros).toBe(cost);
    expect(stats.byAgent['agent_t']?.requestCount).toBe(1);
    expect(stats.byProvider['openai']?.requestCount).toBe(1);
    const [event] = store.snapshotEvents().filter((e) => e.eventType === 'llm_request_completed');
    expect(event).toMatchObject({ model: 'gpt-4o', agentId: 'agent_t', providerId: 'ip_test-001', inputTokens: 123, outputTokens: 45, costMicros: cost });
    expect(router!.counters.recordErrors).toBe(0);
  });

  it('streamed (SSE): the client gets the upstream bytes unchanged; usage comes from the last chunk', async () => {
    const { store, base } = await start();
    const res = await post(
      base,
      '/v1/chat/completions',
      { model: 'o3-mini', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'think' }] },
      { 'x-agent-id': 'agent_s', 'x-fake-usage': '1000,500,0,300' },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.toString()).toMatch(/data: \[DONE\]\n\n$/);
    expect(bytes.equals(sentFor('o3-mini'))).toBe(true);

    const stats = store.stats();
    // o3-mini: $1.10 / $4.40 per million → 1000 × 1.1 + 500 × 4.4 = 3300 µ$
    expect(stats.byModel['o3-mini']).toMatchObject({ requestCount: 1, failedCount: 0, inputTokens: 1000, outputTokens: 500, costMicros: 3300 });
    // One duration and one time to first token, both within the request's wall time.
    const latency = stats.latencyByModel['o3-mini'];
    expect(latency?.duration.count).toBe(1);
    expect(latency?.ttft.count).toBe(1);
    expect(latency!.ttft.sumSeconds).toBeGreaterThan(0);
    expect(latency!.ttft.sumSeconds).toBeLessThanOrEqual(latency!.duration.sumSeconds);
  });

  it('Responses API, streamed: usage from response.completed', async () => {
    const { store, base } = await start();
    const res = await post(base, '/v1/responses', { model: 'gpt-4o-mini', input: 'hello', stream: true }, { 'x-fake-usage': '200,100' });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(sentFor('gpt-4o-mini'))).toBe(true);
    // gpt-4o-mini: $0.15 / $0.60 per million → 30 + 60 = 90 µ$
    expect(store.stats().byModel['gpt-4o-mini']).toMatchObject({ requestCount: 1, inputTokens: 200, outputTokens: 100, costMicros: 90 });
  });

  it('a 429 from the upstream is passed through and recorded as failed (rate_limit_exceeded)', async () => {
    const { store, base } = await start();
    const res = await post(base, '/v1/chat/completions', { model: 'gpt-4o', messages: [] }, { 'x-agent-id': 'agent_r', 'x-fake-fault': '429' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.equals(sentFor('gpt-4o'))).toBe(true);
    expect(JSON.parse(bytes.toString()).error.code).toBe('rate_limit_exceeded');

    const stats = store.stats();
    expect(stats.totalRequests).toBe(1);
    expect(stats.failedRequests).toBe(1);
    expect(stats.byModel['gpt-4o']).toMatchObject({ requestCount: 1, failedCount: 1, inputTokens: 0, outputTokens: 0, costMicros: 0 });
    const [event] = store.snapshotEvents().filter((e) => e.eventType === 'llm_request_failed');
    expect(event).toMatchObject({ model: 'gpt-4o', agentId: 'agent_r', providerId: 'ip_test-001', errorCode: 'rate_limit_exceeded' });
    expect(event && 'errorMessage' in event ? event.errorMessage : '').toMatch(/^Rate limit reached for gpt-4o/);
  });

  it('500 → upstream_error; no answer → 502 network_error; a stream cut short → broken for the client, network_error', async () => {
    const { store, base } = await start();
    const r500 = await post(base, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, { 'x-fake-fault': '500' });
    expect(r500.status).toBe(500);
    await r500.arrayBuffer();
    const reset = await post(base, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, { 'x-fake-fault': 'reset' });
    expect(reset.status).toBe(502);
    await reset.arrayBuffer();
    const cut = await post(base, '/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [] }, { 'x-fake-fault': 'mid-stream-reset' });
    expect(cut.status).toBe(200);
    await expect(cut.arrayBuffer()).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 50)); // the router records once it sees the upstream close

    const codes = store.snapshotEvents().map((e) => (e.eventType === 'llm_request_failed' ? e.errorCode : e.eventType));
    expect(codes).toEqual(['upstream_error', 'network_error', 'network_error']);
    expect(store.stats()).toMatchObject({ totalRequests: 3, failedRequests: 3 });
  });

  it('GET /stats and GET /metrics', async () => {
    const { base } = await start();
    const res = await post(base, '/v1/chat/completions', { model: 'gpt-4o', messages: [] }, { 'x-fake-usage': '10,5' });
    await res.arrayBuffer();

    const stats = (await (await fetch(`${base}/stats`)).json()) as { implementation: string; stats: { totalRequests: number }; accounting: { recorded: number } };
    expect(['native', 'js']).toContain(stats.implementation);
    expect(stats.stats.totalRequests).toBe(1);
    expect(stats.accounting.recorded).toBe(1);

    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).toContain('"gpt-4o"');
  });
});

describe('npm run demo (examples/demo.mjs)', () => {
  const env = { ...process.env };
  delete env.IRON_ANALYTICS_IMPL;

  for (const impl of ['default', 'js'] as const) {
    it(`runs end to end and exits 0 (${impl} implementation)`, async () => {
      const { code, stdout, stderr } = await runDemo(['--duration', '3', '--concurrency', '8'], impl === 'js' ? { ...env, IRON_ANALYTICS_IMPL: 'js' } : env);
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      if (impl === 'js') expect(stdout).toContain('implementation: js');
      for (const model of MODELS) expect(stdout).toMatch(new RegExp(`^${model.replace(/\./g, '\\.')}\\s+[\\d,]+\\s+\\d`, 'm'));
      expect(stdout).toMatch(/^TOTAL\s+[\d,]+\s+[\d.]+%\s+[\d.]+/m);
      expect(stdout).toContain('All checks passed.');
    }, 120_000);
  }
});
