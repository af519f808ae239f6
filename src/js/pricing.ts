/** Model prices and the cost of a request, in integer micro-dollars. */

import {
  checkedOn as embeddedCheckedOn,
  litellmMakers,
  prices as embeddedPrices,
  type RateRow,
} from '../shared/generated/prices.js';
import type { PricingManagerApi } from '../shared/api.js';
import type { ModelPricing } from '../shared/types.js';
import { checkCount, checkModel, checkString } from '../shared/validate.js';
import { PricingTableError } from '../shared/errors.js';

/** The rates of one price tier, micro-dollars per million tokens (integers below 2^64); `null` = unpublished. */
export interface PriceRates {
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number | null;
  readonly cacheWrite: number | null;
  readonly cacheWrite1h: number | null;
}

/** One model's prices: base rates, and a tier for prompts above `threshold` tokens. */
export interface PriceEntry extends PriceRates {
  readonly model: string;
  readonly longContext: (PriceRates & { readonly threshold: number }) | null;
}

/**
 * The normalized usage of one request: `inputTokens` counts every prompt
 * token (cached or not), `outputTokens` every completion token (reasoning
 * included); the other counts are parts of those.
 */
export interface TokenCounts {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly cacheWrite1hTokens: number;
  readonly reasoningTokens: number;
}

/**
 * Who sells a price entry's model (see `Seller` in the Rust core's
 * `model_index.rs`): its maker's own API, or a reseller (Vertex AI, Bedrock,
 * Azure, OpenRouter…).
 */
type Seller = 'maker' | 'reseller';

/**
 * The price entries plus two name indexes over them, built exactly as the
 * Rust core's `ModelIndex` so that every lookup resolves to the same entry.
 */
interface PriceTable {
  /** One entry per distinct model name, in table order. */
  readonly entries: readonly PriceEntry[];
  /** Names and bare names in priority order (see `buildTable`). */
  readonly exact: ReadonlyMap<string, PriceEntry>;
  /** The keys of `exact`, ASCII-lowercased; the first key to fold to a string wins. */
  readonly folded: ReadonlyMap<string, PriceEntry>;
  readonly checkedOn: string | null;
}

const TOKENS_PER_MILLION = 1_000_000;
const MICROS_PER_MTOK_PER_USD_PER_TOKEN = 1e12;
/** 2^64: prices and costs are `u64` in the Rust core. */
const U64_LIMIT = 18_446_744_073_709_551_616;
const U64_MAX = 18_446_744_073_709_551_615n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Lookups remembered per manager; cleared when full so arbitrary names cannot grow it forever. */
const LOOKUP_CACHE_LIMIT = 4096;

/** The rates a request with `inputTokens` prompt tokens is billed at: the tier's above its threshold. */
function ratesFor(entry: PriceEntry, inputTokens: number): PriceRates {
  const tier = entry.longContext;
  return tier !== null && inputTokens > tier.threshold ? tier : entry;
}

/**
 * `floor((uncached × in + read × cacheRead + write × cacheWrite + write1h ×
 * cacheWrite1h + output × out) / 1_000_000)`, exact: plain numbers while
 * every intermediate stays a safe integer, BigInt otherwise (then returned as
 * a bigint). A missing cache price charges the input price.
 */
function floorCost(
  rates: PriceRates,
  uncached: number,
  read: number,
  write: number,
  write1h: number,
  output: number,
): number | bigint {
  const input = rates.input;
  const readRate = rates.cacheRead ?? input;
  const writeRate = rates.cacheWrite ?? input;
  const write1hRate = rates.cacheWrite1h ?? input;
  // A true product or sum ≥ 2^53 rounds to a double ≥ 2^53, so these tests are exact.
  let sum = uncached * input;
  if (sum <= Number.MAX_SAFE_INTEGER) {
    sum += output * rates.output;
    if (read !== 0) sum += read * readRate;
    if (write !== 0) sum += write * writeRate;
    if (write1h !== 0) sum += write1h * write1hRate;
    if (sum <= Number.MAX_SAFE_INTEGER) {
      // The rounded quotient is at most one above the exact floor (never
      // below: rounding is monotonic and the floor is representable); the
      // product test is exact and catches that case. Cheaper than `%`, which
      // is a call into C for doubles.
      const quotient = Math.floor(sum / TOKENS_PER_MILLION);
      return quotient * TOKENS_PER_MILLION > sum ? quotient - 1 : quotient;
    }
  }
  // Rates are integer-valued doubles below 2^64 and counts safe integers, so BigInt() is exact.
  return (
    (BigInt(uncached) * BigInt(input) +
      BigInt(read) * BigInt(readRate) +
      BigInt(write) * BigInt(writeRate) +
      BigInt(write1h) * BigInt(write1hRate) +
      BigInt(output) * BigInt(rates.output)) /
    1_000_000n
  );
}

