// Installs the package the way a user does: `npm pack` of the root and of the
// linux-x64-gnu binary package, both tarballs installed into an empty folder
// with no Rust toolchain on PATH, then `require` it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformName } from '../src/native/loader.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const platform = platformName();
const work = mkdtempSync(join(tmpdir(), 'iron-install-'));
// Node and npm, but no cargo/rustc: only the directory holding node, plus the system's.
const env = {
  PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
  HOME: process.env.HOME ?? work,
  npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? work, '.npm'),
};

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pack(dir: string): string {
  const out = run('npm', ['pack', '--pack-destination', work, '--ignore-scripts', '--json'], dir);
  const [packed] = JSON.parse(out) as { filename: string }[];
  if (!packed) throw new Error(`npm pack printed no file: ${out}`);
  return join(work, packed.filename);
}

function freshProject(name: string): string {
  const dir = join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

const probe = `const m = require('iron-runtime-analytics');
const s = new m.EventStore(); const p = new m.PricingManager();
s.recordLlmCompleted(p, 'gpt-4', 150, 50);
console.log(JSON.stringify({ impl: m.implementation, cost: s.stats().totalCostMicros }));`;

let rootTarball = '';
let binaryTarball = '';

beforeAll(() => {
  expect(() => run('cargo', ['--version'], work)).toThrow(); // the toolchain really is off PATH
  rootTarball = pack(root);
  const binaryDir = join(root, 'npm', platform);
  copyFileSync(join(root, `iron-runtime-analytics.${platform}.node`), join(binaryDir, `iron-runtime-analytics.${platform}.node`));
  binaryTarball = pack(binaryDir);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installing the packed tarballs', () => {
  it('the root tarball carries the build output and no sources', () => {
    const listing = run('tar', ['-tzf', rootTarball], work).split('\n');
    expect(listing).toContain('package/dist/index.cjs');
    expect(listing).toContain('package/dist/index.mjs');
    expect(listing).toContain('package/index.d.ts');
    expect(listing.some((f) => f.startsWith('package/src/') || f.startsWith('package/crates/'))).toBe(false);
  });

  it('loads the prebuilt binary without a Rust toolchain', () => {
    const dir = freshProject('with-binary');
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', rootTarball, binaryTarball], dir);
    expect(readdirSync(join(dir, 'node_modules'))).toContain(`iron-runtime-analytics-${platform}`);
    const out = JSON.parse(run(process.execPath, ['-e', probe], dir)) as { impl: string; cost: number };
    expect(out).toEqual({ impl: 'native', cost: 7_500 });
    const esm = run(process.execPath, ['--input-type=module', '-e', "import { implementation } from 'iron-runtime-analytics'; console.log(implementation)"], dir);
    expect(esm.trim()).toBe('native');
  }, 180_000);

  it('falls back to pure JS when optional dependencies are omitted', () => {
    const dir = freshProject('without-binary');
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=optional', rootTarball], dir);
    const out = JSON.parse(run(process.execPath, ['-e', probe], dir)) as { impl: string; cost: number };
    expect(out).toEqual({ impl: 'js', cost: 7_500 });
  }, 180_000);
});
