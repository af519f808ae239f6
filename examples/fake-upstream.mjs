// A fake OpenAI-compatible LLM provider, for the demo and the tests.
//
//   POST /v1/chat/completions   Chat Completions, JSON or SSE (`stream: true`;
//                               usage in the last chunk when
//                               `stream_options.include_usage` is set)
//   POST /v1/responses          Responses API, JSON or SSE (usage in
//                               `response.completed`)
//
// Token counts come from the prompt length (≈ 4 characters a token) and an RNG
// seeded by `seed` and the request body, so the same request always gets the
// same usage. Latency depends on the model (time to first token, then a
// per-token generation time) and is multiplied by `latencyScale` (0 answers
// at once). A few requests fail, drawn from an RNG seeded by `seed`:
// 429 with an OpenAI-style error body and `retry-after`, 500, a connection
// reset before the answer, or a reset in the middle of a stream.
//
// Two request headers make a test deterministic (a router forwards them):
//   x-fake-usage: prompt,completion[,cached[,reasoning]]   fixed usage
//   x-fake-fault: 429 | 500 | reset | mid-stream-reset | none

import http from 'node:http';

/** Per-model behaviour: latency in ms (at latencyScale 1) and output sizes. */
const PROFILES = {
  'gpt-4o-mini': { ttftMs: 12, perTokenMs: 0.04, out: [20, 300], reasoning: null },
  'gpt-4o': { ttftMs: 25, perTokenMs: 0.08, out: [40, 450], reasoning: null },
  'o3-mini': { ttftMs: 40, perTokenMs: 0.06, out: [40, 350], reasoning: [100, 1500] },
  'claude-3-5-sonnet-20241022': { ttftMs: 30, perTokenMs: 0.07, out: [50, 550], reasoning: null },
};
const DEFAULT_PROFILE = { ttftMs: 20, perTokenMs: 0.05, out: [20, 300], reasoning: null };

/** Fault rates of the demo: fractions of all requests. */
export const DEFAULT_FAULTS = { rateLimit: 0.03, serverError: 0.012, reset: 0.003, midStreamReset: 0.003 };