/**
 * The cost of a request with totals only (no cached tokens), exact, tier
 * applied; like the Rust core, a result above `u64::MAX` saturates to it, and
 * a result above `Number.MAX_SAFE_INTEGER` is returned as the nearest double.
 */
export function tokensCostMicros(entry: PriceEntry, inputTokens: number, outputTokens: number): number {
  const cost = floorCost(ratesFor(entry, inputTokens), inputTokens, 0, 0, 0, outputTokens);
  return typeof cost === 'number' ? cost : Number(cost > U64_MAX ? U64_MAX : cost);
}

/**
 * The exact cost of a request's usage (the Rust core's
 * `ModelPricing::cost_micros_for`): cache parts at their prices, the whole
 * request at the long-context tier's rates above its threshold, floored once;
 * saturated at `Number.MAX_SAFE_INTEGER`.
 *
 * Counts must be non-negative safe integers (callers validate). Cached parts
 * larger than what is left of `inputTokens` are clamped in order (read, write,
 * 1-hour write), as in the Rust core.
 */
export function usageCostMicros(entry: PriceEntry, usage: TokenCounts): number {
  let left = usage.inputTokens;
  const read = Math.min(usage.cacheReadTokens, left);
  left -= read;
  const write = Math.min(usage.cacheWriteTokens, left);
  left -= write;
  const write1h = Math.min(usage.cacheWrite1hTokens, left);
  left -= write1h;
  const cost = floorCost(ratesFor(entry, usage.inputTokens), left, read, write, write1h, usage.outputTokens);
  if (typeof cost === 'number') return cost;
  return cost > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(cost);
}

/** Lowercases ASCII letters only (like Rust's `to_ascii_lowercase`). */
export function asciiLowercase(text: string): string {
  return /[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text;
}

/** The part of a prefixed name after its last `/`, if there is a prefix and something after it. */
function bareName(model: string): string | null {
  const slash = model.lastIndexOf('/');
  return slash < 0 || slash === model.length - 1 ? null : model.slice(slash + 1);
}

/** Whether two entries charge the same for every usage (names aside). */
function samePrices(a: PriceEntry, b: PriceEntry): boolean {
  const x = a.longContext;
  const y = b.longContext;
  return (
    sameRates(a, b) &&
    (x === null || y === null ? x === y : x.threshold === y.threshold && sameRates(x, y))
  );
}

function sameRates(a: PriceRates, b: PriceRates): boolean {
  return (
    a.input === b.input &&
    a.output === b.output &&
    a.cacheRead === b.cacheRead &&
    a.cacheWrite === b.cacheWrite &&
    a.cacheWrite1h === b.cacheWrite1h
  );
}

/**
 * Bare names of prefixed entries (of `seller`, or of anyone), each with its
 * first entry, in table order. A bare name whose entries disagree on price is
 * left out: with `azure/m` at $8 and `mistral/m` at $0.50, `m` would be a guess.
 */
function unambiguousBareNames(
  entries: readonly PriceEntry[],
  sellers: readonly Seller[],
  seller: Seller | null,
): Array<[string, PriceEntry]> {
  const firstOf = new Map<string, PriceEntry | null>();
  entries.forEach((entry, position) => {
    if (seller !== null && sellers[position] !== seller) return;
    const bare = bareName(entry.model);
    if (bare === null) return;
    const first = firstOf.get(bare);
    if (first === undefined) {
      firstOf.set(bare, entry);
    } else if (first !== null && !samePrices(first, entry)) {
      firstOf.set(bare, null);
    }
  });
  const names: Array<[string, PriceEntry]> = [];
  for (const [bare, first] of firstOf) {
    if (first !== null) names.push([bare, first]);
  }
  return names;
}

/**
 * Indexes entries (of two with the same name, the later wins and takes the
 * earlier one's place). Keys in priority order: the makers' names, the
 * makers' unambiguous bare names (`gemini/gemini-2.5-pro` answers to
 * `gemini-2.5-pro`), the resellers' names, then every unambiguous bare name
 * left. The first key wins, in `exact` and `folded` alike.
 */
function buildTable(input: Iterable<readonly [PriceEntry, Seller]>, checkedOn: string | null): PriceTable {
  const entries: PriceEntry[] = [];
  const sellers: Seller[] = [];
  const positions = new Map<string, number>();
  for (const [entry, seller] of input) {
    const position = positions.get(entry.model);
    if (position === undefined) {
      positions.set(entry.model, entries.length);
      entries.push(entry);
      sellers.push(seller);
    } else {
      entries[position] = entry;
      sellers[position] = seller;
    }
  }

  const namesOf = (seller: Seller): Array<[string, PriceEntry]> =>
    entries.filter((_, position) => sellers[position] === seller).map((entry) => [entry.model, entry]);
  const keys = [
    ...namesOf('maker'),
    ...unambiguousBareNames(entries, sellers, 'maker'),
    ...namesOf('reseller'),
    ...unambiguousBareNames(entries, sellers, null),
  ];

  const exact = new Map<string, PriceEntry>();
  const folded = new Map<string, PriceEntry>();
  for (const [key, entry] of keys) {
    if (!exact.has(key)) exact.set(key, entry);
    const lowered = asciiLowercase(key);
    if (!folded.has(lowered)) folded.set(lowered, entry);
  }
  return { entries, exact, folded, checkedOn };
}

/** Tries `name`, then `name` with each leading `segment/` removed in turn (`a/b/c` → `b/c` → `c`). */
function find(map: ReadonlyMap<string, PriceEntry>, name: string): PriceEntry | undefined {
  if (name.length > 0) {
    const hit = map.get(name);
    if (hit !== undefined) return hit;
  }
  for (let slash = name.indexOf('/'); slash >= 0; slash = name.indexOf('/', slash + 1)) {
    if (slash + 1 === name.length) break;
    const hit = map.get(name.slice(slash + 1));
    if (hit !== undefined) return hit;
  }
  return undefined;
}

let embeddedTable: PriceTable | undefined;

function rowRates([input, output, cacheRead, cacheWrite, cacheWrite1h]: RateRow): PriceRates {
  return { input, output, cacheRead, cacheWrite, cacheWrite1h };
}

function embedded(): PriceTable {
  embeddedTable ??= buildTable(
    embeddedPrices.map(([model, input, output, cacheRead, cacheWrite, cacheWrite1h, tier]) => [
      {
        model,
        ...rowRates([input, output, cacheRead, cacheWrite, cacheWrite1h]),
        longContext:
          tier === null
            ? null
            : { threshold: tier[0], ...rowRates([tier[1], tier[2], tier[3], tier[4], tier[5]]) },
      },
      'maker',
    ]),
    embeddedCheckedOn,
  );
  return embeddedTable;
}

/** Orders strings by their UTF-8 bytes (= by code points), like Rust's `str` and serde_json's map. */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 puts surrogates (astral code points) below U+E000..U+FFFF; code point order does not.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** "a string", "an array"… for error messages, as the Rust core says them. */
function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'boolean':
      return 'a boolean';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    default:
      return 'an object';
  }
}

