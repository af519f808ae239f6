// Records accepted just before a process ends reach the store: at the end of
// the script, on process.exit(), on an uncaught exception. (Delivery at exit
// is the sync client's job: see the sync tests.)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { implementation } from '../src/index.js';

const entry = new URL('../dist/index.mjs', import.meta.url).href;
const child = fileURLToPath(new URL('./helpers/record-exit-child.mjs', import.meta.url));

function run(how: string, count: number): { implementation: string; recorded: number; lost: number; status: number | null } {
  const result = spawnSync(process.execPath, [child], {
    env: { ...process.env, ENTRY: entry, HOW: how, COUNT: String(count) },
    encoding: 'utf8',
  });
  const out = result.stdout.trim();
  if (!out) throw new Error(`the child printed nothing (status ${result.status}): ${result.stderr}`);
  return { ...(JSON.parse(out) as { implementation: string; recorded: number; lost: number }), status: result.status };
}

describe('the end of the process', () => {
  for (const [how, status] of [['return', 0], ['exit', 0], ['throw', 1], ['exitCode', 3]] as const) {
    it(`${how}: every record reaches the store (a partial batch included)`, () => {
      // 1,000 = three full batches of 256 and a partial one of 232.
      for (const count of [1, 1_000]) {
        const r = run(how, count);
        expect(r.implementation).toBe(implementation);
        expect(r.status).toBe(status);
        expect(r.recorded).toBe(count);
        expect(r.lost).toBe(0);
      }
    });
  }
});