const WORDS = (
  'the a model token stream router latency budget agent cost request answer ' +
  'context cache reason plan result value system user query data fast small ' +
  'large signal metric event provider usage price summary detail step check'
).split(' ');

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string, mixed with a seed. */
function hash(seed, text) {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const between = (rng, [lo, hi]) => lo + Math.floor(rng() * (hi - lo + 1));
/** A log-normal jitter factor around 1. */
const jitter = (rng) => Math.exp(0.35 * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
const sleep = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
const hex = (rng, n) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');

/** Characters of prompt text in a message `content` (string or array of parts). */
function contentChars(content) {
  if (typeof content === 'string') return content.length;
  if (Array.isArray(content)) {
    return content.reduce((n, part) => n + (typeof part?.text === 'string' ? part.text.length : 0), 0);
  }
  return 0;
}

/** Prompt tokens the way providers roughly count them: ≈ 4 chars a token, plus per-message overhead. */
function promptTokens(body, isResponses) {
  const messages = isResponses
    ? typeof body.input === 'string'
      ? [{ content: body.input }]
      : Array.isArray(body.input)
        ? body.input
        : []
    : Array.isArray(body.messages)
      ? body.messages
      : [];
  let tokens = 3;
  for (const m of messages) tokens += 4 + Math.ceil(contentChars(m?.content) / 4);
  if (typeof body.instructions === 'string') tokens += 4 + Math.ceil(body.instructions.length / 4);
  return tokens;
}

/**
 * Creates the fake provider (an `http.Server`, not listening yet).
 *
 * @param {object} [options]
 * @param {number} [options.seed=1]            seeds token counts, latency jitter and faults
 * @param {number} [options.latencyScale=1]    multiplies every delay; 0 answers at once
 * @param {object|null} [options.faults]       fault rates ({@link DEFAULT_FAULTS}); `null` for none
 * @param {boolean} [options.record=false]     keep every answer's bytes in `server.sent`
 * @returns {http.Server & { counters: object, sent: object[] }}
 */
export function createFakeUpstream({ seed = 1, latencyScale = 1, faults = DEFAULT_FAULTS, record = false } = {}) {
  const rng = mulberry32(seed ^ 0x5eed);
  const counters = { requests: 0, ok: 0, streams: 0, rateLimited: 0, serverErrors: 0, resets: 0, midStreamResets: 0 };
  const sent = [];

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err?.message ?? err), type: 'server_error' } }));
    });
  });
  // Longer than the router's idle keep-alive, so pooled sockets are not closed under it.
  server.keepAliveTimeout = 65_000;
  server.counters = counters;
  server.sent = sent;
  return server;

  async function handle(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    const isResponses = path === '/v1/responses';
    if (req.method !== 'POST' || (path !== '/v1/chat/completions' && !isResponses)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Unknown request URL: ${req.method} ${path}`, type: 'invalid_request_error' } }));
      return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    counters.requests++;

    // Everything written goes through `out`, so tests can compare bytes.
    const log = record ? { path, model: null, stream: false, status: 0, chunks: [], body: null } : null;
    if (log) sent.push(log);
    const out = {
      head(status, headers) {
        if (log) log.status = status;
        res.writeHead(status, headers);
      },
      write(s) {
        if (log) log.chunks.push(Buffer.from(s));
        res.write(s);
      },
      end(s = '') {
        if (log) {
          log.chunks.push(Buffer.from(s));
          log.body = Buffer.concat(log.chunks);
        }
        res.end(s);
      },
    };

    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    const model = typeof body?.model === 'string' && body.model !== '' ? body.model : null;
    if (model === null) {
      out.head(400, { 'content-type': 'application/json' });
      out.end(JSON.stringify({ error: { message: 'you must provide a model parameter', type: 'invalid_request_error', param: 'model', code: null } }));
      return;
    }
    const stream = body.stream === true;
    if (log) Object.assign(log, { model, stream });
    const profile = PROFILES[model] ?? DEFAULT_PROFILE;

    // --- faults: forced by header, or drawn from the seeded RNG ---------------
    let fault = req.headers['x-fake-fault'] ?? null;
    if (fault === null && faults) {
      const r = rng();
      let edge = 0;
      for (const [name, rate] of [['429', faults.rateLimit], ['500', faults.serverError], ['reset', faults.reset], ['mid-stream-reset', stream ? faults.midStreamReset : 0]]) {
        edge += rate ?? 0;
        if (r < edge) {
          fault = name;
          break;
        }
      }
    }
    if (fault === '429') {
      counters.rateLimited++;
      await sleep(3 * latencyScale);
      const retry = (1 + rng() * 4).toFixed(1);
      out.head(429, {
        'content-type': 'application/json',
        'retry-after': String(Math.ceil(Number(retry))),
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '0',
        'x-ratelimit-reset-tokens': `${retry}s`,
      });
      out.end(JSON.stringify({
        error: {
          message: `Rate limit reached for ${model} in organization org-demo on tokens per min (TPM): Limit 30000, Used 29412, Requested 1260. Please try again in ${retry}s.`,
          type: 'tokens',
          param: null,
          code: 'rate_limit_exceeded',
        },
      }));
      return;
    }
    if (fault === '500') {
      counters.serverErrors++;
      await sleep(5 * latencyScale);
      out.head(500, { 'content-type': 'application/json' });
      out.end(JSON.stringify({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } }));
      return;
    }
    if (fault === 'reset') {
      counters.resets++;
      await sleep(2 * latencyScale);
      req.socket.destroy();
      return;
    }

    // --- usage: forced by header, or derived from the prompt and a seeded RNG --
    const r = mulberry32(hash(seed, text));
    let prompt = promptTokens(body, isResponses);
    let cached = prompt >= 1024 && r() < 0.5 ? Math.floor((prompt * (0.3 + 0.6 * r())) / 128) * 128 : 0;
    let reasoning = profile.reasoning ? between(r, profile.reasoning) : 0;
    let visible = between(r, profile.out);
    const forced = req.headers['x-fake-usage'];
    if (typeof forced === 'string') {
      const [p, c, k = 0, z = 0] = forced.split(',').map(Number);
      prompt = p;
      cached = k;
      reasoning = z;
      visible = c - z;
    }
    const limit = body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens;
    if (forced === undefined && Number.isSafeInteger(limit) && limit > 0 && reasoning + visible > limit) {
      visible = Math.max(1, limit - reasoning);
    }
    const completion = reasoning + visible;
    const words = Array.from({ length: visible }, () => WORDS[Math.floor(r() * WORDS.length)]);

    // --- latency ----------------------------------------------------------------
    const j = jitter(rng);
    const ttft = latencyScale * j * (profile.ttftMs + reasoning * 0.02);
    const generation = latencyScale * j * profile.perTokenMs * visible;
    const id = hex(r, 24);
    const created = Math.floor(Date.now() / 1000);
    counters.ok++;

    if (!stream) {
      await sleep(ttft + generation);
      const answer = words.join(' ');
      const json = isResponses
        ? responsesObject({ id, created, model, answer, prompt, completion, cached, reasoning, status: 'completed' })
        : {
            id: `chatcmpl-${id}`,
            object: 'chat.completion',
            created,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, logprobs: null, finish_reason: 'stop' }],
            usage: chatUsage(prompt, completion, cached, reasoning),
            system_fingerprint: 'fp_fake0001',
          };
      const payload = JSON.stringify(json);
      out.head(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), 'openai-processing-ms': String(Math.round(ttft + generation)) });
      out.end(payload);
      return;
    }

    // --- streaming (SSE) ----------------------------------------------------------
    counters.streams++;
    await sleep(ttft);
    out.head(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const pieces = Math.max(1, Math.min(16, Math.ceil(visible / 12)));
    const per = Math.ceil(visible / pieces);
    const resetAt = fault === 'mid-stream-reset' ? 1 + Math.floor(pieces / 2) : -1; // an event index
    const sse = isResponses ? responsesEvents : chatEvents;
    const events = sse({ id, created, model, words, per, pieces, prompt, completion, cached, reasoning, includeUsage: body.stream_options?.include_usage === true });
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return; // the client went away
      if (i > 0 && i <= pieces) await sleep(generation / pieces);
      if (i === resetAt) {
        counters.midStreamResets++;
        counters.ok--;
        req.socket.destroy();
        return;
      }
      if (i === events.length - 1) out.end(events[i]);
      else out.write(events[i]);
    }
  }
}

function chatUsage(prompt, completion, cached, reasoning) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function responsesObject({ id, created, model, answer, prompt, completion, cached, reasoning, status }) {
  return {
    id: `resp_${id}`,
    object: 'response',
    created_at: created,
    status,
    model,
    output:
      status === 'completed'
        ? [{ type: 'message', id: `msg_${id}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: answer, annotations: [] }] }]
        : [],
    usage:
      status === 'completed'
        ? {
            input_tokens: prompt,
            input_tokens_details: { cached_tokens: cached },
            output_tokens: completion,
            output_tokens_details: { reasoning_tokens: reasoning },
            total_tokens: prompt + completion,
          }
        : null,
  };
}

