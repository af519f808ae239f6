import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseUsageAccumulator, usageFromResponse, type Usage } from '../src/toolkit/index.js';

const FIXTURES = resolve(__dirname, 'fixtures/toolkit');
const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(resolve(FIXTURES, name)));
const jsonOf = (name: string): unknown => JSON.parse(readFileSync(resolve(FIXTURES, name), 'utf8'));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A normalized usage: input counts every prompt token (cached or not), output every completion token. */
function u(
  model: string | null,
  inputTokens: number,
  outputTokens: number,
  cacheReadTokens = 0,
  cacheWriteTokens = 0,
  reasoningTokens = 0,
  cacheWrite1hTokens = 0,
  error: Usage['error'] = null,
): Usage {
  return { model, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, cacheWrite1hTokens, reasoningTokens, error };
}

/** `usage` with an error. */
const withError = (usage: Usage, code: string, message: string): Usage => ({ ...usage, error: { code, message } });

/** Feeds chunks to a fresh accumulator and returns its usage. */
function run(chunks: Iterable<string | Uint8Array>, options?: { maxEventSize?: number }): Usage | null {
  const acc = new SseUsageAccumulator(options);
  for (const c of chunks) acc.push(c);
  return acc.usage();
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Splits `bytes` into random-sized chunks (1..maxLen bytes). */
function randomChunks(bytes: Uint8Array, rnd: () => number, maxLen: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const len = 1 + Math.floor(rnd() * maxLen);
    out.push(bytes.subarray(i, i + len));
    i += len;
  }
  return out;
}

/** A usage `store.recordUsage` accepts: valid counts, parts within their totals, a well-formed error. */
function isValidUsage(x: Usage | null): boolean {
  if (x === null) return true;
  const counts = [x.inputTokens, x.outputTokens, x.cacheReadTokens, x.cacheWriteTokens, x.cacheWrite1hTokens, x.reasoningTokens];
  const e = x.error;
  return (
    (x.model === null || typeof x.model === 'string') &&
    Object.keys(x).length === 8 &&
    counts.every((n) => Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0)) &&
    x.cacheReadTokens + x.cacheWriteTokens + x.cacheWrite1hTokens <= x.inputTokens &&
    x.reasoningTokens <= x.outputTokens &&
    (e === null || (typeof e.code === 'string' && e.code.length > 0 && e.code.length <= 256 && typeof e.message === 'string'))
  );
}

/** Converts the LF line ends of a stream to `eol`. */
const withEol = (text: string, eol: string): string => text.replace(/\r\n|\r|\n/g, eol);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

interface Checkpoint {
  /** A byte string that occurs exactly once, in the data line of a usage-bearing event. */
  marker: string;
  /** The usage once that event has been dispatched. */
  expected: Usage;
}

interface StreamFixture {
  name: string;
  sse: string;
  body: string;
  expected: Usage;
  checkpoints: Checkpoint[];
}

const CHAT = u('o4-mini-2025-04-16', 2306, 214, 2048, 0, 192);
const RESPONSES = u('o3-2025-04-16', 5210, 781, 4096, 0, 704);
// Anthropic's input_tokens excludes the cache: normalized input = 21 + 14,336 read + 1,536 written.
const ANTHROPIC = u('claude-sonnet-4-20250514', 15893, 87, 14336, 1536, 0);
const ANTHROPIC_TOOLS = u('claude-opus-4-1-20250805', 9914, 312, 3072, 0, 0);

const STREAMS: StreamFixture[] = [
  {
    name: 'OpenAI Chat Completions',
    sse: 'openai-chat.sse',
    body: 'openai-chat.json',
    expected: CHAT,
    checkpoints: [{ marker: '"choices":[],"usage":{', expected: CHAT }],
  },
  {
    name: 'OpenAI Responses',
    sse: 'openai-responses.sse',
    body: 'openai-responses.json',
    expected: RESPONSES,
    checkpoints: [{ marker: '"type":"response.completed"', expected: RESPONSES }],
  },
  {
    name: 'Anthropic Messages (CRLF)',
    sse: 'anthropic-crlf.sse',
    body: 'anthropic.json',
    expected: ANTHROPIC,
    checkpoints: [{ marker: '"type":"message_delta"', expected: ANTHROPIC }],
  },
  {
    name: 'Anthropic Messages with server tools (two message_delta)',
    sse: 'anthropic-server-tools.sse',
    body: 'anthropic-server-tools.json',
    expected: ANTHROPIC_TOOLS,
    checkpoints: [
      // The first message_delta carries only output_tokens (others null): input stays from message_start.
      { marker: '"output_tokens":41', expected: u('claude-opus-4-1-20250805', 3484, 41, 3072, 0, 0) },
      { marker: '"output_tokens":312', expected: ANTHROPIC_TOOLS },
    ],
  },
];

/**
 * The byte offset after which the event containing `marker` has been dispatched: just past the
 * line terminator of the blank line that follows it (for `\r\n`, the `\r` already ends the line).
 */
function dispatchOffset(bytes: Uint8Array, marker: string): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = buf.indexOf(marker);
  expect(m).toBeGreaterThan(0);
  expect(buf.indexOf(marker, m + 1)).toBe(-1);
  for (const [pattern, extra] of [
    ['\r\n\r\n', 3],
    ['\n\n', 2],
    ['\r\r', 2],
  ] as const) {
    const i = buf.indexOf(pattern, m);
    if (i !== -1 && buf.subarray(m, i).every((b) => b !== 10 && b !== 13)) return i + extra;
  }
  throw new Error('no blank line after marker');
}

