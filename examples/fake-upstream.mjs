// A fake LLM provider (OpenAI- and Anthropic-compatible), for the demo and the tests.
//
//   POST /v1/chat/completions   Chat Completions, JSON or SSE (`stream: true`;
//                               usage in the last chunk when
//                               `stream_options.include_usage` is set)
//   POST /v1/responses          Responses API, JSON or SSE (the full event
//                               sequence the official SDK's `responses.stream()`
//                               expects; usage in `response.completed`)
//   POST /v1/messages           Anthropic Messages, JSON or SSE (message_start …
//                               message_stop; cache reads and 5-minute / 1-hour
//                               cache writes in the usage)
//
// Prompt caching is simulated as providers do it: a long enough prompt is
// often partly served from the cache (OpenAI `prompt_tokens_details.cached_tokens`,
// in 128-token steps; Anthropic `cache_read_input_tokens`), and Anthropic
// answers sometimes write to the cache (`cache_creation_input_tokens`, split
// into `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`).
//
// Token counts come from the prompt length (≈ 4 characters a token) and an RNG
// seeded by `seed` and the request body, so the same request always gets the
// same usage. Latency depends on the model (time to first token, then a
// per-token generation time) and is multiplied by `latencyScale` (0 answers
// at once). A few requests fail, drawn from an RNG seeded by `seed`:
// 429 with an OpenAI-style error body and `retry-after`, 500, a connection
// reset before the answer, a reset in the middle of a stream, or an error
// event inside a 200 stream (OpenAI `error` chunk / `response.failed`,
// Anthropic `event: error`).
//
// Two request headers make a test deterministic (a router forwards them):
//   x-fake-usage: prompt,completion[,cacheRead[,reasoning[,cacheWrite[,cacheWrite1h]]]]
//                 fixed usage; `prompt` counts every prompt token, cached or not
//                 (for Anthropic, input_tokens is what is left after the cache parts)
//   x-fake-fault: 429 | 500 | reset | mid-stream-reset | stream-error | hang | none
//                 (hang: a stream stops after its first text and waits until the client goes away)

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
export const DEFAULT_FAULTS = { rateLimit: 0.03, serverError: 0.012, reset: 0.003, midStreamReset: 0.003, streamError: 0.004 };

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
  if (body.system !== undefined) tokens += 4 + Math.ceil(contentChars(body.system) / 4); // Anthropic
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
  const counters = { requests: 0, ok: 0, streams: 0, rateLimited: 0, serverErrors: 0, resets: 0, midStreamResets: 0, streamErrors: 0 };
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
    const isAnthropic = path === '/v1/messages';
    if (req.method !== 'POST' || (path !== '/v1/chat/completions' && !isResponses && !isAnthropic)) {
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
      out.end(JSON.stringify(isAnthropic
        ? { type: 'error', error: { type: 'invalid_request_error', message: 'model: Field required' } }
        : { error: { message: 'you must provide a model parameter', type: 'invalid_request_error', param: 'model', code: null } }));
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
      for (const [name, rate] of [['429', faults.rateLimit], ['500', faults.serverError], ['reset', faults.reset], ['mid-stream-reset', stream ? faults.midStreamReset : 0], ['stream-error', stream ? faults.streamError : 0]]) {
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
      const message = `Rate limit reached for ${model} in organization org-demo on tokens per min (TPM): Limit 30000, Used 29412, Requested 1260. Please try again in ${retry}s.`;
      out.end(JSON.stringify(isAnthropic
        ? { type: 'error', error: { type: 'rate_limit_error', message } }
        : { error: { message, type: 'tokens', param: null, code: 'rate_limit_exceeded' } }));
      return;
    }
    if (fault === '500') {
      counters.serverErrors++;
      await sleep(5 * latencyScale);
      out.head(500, { 'content-type': 'application/json' });
      const message = 'The server had an error while processing your request. Sorry about that!';
      out.end(JSON.stringify(isAnthropic ? { type: 'error', error: { type: 'api_error', message } } : { error: { message, type: 'server_error', param: null, code: null } }));
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
    let cached = 0;
    let cacheWrite = 0;
    let cacheWrite1h = 0;
    if (isAnthropic) {
      // Anthropic caches explicitly: a long prompt is read from the cache, or written to it
      // (for 5 minutes, or sometimes for 1 hour), or neither.
      const roll = prompt >= 1024 ? r() : 1;
      const cacheable = Math.floor(prompt * (0.5 + 0.4 * r()));
      if (roll < 0.5) cached = cacheable;
      else if (roll < 0.65) cacheWrite = cacheable;
      else if (roll < 0.75) cacheWrite1h = cacheable;
    } else if (prompt >= 1024 && r() < 0.5) {
      cached = Math.floor((prompt * (0.3 + 0.6 * r())) / 128) * 128;
    }
    let reasoning = profile.reasoning ? between(r, profile.reasoning) : 0;
    let visible = between(r, profile.out);
    const forced = req.headers['x-fake-usage'];
    if (typeof forced === 'string') {
      const [p, c, k = 0, z = 0, w = 0, w1h = 0] = forced.split(',').map(Number);
      prompt = p;
      cached = k;
      reasoning = z;
      visible = c - z;
      cacheWrite = w;
      cacheWrite1h = w1h;
    }
    const usage = { prompt, cached, cacheWrite, cacheWrite1h };
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
      const json = isAnthropic
        ? { ...anthropicMessage({ id, model, usage, completion, reasoning }), content: [{ type: 'text', text: answer }], stop_reason: 'end_turn' }
        : isResponses
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
    const sse = isAnthropic ? anthropicEvents : isResponses ? responsesEvents : chatEvents;
    const { events, first } = sse({ id, created, model, words, per, pieces, prompt, completion, cached, reasoning, usage, includeUsage: body.stream_options?.include_usage === true });
    const cutAt = fault === 'mid-stream-reset' || fault === 'stream-error' ? first + 1 + Math.floor(pieces / 2) : -1; // an event index
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return; // the client went away
      if (i > first && i <= first + pieces) await sleep(generation / pieces);
      if (i === cutAt && fault === 'mid-stream-reset') {
        counters.midStreamResets++;
        counters.ok--;
        req.socket.destroy();
        return;
      }
      if (i === first + 2 && fault === 'hang') {
        await new Promise((resolve) => (res.destroyed ? resolve() : res.once('close', resolve)));
        return;
      }
      if (i === cutAt) {
        // The provider gives up inside a 200 stream: an error event, then the end.
        counters.streamErrors++;
        counters.ok--;
        out.end(streamError(isAnthropic ? 'anthropic' : isResponses ? 'responses' : 'chat', { id, created, model }));
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
  return { events, first: 0 };
}

/**
 * Responses API events, the full sequence: created, in_progress, the message
 * item and its text part added, `pieces` text deltas, the text, part and item
 * done, completed (with usage).
 */
function responsesEvents({ id, created, model, words, per, pieces, prompt, completion, cached, reasoning }) {
  let seq = 0;
  const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...o })}\n\n`;
  const itemId = `msg_${id}`;
  const answer = words.join(' ');
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  const part = (text) => ({ type: 'output_text', text, annotations: [], logprobs: [] });
  const item = (status, content) => ({ id: itemId, type: 'message', status, role: 'assistant', content });
  const inProgress = responsesObject({ id, created, model, prompt, completion, cached, reasoning, status: 'in_progress' });
  const events = [
    ev('response.created', { response: inProgress }),
    ev('response.in_progress', { response: inProgress }),
    ev('response.output_item.added', { output_index: 0, item: item('in_progress', []) }),
    ev('response.content_part.added', { ...at, part: part('') }),
  ];
  const first = events.length - 1;
  for (let i = 0; i < pieces; i++) {
    const delta = (i === 0 ? '' : ' ') + words.slice(i * per, (i + 1) * per).join(' ');
    events.push(ev('response.output_text.delta', { ...at, delta, logprobs: [] }));
  }
  events.push(ev('response.output_text.done', { ...at, text: answer, logprobs: [] }));
  events.push(ev('response.content_part.done', { ...at, part: part(answer) }));
  events.push(ev('response.output_item.done', { output_index: 0, item: item('completed', [part(answer)]) }));
  events.push(ev('response.completed', { response: responsesObject({ id, created, model, answer, prompt, completion, cached, reasoning, status: 'completed' }) }));
  return { events, first };
}

/** Anthropic usage: `input_tokens` is what is left of the prompt after the cache reads and writes. */
function anthropicUsage({ prompt, cached, cacheWrite, cacheWrite1h }, output, reasoning) {
  const usage = {
    input_tokens: prompt - cached - cacheWrite - cacheWrite1h,
    cache_creation_input_tokens: cacheWrite + cacheWrite1h,
    cache_read_input_tokens: cached,
    cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: cacheWrite1h },
    output_tokens: output,
    service_tier: 'standard',
  };
  if (reasoning > 0) usage.output_tokens_details = { thinking_tokens: reasoning };
  return usage;
}

function anthropicMessage({ id, model, usage, completion, reasoning }) {
  return {
    id: `msg_${id}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: anthropicUsage(usage, completion, reasoning),
  };
}

