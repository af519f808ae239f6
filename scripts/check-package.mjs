#!/usr/bin/env node
// Checks the package as it would be published: `npm pack` (without running
// the build again: `npm test` built it just before), then
// @arethetypeswrong/cli on the tarball (types resolve, in the right module
// format, for `import` and `require` under every resolution mode) and
// publint in strict mode (a warning fails too).
//
// Usage: node scripts/check-package.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

const work = mkdtempSync(join(tmpdir(), 'iron-package-'));
try {
  const [packed] = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work]));
  const tarball = join(work, packed.filename);
  process.stdout.write(run(bin('attw'), [tarball, '--format', 'table-flipped']));
  process.stdout.write(run(bin('publint'), ['--strict', '--level', 'warning', tarball]));
} finally {
  rmSync(work, { recursive: true, force: true });
}
