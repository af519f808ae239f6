// `promtool check metrics` (Prometheus's own linter, from Debian's
// `prometheus` package, which `.ci/run` installs) on the exposition of a
// store with every kind of series, on both versions of the GenAI
// conventions: it must report nothing. Runs on both implementations.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { withOptIn } from './helpers/opt-in.js';
import { EventStore, PricingManager } from '../src/index.js';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function promtool(text: string): { status: number | null; output: string } {
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error) {
    throw new Error(`${PROMTOOL} could not run (${run.error.message}): install it with \`apt-get install prometheus\`, as .ci/run does`);
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** A store with completed, failed, streamed, unpriced, explicit-provider and overflow series, and an outbox in use. */
function busyStore(): EventStore {
  const pricing = new PricingManager();
  const store = new EventStore({ capacity: 5, cardinalityLimit: 6 });
  store.recordLlmCompleted(pricing, 'gpt-4o-2024-08-06', 1_200, 300, 'a', 'key-1', { durationMs: 850, ttftMs: 120, requestModel: 'gpt-4o' });
  store.recordLlmCompleted(pricing, 'claude-sonnet-4-5', 9_632, 410, null, null, { durationMs: 2_300, cacheReadTokens: 6_000 });
  store.recordLlmFailed('gemini-2.5-pro', null, null, 'rate_limit', 'slow down', { durationMs: 40 });
  store.recordLlmFailed('grok-4');
  store.recordLlmCompletedWithProvider(pricing, 'my-finetune', 'my-gateway', 10, 5);
  store.recordLlmCompleted(pricing, 'text-embedding-3-small', 40, 0, null, null, { operation: 'embeddings', durationMs: 12 });
  store.recordLlmCompleted(pricing, 'we"ird\\model\nname', 1, 1, null, null, { durationMs: 1 });
  for (let i = 0; i < 20; i++) store.recordLlmCompleted(pricing, `model-${i}`, i, i, null, null, { durationMs: i * 10 });
  store.recordRouterStarted(8080);
  store.markSynced(store.unsyncedEvents(1).map((e) => e.eventId));
  return store;
}

describe('promtool check metrics', () => {
  for (const optIn of [undefined, 'gen_ai_latest_experimental']) {
    it(`reports nothing on the exposition (${optIn ?? 'conventions v1.36.0'})`, () => {
      const [busy, empty] = withOptIn(optIn, () => [busyStore().prometheus(), new EventStore().prometheus()]);
      expect(busy).toContain('otel_metric_overflow="true"');
      expect(busy).toContain(optIn === undefined ? 'gen_ai_system=' : 'gen_ai_provider_name=');
      expect(promtool(busy)).toEqual({ status: 0, output: '' });
      expect(promtool(empty)).toEqual({ status: 0, output: '' });
    });
  }

  it('catches what it is there to catch (a counter without _total)', () => {
    const bad = '# HELP gen_ai_client_token_usage Tokens.\n# TYPE gen_ai_client_token_usage counter\ngen_ai_client_token_usage 1\n';
    const { output } = promtool(bad);
    expect(output).toContain('counter metrics should have "_total" suffix');
  });
});
