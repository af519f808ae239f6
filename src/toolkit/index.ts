/**
 * Router toolkit: dependency-free helpers that extract token usage from LLM
 * provider responses, non-streamed ({@link usageFromResponse}) and streamed as
 * Server-Sent Events ({@link SseUsageAccumulator}).
 */

export { usageFromResponse } from './usage.js';
export type { Usage } from './usage.js';
export { SseUsageAccumulator } from './sse.js';
export type { SseUsageAccumulatorOptions } from './sse.js';
