// Before the demo: builds the native addon if it does not load and a Rust
// toolchain is available; otherwise says the pure-JS fallback will be used.
// Asks the built package (dist/, which `npm run demo` builds first) whether
// the addon loads, so the platform detection lives in one place
// (src/native/platform.ts).
import { execSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (process.env.IRON_ANALYTICS_IMPL === 'js') process.exit(0);
const { implementation, nativeLoadError } = await import('../dist/index.mjs');
if (implementation === 'native') process.exit(0);
if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log(`No native addon for this platform and no Rust toolchain: the demo runs on the pure-JS fallback.\n${nativeLoadError?.message ?? ''}`);
  process.exit(0);
}
console.log('Building the native addon once (cargo, release; a few minutes on 2 cores)...');
execSync('npm run build:native --silent', { cwd: root, stdio: 'inherit' });
