// meterFetchResponse and meterNodeResponse: the body passes through unchanged,
// exactly one event is recorded whatever ends the answer (end, error status,
// error inside the answer, upstream cut, client gone), bad arguments are
// rejected before anything is read. Runs on both implementations.
import http, { type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventStore,
  PricingManager,
  meterFetchResponse,
  meterNodeResponse,
  type AnalyticsEvent,
  type MeterRecord,
} from '../src/index.js';

const pricing = new PricingManager();
const enc = new TextEncoder();

const chatChunk = (o: object): string => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-2024-08-06', ...o })}\n\n`;
/** A Chat Completions stream of `n` text chunks with cached usage at the end. */
function chatStream(n: number): string[] {
  const parts = [chatChunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }], usage: null })];
  for (let i = 0; i < n; i++) parts.push(chatChunk({ choices: [{ index: 0, delta: { content: `tok${i} ` } }], usage: null }));
  parts.push(chatChunk({ choices: [], usage: { prompt_tokens: 1200, completion_tokens: n, prompt_tokens_details: { cached_tokens: 1024 } } }));
  parts.push('data: [DONE]\n\n');
  return parts;
}
const SSE = { 'content-type': 'text/event-stream; charset=utf-8' };
const JSON_TYPE = { 'content-type': 'application/json' };

/** A Response whose body yields `parts` one by one; `source.cancelled` tells whether the consumer cancelled it. */
function upstreamResponse(parts: string[], init: ResponseInit, failAfter = -1): { response: Response; source: { cancelled: boolean; pulled: number } } {
  const source = { cancelled: false, pulled: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (source.pulled === failAfter) {
        controller.error(new TypeError('terminated'));
        return;
      }
      const part = parts[source.pulled++];
      if (part === undefined) controller.close();
      else controller.enqueue(enc.encode(part));
    },
    cancel() {
      source.cancelled = true;
    },
  });
  return { response: new Response(body, init), source };
}

const llmEvents = (store: EventStore): AnalyticsEvent[] => store.snapshotEvents().filter((e) => e.eventType.startsWith('llm_'));
const failure = (store: EventStore): unknown => {
  const [e] = llmEvents(store);
  return e?.eventType === 'llm_request_failed' ? { model: e.model, errorCode: e.errorCode, errorMessage: e.errorMessage } : e;
};

