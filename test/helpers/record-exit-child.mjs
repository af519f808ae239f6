// A child process that records COUNT records, then ends as HOW says. At
// 'exit' (after the library's own handler, registered at the first record)
// it prints what the store holds, read without flushing anything: for the
// native store, from the addon directly, so that only the library's exit
// hook can have handed the last batch over.
const { EventStore, PricingManager, implementation } = await import(process.env.ENTRY);
const store = new EventStore();
const pricing = new PricingManager();
const count = Number(process.env.COUNT);
for (let i = 0; i < count; i++) {
  if (i % 4 === 0) store.recordLlmFailed('gpt-4o', 'a', null, 'x', `m${i}`);
  else store.recordLlmCompleted(pricing, 'gpt-4o-mini', 100, 10, 'a');
}
process.on('exit', () => {
  const accounting = implementation === 'native' ? store.nativeHandle.accounting() : store.accounting();
  process.stdout.write(JSON.stringify({ implementation, recorded: accounting.recorded, lost: accounting.lost }));
});
switch (process.env.HOW) {
  case 'exit':
    process.exit(0);
  case 'throw':
    throw new Error('uncaught, on purpose');
  case 'exitCode':
    process.exitCode = 3;
    break;
  default:
    break; // the end of the script
}