const INPUT_PRICE_FIELD = 'input_cost_per_token';
const OUTPUT_PRICE_FIELD = 'output_cost_per_token';
const CACHE_READ_PRICE_FIELD = 'cache_read_input_token_cost';
/** DeepSeek's older name for the cache-read price, read when the other is absent. */
const CACHE_HIT_PRICE_FIELD = 'input_cost_per_token_cache_hit';
const CACHE_WRITE_PRICE_FIELD = 'cache_creation_input_token_cost';
const CACHE_WRITE_1H_PRICE_FIELD = 'cache_creation_input_token_cost_above_1hr';
/** The fields that have `…_above_<N>k_tokens` long-context variants. */
const TIERED_FIELDS: readonly string[] = [
  INPUT_PRICE_FIELD,
  OUTPUT_PRICE_FIELD,
  CACHE_READ_PRICE_FIELD,
  CACHE_WRITE_PRICE_FIELD,
  CACHE_WRITE_1H_PRICE_FIELD,
];
const TIER_FIELD = /^([\s\S]*)_above_([0-9]+)k_tokens$/;
const NOT_LITELLM = "is this LiteLLM's model_prices_and_context_window.json?";

function shapeError(reason: string): PricingTableError {
  return new PricingTableError(`price table has the wrong shape: ${reason}`);
}

/** USD per token → micro-dollars per million tokens, rounded to the nearest integer. */
function readPrice(model: string, field: string, value: unknown): number {
  const invalid = (reason: string) =>
    new PricingTableError(
      `invalid price for model \`${model}\`, field \`${field}\`: ${reason}; fix or remove this model's entry`,
    );
  if (typeof value !== 'number') {
    throw invalid(
      `expected a number of US dollars per token (like 3e-05), found ${describeJson(value)}`,
    );
  }
  // JSON.parse turns an out-of-range literal such as 1e999 into Infinity.
  if (!Number.isFinite(value)) throw invalid(`${value} is not a finite number`);
  if (value < 0) throw invalid(`is negative (${value}); a price must be zero or more`);
  const micros = Math.round(value * MICROS_PER_MTOK_PER_USD_PER_TOKEN);
  if (micros >= U64_LIMIT) {
    throw invalid(
      `${value} US dollars per token is too large (at most about 1.8e7 fits in micro-dollars per million tokens); is the unit right?`,
    );
  }
  return micros + 0; // -0 → 0
}

