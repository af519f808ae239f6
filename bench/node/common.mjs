// Shared by the bench parent (run.mjs), the per-case children (child.mjs),
// the worker threads (worker.mjs) and bench/results.mjs.
import { fileURLToPath } from 'node:url';

/** The built package: both implementations are loaded from it (IRON_ANALYTICS_IMPL picks one per process). */
export const DIST_URL = new URL('../../dist/index.mjs', import.meta.url).href;
export const OUT_DIR = fileURLToPath(new URL('../.out/', import.meta.url));
export const NODE_JSON = fileURLToPath(new URL('../.out/node.json', import.meta.url));
export const RUST_JSON = fileURLToPath(new URL('../.out/rust.json', import.meta.url));

/** Marks the one stdout line of a child that carries its JSON result. */
export const RESULT_PREFIX = '@@BENCH_RESULT ';

// ---------------------------------------------------------------------------
// Realistic arguments: what a router records per request.
// ---------------------------------------------------------------------------

export const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet-20241022', 'gemini-1.5-flash'];
/** The provider of each model, as a prom-client user would label it. */
export const MODEL_PROVIDERS = ['openai', 'openai', 'anthropic', 'google'];
export const AGENTS = ['agent_support', 'agent_search', 'agent_billing'];
export const PROVIDER_ID = 'ip_openai-001';
export const ERROR_CODE = 'rate_limit';
export const ERROR_MESSAGE = 'Rate limit reached for requests';

/** Length of the argument tables (a power of two: index with `i & ARGS_MASK`). */
export const ARGS_LEN = 1024;
export const ARGS_MASK = ARGS_LEN - 1;

/** Deterministic, varied token counts and latencies (no Math.random: every run sees the same inputs). */
export const INPUT_TOKENS = Int32Array.from({ length: ARGS_LEN }, (_, i) => 200 + ((i * 7919) % 3800));
export const OUTPUT_TOKENS = Int32Array.from({ length: ARGS_LEN }, (_, i) => 20 + ((i * 104_729) % 900));
export const DURATION_MS = Float64Array.from({ length: ARGS_LEN }, (_, i) => 300 + ((i * 31) % 2500) + 0.25);
export const TTFT_MS = Float64Array.from({ length: ARGS_LEN }, (_, i) => 50 + ((i * 13) % 400) + 0.5);
/** `{ durationMs, ttftMs }` objects built once, so that the timed loops allocate nothing of their own. */
export const LATENCIES = Array.from({ length: ARGS_LEN }, (_, i) => ({ durationMs: DURATION_MS[i], ttftMs: TTFT_MS[i] }));
/**
 * Usage parts as a router sees them with prompt caching on (issue 10): about
 * a third of the prompt read from cache, a cache write on one call in eight,
 * reasoning tokens on half the answers. No latencies, so that comparing with
 * the plain call measures the parts alone. Built once, like `LATENCIES`.
 */
export const USAGE_PARTS = Array.from({ length: ARGS_LEN }, (_, i) => ({
  cacheReadTokens: Math.floor(INPUT_TOKENS[i] / 3),
  cacheWriteTokens: i % 8 === 0 ? Math.floor(INPUT_TOKENS[i] / 4) : 0,
  reasoningTokens: i % 2 === 0 ? Math.floor(OUTPUT_TOKENS[i] / 2) : 0,
}));

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function minOf(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
}

export function maxOf(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
}

/** A number for a table: 3 significant digits, thousands separated. */
export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

export function fmtRatio(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}