/** Anthropic Messages events: message_start, a text block in `pieces` deltas, message_delta (usage), message_stop. */
function anthropicEvents({ id, model, words, per, pieces, completion, reasoning, usage }) {
  const ev = (type, o) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  const start = anthropicMessage({ id, model, usage, completion: 1, reasoning: 0 });
  const events = [
    ev('message_start', { message: start }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', {}),
  ];
  const first = events.length - 1;
  for (let i = 0; i < pieces; i++) {
    const text = (i === 0 ? '' : ' ') + words.slice(i * per, (i + 1) * per).join(' ');
    events.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }));
  }
  events.push(ev('content_block_stop', { index: 0 }));
  events.push(ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: anthropicUsage(usage, completion, reasoning) }));
  events.push(ev('message_stop', {}));
  return { events, first };
}

/** The error event a provider sends when it gives up inside a 200 stream. */
function streamError(kind, { id, created, model }) {
  if (kind === 'anthropic') return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`;
  if (kind === 'responses') {
    const response = { id: `resp_${id}`, object: 'response', created_at: created, status: 'failed', model, output: [], usage: null, error: { code: 'server_error', message: 'The model failed to generate a response.' } };
    return `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', sequence_number: 999, response })}\n\n`;
  }
  return `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'server_error' } })}\n\n`;
}
