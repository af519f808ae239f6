// Case `meter` (run by child.mjs): the throughput of `meterFetchResponse` on a
// 200-chunk streamed answer against passing the same answer through untouched
// (`new Response(upstream.body, upstream)`), side by side in one process,
// alternating A/B in short rounds.
//
// - `fetch`: the answer comes from `fetch()` to an SSE upstream in another
//   process on 127.0.0.1 (what a fetch-style router meters), 200 Chat
//   Completions chunks with usage at the end; the client reads the body to
//   its end as a server writing it out does.
// - `in_memory`: the body is a ReadableStream over the same 201 events,
//   one event per chunk, no network: the meter's whole per-chunk cost (the
//   extra stream hop and the usage scan) against a near-free source — the
//   worst case, reported in µs per chunk.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const CHUNKS = 200;

/** The 200 text chunks and the usage chunk, as an OpenAI Chat Completions stream with include_usage sends them. */
export function sseEvents() {
  const base = { id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT', object: 'chat.completion.chunk', created: 1741569952, model: 'gpt-4o-2024-08-06', system_fingerprint: 'fp_f9f4fb6dbf' };
  const events = [];
  for (let i = 0; i < CHUNKS; i++) {
    events.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: ` token${i}` }, logprobs: null, finish_reason: null }], usage: null })}\n\n`);
  }
  events.push(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 1840, completion_tokens: CHUNKS, total_tokens: 1840 + CHUNKS, prompt_tokens_details: { cached_tokens: 1024 } } })}\n\ndata: [DONE]\n\n`);
  return events;
}

/** Reads a Response body to its end, as a server writing it to a socket does; returns the chunks read. */
async function drain(response) {
  const reader = response.body.getReader();
  let chunks = 0;
  for (;;) {
    const { done } = await reader.read();
    if (done) return chunks;
    chunks++;
  }
}

/**
 * Streams per second of `fn` over `n` runs, and streams per CPU-second of this
 * process (user + system): the router's capacity when it is CPU-bound, which
 * other processes on a shared machine disturb far less than wall time.
 */
async function rate(fn, n) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall: n / wall, cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

/** Runs A and B alternately (order swapped each round); per measure, the medians and the median of the per-round ratios B/A. */
async function sideBySide(a, b, { rounds, perRound }) {
  await rate(a, perRound);
  await rate(b, perRound);
  const runs = { a: [], b: [] };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      runs.a.push(await rate(a, perRound));
      runs.b.push(await rate(b, perRound));
    } else {
      runs.b.push(await rate(b, perRound));
      runs.a.push(await rate(a, perRound));
    }
  }
  const summary = (key) => {
    const ratios = runs.a.map((x, i) => runs.b[i][key] / x[key]);
    return {
      a: median(runs.a.map((x) => x[key])),
      b: median(runs.b.map((x) => x[key])),
      ratio: median(ratios),
      range: `${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}`,
    };
  };
  return { cpu: summary('cpu'), wall: summary('wall') };
}

export async function caseMeter({ lib, metric, check, info }) {
  const { EventStore, PricingManager, meterFetchResponse } = lib;
  const pricing = new PricingManager();
  const store = new EventStore({ capacity: 1_000_000 });
  const events = sseEvents();
  const bytes = events.map((e) => new TextEncoder().encode(e));
  const init = { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } };
  const options = { requestModel: 'gpt-4o' };

  // --- in memory ---------------------------------------------------------------
  const memoryBody = () => {
    let i = 0;
    return new ReadableStream({
      pull(controller) {
        if (i < bytes.length) controller.enqueue(bytes[i++]);
        else controller.close();
      },
    });
  };
  const memPass = async () => {
    const upstream = new Response(memoryBody(), init);
    await drain(new Response(upstream.body, upstream));
  };
  const memMetered = async () => {
    await drain(meterFetchResponse(store, pricing, new Response(memoryBody(), init), options));
  };
  const mem = (await sideBySide(memPass, memMetered, { rounds: 12, perRound: 150 })).cpu;
  metric('in_memory_ratio', mem.ratio, '×', 'higher', `metered / untouched streams per CPU-second, per-round ratios ${mem.range}; no network (worst case)`);
  metric('in_memory_added_us_per_chunk', ((1 / mem.b - 1 / mem.a) * 1e6) / bytes.length, 'µs', 'lower', 'CPU time metering adds per chunk: the extra stream hop plus the usage scan');

  // --- fetch from an upstream process ---------------------------------------------
  const upstream = fork(fileURLToPath(new URL('./sse-upstream.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise((resolve, reject) => {
      upstream.once('message', resolve);
      upstream.once('exit', (code) => reject(new Error(`sse-upstream exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    let chunksSeen = 0;
    const fetchPass = async () => {
      const answer = await fetch(url);
      chunksSeen += await drain(new Response(answer.body, answer));
    };
    const fetchMetered = async () => {
      await drain(meterFetchResponse(store, pricing, await fetch(url), options));
    };
    const net = await sideBySide(fetchPass, fetchMetered, { rounds: 12, perRound: 40 });
    metric('fetch_untouched', net.cpu.a, 'streams/CPU-s', 'higher');
    metric('fetch_metered', net.cpu.b, 'streams/CPU-s', 'higher');
    metric('fetch_ratio', net.cpu.ratio, '×', 'higher', `metered / untouched streams per CPU-second of the router process, per-round ratios ${net.cpu.range}`);
    metric('fetch_wall_ratio', net.wall.ratio, '×', 'higher', `the same in wall-clock streams/s (disturbed by other processes), per-round ratios ${net.wall.range}`);
    info.fetchChunksPerStream = chunksSeen / (40 * 13);
  } finally {
    upstream.kill();
  }

  // Every metered stream was recorded once, with the usage of its last chunk.
  const stats = store.stats();
  check(stats.failedRequests === 0, `meter: ${stats.failedRequests} failed records`);
  const row = stats.byModel['gpt-4o-2024-08-06'];
  check(row !== undefined && row.inputTokens === row.requestCount * 1840 && row.cacheReadTokens === row.requestCount * 1024, 'meter: usage recorded for every stream');
  info.recorded = stats.totalRequests;
}
