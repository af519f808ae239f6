/**
 * Router toolkit: helpers that extract normalized token usage from LLM
 * provider responses, non-streamed ({@link usageFromResponse}) and streamed as
 * Server-Sent Events ({@link SseUsageAccumulator}), and that meter an answer
 * on its way to the client in one call ({@link meterFetchResponse},
 * {@link meterNodeResponse}).
 */

export { usageFromResponse } from './usage.js';
export type { Usage, UsageError } from './usage.js';
export { SseUsageAccumulator } from './sse.js';
export type { SseUsageAccumulatorOptions } from './sse.js';
export { meterFetchResponse, meterNodeResponse, errorCodeForStatus, MAX_METERED_BODY_BYTES } from './meter.js';
export type { MeterOptions, MeterRecord } from './meter.js';