/**
 * The lowest `N` of the entry's non-null `<tiered field>_above_<N>k_tokens`
 * fields, as written (`"200"`) and in tokens; null if there is none.
 */
function lowestThreshold(model: string, prices: Record<string, unknown>): [string, number] | null {
  let lowest: [string, bigint] | null = null;
  for (const name of Object.keys(prices)) {
    if (prices[name] == null) continue;
    const match = TIER_FIELD.exec(name);
    if (match === null || !TIERED_FIELDS.includes(match[1]!)) continue;
    const thousands = BigInt(match[2]!);
    const tokens = thousands * 1000n;
    if (tokens > U64_MAX) {
      throw new PricingTableError(
        `invalid price for model \`${model}\`, field \`${name}\`: the threshold ${match[2]}k tokens is too large; fix or remove this model's entry`,
      );
    }
    if (lowest === null || tokens < lowest[1]) lowest = [thousands.toString(), tokens];
  }
  return lowest === null ? null : [lowest[0], Number(lowest[1])];
}

/** One entry's prices, or null if it lacks an input or an output price. */
function readEntry(model: string, prices: Record<string, unknown>): PriceEntry | null {
  const input = prices[INPUT_PRICE_FIELD];
  const output = prices[OUTPUT_PRICE_FIELD];
  // A null price counts as missing.
  if (input == null || output == null) return null;
  const read = (field: string): number | null => {
    const value = prices[field];
    return value == null ? null : readPrice(model, field, value);
  };
  const base: PriceRates = {
    input: readPrice(model, INPUT_PRICE_FIELD, input),
    output: readPrice(model, OUTPUT_PRICE_FIELD, output),
    cacheRead: read(CACHE_READ_PRICE_FIELD) ?? read(CACHE_HIT_PRICE_FIELD),
    cacheWrite: read(CACHE_WRITE_PRICE_FIELD),
    cacheWrite1h: read(CACHE_WRITE_1H_PRICE_FIELD),
  };
  const threshold = lowestThreshold(model, prices);
  if (threshold === null) return { model, ...base, longContext: null };
  const above = (field: string) => read(`${field}_above_${threshold[0]}k_tokens`);
  // A price the tier lacks is the base price, as LiteLLM charges it.
  const longContext = {
    threshold: threshold[1],
    input: above(INPUT_PRICE_FIELD) ?? base.input,
    output: above(OUTPUT_PRICE_FIELD) ?? base.output,
    cacheRead: above(CACHE_READ_PRICE_FIELD) ?? base.cacheRead,
    cacheWrite: above(CACHE_WRITE_PRICE_FIELD) ?? base.cacheWrite,
    cacheWrite1h: above(CACHE_WRITE_1H_PRICE_FIELD) ?? base.cacheWrite1h,
  };
  return { model, ...base, longContext };
}

function parseLitellm(text: string): PriceTable {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new PricingTableError(
      `price table is not valid JSON: ${(error as Error).message}; check that the file is complete (not truncated) and is the price table you meant to load`,
    );
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw shapeError(
      `expected a JSON object mapping model names to price entries, found ${describeJson(document)}; ${NOT_LITELLM}`,
    );
  }
  // The Rust core reads the object into a sorted map: visit models in that order,
  // which decides which entry wins an ambiguous case-insensitive or bare-name lookup.
  const models = Object.keys(document).sort(compareUtf8);
  const fields = document as Record<string, unknown>;
  const entries: Array<[PriceEntry, Seller]> = [];
  for (const model of models) {
    if (model === 'sample_spec') continue;
    const spec = fields[model];
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) continue;
    const prices = spec as Record<string, unknown>;
    const entry = readEntry(model, prices);
    if (entry === null) continue;
    const provider = prices['litellm_provider'];
    entries.push([entry, typeof provider === 'string' && litellmMakers.includes(provider) ? 'maker' : 'reseller']);
  }
  if (entries.length === 0) {
    throw shapeError(
      `none of its ${models.length} entries has both \`${INPUT_PRICE_FIELD}\` and \`${OUTPUT_PRICE_FIELD}\`; ${NOT_LITELLM}`,
    );
  }
  return buildTable(entries, null);
}

