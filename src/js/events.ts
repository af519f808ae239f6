/** Buffered events as the fallback keeps them, and their public copies. */
import type {
  AnalyticsEvent,
  BudgetThresholdEvent,
  LlmCompletedEvent,
  LlmFailedEvent,
  RouterStartedEvent,
  RouterStoppedEvent,
} from '../shared/types.js';
import type { IdSource } from './ids.js';

/**
 * A buffered event: the public shape without the id, plus its number in this
 * store (its record order, from which the id is written when it is read).
 */
export type Stored<E extends AnalyticsEvent> = Omit<E, 'eventId'> & { seq: number };
export type StoredLlm = Stored<LlmCompletedEvent> | Stored<LlmFailedEvent>;
export type StoredLocal = Stored<BudgetThresholdEvent> | Stored<RouterStartedEvent> | Stored<RouterStoppedEvent>;
export type StoredEvent = StoredLlm | StoredLocal;

/** A plain-object copy of a buffered event, with its id, without the store's bookkeeping. */
export function toPublic(event: StoredEvent, ids: IdSource): AnalyticsEvent {
  const eventId = ids.idOf(event.seq);
  switch (event.eventType) {
    case 'llm_request_completed':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        provider: event.provider,
        model: event.model,
        providerId: event.providerId,
        inputTokens: event.inputTokens,
        outputTokens: event.outputTokens,
        costMicros: event.costMicros,
      };
    case 'llm_request_failed':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        provider: event.provider,
        model: event.model,
        providerId: event.providerId,
        errorCode: event.errorCode,
        errorMessage: event.errorMessage,
      };
    case 'budget_threshold_reached':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        thresholdPercent: event.thresholdPercent,
        currentSpendMicros: event.currentSpendMicros,
        budgetMicros: event.budgetMicros,
      };
    case 'router_started':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        port: event.port,
      };
    case 'router_stopped':
      return {
        eventId,
        timestampMs: event.timestampMs,
        eventType: event.eventType,
        agentId: event.agentId,
        totalRequests: event.totalRequests,
        totalCostMicros: event.totalCostMicros,
      };
  }
}
