// The normalized usage model, table-driven over the providers' real shapes
// (JSON answers and their streams), errors carried inside 200 answers and
// streams, several Anthropic messages in one stream, and the fast path that
// keeps JSON.parse off the bulk of a stream.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SseUsageAccumulator, usageFromResponse, type Usage } from '../src/toolkit/index.js';

const usage = (model: string, counts: Partial<Usage>): Usage => ({
  model,
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
  error: null,
  ...counts,
});

const sse = (events: [string | null, unknown][]): string =>
  events.map(([event, data]) => `${event === null ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`).join('');

function streamed(text: string, chunk = 7): Usage | null {
  const acc = new SseUsageAccumulator();
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += chunk) acc.push(bytes.subarray(i, i + chunk));
  return acc.usage();
}

// --- provider shapes ---------------------------------------------------------

function openAiChat(model: string, u: object): { body: object; stream: string } {
  const chunk = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model };
  return {
    body: { id: 'chatcmpl-1', object: 'chat.completion', created: 1, model, choices: [], usage: u },
    stream:
      sse([
        [null, { ...chunk, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }], usage: null }],
        [null, { ...chunk, choices: [{ index: 0, delta: { content: 'Hello "usage": {' } }], usage: null }],
        [null, { ...chunk, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null }],
        [null, { ...chunk, choices: [], usage: u }],
      ]) + 'data: [DONE]\n\n',
  };
}

