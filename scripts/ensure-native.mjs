// Before the demo: builds the native addon if it is missing and a Rust
// toolchain is available; otherwise says the pure-JS fallback will be used.
import { existsSync } from 'node:fs';
import { execSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const report = process.report?.getReport();
const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
const platform =
  process.platform === 'linux' ? `linux-${process.arch}-${libc}` : process.platform === 'win32' ? `win32-${process.arch}-msvc` : `${process.platform}-${process.arch}`;
const binary = `${root}/iron-runtime-analytics.${platform}.node`;

if (process.env.IRON_ANALYTICS_IMPL === 'js' || existsSync(binary)) process.exit(0);
if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.log('No native addon for this platform and no Rust toolchain: the demo runs on the pure-JS fallback.');
  process.exit(0);
}
console.log('Building the native addon once (cargo, release; a few minutes on 2 cores)...');
execSync('npm run build:native --silent', { cwd: root, stdio: 'inherit' });
