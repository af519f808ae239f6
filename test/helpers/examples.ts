// Shared by the tests of the examples (demo.test.ts, routers.test.ts): servers
// on 127.0.0.1 and the cost a request must have from the embedded price table.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PricingManager } from 'iron-runtime-analytics';

/** The URL of `examples/<file>`, for a dynamic import. */
export const examples = (file: string): string => new URL(`../../examples/${file}`, import.meta.url).href;

/** Starts `server` on a free port of 127.0.0.1; its base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Stops `server`, its open connections included. */
export async function close(server: Server): Promise<void> {
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
}

const pricing = new PricingManager();

/** Normalized token counts of one request: `input` counts every prompt token, the cache counts are parts of it. */
export interface Tokens {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
  cacheWrite1h?: number;
}

/**
 * The cost of a request in micro-dollars from the table's per-million prices, as
 * issue 10 defines it: one exact integer sum over the parts, floored once; a
 * missing cache price falls back to the input price. 0 for a model without a price.
 */
export function costOf(model: string, t: Tokens): number {
  const p = pricing.get(model) as Record<string, number | undefined> | null;
  if (p === null) return 0;
  const input = BigInt(p.inputMicrosPerMillionTokens!);
  const price = (key: string): bigint => BigInt(p[key] ?? p.inputMicrosPerMillionTokens!);
  const read = BigInt(t.cacheRead ?? 0);
  const write = BigInt(t.cacheWrite ?? 0);
  const write1h = BigInt(t.cacheWrite1h ?? 0);
  const sum =
    (BigInt(t.input) - read - write - write1h) * input +
    read * price('cacheReadMicrosPerMillionTokens') +
    write * price('cacheWriteMicrosPerMillionTokens') +
    write1h * price('cacheWrite1hMicrosPerMillionTokens') +
    BigInt(t.output) * BigInt(p.outputMicrosPerMillionTokens!);
  return Number(sum / 1_000_000n);
}
