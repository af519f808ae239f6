// The contract is checked by the compiler: a native class that drifts from
// its interface, or a wrapper that drifts from the addon's generated
// declarations, does not compile. (tsc runs on the real sources in
// `npm test`; this test shows it would catch the drift.)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const file = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

/** The diagnostics of compiling `src/index.ts` with `edits` applied to some source files. */
function diagnostics(edits: Record<string, (text: string) => string>): ts.Diagnostic[] {
  const config = ts.readConfigFile(file('tsconfig.json'), ts.sys.readFile);
  const options = ts.parseJsonConfigFileContent(config.config, ts.sys, root).options;
  const host = ts.createCompilerHost({ ...options, noEmit: true });
  const edited = new Map(Object.entries(edits).map(([p, edit]) => [file(p), edit]));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, create) => {
    const edit = edited.get(name);
    if (edit === undefined) return getSourceFile(name, language, onError, create);
    return ts.createSourceFile(name, edit(readFileSync(name, 'utf8')), language);
  };
  const program = ts.createProgram([file('src/index.ts')], { ...options, noEmit: true }, host);
  return [...ts.getPreEmitDiagnostics(program)];
}

const text = (d: ts.Diagnostic) => ts.flattenDiagnosticMessageText(d.messageText, '\n');

/** Renames the first declaration of method `name(` in a class body. */
const renameMethod = (name: string, to: string) => (source: string) => {
  const at = source.indexOf(`\n  ${name}(`);
  if (at < 0) throw new Error(`no method ${name}`);
  return `${source.slice(0, at)}\n  ${to}(${source.slice(at + name.length + 4)}`;
};

describe('the contract is checked by the compiler', () => {
  it('the sources as they are compile', () => {
    expect(diagnostics({}).map(text)).toEqual([]);
  }, 60_000);

  it('a native class that drifts from its interface does not compile', () => {
    const errors = diagnostics({ 'src/native/store.ts': renameMethod('recordRouterStopped', 'recordRouterHalted') }).map(text);
    expect(errors.some((e) => /incorrectly implements interface 'EventStoreApi'/.test(e)), errors.join('\n')).toBe(true);
  }, 60_000);

  it('a fallback class that drifts from its interface does not compile', () => {
    const errors = diagnostics({ 'src/js/pricing.ts': renameMethod('costMicros', 'costInMicros') }).map(text);
    expect(errors.some((e) => /incorrectly implements interface 'PricingManagerApi'/.test(e)), errors.join('\n')).toBe(true);
  }, 60_000);

  it('the wrapper is typed by the addon\'s generated declarations', () => {
    const errors = diagnostics({
      'src/native/binding.d.ts': (source) => source.replace('flushBatch(): number', 'flushBatchNow(): number'),
    }).map(text);
    expect(errors.some((e) => /Property 'flushBatch' does not exist/.test(e)), errors.join('\n')).toBe(true);
  }, 60_000);
});
