/**
 * `recordUsage`, the same for both implementations: a toolkit `Usage` as it
 * is, recorded as a failure when it carries an error, else as a completed
 * request with every part.
 */
import type { EventStoreApi, PricingManagerApi } from './api.js';
import type { RecordUsageOptions, Usage } from './types.js';
import { checkRecordUsageArgs } from './validate.js';

/** Records `usage` on `store` (validated first: nothing is counted on bad input). */
export function recordUsageOn(
  store: EventStoreApi,
  pricing: PricingManagerApi,
  usage: Usage,
  options: RecordUsageOptions | null | undefined,
): void {
  const model = checkRecordUsageArgs(usage, options);
  const o = options ?? {};
  // The request's series: the model asked for, the model recorded (the
  // answer's when it names one), the operation.
  const requestModel = o.requestModel ?? model;
  if (usage.error != null) {
    store.recordLlmFailed(model, o.agentId, o.providerId, usage.error.code ?? null, usage.error.message ?? null, {
      durationMs: o.durationMs,
      requestModel,
      operation: o.operation,
    });
    return;
  }
  store.recordLlmCompleted(pricing, model, usage.inputTokens, usage.outputTokens, o.agentId, o.providerId, {
    requestModel,
    operation: o.operation,
    durationMs: o.durationMs,
    ttftMs: o.ttftMs,
    cacheReadTokens: usage.cacheReadTokens,
    cacheWriteTokens: usage.cacheWriteTokens,
    cacheWrite1hTokens: usage.cacheWrite1hTokens,
    reasoningTokens: usage.reasoningTokens,
  });
}
