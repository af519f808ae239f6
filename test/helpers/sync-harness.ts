/**
 * The harness of the sync tests: a token and agent the ingest server knows,
 * short pacing, recording helpers, and the end-state checks the protocol
 * promises (each LLM event stored exactly once with its exact fields).
 */
import util from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, expect, vi } from 'vitest';
import { EventStore, PricingManager, SyncConfig, SyncClient } from '../../src/index.js';
import type { AnalyticsEvent, SyncReport } from '../../src/index.js';
import { IngestServer } from './ingest-server.js';

export const TOKEN = 'ic_secret_7Q2xV9pLmZ3kR8wT';
export const AGENT = 'agent_sync_tests';
export const pricing = new PricingManager();

export type Handle = ReturnType<InstanceType<typeof SyncClient>['start']>;

const servers: IngestServer[] = [];
const handles: Handle[] = [];
export const warnings: string[] = [];
let warnSpy: ReturnType<typeof vi.spyOn>;

/**
 * Registers the file's hooks: `console.warn` captured into {@link warnings}
 * (cleared before each test), and every server and handle started by a test
 * closed after it.
 */
export function useSyncHarness(): void {
  beforeAll(() => {
    warnSpy = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      const line = args.map((a) => (typeof a === 'string' ? a : util.inspect(a))).join(' ');
      // The store's own warning (an unpriced model, 'my-finetune' below) is not the sync client's.
      if (!line.includes('no price for model')) warnings.push(line);
    });
  });

  beforeEach(() => {
    warnings.length = 0;
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.stop()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  afterAll(() => {
    warnSpy.mockRestore();
  });
}

/** Every warning of the whole file is checked for the token as well, in each test. */
export function expectNoTokenInWarnings(): void {
  for (const w of warnings) expect(w).not.toContain(TOKEN);
}

/** A Protocol 012 server on 127.0.0.1 that knows {@link TOKEN}, closed after the test. */
export async function startServer(): Promise<IngestServer> {
  const server = await IngestServer.start({ [TOKEN]: AGENT });
  servers.push(server);
  return server;
}

/** Short intervals and backoffs so the file runs in seconds. */
export function fastConfig(server: IngestServer): SyncConfig {
  return new SyncConfig(server.url, TOKEN)
    .withInterval(50)
    .withBatchThreshold(1_000)
    .withThresholdCheck(5)
    .withBackoff(10, 80)
    .withTimeout(2_000)
    .withStopDeadline(3_000);
}

/** Starts the client's loop; the handle is stopped after the test. */
export function start(client: InstanceType<typeof SyncClient>): Handle {
  const handle = client.start();
  handles.push(handle);
  return handle;
}

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Records `n` LLM events of every shape (with and without the optional fields). */
export function recordMix(store: EventStore, n: number): void {
  for (let i = 0; i < n; i++) {
    switch (i % 5) {
      case 0:
        store.recordLlmCompleted(pricing, 'gpt-4', 150 + i, 50);
        break;
      case 1:
        store.recordLlmCompleted(pricing, 'claude-3-opus-20240229', 200, 100 + i, 'agent_local', 'ip_anthropic-001');
        break;
      case 2:
        store.recordLlmFailed('gpt-4o-mini', null, null, 'rate_limit_exceeded', `upstream said no #${i}`);
        break;
      case 3:
        store.recordLlmFailed('claude-3-haiku-20240307', 'agent_local', 'ip_anthropic-002', null, null);
        break;
      default:
        store.recordLlmCompleted(pricing, 'my-finetune', 0, 0, null, 'ip_unknown-9');
        break;
    }
  }
}

/** The provider names Protocol 012 accepts: openai and anthropic stay, the rest is unknown. */
export function wireProvider(provider: string): string {
  const lower = provider.toLowerCase();
  return lower === 'openai' || lower === 'anthropic' ? lower : 'unknown';
}

/** The exact body the protocol expects for an event, written independently of the library. */
export function expectedBody(event: AnalyticsEvent): Record<string, unknown> {
  if (event.eventType !== 'llm_request_completed' && event.eventType !== 'llm_request_failed') {
    throw new Error(`${event.eventType} is never sent`);
  }
  const body: Record<string, unknown> = {
    ic_token: TOKEN,
    event_id: event.eventId,
    timestamp_ms: event.timestampMs,
    event_type: event.eventType,
    model: event.model,
    provider: wireProvider(event.provider),
  };
  if (event.providerId !== null) body.provider_id = event.providerId;
  if (event.eventType === 'llm_request_completed') {
    body.input_tokens = event.inputTokens;
    body.output_tokens = event.outputTokens;
    body.cost_micros = event.costMicros;
  } else {
    if (event.errorCode !== null) body.error_code = event.errorCode;
    if (event.errorMessage !== null) body.error_message = event.errorMessage;
  }
  return body;
}

export const isLlm = (e: AnalyticsEvent): boolean =>
  e.eventType === 'llm_request_completed' || e.eventType === 'llm_request_failed';

/** Each of `expected` is in the server's store exactly once, with exactly its fields; nothing else is. */
export function expectStoredExactlyOnce(server: IngestServer, expected: AnalyticsEvent[]): void {
  const byId = new Map<string, unknown>();
  for (const stored of server.accepted) {
    const id = stored.body.event_id as string;
    expect(byId.has(id), `event ${id} stored twice`).toBe(false);
    byId.set(id, stored);
  }
  expect(server.accepted).toHaveLength(expected.length);
  for (const event of expected) {
    expect(byId.get(event.eventId)).toStrictEqual({ agentId: AGENT, body: expectedBody(event) });
  }
}

/** The end state of a scenario where everything was eventually delivered. */
export function expectAllDelivered(
  server: IngestServer,
  store: EventStore,
  expected: AnalyticsEvent[],
  report?: SyncReport,
): void {
  expectStoredExactlyOnce(server, expected);
  expect(store.unsyncedCount()).toBe(0);
  expect(store.accounting().synced).toBe(expected.length);
  expect(store.accounting().rejected).toBe(0);
  if (report) expect(report).toStrictEqual({ delivered: expected.length, rejected: 0, remaining: 0, spooled: 0, replayed: 0 });
  expectNoTokenInWarnings();
}

export function warningsMatching(pattern: RegExp): string[] {
  return warnings.filter((w) => pattern.test(w));
}

