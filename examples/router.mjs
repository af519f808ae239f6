// A small LLM router (OpenAI- and Anthropic-compatible) with in-process analytics.
// Copy it, then change what you need: it uses `node:http` only.
//
//   node examples/router.mjs --upstream https://api.openai.com --port 8080
//   curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \
//        -H "authorization: Bearer $OPENAI_API_KEY" -H 'x-agent-id: agent_42' \
//        -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
//   curl -s localhost:8080/stats        # store.stats() + accounting() as JSON
//   curl -s localhost:8080/metrics      # Prometheus text
//
// What it does, per request:
//   1. reads the JSON body (for `model`) and forwards it unchanged,
//   2. streams the upstream's answer back unchanged, byte for byte, as it arrives,
//      through `meterNodeResponse`, which reads the usage, the latency and any
//      error inside the answer on the side and records exactly one event:
//      completed (tokens with their cached and reasoning parts, cost, duration,
//      time to first token) or failed (429 → rate_limit_exceeded, 5xx →
//      upstream_error, an error event inside a 200 stream → its code, the
//      upstream cut short → network_error, the client gone → client_disconnected),
//   3. records the failures that happen before there is an answer to meter
//      (no answer → network_error or timeout).
// Recording never throws into the request path (failures are counted in
// `server.counters.recordErrors`). Delivery to the Control API is the
// SyncClient's job, in the background (see `main()` below).

import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { EventStore, PricingManager, SyncClient, SyncConfig, implementation, meterNodeResponse } from 'iron-runtime-analytics';

/** The endpoints that cost tokens (OpenAI Chat Completions and Responses, Anthropic Messages). */
const LLM_PATHS = new Set(['/v1/chat/completions', '/v1/responses', '/v1/messages']);
/** Request headers not forwarded: hop-by-hop ones, and those Node sets itself. */
const DROP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'accept-encoding']);
/** Response headers not passed back (hop-by-hop). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
const MAX_REQUEST_BYTES = 16 << 20;

/**
 * Creates the router: an `http.Server` (not listening yet).
 *
 * @param {object} options
 * @param {string} options.upstreamUrl   the provider's origin, e.g. `https://api.openai.com`; the
 *                                       request path (`/v1/chat/completions`) is appended to it
 * @param {EventStore|null} options.store  where to record; `null` runs a plain proxy
 *                                       (no usage parsing, no recording)
 * @param {PricingManager} options.pricing  prices for the cost of completed requests
 * @param {string} [options.agentHeader='x-agent-id']  request header naming the agent
 * @param {string|null|((model: string) => string|null)} [options.providerId=null]
 *                                       the provider key id recorded with each event
 * @param {number} [options.timeoutMs=600000]  idle timeout of the upstream socket
 * @param {http.Agent} [options.agent]   connection pool to the upstream (default: keep-alive)
 * @returns {http.Server & { counters: object }}
 */