describe('meterFetchResponse', () => {
  it('passes an SSE body through unchanged and records its usage, duration and time to first chunk once', async () => {
    const store = new EventStore();
    const parts = chatStream(200);
    const records: MeterRecord[] = [];
    const { response } = upstreamResponse(parts, { status: 200, statusText: 'OK', headers: { ...SSE, 'x-request-id': 'req_1' } });
    const metered = meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o', agentId: 'agent_1', providerId: 'ip_openai-001', onRecord: (r) => records.push(r) });
    expect(metered.status).toBe(200);
    expect(metered.statusText).toBe('OK');
    expect(metered.headers.get('x-request-id')).toBe('req_1');
    expect(llmEvents(store)).toHaveLength(0); // nothing before the body is read
    expect(await metered.text()).toBe(parts.join(''));

    const stats = store.stats();
    expect(stats.byModel['gpt-4o-2024-08-06']).toMatchObject({ requestCount: 1, failedCount: 0, inputTokens: 1200, outputTokens: 200, cacheReadTokens: 1024 });
    expect(stats.byAgent['agent_1']?.requestCount).toBe(1);
    expect(stats.latencyByModel['gpt-4o-2024-08-06']?.ttft.count).toBe(1);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: 'completed', status: 200, errorCode: null, recordError: null });
    expect(records[0]!.ttftMs).not.toBeNull();
    expect(records[0]!.ttftMs!).toBeLessThanOrEqual(records[0]!.durationMs);
    expect(llmEvents(store)[0]).toMatchObject({ providerId: 'ip_openai-001', agentId: 'agent_1' });
  });

  it('reads a JSON answer once at the end (no time to first token for it)', async () => {
    const store = new EventStore();
    const body = JSON.stringify({ type: 'message', model: 'claude-3-5-haiku-20241022', usage: { input_tokens: 10, cache_read_input_tokens: 500, cache_creation_input_tokens: 90, output_tokens: 7 } });
    const { response } = upstreamResponse([body.slice(0, 40), body.slice(40)], { status: 200, headers: JSON_TYPE });
    expect(await meterFetchResponse(store, pricing, response, { requestModel: 'claude-3-5-haiku' }).text()).toBe(body);
    const stats = store.stats();
    expect(stats.byModel['claude-3-5-haiku-20241022']).toMatchObject({ requestCount: 1, inputTokens: 600, outputTokens: 7, cacheReadTokens: 500, cacheWriteTokens: 90 });
    expect(stats.latencyByModel['claude-3-5-haiku-20241022']).toMatchObject({ duration: { count: 1 }, ttft: { count: 0 } });
  });

  it('an answer without usage is a completed request of the request model with 0 tokens', async () => {
    const store = new EventStore();
    const records: MeterRecord[] = [];
    const { response } = upstreamResponse([chatChunk({ choices: [{ index: 0, delta: { content: 'x' } }] }), 'data: [DONE]\n\n'], { status: 200, headers: SSE });
    await meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o-mini', onRecord: (r) => records.push(r) }).arrayBuffer();
    expect(store.stats().byModel['gpt-4o-mini']).toMatchObject({ requestCount: 1, failedCount: 0, inputTokens: 0, outputTokens: 0 });
    expect(records[0]).toMatchObject({ outcome: 'completed', usage: null });
  });

  it.each([
    [429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, 'rate_limit_exceeded', 'Rate limit reached'],
    [529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, 'upstream_error', 'Overloaded'],
    [401, { error: { message: 'Incorrect API key provided' } }, 'authentication_error', 'Incorrect API key provided'],
    [400, 'not json', 'invalid_request', 'upstream answered HTTP 400'],
  ])('HTTP %i is a failure (%s)', async (status, body, errorCode, errorMessage) => {
    const store = new EventStore();
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const { response } = upstreamResponse([text], { status, headers: JSON_TYPE });
    const metered = meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o' });
    expect(metered.status).toBe(status);
    expect(await metered.text()).toBe(text);
    expect(failure(store)).toEqual({ model: 'gpt-4o', errorCode, errorMessage });
  });

  it('an error event inside a 200 stream is a failure with the provider code', async () => {
    const store = new EventStore();
    const parts = [
      `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { type: 'message', model: 'claude-sonnet-4-5', usage: { input_tokens: 5, output_tokens: 1 } } })}\n\n`,
      `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`,
    ];
    const { response } = upstreamResponse(parts, { status: 200, headers: SSE });
    expect(await meterFetchResponse(store, pricing, response, { requestModel: 'claude-sonnet-4-5' }).text()).toBe(parts.join(''));
    expect(failure(store)).toEqual({ model: 'claude-sonnet-4-5', errorCode: 'overloaded_error', errorMessage: 'Overloaded' });
    expect(store.stats()).toMatchObject({ totalRequests: 1, failedRequests: 1, successRate: 0 });
  });

  it('the client cancels mid-stream: client_disconnected, once, and the upstream is cancelled', async () => {
    const store = new EventStore();
    const records: MeterRecord[] = [];
    const { response, source } = upstreamResponse(chatStream(50), { status: 200, headers: SSE });
    const metered = meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o', onRecord: (r) => records.push(r) });
    const reader = metered.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel(new Error('client gone'));
    expect(source.cancelled).toBe(true);
    expect(source.pulled).toBeLessThan(10); // no read-ahead past what the client took
    expect(failure(store)).toEqual({ model: 'gpt-4o', errorCode: 'client_disconnected', errorMessage: 'the client closed the connection before the end of the answer' });
    expect(records.map((r) => r.outcome)).toEqual(['failed']);
  });

  it('the upstream breaks off: network_error, and the client sees the error', async () => {
    const store = new EventStore();
    const { response } = upstreamResponse(chatStream(20), { status: 200, headers: SSE }, 5);
    await expect(meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o' }).text()).rejects.toThrow(/terminated/);
    expect(failure(store)).toMatchObject({ model: 'gpt-4o', errorCode: 'network_error' });
    expect(llmEvents(store)).toHaveLength(1);
  });

  it('a Response without a body is recorded at once and returned as it is', () => {
    const store = new EventStore();
    const response = new Response(null, { status: 204 });
    expect(meterFetchResponse(store, pricing, response, { requestModel: 'gpt-4o' })).toBe(response);
    expect(store.stats().byModel['gpt-4o']).toMatchObject({ requestCount: 1, failedCount: 0 });
  });

  it('startedAt on either clock (performance.now() or Date.now()) sets the duration', async () => {
    for (const startedAt of [performance.now() - 5_000, Date.now() - 5_000]) {
      const records: MeterRecord[] = [];
      const { response } = upstreamResponse(chatStream(1), { status: 200, headers: SSE });
      await meterFetchResponse(new EventStore(), pricing, response, { requestModel: 'gpt-4o', startedAt, onRecord: (r) => records.push(r) }).text();
      expect(records[0]!.durationMs).toBeGreaterThanOrEqual(5_000);
      expect(records[0]!.durationMs).toBeLessThan(3_600_000);
    }
  });

  it('a store that throws, or an onRecord that throws, never breaks the answer', async () => {
    const records: MeterRecord[] = [];
    const broken = Object.assign(new EventStore(), {
      recordUsage: () => {
        throw new Error('store is gone');
      },
    });
    const parts = chatStream(3);
    const { response } = upstreamResponse(parts, { status: 200, headers: SSE });
    expect(await meterFetchResponse(broken, pricing, response, { requestModel: 'gpt-4o', onRecord: (r) => records.push(r) }).text()).toBe(parts.join(''));
    expect(records[0]?.recordError?.message).toBe('store is gone');

    const store = new EventStore();
    const again = upstreamResponse(parts, { status: 200, headers: SSE });
    const throwing = (): void => {
      throw new Error('logger broke');
    };
    expect(await meterFetchResponse(store, pricing, again.response, { requestModel: 'gpt-4o', onRecord: throwing }).text()).toBe(parts.join(''));
    expect(store.stats().totalRequests).toBe(1);
  });

  it('bad arguments: TypeError / RangeError before anything is read or recorded', () => {
    const store = new EventStore();
    const { response } = upstreamResponse(['{}'], { status: 200, headers: JSON_TYPE });
    const bad: [unknown, unknown, unknown, unknown, RegExp][] = [
      [null, pricing, response, { requestModel: 'm' }, /store must be an EventStore/],
      [store, undefined, response, { requestModel: 'm' }, /pricing must be a PricingManager/],
      [store, pricing, { status: 200 }, { requestModel: 'm' }, /response must be a fetch Response/],
      [store, pricing, response, undefined, /options must be an object/],
      [store, pricing, response, {}, /options\.requestModel/],
      [store, pricing, response, { requestModel: 'm', agentId: 7 }, /options\.agentId/],
      [store, pricing, response, { requestModel: 'm', startedAt: '0' }, /options\.startedAt must be a number/],
      [store, pricing, response, { requestModel: 'm', onRecord: 'log' }, /options\.onRecord/],
    ];
    for (const [s, p, r, o, message] of bad) {
      expect(() => meterFetchResponse(s as EventStore, p as PricingManager, r as Response, o as never)).toThrow(TypeError);
      expect(() => meterFetchResponse(s as EventStore, p as PricingManager, r as Response, o as never)).toThrow(message);
    }
    expect(() => meterFetchResponse(store, pricing, response, { requestModel: '' })).toThrow(RangeError);
    expect(() => meterFetchResponse(store, pricing, response, { requestModel: 'm', startedAt: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => meterFetchResponse(store, pricing, response, { requestModel: 'm', startedAt: Number.NaN })).toThrow(RangeError);
    expect(() => meterFetchResponse(store, pricing, response, { requestModel: 'x'.repeat(300) })).toThrow(RangeError);
    expect(response.bodyUsed).toBe(false);
    expect(response.body!.locked).toBe(false);
    expect(store.accounting().recorded).toBe(0);
  });

  it('refuses a Response whose body was already read', async () => {
    const { response } = upstreamResponse(['{}'], { status: 200, headers: JSON_TYPE });
    await response.text();
    expect(() => meterFetchResponse(new EventStore(), pricing, response, { requestModel: 'm' })).toThrow(/already been read/);
  });
});

describe('meterNodeResponse (a real upstream on 127.0.0.1)', () => {
  let server: Server;
  let base: string;
  /** What the upstream saw: whether each request's socket closed before the answer ended. */
  const closedEarly: boolean[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const mode = req.url!.slice(1);
      if (mode === 'error') {
        res.writeHead(500, JSON_TYPE);
        res.end(JSON.stringify({ error: { message: 'The server had an error', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, SSE);
      const parts = chatStream(30);
      let i = 0;
      res.on('close', () => closedEarly.push(!res.writableFinished));
      const next = (): void => {
        if (res.destroyed) return;
        if (mode === 'cut' && i === 5) {
          req.socket.destroy();
          return;
        }
        if (mode === 'hang' && i === 3) return; // waits for the client to go away
        if (i === parts.length) {
          res.end();
          return;
        }
        res.write(parts[i++]);
        setImmediate(next);
      };
      next();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (mode: string): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => http.get(`${base}/${mode}`, { agent: false }, resolve).on('error', reject));

  async function readAll(stream: Readable): Promise<string> {
    let text = '';
    for await (const chunk of stream) text += (chunk as Buffer).toString();
    return text;
  }

  it('passes the body through unchanged and records once, when the consumer has read it all', async () => {
    const store = new EventStore();
    const records: MeterRecord[] = [];
    const metered = meterNodeResponse(store, pricing, await get('ok'), { requestModel: 'gpt-4o', providerId: 'ip_1', onRecord: (r) => records.push(r) });
    expect(await readAll(metered)).toBe(chatStream(30).join(''));
    expect(store.stats().byModel['gpt-4o-2024-08-06']).toMatchObject({ requestCount: 1, failedCount: 0, inputTokens: 1200, outputTokens: 30, cacheReadTokens: 1024 });
    expect(store.stats().latencyByModel['gpt-4o-2024-08-06']?.ttft.count).toBe(1);
    expect(records).toHaveLength(1);
  });

  it('a 500 is recorded as upstream_error with the provider message', async () => {
    const store = new EventStore();
    const metered = meterNodeResponse(store, pricing, await get('error'), { requestModel: 'gpt-4o' });
    expect(JSON.parse(await readAll(metered)).error.type).toBe('server_error');
    expect(failure(store)).toEqual({ model: 'gpt-4o', errorCode: 'upstream_error', errorMessage: 'The server had an error' });
  });

  it('the consumer goes away mid-stream: client_disconnected, and the upstream connection is closed', async () => {
    const store = new EventStore();
    const records: MeterRecord[] = [];
    const before = closedEarly.length;
    const metered = meterNodeResponse(store, pricing, await get('hang'), { requestModel: 'gpt-4o', onRecord: (r) => records.push(r) });
    for await (const _ of metered) {
      void _;
      break; // destroys the stream, as pipeline does when the client closes
    }
    expect(failure(store)).toEqual({ model: 'gpt-4o', errorCode: 'client_disconnected', errorMessage: 'the client closed the connection before the end of the answer' });
    for (let i = 0; i < 500 && closedEarly.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closedEarly.slice(before)).toEqual([true]);
    expect(records).toHaveLength(1);
  });

  it('the upstream breaks off: network_error, and the metered stream errors', async () => {
    const store = new EventStore();
    const records: MeterRecord[] = [];
    const metered = meterNodeResponse(store, pricing, await get('cut'), { requestModel: 'gpt-4o', onRecord: (r) => records.push(r) });
    await expect(readAll(metered)).rejects.toThrow();
    expect(failure(store)).toMatchObject({ model: 'gpt-4o', errorCode: 'network_error' });
    expect(records.map((r) => r.outcome)).toEqual(['failed']);
  });

  it('bad arguments: TypeError before anything is read', async () => {
    const store = new EventStore();
    const upstream = await get('ok');
    expect(() => meterNodeResponse(store, pricing, Readable.from(['x']) as unknown as IncomingMessage, { requestModel: 'm' })).toThrow(/IncomingMessage/);
    expect(() => meterNodeResponse(store, pricing, upstream, { requestModel: 42 } as never)).toThrow(TypeError);
    expect(upstream.readableFlowing).toBeNull(); // untouched: nothing read
    upstream.destroy();
    expect(store.accounting().recorded).toBe(0);
  });
});