/** What `usage()` must return after exactly `n` bytes of the stream. */
function expectedAfter(n: number, offsets: { at: number; expected: Usage }[]): Usage | null {
  let result: Usage | null = null;
  for (const c of offsets) if (n >= c.at) result = c.expected;
  return result;
}

describe('fixtures', () => {
  it('contain multi-byte UTF-8 (so byte splits land inside characters)', () => {
    for (const f of STREAMS) {
      const bytes = bytesOf(f.sse);
      expect(bytes.length).toBeGreaterThan(dec(bytes).length);
      expect(dec(bytes)).toMatch(/[世🚀界☀]/u);
    }
  });

  it('anthropic-crlf.sse really uses CRLF line ends only, the others LF only', () => {
    const crlf = dec(bytesOf('anthropic-crlf.sse'));
    expect(crlf).toContain('\r\n');
    expect(crlf.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    for (const name of ['openai-chat.sse', 'openai-responses.sse', 'anthropic-server-tools.sse']) {
      expect(dec(bytesOf(name))).not.toContain('\r');
    }
  });

  it('streams include comments and pings', () => {
    expect(dec(bytesOf('openai-chat.sse'))).toMatch(/^: /m);
    expect(dec(bytesOf('openai-responses.sse'))).toMatch(/^: /m);
    expect(dec(bytesOf('anthropic-crlf.sse'))).toContain('event: ping');
  });
});

// ---------------------------------------------------------------------------------------------
// usageFromResponse
// ---------------------------------------------------------------------------------------------

describe('usageFromResponse', () => {
  it('reads an OpenAI chat completion with cached and reasoning tokens', () => {
    expect(usageFromResponse(jsonOf('openai-chat.json'))).toEqual(CHAT);
  });

  it('reads an OpenAI Responses API response', () => {
    expect(usageFromResponse(jsonOf('openai-responses.json'))).toEqual(RESPONSES);
  });

  it('reads an Anthropic message with cache read and write (input counts them too)', () => {
    expect(usageFromResponse(jsonOf('anthropic.json'))).toEqual(ANTHROPIC);
    expect(usageFromResponse(jsonOf('anthropic-server-tools.json'))).toEqual(ANTHROPIC_TOOLS);
  });

  it('fills zeros for absent optional counts', () => {
    expect(
      usageFromResponse({
        object: 'chat.completion',
        model: 'gpt-4o-mini',
        usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 },
      }),
    ).toEqual(u('gpt-4o-mini', 9, 12));
    expect(usageFromResponse({ object: 'response', model: 'gpt-4.1', usage: { input_tokens: 3, output_tokens: 4 } })).toEqual(
      u('gpt-4.1', 3, 4),
    );
    expect(usageFromResponse({ type: 'message', usage: { input_tokens: 3, output_tokens: 4 } })).toEqual(u(null, 3, 4));
    // Only one side present still counts as usage.
    expect(usageFromResponse({ usage: { completion_tokens: 5 } })).toEqual(u(null, 0, 5));
  });

  it('detects the format from the fields when the body has no type hint', () => {
    // *_tokens_details ⇒ Responses
    expect(
      usageFromResponse({
        usage: {
          input_tokens: 10,
          output_tokens: 20,
          input_tokens_details: { cached_tokens: 6 },
          output_tokens_details: { reasoning_tokens: 8 },
        },
      }),
    ).toEqual(u(null, 10, 20, 6, 0, 8));
    // cache_* ⇒ Anthropic
    expect(
      usageFromResponse({
        model: 'claude-3-5-haiku-20241022',
        usage: { input_tokens: 10, output_tokens: 20, cache_read_input_tokens: 7, cache_creation_input_tokens: 2 },
      }),
    ).toEqual(u('claude-3-5-haiku-20241022', 19, 20, 7, 2));
    // Bare input/output: the same for both providers.
    expect(usageFromResponse({ model: 'x', usage: { input_tokens: 10, output_tokens: 20 } })).toEqual(u('x', 10, 20));
    // Anthropic-only cache fields alone (null counts are absent).
    expect(usageFromResponse({ usage: { cache_read_input_tokens: 4, input_tokens: null } })).toEqual(u(null, 4, 0, 4));
  });

  it('lets body-level hints win over usage-level ones', () => {
    const usage = {
      input_tokens: 10,
      output_tokens: 20,
      input_tokens_details: { cached_tokens: 3 },
      output_tokens_details: { reasoning_tokens: 4 },
      cache_read_input_tokens: 5,
      cache_creation_input_tokens: 6,
    };
    expect(usageFromResponse({ object: 'response', usage })).toEqual(u(null, 10, 20, 3, 0, 4));
    expect(usageFromResponse({ type: 'message', usage })).toEqual(u(null, 21, 20, 5, 6, 0));
    // Chat fields win over everything.
    expect(usageFromResponse({ type: 'message', usage: { ...usage, prompt_tokens: 7 } })).toEqual(u(null, 7, 0));
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a string', '{"usage":{"prompt_tokens":1}}'],
    ['an array', [{ usage: { prompt_tokens: 1 } }]],
    ['an empty object', {}],
    ['usage: null', { model: 'm', usage: null }],
    ['usage: array', { model: 'm', usage: [1, 2] }],
    ['usage: string', { model: 'm', usage: 'prompt_tokens=1' }],
    ['usage: number', { model: 'm', usage: 7 }],
    ['usage: {}', { model: 'm', usage: {} }],
    ['usage with only total_tokens', { model: 'm', usage: { total_tokens: 12 } }],
    ['usage with only null counters', { model: 'm', usage: { prompt_tokens: null, input_tokens: null } }],
  ])('returns null for %s', (_label, body) => {
    expect(usageFromResponse(body)).toBeNull();
  });

  it.each([
    ['negative', -5],
    ['fractional', 1.5],
    ['a numeric string', '12'],
    ['beyond MAX_SAFE_INTEGER', 2 ** 53],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a boolean', true],
    ['an object', { value: 3 }],
    ['a bigint', 5n],
  ])('treats a count that is %s as 0', (_label, bad) => {
    const chat = usageFromResponse({
      model: 'm',
      usage: {
        prompt_tokens: bad,
        completion_tokens: 9,
        prompt_tokens_details: { cached_tokens: bad },
        completion_tokens_details: { reasoning_tokens: bad },
      },
    });
    expect(chat).toEqual(u('m', 0, 9));
    const anthropic = usageFromResponse({
      type: 'message',
      usage: { input_tokens: 4, output_tokens: bad, cache_read_input_tokens: bad, cache_creation_input_tokens: bad },
    });
    expect(anthropic).toEqual(u(null, 4, 0));
  });

  it('accepts MAX_SAFE_INTEGER and normalises -0 to +0', () => {
    const r = usageFromResponse(JSON.parse('{"usage":{"prompt_tokens":-0,"completion_tokens":9007199254740991}}'));
    expect(r).toEqual(u(null, 0, Number.MAX_SAFE_INTEGER));
    expect(Object.is(r?.inputTokens, 0)).toBe(true);
  });

  it('reports model null when absent, empty or not a string', () => {
    expect(usageFromResponse({ usage: { prompt_tokens: 1 } })?.model).toBeNull();
    expect(usageFromResponse({ model: '', usage: { prompt_tokens: 1 } })?.model).toBeNull();
    expect(usageFromResponse({ model: 42, usage: { prompt_tokens: 1 } })?.model).toBeNull();
    expect(usageFromResponse({ model: 'gpt-4o', usage: { prompt_tokens: 1 } })?.model).toBe('gpt-4o');
  });

  it('never throws, even on hostile objects', () => {
    const throwing = {
      get usage(): never {
        throw new Error('boom');
      },
    };
    expect(usageFromResponse(throwing)).toBeNull();
    const proxy = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
      },
    );
    expect(usageFromResponse(proxy)).toBeNull();
    expect(usageFromResponse({ usage: proxy })).toBeNull();
  });

  it('property: any value gives null or a valid Usage, never throws', () => {
    const count = fc.oneof(
      fc.nat(),
      fc.integer(),
      fc.double(),
      fc.string(),
      fc.constant(null),
      fc.constant(2 ** 60),
      fc.boolean(),
    );
    const usageLike = fc.record(
      {
        prompt_tokens: count,
        completion_tokens: count,
        input_tokens: count,
        output_tokens: count,
        cache_read_input_tokens: count,
        cache_creation_input_tokens: count,
        prompt_tokens_details: fc.oneof(fc.record({ cached_tokens: count }), fc.anything()),
        output_tokens_details: fc.oneof(fc.record({ reasoning_tokens: count }), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.anything(),
      fc.record(
        {
          model: fc.oneof(fc.string(), fc.anything()),
          object: fc.constantFrom('response', 'chat.completion', 'x'),
          type: fc.constantFrom('message', 'y'),
          usage: fc.oneof(usageLike, fc.anything()),
        },
        { requiredKeys: ['usage'] },
      ),
    );
    fc.assert(
      fc.property(body, (b) => {
        const r = usageFromResponse(b);
        expect(isValidUsage(r)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// SseUsageAccumulator: recorded-shape streams, split every which way
// ---------------------------------------------------------------------------------------------

describe.each(STREAMS)('SseUsageAccumulator: $name', (f) => {
  const bytes = bytesOf(f.sse);
  const text = dec(bytes);

  it('matches usageFromResponse of the equivalent non-streamed body', () => {
    expect(usageFromResponse(jsonOf(f.body))).toEqual(f.expected);
    expect(run([bytes])).toEqual(f.expected);
    expect(run([text])).toEqual(f.expected);
  });

  for (const [eolName, eol] of [
    ['as recorded', null],
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ] as const) {
    const variantText = eol === null ? text : withEol(text, eol);
    const variant = enc(variantText);
    const offsets = f.checkpoints.map((c) => ({ at: dispatchOffset(variant, c.marker), expected: c.expected }));

    it(`${eolName}: two byte chunks split at every offset; the prefix alone yields exactly what is known`, () => {
      for (let i = 0; i <= variant.length; i++) {
        const acc = new SseUsageAccumulator();
        acc.push(variant.subarray(0, i));
        const partial = acc.usage();
        if (!isEqual(partial, expectedAfter(i, offsets))) {
          expect.fail(`after ${i} bytes: ${JSON.stringify(partial)} ≠ ${JSON.stringify(expectedAfter(i, offsets))}`);
        }
        acc.push(variant.subarray(i));
        const full = acc.usage();
        if (!isEqual(full, f.expected)) expect.fail(`split at byte ${i}: ${JSON.stringify(full)}`);
      }
    });
  }

  it('one-byte chunks', () => {
    const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
    expect(run(chunks)).toEqual(f.expected);
    expect(run(Array.from(enc(withEol(text, '\r\n')), (b) => Uint8Array.of(b)))).toEqual(f.expected);
  });

  it('random chunkings with a fixed seed', () => {
    const rnd = prng(0x5eed + f.sse.length);
    for (let k = 0; k < 300; k++) {
      const src = k % 3 === 0 ? bytes : enc(withEol(text, k % 3 === 1 ? '\r\n' : '\r'));
      const chunks = randomChunks(src, rnd, 1 + Math.floor(rnd() * 64));
      const got = run(chunks);
      if (!isEqual(got, f.expected)) expect.fail(`random chunking #${k}: ${JSON.stringify(got)}`);
    }
  });

  it('two string chunks split at every character boundary', () => {
    for (let i = 0; i <= text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0xdc00 && code <= 0xdfff) continue; // inside a surrogate pair
      const got = run([text.slice(0, i), text.slice(i)]);
      if (!isEqual(got, f.expected)) expect.fail(`string split at ${i}: ${JSON.stringify(got)}`);
    }
  });

  it('one-code-point string chunks', () => {
    expect(run(Array.from(text))).toEqual(f.expected);
  });

  it('accepts Buffer, ArrayBuffer and DataView chunks', () => {
    const mid = Math.floor(bytes.length / 2);
    const a = bytes.slice(0, mid);
    const b = bytes.slice(mid);
    expect(run([Buffer.from(a), Buffer.from(b)])).toEqual(f.expected);
    const acc = new SseUsageAccumulator();
    acc.push(a.buffer as unknown as Uint8Array);
    acc.push(new DataView(b.buffer) as unknown as Uint8Array);
    expect(acc.usage()).toEqual(f.expected);
  });

  it('property: any chunking of the bytes gives the same usage', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((x, y) => x - y), bytes.length];
        const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        expect(run(chunks)).toEqual(f.expected);
      }),
      { numRuns: 300 },
    );
  });
});

function isEqual(a: Usage | null, b: Usage | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------------------------------------
// SseUsageAccumulator: SSE parsing details
// ---------------------------------------------------------------------------------------------

const chatChunk = (usage: unknown, model = 'gpt-4o-mini-2024-07-18'): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`;
const chatDelta = (content: string): string =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
    usage: null,
  })}\n\n`;
const CHAT_USAGE = { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33 };
const CHAT_EXPECTED = u('gpt-4o-mini-2024-07-18', 11, 22);

const anthStart = (usage: Record<string, unknown> = { input_tokens: 30, output_tokens: 1 }): string =>
  `event: message_start\ndata: ${JSON.stringify({
    type: 'message_start',
    message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-3-7-sonnet-20250219', content: [], usage },
  })}\n\n`;
const anthDelta = (usage: unknown): string =>
  `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage })}\n\n`;
const ANTH_TEXT =
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo — 世界 🚀"}}\n\n';

describe('SseUsageAccumulator: SSE parsing', () => {
  it('accepts data: without a space, strips exactly one space, ignores id/retry/unknown fields', () => {
    const payload = JSON.stringify({ object: 'chat.completion.chunk', model: 'm', choices: [], usage: CHAT_USAGE });
    expect(run([`id: 7\nretry: 1000\nfoo: bar\nnocolon\ndata:${payload}\n\n`])).toEqual(u('m', 11, 22));
    // Two spaces: the value starts with one space, which JSON tolerates.
    expect(run([`data:  ${payload}\n\n`])).toEqual(u('m', 11, 22));
  });

  it('joins multi-line data with \\n before parsing', () => {
    const stream = `event: response.completed\ndata: {"type":"response.completed",\ndata: "response":{"object":"response","model":"gpt-4.1",\ndata:"usage":{"input_tokens":5,"output_tokens":6}}}\n\n`;
    expect(run([stream])).toEqual(u('gpt-4.1', 5, 6));
  });

  it('multi-line events split anywhere (incl. between \\r and \\n) with CRLF, CR and LF line ends', () => {
    const lf =
      'event: response.completed\n' +
      'id: 41\n' +
      'data: {"type":"response.completed",\n' +
      'data: "response":{"object":"response","model":"gpt-4.1-mini",\n' +
      ': comment inside the event\n' +
      'data: "usage":{"input_tokens":5,"output_tokens":6,"input_tokens_details":{"cached_tokens":2}}}}\n\n';
    for (const eol of ['\n', '\r\n', '\r']) {
      const b = enc(withEol(lf, eol));
      expect(run([b])).toEqual(u('gpt-4.1-mini', 5, 6, 2));
      for (let i = 0; i <= b.length; i++) {
        const got = run([b.subarray(0, i), b.subarray(i)]);
        if (!isEqual(got, u('gpt-4.1-mini', 5, 6, 2))) expect.fail(`eol ${JSON.stringify(eol)} split at ${i}: ${JSON.stringify(got)}`);
      }
    }
  });

  it('does not dispatch an event before its terminating blank line', () => {
    const acc = new SseUsageAccumulator();
    acc.push(chatChunk(CHAT_USAGE).slice(0, -1)); // data line complete, blank line missing
    expect(acc.usage()).toBeNull();
    acc.push('\n');
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
  });

  it('handles \\r at the end of one chunk and \\n at the start of the next as one line end', () => {
    const s = withEol(chatDelta('a') + chatChunk(CHAT_USAGE), '\r\n');
    const cut = s.lastIndexOf('\r\n\r\n') + 1; // between \r and \n of the final data line's end
    const acc = new SseUsageAccumulator();
    acc.push(s.slice(0, cut));
    expect(acc.usage()).toBeNull();
    acc.push(s.slice(cut, cut + 2)); // "\n\r": the blank line is terminated by its \r
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
    acc.push(s.slice(cut + 2));
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
  });

  it('treats \\r\\r as a blank line (CR line ends), not as \\r\\n', () => {
    expect(run([withEol(chatChunk(CHAT_USAGE), '\r')])).toEqual(CHAT_EXPECTED);
    // "\n\r" is two line ends too: data line, then blank line.
    expect(run([chatChunk(CHAT_USAGE).replace(/\n\n$/, '\n\r')])).toEqual(CHAT_EXPECTED);
  });

  it('ignores a leading BOM, also when split byte by byte, but not a second one', () => {
    const body = enc(chatChunk(CHAT_USAGE));
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...body]);
    expect(run([withBom])).toEqual(CHAT_EXPECTED);
    expect(run(Array.from(withBom, (b) => Uint8Array.of(b)))).toEqual(CHAT_EXPECTED);
    expect(run(['\ufeff' + chatChunk(CHAT_USAGE)])).toEqual(CHAT_EXPECTED);
    // A second BOM makes the first field name "\ufeffdata", which is ignored.
    expect(run(['\ufeff\ufeff' + chatChunk(CHAT_USAGE)])).toBeNull();
  });

  it('comments never dispatch or alter events', () => {
    const s = `: hello\ndata: {"object":"chat.completion.chunk","model":"m",\n: a comment between data lines\ndata: "choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n`;
    expect(run([s])).toEqual(u('m', 1, 2));
  });

  it('mixes byte and string chunks (a character cut at the switch becomes U+FFFD)', () => {
    const s = chatDelta('世界') + chatChunk(CHAT_USAGE);
    const b = enc(s);
    const cut = Buffer.from(b).indexOf(enc('界')) + 1; // inside 界
    const acc = new SseUsageAccumulator();
    acc.push(b.subarray(0, cut));
    acc.push(dec(b.subarray(cut)));
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
  });

  it('usage() is repeatable and returns fresh objects', () => {
    const acc = new SseUsageAccumulator();
    acc.push(chatChunk(CHAT_USAGE));
    const first = acc.usage();
    expect(first).toEqual(CHAT_EXPECTED);
    if (first) first.inputTokens = 999;
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
    expect(acc.usage()).not.toBe(acc.usage());
  });
});

// ---------------------------------------------------------------------------------------------
// SseUsageAccumulator: per-format rules
// ---------------------------------------------------------------------------------------------

describe('SseUsageAccumulator: OpenAI rules', () => {
  it('returns null for a chat stream without include_usage', () => {
    expect(run([chatDelta('hi'), chatDelta(' there'), 'data: [DONE]\n\n'])).toBeNull();
  });

  it('ignores everything after data: [DONE]', () => {
    const acc = new SseUsageAccumulator();
    acc.push(chatChunk(CHAT_USAGE) + 'data: [DONE]\n\n');
    acc.push(chatChunk({ prompt_tokens: 1, completion_tokens: 1 }));
    acc.push('event: error\ndata: {"type":"error"}\n\n');
    expect(acc.usage()).toEqual(CHAT_EXPECTED);
  });

  it('a later usage chunk replaces an earlier one (cumulative usage in every chunk)', () => {
    expect(run([chatChunk({ prompt_tokens: 11, completion_tokens: 1 }), chatChunk(CHAT_USAGE)])).toEqual(CHAT_EXPECTED);
  });

  it('falls back to the model of earlier chunks when the usage chunk has none', () => {
    const noModel = `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE })}\n\n`;
    expect(run([chatDelta('x'), noModel])).toEqual(CHAT_EXPECTED);
  });

  it('applies the count rules of usageFromResponse (negative, fractional, string ⇒ 0)', () => {
    const bad = {
      prompt_tokens: -5,
      completion_tokens: 1.5,
      total_tokens: '12',
      prompt_tokens_details: { cached_tokens: '7' },
      completion_tokens_details: { reasoning_tokens: 4 },
    };
    // Reasoning is a part of the output: with the output read as 0, so is its part.
    expect(run([chatChunk(bad)])).toEqual(u('gpt-4o-mini-2024-07-18', 0, 0, 0, 0, 0));
    expect(run([chatChunk({ ...bad, completion_tokens: 9 })])).toEqual(u('gpt-4o-mini-2024-07-18', 0, 9, 0, 0, 4));
  });

  it('reads response.incomplete (truncated by max_output_tokens) like response.completed', () => {
    const s = `event: response.incomplete\ndata: ${JSON.stringify({
      type: 'response.incomplete',
      response: {
        object: 'response',
        model: 'gpt-4.1',
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
        usage: { input_tokens: 50, output_tokens: 16, output_tokens_details: { reasoning_tokens: 0 } },
      },
    })}\n\n`;
    expect(run([s])).toEqual(u('gpt-4.1', 50, 16));
  });

  it('reports the error of a Responses stream that ends in response.failed, with its usage', () => {
    const s = `event: response.failed\ndata: ${JSON.stringify({
      type: 'response.failed',
      response: {
        object: 'response',
        model: 'gpt-4.1',
        status: 'failed',
        error: { code: 'server_error', message: 'The model failed.' },
        usage: { input_tokens: 50, output_tokens: 0 },
      },
    })}\n\n`;
    const failed = withError(u('gpt-4.1', 50, 0), 'server_error', 'The model failed.');
    expect(run([s])).toEqual(failed);
    // The failure is sticky: a (bogus) later response.completed does not revive the stream.
    const completed = `event: response.completed\ndata: {"type":"response.completed","response":{"object":"response","model":"gpt-4.1","usage":{"input_tokens":50,"output_tokens":3}}}\n\n`;
    expect(run([completed])).toEqual(u('gpt-4.1', 50, 3));
    expect(run([s, completed])).toEqual(failed);
  });

  it('returns null when response.created (usage: null) is the last event', () => {
    const text = dec(bytesOf('openai-responses.sse'));
    expect(run([text.slice(0, text.indexOf('event: response.in_progress'))])).toBeNull();
  });

  it('reports a chat error chunk, even after a usage chunk', () => {
    const err = 'data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}\n\n';
    expect(run([chatDelta('a'), err])).toEqual(withError(u('gpt-4o-mini-2024-07-18', 0, 0), 'server_error', 'The server had an error'));
    expect(run([chatChunk(CHAT_USAGE), err])).toEqual(withError(CHAT_EXPECTED, 'server_error', 'The server had an error'));
  });
});

describe('SseUsageAccumulator: Anthropic rules', () => {
  it('output tokens are cumulative: the last message_delta wins', () => {
    expect(run([anthStart(), ANTH_TEXT, anthDelta({ output_tokens: 10 }), anthDelta({ output_tokens: 87 })])).toEqual(
      u('claude-3-7-sonnet-20250219', 30, 87),
    );
  });

  it('message_start without message_delta: output unknown ⇒ null', () => {
    expect(run([anthStart(), ANTH_TEXT, 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'])).toBeNull();
  });

  it('message_delta carrying input/cache counts overrides message_start; null/invalid ones are ignored', () => {
    const start = anthStart({ input_tokens: 30, cache_read_input_tokens: 100, cache_creation_input_tokens: 5, output_tokens: 1 });
    expect(
      run([start, anthDelta({ input_tokens: 900, cache_read_input_tokens: null, cache_creation_input_tokens: 6, output_tokens: 40 })]),
    ).toEqual(u('claude-3-7-sonnet-20250219', 1006, 40, 100, 6));
    expect(run([start, anthDelta({ input_tokens: -1, cache_creation_input_tokens: 2.5, output_tokens: 40 })])).toEqual(
      u('claude-3-7-sonnet-20250219', 135, 40, 100, 5),
    );
  });

  it('a message_delta with an invalid output_tokens does not supply the output count', () => {
    expect(run([anthStart(), anthDelta({ output_tokens: '87' })])).toBeNull();
    expect(run([anthStart(), anthDelta({ output_tokens: 12 }), anthDelta({ output_tokens: -3 })])).toEqual(
      u('claude-3-7-sonnet-20250219', 30, 12),
    );
  });

  it('invalid counts in message_start read as 0', () => {
    expect(run([anthStart({ input_tokens: '30', cache_read_input_tokens: -2, output_tokens: 1 }), anthDelta({ output_tokens: 3 })])).toEqual(
      u('claude-3-7-sonnet-20250219', 0, 3),
    );
  });

  it('message_delta before message_start is malformed ⇒ null', () => {
    expect(run([anthDelta({ output_tokens: 5 })])).toBeNull();
    expect(run([anthDelta({ output_tokens: 5 }), anthStart(), anthDelta({ output_tokens: 6 })])).toBeNull();
  });

  it('message_start without usage, or message_delta without usage, is malformed ⇒ null', () => {
    const noUsage = 'event: message_start\ndata: {"type":"message_start","message":{"type":"message","model":"m"}}\n\n';
    expect(run([noUsage, anthDelta({ output_tokens: 5 })])).toBeNull();
    const deltaNoUsage = 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}\n\n';
    expect(run([anthStart(), anthDelta({ output_tokens: 5 }), deltaNoUsage])).toBeNull();
  });

  it('event: error mid-stream ⇒ the error (with the counts so far), and it is sticky', () => {
    const err =
      'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n';
    const overloaded = withError(u('claude-3-7-sonnet-20250219', 30, 0), 'overloaded_error', 'Overloaded');
    expect(run([anthStart(), ANTH_TEXT, err])).toEqual(overloaded);
    expect(run([anthStart(), ANTH_TEXT, err, anthDelta({ output_tokens: 9 })])).toEqual(overloaded);
    expect(run([anthStart(), anthDelta({ output_tokens: 9 }), err])).toEqual({ ...overloaded, outputTokens: 9 });
  });

  it('an error by data type alone (no event: line); an event: error name alone (stream_error)', () => {
    expect(run([anthStart(), anthDelta({ output_tokens: 9 }), 'data: {"type":"error","error":{"type":"api_error"}}\n\n'])).toEqual(
      withError(u('claude-3-7-sonnet-20250219', 30, 9), 'api_error', ''),
    );
    expect(run([chatChunk(CHAT_USAGE), 'event: error\ndata: not json at all\n\n'])).toEqual(withError(CHAT_EXPECTED, 'stream_error', 'not json at all'));
  });

  it('an event: error without any data line is never dispatched (WHATWG) and changes nothing', () => {
    expect(run([chatChunk(CHAT_USAGE), 'event: error\n\n'])).toEqual(CHAT_EXPECTED);
  });
});

// ---------------------------------------------------------------------------------------------
// SseUsageAccumulator: malformed input
// ---------------------------------------------------------------------------------------------

describe('SseUsageAccumulator: malformed streams', () => {
  const chatText = dec(bytesOf('openai-chat.sse'));
  const anthText = dec(bytesOf('anthropic-crlf.sse'));
  const respText = dec(bytesOf('openai-responses.sse'));

  it('truncated before the usage event ⇒ null', () => {
    expect(run([chatText.slice(0, chatText.indexOf('"choices":[],"usage"'))])).toBeNull();
    expect(run([respText.slice(0, respText.indexOf('event: response.completed'))])).toBeNull();
    expect(run([anthText.slice(0, anthText.indexOf('event: message_delta'))])).toBeNull();
    // Cut inside the usage JSON itself.
    expect(run([chatText.slice(0, chatText.indexOf('"completion_tokens":214'))])).toBeNull();
  });

  it('garbage data lines outside usage events are ignored (rule: only usage events must parse)', () => {
    const garbage = 'data: {not json\n\ndata: null\n\ndata: 42\n\ndata: [1,2]\n\ndata: "str"\n\n';
    const i = chatText.indexOf('data: ', chatText.indexOf('héllo'));
    expect(run([chatText.slice(0, i) + garbage + chatText.slice(i)])).toEqual(CHAT);
    const j = anthText.indexOf('event: content_block_stop');
    const anthGarbage = 'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":1,"delt\r\n\r\n';
    expect(run([anthText.slice(0, j) + anthGarbage + anthText.slice(j)])).toEqual(ANTHROPIC);
  });

  it('non-JSON (or non-object) data under a usage-bearing event name ⇒ null', () => {
    expect(run([anthStart(), 'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tok\n\n'])).toBeNull();
    expect(run([anthStart(), anthDelta({ output_tokens: 5 }), 'event: message_delta\ndata: null\n\n'])).toBeNull();
    expect(run(['event: message_start\ndata: garbage\n\n', anthDelta({ output_tokens: 5 })])).toBeNull();
    const k = respText.indexOf('"usage":{"input_tokens":5210');
    expect(run([respText.slice(0, k) + '"usage":{"input_tok\n\n'])).toBeNull();
  });

  it('a usage chunk that is not valid JSON (no event name) is ignored, so usage never arrives ⇒ null', () => {
    const k = chatText.indexOf('"completion_tokens":214');
    const broken = chatText.slice(0, k) + '"completion_tok' + '\n\ndata: [DONE]\n\n';
    expect(run([broken])).toBeNull();
  });

  it('invalid UTF-8 inside a content delta becomes U+FFFD and does not affect usage', () => {
    const b = Buffer.from(bytesOf('openai-chat.sse'));
    const at = b.indexOf('héllo');
    const corrupted = Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]), b.subarray(at)]);
    expect(run([corrupted])).toEqual(CHAT);
    expect(run(Array.from(corrupted, (x) => Uint8Array.of(x)))).toEqual(CHAT);
  });

  it('invalid UTF-8 inside the usage JSON structure ⇒ null', () => {
    const b = Buffer.from(bytesOf('anthropic-crlf.sse'));
    const at = b.indexOf('"output_tokens":87');
    const corrupted = Buffer.concat([b.subarray(0, at + 1), Buffer.from([0xc0, 0xaf]), b.subarray(at + 1)]);
    expect(run([corrupted])).toBeNull();
  });

  it('random garbage bytes (fixed seed) ⇒ null', () => {
    const rnd = prng(1234);
    const garbage = Uint8Array.from({ length: 64 * 1024 }, () => Math.floor(rnd() * 256));
    expect(run([garbage])).toBeNull();
    expect(run(randomChunks(garbage, rnd, 100))).toBeNull();
  });

  it('a line beyond the 1 MiB cap marks the stream malformed (sticky, memory dropped)', () => {
    const acc = new SseUsageAccumulator();
    const big = 'x'.repeat(64 * 1024);
    acc.push('data: ');
    for (let i = 0; i < 17; i++) acc.push(big); // 1 MiB + 64 KiB, no newline
    acc.push('\n\n');
    acc.push(chatChunk(CHAT_USAGE));
    expect(acc.usage()).toBeNull();
    // One chunk holding a whole over-long line.
    expect(run([`data: "${'y'.repeat(1 << 20)}"\n\n${chatChunk(CHAT_USAGE)}`])).toBeNull();
  });

  it('any over-long line (comment, event name) is malformed, whether it arrives whole or in pieces', () => {
    const longComment = `: ${'c'.repeat((1 << 20) + 1)}\n`;
    expect(run([longComment + chatChunk(CHAT_USAGE)])).toBeNull();
    const mid = longComment.length >> 1;
    expect(run([longComment.slice(0, mid), longComment.slice(mid), chatChunk(CHAT_USAGE)])).toBeNull();
    expect(run([`event: ${'e'.repeat(300)}\n` + chatChunk(CHAT_USAGE)], { maxEventSize: 200 })).toBeNull();
  });

  it('a line just under the cap (in UTF-8 bytes) is fine', () => {
    const content = 'é'.repeat(((1 << 20) - 400) / 2);
    expect(run([chatDelta(content), chatChunk(CHAT_USAGE)])).toEqual(CHAT_EXPECTED);
  });

  it('an event whose data lines together exceed the cap is malformed', () => {
    const line = `data: ${'z'.repeat(400)}\n`;
    expect(run([line.repeat(2) + '\n' + chatChunk(CHAT_USAGE)], { maxEventSize: 1000 })).toEqual(CHAT_EXPECTED);
    expect(run([line.repeat(3) + '\n' + chatChunk(CHAT_USAGE)], { maxEventSize: 1000 })).toBeNull();
  });

  it('maxEventSize is honoured for recorded streams, and bad values fall back to 1 MiB', () => {
    expect(run([bytesOf('openai-chat.sse')], { maxEventSize: 200 })).toBeNull();
    expect(run([bytesOf('openai-chat.sse')], { maxEventSize: 4096 })).toEqual(CHAT);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(run([bytesOf('openai-chat.sse')], { maxEventSize: bad })).toEqual(CHAT);
    }
  });

  it('unsupported chunk types do not throw and mark the stream malformed', () => {
    for (const bad of [42, null, undefined, {}, [1, 2], Symbol('x'), () => 1]) {
      const acc = new SseUsageAccumulator();
      expect(() => acc.push(bad as unknown as string)).not.toThrow();
      acc.push(chatChunk(CHAT_USAGE));
      expect(acc.usage()).toBeNull();
    }
  });

  it('an empty stream, and empty chunks, give null', () => {
    expect(run([])).toBeNull();
    expect(run(['', new Uint8Array(0)])).toBeNull();
    expect(run(['', chatChunk(CHAT_USAGE), new Uint8Array(0), ''])).toEqual(CHAT_EXPECTED);
  });

  it('property: arbitrary bytes in arbitrary chunks never throw and give null or a valid Usage', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), (chunks) => {
        const acc = new SseUsageAccumulator({ maxEventSize: 256 });
        for (const c of chunks) acc.push(c);
        expect(isValidUsage(acc.usage())).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: SSE-shaped token soup (strings and bytes) never throws and gives null or a valid Usage', () => {
    const token = fc.constantFrom(
      'data: ',
      'data:',
      'event: ',
      'event: error',
      'event: message_start',
      'event: message_delta',
      'event: response.completed',
      ': c',
      '\n',
      '\r',
      '\r\n',
      '\n\n',
      '[DONE]',
      '{',
      '}',
      '"usage":',
      '{"prompt_tokens":1,"completion_tokens":2}',
      '{"type":"message_start","message":{"model":"m","usage":{"input_tokens":3}}}',
      '{"type":"message_delta","usage":{"output_tokens":4}}',
      '{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":-1}}}',
      '{"model":"m","usage":{"prompt_tokens":1e400,"completion_tokens":"x"}}',
      'null',
      'é',
      '世',
      '🚀',
      '\ufeff',
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(token, fc.boolean()), { maxLength: 60 }), (parts) => {
        const acc = new SseUsageAccumulator();
        for (const [t, asBytes] of parts) acc.push(asBytes ? enc(t) : t);
        const r = acc.usage();
        expect(isValidUsage(r)).toBe(true);
        expect(isValidUsage(acc.usage())).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// SseUsageAccumulator: the in-place skip of whole events agrees with the line-by-line path
// ---------------------------------------------------------------------------------------------

describe('SseUsageAccumulator: skipping whole events in place', () => {
  // Events around the cases the in-place skip takes or must refuse: a text chunk before and
  // after the model is known, typed events of every kind, an `event:` name set before data,
  // after data, empty, or for an event that must be read, line ends other than `\n`, long data.
  const CHAT = 'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"delta":{"content":"hi"}}],"usage":null}';
  const USAGE = 'data: {"id":"c","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}';
  const name = fc.constantFrom('', '', '', 'event: content_block_delta', 'event: message_start', 'event: message_delta', 'event: error', 'event: ping', 'event: message', 'event: ', 'event:ping', ': keep-alive', 'id: 7');
  const data = fc.constantFrom(
    CHAT,
    CHAT,
    USAGE,
    'data: {"error":{"message":"boom","type":"server_error"},"usage":null}',
    'data: {"id":"c","choices":[{"delta":{"content":"\\"usage\\":null}"}}],"usageMetadata":{"promptTokenCount":2}}',
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}',
    'data: {"type":"message_start","message":{"model":"claude","usage":{"input_tokens":3}}}',
    'data: {"type":"message_delta","usage":{"output_tokens":4}}',
    'data: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}',
    'data: {"type":"response.output_text.delta","delta":"x"}',
    'data: {"type":"response.completed","response":{"model":"gpt-5","usage":{"input_tokens":5,"output_tokens":6}}}',
    'data: {"type":"unterminated',
    'data: [DONE]',
    'data:{"id":"c","model":"gpt-4o","choices":[{"delta":{"content":"no space"}}],"usage":null}',
    'data',
    'dataX: y',
  );
  const eol = fc.constantFrom('\n', '\n', '\n', '\r\n', '\r');
  const event = fc.tuple(name, eol, data, eol, fc.constantFrom('\n', '\n', '', '\r\n')).map(([n, e1, d, e2, end]) => (n === '' ? '' : n + e1) + d + e2 + end);
  const feedWholeAndByByte = (text: string, maxEventSize?: number): void => {
    const bytes = enc(text);
    const byteByByte = run(Array.from(bytes, (b) => Uint8Array.of(b)), { maxEventSize });
    expect(run([bytes], { maxEventSize })).toEqual(byteByByte);
    expect(run([text], { maxEventSize })).toEqual(byteByByte);
  };

  it('an event name that must be read, set by a line of its own, is not skipped with the data after it', () => {
    const text = `${CHAT}\n\nevent: message_start\n${CHAT}\n\n${USAGE}\n\n`;
    expect(run([enc(text)])).toBeNull();
    feedWholeAndByByte(text);
  });

  it('an event with a \\r line end inside is left to the line-by-line path', () => {
    const text = `${CHAT}\n\n${CHAT}\n\r${USAGE}\n\n`;
    expect(run([enc(text)])).toEqual(u('gpt-4o', 7, 3));
    feedWholeAndByByte(text);
  });

  it('property: whole-stream chunks give what one-byte chunks (never skipped in place) give', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => feedWholeAndByByte(events.join(''))),
      { numRuns: 3000 },
    );
  });

  it('property: the same with a small maxEventSize (long lines and data refused either way)', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.integer({ min: 20, max: 120 }), (events, max) => feedWholeAndByByte(events.join(''), max)),
      { numRuns: 2000 },
    );
  });
});