export function createRouter({ upstreamUrl, store, pricing, agentHeader = 'x-agent-id', providerId = null, timeoutMs = 600_000, agent } = {}) {
  const upstream = new URL(upstreamUrl);
  const transport = upstream.protocol === 'https:' ? https : http;
  // Keep-alive matters: a new TCP (+TLS) connection per request costs more than analytics ever will.
  const pool = agent ?? new transport.Agent({ keepAlive: true, maxSockets: 512 });
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const header = agentHeader.toLowerCase();
  const record = store != null;

  /** What the router itself did; served in /stats. */
  const counters = { requests: 0, completed: 0, failed: 0, missingUsage: 0, recordErrors: 0, lastRecordError: null, internalErrors: 0 };

  /** Counts what a meter (or the router itself) recorded. */
  function counted({ outcome, usage, recordError }) {
    if (outcome === 'completed') counters.completed++;
    else counters.failed++;
    // No usage (e.g. a stream without stream_options.include_usage): counted as 0 tokens.
    if (outcome === 'completed' && usage === null) counters.missingUsage++;
    if (recordError) {
      counters.recordErrors++;
      counters.lastRecordError = recordError.message;
    }
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      counters.internalErrors++;
      if (!res.headersSent) sendJson(res, 500, { error: { message: `router error: ${err?.message ?? err}`, type: 'router_error' } });
      else res.destroy();
    });
  });
  server.counters = counters;
  server.on('close', () => {
    if (!agent) pool.destroy();
  });
  return server;

  async function route(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && LLM_PATHS.has(path)) return proxy(req, res);
    if (req.method === 'GET' && path === '/stats') {
      return sendJson(res, 200, record
        ? { implementation, stats: store.stats(), accounting: store.accounting(), router: counters }
        : { implementation, analytics: 'off', router: counters });
    }
    if (req.method === 'GET' && path === '/metrics') {
      if (!record) {
        res.writeHead(501, { 'content-type': 'text/plain' });
        return res.end('analytics is off (store: null)\n');
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      return res.end(store.prometheus());
    }
    sendJson(res, 404, { error: { message: `Unknown route: ${req.method} ${path}`, type: 'invalid_request_error' } });
  }

  async function proxy(req, res) {
    counters.requests++;
    // 1. Read the request: we need `model` to attribute the event.
    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (body === null) return sendJson(res, 413, { error: { message: 'request body too large', type: 'invalid_request_error' } });
    let parsed = null;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      // handled below
    }
    const requestModel = typeof parsed?.model === 'string' && parsed.model !== '' ? parsed.model : null;
    if (requestModel === null) return sendJson(res, 400, { error: { message: 'the body must be JSON with a "model"', type: 'invalid_request_error' } });
    const agentValue = req.headers[header];
    const agentId = (Array.isArray(agentValue) ? agentValue[0] : agentValue) || null;
    const keyId = typeof providerId === 'function' ? providerId(requestModel) : providerId;

    // Failures before there is an answer to meter are recorded here, once.
    let answered = false;
    let settled = false;
    const failed = (errorCode, message) => {
      if (answered || settled) return;
      settled = true;
      let recordError = null;
      if (record) {
        try {
          store.recordLlmFailed(requestModel, agentId, keyId, errorCode, message);
        } catch (err) {
          recordError = err;
        }
      }
      counted({ outcome: 'failed', usage: null, recordError });
    };

    // 2. Forward. The client's headers go along (its API key included), minus
    // hop-by-hop ones and our agent header; identity encoding, so usage can be read.
    const headers = { 'accept-encoding': 'identity', 'content-length': String(body.length) };
    for (const [name, value] of Object.entries(req.headers)) {
      if (!DROP_REQUEST.has(name) && name !== header) headers[name] = value;
    }
    const startedAt = performance.now();
    const upReq = transport.request({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: 'POST',
      path: basePath + req.url,
      headers,
      agent: pool,
      timeout: timeoutMs,
    });
    upReq.setNoDelay(true);
    let timedOut = false;
    upReq.on('timeout', () => {
      timedOut = true;
      upReq.destroy(new Error(`no answer from the upstream for ${timeoutMs} ms`));
    });
    upReq.on('error', (err) => {
      if (answered) return; // the meter records what happens after the answer started
      failed(timedOut ? 'timeout' : 'network_error', err.message);
      if (!res.headersSent && !res.destroyed) sendJson(res, timedOut ? 504 : 502, { error: { message: `upstream unreachable: ${err.message}`, type: 'upstream_error' } });
    });
    // The client went away before the answer started: stop the upstream call.
    res.on('close', () => {
      if (!answered && !res.writableFinished) {
        upReq.destroy();
        failed('client_disconnected', 'the client closed the connection before the answer');
      }
    });

    upReq.on('response', (upRes) => {
      answered = !settled;
      if (!answered) return upRes.destroy();
      const outHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (!DROP_RESPONSE.has(name)) outHeaders[name] = value;
      }
      res.writeHead(upRes.statusCode ?? 502, outHeaders);
      if (/^text\/event-stream/i.test(upRes.headers['content-type'] ?? '')) res.flushHeaders(); // the 200 before the first token

      // 3. Pass the bytes through as they arrive; the meter reads usage on the side and records once.
      let bodyOut = upRes;
      if (record) {
        try {
          bodyOut = meterNodeResponse(store, pricing, upRes, { requestModel, agentId, providerId: keyId, startedAt, onRecord: counted });
        } catch (err) {
          counted({ outcome: 'failed', usage: null, recordError: err }); // a bad argument: the answer still goes through
        }
      }
      // pipeline keeps back-pressure, breaks the client's answer when the upstream
      // breaks off, and destroys the upstream when the client goes away.
      pipeline(bodyOut, res, (err) => {
        if (record) return; // counted by the meter's onRecord
        const ok = !err && upRes.statusCode >= 200 && upRes.statusCode < 300;
        if (ok) counters.completed++;
        else counters.failed++;
      });
    });

    upReq.end(body);
  }
}

/** The whole request body, or `null` if longer than `limit` bytes. */
async function readBody(req, limit) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJson(res, status, value) {
  const payload = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/**
 * Runs the router standalone:
 *   node examples/router.mjs --upstream URL [--port 8080] [--host 127.0.0.1]
 *                            [--agent-header x-agent-id] [--sync-url URL]
 * With --sync-url, events are delivered in the background to a Protocol 012
 * Control API, authenticated by the IC token in $IC_TOKEN.
 *
 * @returns {Promise<http.Server|null>} the listening router (null after printing usage)
 */
export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'agent-header': { type: 'string', default: 'x-agent-id' },
      'sync-url': { type: 'string' },
    },
  });
  if (!values.upstream) {
    console.error('usage: node examples/router.mjs --upstream URL [--port 8080] [--host 127.0.0.1] [--agent-header x-agent-id] [--sync-url URL]');
    process.exitCode = 2;
    return null;
  }
  const store = new EventStore();
  const pricing = new PricingManager();
  const server = createRouter({ upstreamUrl: values.upstream, store, pricing, agentHeader: values['agent-header'] });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(values.port), values.host, resolve);
  });
  const { port } = server.address();
  store.recordRouterStarted(port);

  let sync = null;
  if (values['sync-url']) {
    // Background delivery (Protocol 012): never on the request path.
    sync = new SyncClient(store, new SyncConfig(values['sync-url'], process.env.IC_TOKEN ?? '')).start();
  }
  console.log(`router (${implementation}) on http://${values.host}:${port} → ${values.upstream}   GET /stats · GET /metrics`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return process.exit(130); // a second Ctrl-C: give up waiting
    stopping = true;
    server.close();
    server.closeIdleConnections();
    store.recordRouterStopped();
    if (sync) {
      const report = await sync.stop(); // flushes what is pending
      console.log(`sync: delivered ${report.delivered}, rejected ${report.rejected}, remaining ${report.remaining}`);
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