/** One tier's rates as `get()` returns them. */
function publicRates(rates: PriceRates) {
  return {
    inputMicrosPerMillionTokens: rates.input,
    outputMicrosPerMillionTokens: rates.output,
    cacheReadMicrosPerMillionTokens: rates.cacheRead,
    cacheWriteMicrosPerMillionTokens: rates.cacheWrite,
    cacheWrite1hMicrosPerMillionTokens: rates.cacheWrite1h,
  };
}

/** Set by `fromLitellmJson` just before it calls the constructor. */
let pendingTable: PriceTable | null = null;

/**
 * The price entry for a validated model name, or `null`: the store's way in,
 * kept off the public class.
 */
export let lookupPrice: (pricing: PricingManager, model: string) => PriceEntry | null;

/** Whether a value is a real `PricingManager` (a brand check: `instanceof` can be fooled). */
export let isPricingManager: (value: unknown) => value is PricingManager;

/**
 * A table of model prices. `new PricingManager()` serves the table embedded
 * in the package; {@link PricingManager.fromLitellmJson} loads LiteLLM's.
 *
 * Lookups try the exact name, then the name with each leading `provider/`
 * segment removed in turn (`a/b/c` → `b/c` → `c`), then the same ignoring
 * ASCII case. A prefixed table name (`mistral/codestral-latest`) also answers
 * to its bare name, unless prefixed entries share that bare name at
 * different prices.
 */
export class PricingManager implements PricingManagerApi {
  readonly #table: PriceTable;
  readonly #cache = new Map<string, PriceEntry | null>();

  static {
    lookupPrice = (pricing, model) => pricing.#lookup(model);
    isPricingManager = (value): value is PricingManager =>
      typeof value === 'object' && value !== null && #table in value;
  }

  /** The price table embedded in the package. */
  constructor() {
    this.#table = pendingTable ?? embedded();
    pendingTable = null;
  }

  /**
   * A table in LiteLLM's `model_prices_and_context_window.json` format (USD
   * per token, converted once to micro-dollars per million tokens, rounded to
   * the nearest integer), read as the Rust core's
   * `PricingManager::from_litellm_json` reads it: input and output prices
   * (entries without both, `sample_spec` and non-objects are skipped), cache
   * read / write / 1-hour write prices, and a long-context tier from the
   * `…_above_<N>k_tokens` fields (the lowest N). A bare name prefers the
   * model maker's own entry (`litellm_provider` `openai`, `anthropic`,
   * `gemini`, `mistral`, `deepseek`, `xai`) over a reseller's; the full
   * prefixed name still finds the reseller's.
   *
   * @throws TypeError if `text` is not a string.
   * @throws PricingTableError on invalid JSON, a document that is not an
   *   object or has no priced entry, or a read price that is not a number, is
   *   negative, or is too large (1.8e7 USD per token or more).
   */
  static fromLitellmJson(text: string): PricingManager {
    checkString(text, 'text');
    pendingTable = parseLitellm(text);
    return new PricingManager();
  }

  /** Number of models in the table. */
  get size(): number {
    return this.#table.entries.length;
  }

  /** The date (`YYYY-MM-DD`) the embedded table was generated from LiteLLM; `null` for a loaded table. */
  get checkedOn(): string | null {
    return this.#table.checkedOn;
  }

  /** The prices of a model (cache prices and long-context tier included), or `null` if the table does not know it. */
  get(model: string): ModelPricing | null {
    checkModel(model);
    const entry = this.#lookup(model);
    if (entry === null) return null;
    const tier = entry.longContext;
    return {
      model: entry.model,
      ...publicRates(entry),
      longContext: tier === null ? null : { thresholdTokens: tier.threshold, ...publicRates(tier) },
    };
  }

  /**
   * The cost in micro-dollars of a request with these totals and no cached
   * tokens (the long-context tier applies above its threshold), or `null`
   * for an unknown model.
   */
  costMicros(model: string, inputTokens: number, outputTokens: number): number | null {
    checkModel(model);
    checkCount(inputTokens, 'inputTokens');
    checkCount(outputTokens, 'outputTokens');
    const entry = this.#lookup(model);
    return entry === null ? null : tokensCostMicros(entry, inputTokens, outputTokens);
  }

  #lookup(model: string): PriceEntry | null {
    const cached = this.#cache.get(model);
    if (cached !== undefined) return cached;
    const { exact, folded } = this.#table;
    const entry = find(exact, model) ?? find(folded, asciiLowercase(model)) ?? null;
    if (this.#cache.size >= LOOKUP_CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(model, entry);
    return entry;
  }
}
