// The README's TypeScript quick start compiles against the published types
// (the root index.d.ts, reached by the package's own name) and runs.
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function tsBlocks(): string[] {
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('README TypeScript blocks', () => {
  it('there is a quick start', () => {
    expect(tsBlocks().length).toBeGreaterThan(0);
    expect(tsBlocks()[0]).toContain("from 'iron-runtime-analytics'");
  });

  it('each compiles under tsc --noEmit (strict) against index.d.ts', () => {
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    try {
      const files = tsBlocks().map((code, i) => {
        const file = join(dir, `block${i}.mts`);
        writeFileSync(file, code);
        return file;
      });
      const program = ts.createProgram(files, {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        types: ['node'],
        skipLibCheck: false,
      });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) =>
        ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      );
      expect(diagnostics).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