/** Chat Completions chunks: role, `pieces` content deltas, finish, [usage], [DONE]. */
function chatEvents({ id, created, model, words, per, pieces, prompt, completion, cached, reasoning, includeUsage }) {
  const base = { id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake0001' };
  const extra = includeUsage ? { usage: null } : {};
  const data = (o) => `data: ${JSON.stringify(o)}\n\n`;
  const events = [data({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }], ...extra })];
  for (let i = 0; i < pieces; i++) {
    const content = (i === 0 ? '' : ' ') + words.slice(i * per, (i + 1) * per).join(' ');
    events.push(data({ ...base, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }], ...extra }));
  }
  events.push(data({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], ...extra }));
  if (includeUsage) events.push(data({ ...base, choices: [], usage: chatUsage(prompt, completion, cached, reasoning) }));
  events.push('data: [DONE]\n\n');
  return events;
}

/** Responses API events: created, `pieces` text deltas, completed (with usage). */
function responsesEvents({ id, created, model, words, per, pieces, prompt, completion, cached, reasoning }) {
  let seq = 0;
  const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...o })}\n\n`;
  const events = [ev('response.created', { response: responsesObject({ id, created, model, prompt, completion, cached, reasoning, status: 'in_progress' }) })];
  for (let i = 0; i < pieces; i++) {
    const delta = (i === 0 ? '' : ' ') + words.slice(i * per, (i + 1) * per).join(' ');
    events.push(ev('response.output_text.delta', { item_id: `msg_${id}`, output_index: 0, content_index: 0, delta }));
  }
  const answer = words.join(' ');
  events.push(ev('response.completed', { response: responsesObject({ id, created, model, answer, prompt, completion, cached, reasoning, status: 'completed' }) }));
  return events;
}
