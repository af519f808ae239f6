// The same LLM router as router.mjs, written the fetch way: Hono on
// @hono/node-server, `fetch` to the provider, and one call to meter the answer.
// Copy it; it needs `npm install hono @hono/node-server` (they are not
// dependencies of iron-runtime-analytics).
//
//   node examples/hono-router.mjs --upstream https://api.openai.com --port 8080
//
// The whole of the analytics is `meterFetchResponse(store, pricing, upstream, …)`:
// the client gets the provider's answer unchanged while usage, latency, time to
// first token and errors inside the answer are read on the side, and exactly one
// event is recorded (a client that goes away mid-stream: `client_disconnected`).
// The same handler runs unchanged on any fetch-style server (Next.js route
// handlers, Bun, Deno) — only `serve` below is Node-specific.

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { EventStore, PricingManager, implementation, meterFetchResponse } from 'iron-runtime-analytics';

/** The endpoints that cost tokens (OpenAI Chat Completions and Responses, Anthropic Messages). */
const LLM_PATHS = ['/v1/chat/completions', '/v1/responses', '/v1/messages'];
/** Request headers not forwarded: hop-by-hop ones, and those fetch sets itself. */
const DROP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'accept-encoding']);
/**
 * Response headers not passed back: hop-by-hop ones, and the encoding and length
 * of a body that fetch has already decoded.
 */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-encoding', 'content-length']);

/**
 * Creates the router: a Hono app (serve it with `@hono/node-server`, or export its `fetch`).
 *
 * @param {object} options
 * @param {string} options.upstreamUrl  the provider's origin, e.g. `https://api.openai.com`
 * @param {EventStore} options.store    where to record
 * @param {PricingManager} options.pricing  prices for the cost of completed requests
 * @param {string} [options.agentHeader='x-agent-id']  request header naming the agent
 * @param {string|null} [options.providerId=null]  the provider key id recorded with each event
 * @returns {Hono & { counters: object }}
 */
export function createHonoRouter({ upstreamUrl, store, pricing, agentHeader = 'x-agent-id', providerId = null }) {
  const base = upstreamUrl.replace(/\/+$/, '');
  const header = agentHeader.toLowerCase();
  const counters = { requests: 0, completed: 0, failed: 0, missingUsage: 0, recordErrors: 0 };
  const counted = ({ outcome, usage, recordError }) => {
    if (outcome === 'completed') counters.completed++;
    else counters.failed++;
    if (outcome === 'completed' && usage === null) counters.missingUsage++;
    if (recordError) counters.recordErrors++;
  };
  const app = new Hono();

  const proxy = async (c) => {
    counters.requests++;
    const body = await c.req.text();
    let requestModel = null;
    try {
      requestModel = JSON.parse(body).model;
    } catch {
      // handled below
    }
    if (typeof requestModel !== 'string' || requestModel === '') {
      return c.json({ error: { message: 'the body must be JSON with a "model"', type: 'invalid_request_error' } }, 400);
    }
    const agentId = c.req.header(header) || null;
    const headers = new Headers({ 'accept-encoding': 'identity' });
    for (const [name, value] of c.req.raw.headers) {
      if (!DROP_REQUEST.has(name) && name !== header) headers.set(name, value);
    }

    // The client's going away cancels the call until the answer starts; after
    // that, cancelling the metered body (the server does it) stops the upstream.
    const untilAnswer = new AbortController();
    const clientGone = () => untilAnswer.abort();
    c.req.raw.signal.addEventListener('abort', clientGone, { once: true });
    const startedAt = performance.now();
    let upstream;
    try {
      upstream = await fetch(base + c.req.path, { method: 'POST', headers, body, signal: untilAnswer.signal });
    } catch (err) {
      const code = c.req.raw.signal.aborted ? 'client_disconnected' : 'network_error';
      try {
        store.recordLlmFailed(requestModel, agentId, providerId, code, String(err?.cause?.message ?? err?.message ?? err));
        counted({ outcome: 'failed', usage: null, recordError: null });
      } catch (recordError) {
        counted({ outcome: 'failed', usage: null, recordError });
      }
      return c.json({ error: { message: `upstream unreachable: ${err?.message ?? err}`, type: 'upstream_error' } }, 502);
    } finally {
      c.req.raw.signal.removeEventListener('abort', clientGone);
    }

    const outHeaders = new Headers();
    for (const [name, value] of upstream.headers) if (!DROP_RESPONSE.has(name)) outHeaders.append(name, value);
    const answer = new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: outHeaders });
    return meterFetchResponse(store, pricing, answer, { requestModel, agentId, providerId, startedAt, onRecord: counted });
  };
  for (const path of LLM_PATHS) app.post(path, proxy);

  app.get('/stats', (c) => c.json({ implementation, stats: store.stats(), accounting: store.accounting(), router: counters }));
  app.get('/metrics', (c) => c.body(store.prometheus(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  app.notFound((c) => c.json({ error: { message: `Unknown route: ${c.req.method} ${c.req.path}`, type: 'invalid_request_error' } }, 404));
  app.counters = counters;
  return app;
}

/**
 * Runs the router standalone:
 *   node examples/hono-router.mjs --upstream URL [--port 8080] [--host 127.0.0.1]
 *
 * @returns {Promise<import('node:http').Server|null>} the listening server (null after printing usage)
 */
export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  if (!values.upstream) {
    console.error('usage: node examples/hono-router.mjs --upstream URL [--port 8080] [--host 127.0.0.1]');
    process.exitCode = 2;
    return null;
  }
  const store = new EventStore();
  const app = createHonoRouter({ upstreamUrl: values.upstream, store, pricing: new PricingManager() });
  const server = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: Number(values.port), hostname: values.host }, () => resolve(s));
  });
  store.recordRouterStarted(server.address().port);
  console.log(`hono router (${implementation}) on http://${values.host}:${server.address().port} → ${values.upstream}   GET /stats · GET /metrics`);
  const stop = () => {
    store.recordRouterStopped();
    server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