function openAiResponses(model: string, u: object): { body: object; stream: string } {
  const response = { id: 'resp_1', object: 'response', model, status: 'completed', output: [], usage: u };
  return {
    body: response,
    stream: sse([
      ['response.created', { type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', usage: null } }],
      ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi' }],
      ['response.completed', { type: 'response.completed', sequence_number: 2, response }],
    ]),
  };
}

/** An Anthropic message: `start` is the usage of message_start, `final` that of the answer (and of the last message_delta). */
function anthropic(model: string, start: object, final: object): { body: object; stream: string } {
  const message = { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null };
  return {
    body: { ...message, content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn', usage: final },
    stream: sse([
      ['message_start', { type: 'message_start', message: { ...message, usage: start } }],
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['ping', { type: 'ping' }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi — "error"?' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: final }],
      ['message_stop', { type: 'message_stop' }],
    ]),
  };
}

function gemini(model: string, meta: object, partial: object): { body: object; stream: string } {
  const body = { candidates: [{ content: { role: 'model', parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }], usageMetadata: meta, modelVersion: model, responseId: 'r1' };
  return {
    body,
    stream: sse([
      [null, { candidates: [{ content: { role: 'model', parts: [{ text: 'H' }] } }], usageMetadata: partial, modelVersion: model }],
      [null, body],
    ]),
  };
}

interface Shape {
  name: string;
  shape: { body: object; stream: string };
  expected: Usage;
}

const SHAPES: Shape[] = [
  {
    // Issue 10's OpenAI case: 3,712 of 19,681 prompt tokens cached.
    name: 'OpenAI Chat, cached prompt',
    shape: openAiChat('gpt-4o-2024-08-06', {
      prompt_tokens: 19_681,
      completion_tokens: 412,
      total_tokens: 20_093,
      prompt_tokens_details: { cached_tokens: 3_712, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    }),
    expected: usage('gpt-4o-2024-08-06', { inputTokens: 19_681, outputTokens: 412, cacheReadTokens: 3_712 }),
  },
  {
    name: 'OpenAI Chat, reasoning model',
    shape: openAiChat('o4-mini-2025-04-16', {
      prompt_tokens: 2_306,
      completion_tokens: 214,
      prompt_tokens_details: { cached_tokens: 2_048 },
      completion_tokens_details: { reasoning_tokens: 192 },
    }),
    expected: usage('o4-mini-2025-04-16', { inputTokens: 2_306, outputTokens: 214, cacheReadTokens: 2_048, reasoningTokens: 192 }),
  },
  {
    name: 'OpenAI Responses, cached prompt and reasoning',
    shape: openAiResponses('gpt-5-2025-08-07', {
      input_tokens: 5_210,
      input_tokens_details: { cached_tokens: 4_096 },
      output_tokens: 781,
      output_tokens_details: { reasoning_tokens: 704 },
      total_tokens: 5_991,
    }),
    expected: usage('gpt-5-2025-08-07', { inputTokens: 5_210, outputTokens: 781, cacheReadTokens: 4_096, reasoningTokens: 704 }),
  },
  {
    // Issue 10's Anthropic case: 6 input, 6,289 cache-read and 3,337 cache-write tokens.
    name: 'Anthropic, cache read and 5-minute write',
    shape: anthropic(
      'claude-sonnet-4-5-20250929',
      { input_tokens: 6, cache_read_input_tokens: 6_289, cache_creation_input_tokens: 3_337, cache_creation: { ephemeral_5m_input_tokens: 3_337, ephemeral_1h_input_tokens: 0 }, output_tokens: 1 },
      { input_tokens: 6, cache_read_input_tokens: 6_289, cache_creation_input_tokens: 3_337, cache_creation: { ephemeral_5m_input_tokens: 3_337, ephemeral_1h_input_tokens: 0 }, output_tokens: 410 },
    ),
    expected: usage('claude-sonnet-4-5-20250929', { inputTokens: 9_632, outputTokens: 410, cacheReadTokens: 6_289, cacheWriteTokens: 3_337 }),
  },
  {
    name: 'Anthropic, 5-minute and 1-hour writes',
    shape: anthropic(
      'claude-opus-4-1-20250805',
      { input_tokens: 40, cache_read_input_tokens: 0, cache_creation_input_tokens: 5_000, cache_creation: { ephemeral_5m_input_tokens: 2_000, ephemeral_1h_input_tokens: 3_000 }, output_tokens: 1 },
      { input_tokens: 40, cache_read_input_tokens: 0, cache_creation_input_tokens: 5_000, cache_creation: { ephemeral_5m_input_tokens: 2_000, ephemeral_1h_input_tokens: 3_000 }, output_tokens: 120 },
    ),
    expected: usage('claude-opus-4-1-20250805', { inputTokens: 5_040, outputTokens: 120, cacheWriteTokens: 2_000, cacheWrite1hTokens: 3_000 }),
  },
  {
    name: 'Anthropic, 1-hour write without the 5-minute breakdown (the rest of the writes are 5-minute ones)',
    shape: anthropic(
      'claude-3-7-sonnet-20250219',
      { input_tokens: 10, cache_creation_input_tokens: 900, cache_creation: { ephemeral_1h_input_tokens: 600 }, output_tokens: 1 },
      { input_tokens: 10, cache_creation_input_tokens: 900, cache_creation: { ephemeral_1h_input_tokens: 600 }, output_tokens: 30 },
    ),
    expected: usage('claude-3-7-sonnet-20250219', { inputTokens: 910, outputTokens: 30, cacheWriteTokens: 300, cacheWrite1hTokens: 600 }),
  },
  {
    name: 'Anthropic, thinking tokens (output_tokens_details.thinking_tokens)',
    shape: anthropic(
      'claude-sonnet-4-5-20250929',
      { input_tokens: 1_200, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 1 },
      { input_tokens: 1_200, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 2_400, output_tokens_details: { thinking_tokens: 1_850 } },
    ),
    expected: usage('claude-sonnet-4-5-20250929', { inputTokens: 1_200, outputTokens: 2_400, reasoningTokens: 1_850 }),
  },
  {
    // Long context: above 200k prompt tokens Gemini 2.5 Pro bills the whole request at the higher tier.
    name: 'Gemini, long context with thoughts and cached content',
    shape: gemini(
      'gemini-2.5-pro',
      { promptTokenCount: 250_000, candidatesTokenCount: 1_200, thoughtsTokenCount: 800, cachedContentTokenCount: 100_000, totalTokenCount: 252_000 },
      { promptTokenCount: 250_000, candidatesTokenCount: 1, totalTokenCount: 250_001 },
    ),
    expected: usage('gemini-2.5-pro', { inputTokens: 250_000, outputTokens: 2_000, cacheReadTokens: 100_000, reasoningTokens: 800 }),
  },
];

describe.each(SHAPES)('normalized usage: $name', ({ shape, expected }) => {
  it('from the JSON answer', () => {
    expect(usageFromResponse(shape.body)).toEqual(expected);
  });
  it('from the stream, whatever the chunking', () => {
    for (const size of [1, 3, 7, 64, 1 << 20]) expect(streamed(shape.stream, size)).toEqual(expected);
  });
  it('from the stream with CRLF line ends and without event: lines', () => {
    expect(streamed(shape.stream.replace(/\n/g, '\r\n'))).toEqual(expected);
    expect(streamed(shape.stream.replace(/^event: .*\n/gm, ''))).toEqual(expected);
  });
});

describe('normalized usage: rules', () => {
  it('clamps parts a provider reports larger than their totals', () => {
    const u = usageFromResponse({ model: 'm', usage: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: { reasoning_tokens: 9 } } });
    expect(u).toEqual(usage('m', { inputTokens: 10, outputTokens: 5, cacheReadTokens: 10, reasoningTokens: 5 }));
  });

  it('saturates a hostile Anthropic sum at MAX_SAFE_INTEGER instead of making an unsafe total', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const u = usageFromResponse({ type: 'message', usage: { input_tokens: max, cache_read_input_tokens: max, output_tokens: 1 } });
    expect(u?.inputTokens).toBe(max);
    expect(u!.cacheReadTokens).toBeLessThanOrEqual(max);
  });

  it('sums several Anthropic messages in one stream (message_start … message_delta, twice)', () => {
    const first = anthropic(
      'claude-sonnet-4-5-20250929',
      { input_tokens: 100, cache_read_input_tokens: 1_000, cache_creation_input_tokens: 0, output_tokens: 1 },
      { output_tokens: 50, output_tokens_details: { thinking_tokens: 20 } },
    ).stream;
    const second = anthropic(
      'claude-sonnet-4-5-20250929',
      { input_tokens: 30, cache_read_input_tokens: 1_150, cache_creation_input_tokens: 200, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 200 }, output_tokens: 1 },
      { output_tokens: 70 },
    ).stream;
    const both = usage('claude-sonnet-4-5-20250929', { inputTokens: 2_480, outputTokens: 120, cacheReadTokens: 2_150, cacheWrite1hTokens: 200, reasoningTokens: 20 });
    expect(streamed(first + second)).toEqual(both);
    // Before the second message's message_delta its output is unknown.
    expect(streamed(first + second.slice(0, second.indexOf('event: message_delta')))).toBeNull();
    expect(streamed(first)).toEqual(usage('claude-sonnet-4-5-20250929', { inputTokens: 1_100, outputTokens: 50, cacheReadTokens: 1_000, reasoningTokens: 20 }));
  });
});

describe('errors inside 200 answers and streams', () => {
  const err = (code: string, message: string, counts: Partial<Usage> = {}, model: string | null = null): Usage => ({
    ...usage('', counts),
    model,
    error: { code, message },
  });

  it.each([
    ['Anthropic error body', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }, err('overloaded_error', 'Overloaded')],
    [
      'OpenAI error body (code)',
      { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } },
      err('rate_limit_exceeded', 'Rate limit reached'),
    ],
    ['OpenAI error body (type only)', { error: { message: 'The server had an error', type: 'server_error', param: null, code: null } }, err('server_error', 'The server had an error')],
    [
      'Responses object with status failed',
      { object: 'response', model: 'gpt-5', status: 'failed', error: { code: 'server_error', message: 'boom' }, usage: { input_tokens: 12, output_tokens: 0 } },
      err('server_error', 'boom', { inputTokens: 12 }, 'gpt-5'),
    ],
    ['an error without code, type or message', { error: {} }, err('error', '')],
    ['an error given as a string', { error: 'bad gateway' }, err('error', 'bad gateway')],
  ])('usageFromResponse: %s', (_name, body, expected) => {
    expect(usageFromResponse(body)).toEqual(expected);
  });

  it('cuts a code longer than 256 characters (code points), keeps the message', () => {
    const long = '🚀'.repeat(300);
    const u = usageFromResponse({ error: { code: long, message: 'm' } });
    expect(Array.from(u!.error!.code)).toHaveLength(256);
    expect(u!.error!.code).toBe('🚀'.repeat(256));
    expect(u!.error!.message).toBe('m');
  });

  it.each([
    ['OpenAI Responses error event', sse([['error', { type: 'error', code: 'ERR_SOMETHING', message: 'Something went wrong', param: null, sequence_number: 1 }]]), 'ERR_SOMETHING', 'Something went wrong'],
    ['OpenAI Responses error event without event: line', sse([[null, { type: 'error', code: 'server_error', message: 'x', sequence_number: 1 }]]), 'server_error', 'x'],
    ['response.error event', sse([['response.error', { type: 'response.error', error: { code: 'rate_limit_exceeded', message: 'slow down' } }]]), 'rate_limit_exceeded', 'slow down'],
    [
      'response.failed event',
      sse([['response.failed', { type: 'response.failed', response: { object: 'response', status: 'failed', model: 'gpt-5', error: { code: 'server_error', message: 'failed' }, usage: null } }]]),
      'server_error',
      'failed',
    ],
    ['Anthropic event: error', sse([['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]]), 'overloaded_error', 'Overloaded'],
    ['event: error with text data', 'event: error\ndata: upstream gave up\n\n', 'stream_error', 'upstream gave up'],
    ['Chat Completions error chunk', sse([[null, { error: { message: 'm', type: 'server_error', code: 'internal' } }]]), 'internal', 'm'],
  ])('stream: %s', (_name, text, code, message) => {
    const u = streamed(text);
    expect(u?.error).toEqual({ code, message });
  });
});

describe('speed: the bulk of a stream is not parsed', () => {
  afterEach(() => vi.restoreAllMocks());

  const chunk = (i: number): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta: { content: `word ${i} ` } }], usage: null })}\n\n`;

  it.each([
    [
      'Chat Completions (every chunk says "usage": null)',
      Array.from({ length: 200 }, (_, i) => chunk(i)).join('') +
        sse([[null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 5, completion_tokens: 200 } }]]) +
        'data: [DONE]\n\n',
      usage('gpt-4o', { inputTokens: 5, outputTokens: 200 }),
    ],
    [
      'Responses',
      sse([
        ['response.created', { type: 'response.created', response: { object: 'response', model: 'gpt-5', status: 'in_progress', usage: null } }],
        ...Array.from({ length: 200 }, (_, i): [string, unknown] => ['response.output_text.delta', { type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: `w${i} response. ` }]),
        ['response.completed', { type: 'response.completed', response: { object: 'response', model: 'gpt-5', status: 'completed', usage: { input_tokens: 5, output_tokens: 200 } } }],
      ]),
      usage('gpt-5', { inputTokens: 5, outputTokens: 200 }),
    ],
    [
      'Anthropic',
      sse([
        ['message_start', { type: 'message_start', message: { type: 'message', model: 'claude-sonnet-4-5', usage: { input_tokens: 5, output_tokens: 1 } } }],
        ...Array.from({ length: 200 }, (_, i): [string, unknown] => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `w${i} "usage"` } }]),
        ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 200 } }],
      ]),
      usage('claude-sonnet-4-5', { inputTokens: 5, outputTokens: 200 }),
    ],
  ])('%s: 200 chunks, at most 2 JSON.parse calls', (_name, text, expected) => {
    const parse = vi.spyOn(JSON, 'parse');
    const acc = new SseUsageAccumulator();
    for (const part of text.split(/(?<=\n\n)/)) acc.push(part);
    const calls = parse.mock.calls.length;
    vi.restoreAllMocks();
    expect(acc.usage()).toEqual(expected);
    expect(calls).toBeLessThanOrEqual(2);
  });
});
