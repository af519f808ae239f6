// Records the prebuilt per-platform packages in package-lock.json.
//
// They are optionalDependencies of the root package, but only the one this
// machine builds (linux-x64-gnu) exists here, as a workspace; the others are
// published from CI. `npm ci` insists that every dependency has a lock entry,
// so each foreign platform gets the entry npm itself writes for an optional
// package that does not match this platform (os/cpu/libc): npm skips such
// entries without fetching them. Run after `npm install` changes the lock.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const npmDir = new URL('../npm/', import.meta.url);
for (const dir of readdirSync(npmDir)) {
  const manifest = JSON.parse(readFileSync(new URL(`${dir}/package.json`, npmDir), 'utf8'));
  const key = `node_modules/${manifest.name}`;
  if (lock.packages[key]?.link) continue; // the workspace this machine builds
  const entry = { version: manifest.version, optional: true, os: manifest.os, cpu: manifest.cpu };
  if (manifest.libc) entry.libc = manifest.libc;
  entry.license = manifest.license;
  lock.packages[key] = entry;
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
