// Records COUNT requests with distinct model and agent names (as an attacker
// controlling a request body would) into a store of 10,000 events, then
// prints the memory it grew by, after a collection, and what the store shows.
const { EventStore, PricingManager, implementation } = await import(process.env.ENTRY);
console.warn = () => {}; // one warning for all unpriced models past the limit: expected
const count = Number(process.env.COUNT);
const pad = 'x'.repeat(40);
const measure = () => {
  globalThis.gc();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};
const store = new EventStore({ capacity: 10_000 });
const pricing = new PricingManager();
store.recordLlmCompleted(pricing, 'warm-up', 1, 1, 'warm-up');
const before = measure();
for (let i = 0; i < count; i++) {
  store.recordLlmCompleted(pricing, `model-${i}-${pad}`, 10, 1, `agent-${i}-${pad}`, `key-${i}`);
}
const stats = store.stats();
// Measured, not kept: the text (histograms of 2,000 series) would count in the heap growth.
const [metricsBytes, overflowMarked] = ((metrics) => [metrics.length, metrics.includes('otel_metric_overflow="true"')])(
  store.prometheus(),
);
const last = store.snapshotEvents().at(-1);
const full = measure();
store.drainAll();
const drained = measure();
process.stdout.write(
  JSON.stringify({
    implementation,
    growthMb: (full.rss - before.rss) / 1e6,
    heapGrowthMb: (full.heapUsed - before.heapUsed) / 1e6,
    drainedHeapGrowthMb: (drained.heapUsed - before.heapUsed) / 1e6,
    modelRows: Object.keys(stats.byModel).length,
    agentRows: Object.keys(stats.byAgent).length,
    overflow: stats.byModel.__overflow__?.requestCount ?? 0,
    totalRequests: stats.totalRequests,
    metricsBytes,
    overflowMarked,
    lastModel: last?.model,
    accounting: store.accounting(),
  }),
);
