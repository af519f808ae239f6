// A local stand-in for the Control API's event ingestion (Protocol 012), for
// the demo and the tests: what a SyncClient talks to.
//
//   POST /api/v1/analytics/events   one event per request
//        202 {"event_id", "status": "accepted"}    first time
//        200 {"event_id", "status": "duplicate"}   an event id already stored (a retry)
//        400 {"error": {"code": "VALIDATION_ERROR", "message"}}   invalid event
//        401 {"error": {"code": "UNAUTHORIZED", "message"}}       wrong ic_token
//   GET  /stats                     the counts below, as JSON
//
// Validation follows the protocol strictly: required fields and their types,
// `provider` one of openai/anthropic/unknown, token and cost fields only on
// completed events, and absent optional fields left out (never null).
// Deduplication is per token (the real server derives the agent from it).
// The real server's rate limit (1,000 events a minute per token) is not enforced.

import http from 'node:http';

const PROVIDERS = new Set(['openai', 'anthropic', 'unknown']);
const isCount = (v) => Number.isSafeInteger(v) && v >= 0;
const isText = (v) => typeof v === 'string' && v.length > 0;

/** Why an event body is invalid, or `null` if it is valid. */
export function validateEvent(e) {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'body must be a JSON object';
  if (!isText(e.ic_token)) return 'ic_token: required string';
  if (!isText(e.event_id)) return 'event_id: required string';
  if (!Number.isSafeInteger(e.timestamp_ms) || e.timestamp_ms <= 0) return 'timestamp_ms: required positive integer';
  if (e.event_type !== 'llm_request_completed' && e.event_type !== 'llm_request_failed') {
    return `event_type: must be llm_request_completed or llm_request_failed, got ${JSON.stringify(e.event_type)}`;
  }
  if (!isText(e.model)) return 'model: required string';
  if (!PROVIDERS.has(e.provider)) return `provider: must be openai, anthropic or unknown, got ${JSON.stringify(e.provider)}`;
  const completed = e.event_type === 'llm_request_completed';
  for (const f of ['input_tokens', 'output_tokens', 'cost_micros']) {
    if (completed && !isCount(e[f])) return `${f}: required non-negative integer for completed events`;
    if (!completed && f in e) return `${f}: must be omitted for failed events`;
  }
  for (const f of ['provider_id', 'error_code', 'error_message']) {
    if (f in e && typeof e[f] !== 'string') return `${f}: must be a string, or left out (not null)`;
  }
  return null;
}

/**
 * Creates the collector (an `http.Server`, not listening yet).
 *
 * @param {object} [options]
 * @param {string} [options.token='ic_demo_token']  the only IC token accepted
 * @returns {http.Server & { counts: object, events: Map<string, object> }}
 */
export function createCollector({ token = 'ic_demo_token' } = {}) {
  const events = new Map(); // event_id → event (one token, so one agent)
  const counts = {
    requests: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    unauthorized: 0,
    completed: 0,
    failed: 0,
    inputTokens: 0,
    outputTokens: 0,
    costMicros: 0,
    firstRejection: null,
  };

  const server = http.createServer(async (req, res) => {
    const reply = (status, value) => {
      const payload = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/stats') return reply(200, counts);
    if (req.method !== 'POST' || path !== '/api/v1/analytics/events') return reply(404, { error: { code: 'NOT_FOUND', message: `${req.method} ${path}` } });

    const chunks = [];
    try {
      for await (const c of req) chunks.push(c);
    } catch {
      return; // the client went away
    }
    counts.requests++;
    let e;
    try {
      e = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      e = undefined;
    }
    const problem = validateEvent(e);
    if (problem !== null) {
      counts.rejected++;
      counts.firstRejection ??= problem;
      return reply(400, { error: { code: 'VALIDATION_ERROR', message: problem } });
    }
    if (e.ic_token !== token) {
      counts.unauthorized++;
      return reply(401, { error: { code: 'UNAUTHORIZED', message: 'invalid IC token' } });
    }
    if (events.has(e.event_id)) {
      counts.duplicates++;
      return reply(200, { event_id: e.event_id, status: 'duplicate' });
    }
    events.set(e.event_id, e);
    counts.accepted++;
    if (e.event_type === 'llm_request_completed') {
      counts.completed++;
      counts.inputTokens += e.input_tokens;
      counts.outputTokens += e.output_tokens;
      counts.costMicros += e.cost_micros;
    } else {
      counts.failed++;
    }
    reply(202, { event_id: e.event_id, status: 'accepted' });
  });
  server.keepAliveTimeout = 65_000;
  server.counts = counts;
  server.events = events;
  return server;
}
