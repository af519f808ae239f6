/** Model prices and the cost of a request, in integer micro-dollars. */

import { checkedOn as embeddedCheckedOn, prices as embeddedPrices } from '../shared/generated/prices.js';
import type { PricingManagerApi } from '../shared/api.js';
import type { ModelPricing } from '../shared/types.js';
import { checkCount, checkModel, checkString } from '../shared/validate.js';
import { PricingTableError } from '../shared/errors.js';

/** One model's price, micro-dollars per million tokens (integers below 2^64). */
export interface PriceEntry {
  readonly model: string;
  readonly input: number;
  readonly output: number;
}

/**
 * The price entries plus two name indexes over them, built exactly as the
 * Rust core's `ModelIndex` so that every lookup resolves to the same entry.
 */
interface PriceTable {
  /** One entry per distinct model name, in table order. */
  readonly entries: readonly PriceEntry[];
  /** Every model name, then the unambiguous bare names of prefixed names. */
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
/** Lookups remembered per manager; cleared when full so arbitrary names cannot grow it forever. */
const LOOKUP_CACHE_LIMIT = 4096;

/**
 * `floor((inputTokens × inputRate + outputTokens × outputRate) / 1_000_000)`,
 * exact: plain numbers while every intermediate stays a safe integer, BigInt
 * otherwise. Like the Rust core, a result above `u64::MAX` saturates to it;
 * a result above `Number.MAX_SAFE_INTEGER` is returned as the nearest double.
 */
export function computeCostMicros(
  inputTokens: number,
  outputTokens: number,
  inputRate: number,
  outputRate: number,
): number {
  const a = inputTokens * inputRate;
  const b = outputTokens * outputRate;
  // A true product ≥ 2^53 rounds to a double ≥ 2^53, so these tests are exact.
  if (a <= Number.MAX_SAFE_INTEGER && b <= Number.MAX_SAFE_INTEGER) {
    const sum = a + b;
    if (sum <= Number.MAX_SAFE_INTEGER) {
      // The rounded quotient is at most one above the exact floor (never
      // below: rounding is monotonic and the floor is representable); the
      // product test is exact and catches that case. Cheaper than `%`, which
      // is a call into C for doubles.
      const quotient = Math.floor(sum / TOKENS_PER_MILLION);
      return quotient * TOKENS_PER_MILLION > sum ? quotient - 1 : quotient;
    }
  }
  // Rates are integer-valued doubles below 2^64, so BigInt() is exact.
  const exact =
    (BigInt(inputTokens) * BigInt(inputRate) + BigInt(outputTokens) * BigInt(outputRate)) /
    1_000_000n;
  return Number(exact > U64_MAX ? U64_MAX : exact);
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

/**
 * Indexes entries (of two with the same name, the later wins and takes the
 * earlier one's place). A prefixed name (`mistral/codestral-latest`) also
 * answers to its bare name, unless that is itself a model name or is shared
 * by prefixed entries with different prices.
 */
function buildTable(input: Iterable<PriceEntry>, checkedOn: string | null): PriceTable {
  const entries: PriceEntry[] = [];
  const exact = new Map<string, PriceEntry>();
  const positions = new Map<string, number>();
  for (const entry of input) {
    const position = positions.get(entry.model);
    if (position === undefined) {
      positions.set(entry.model, entries.length);
      entries.push(entry);
    } else {
      entries[position] = entry;
    }
  }
  for (const entry of entries) exact.set(entry.model, entry);

  // Keys in priority order: real names first, then bare names.
  const keys: Array<[string, PriceEntry]> = entries.map((entry) => [entry.model, entry]);
  const firstOf = new Map<string, PriceEntry | null>();
  for (const entry of entries) {
    const bare = bareName(entry.model);
    if (bare === null) continue;
    const first = firstOf.get(bare);
    if (first === undefined) {
      firstOf.set(bare, entry);
    } else if (first !== null && (first.input !== entry.input || first.output !== entry.output)) {
      firstOf.set(bare, null);
    }
  }
  for (const [bare, first] of firstOf) {
    if (first !== null) keys.push([bare, first]);
  }

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

function embedded(): PriceTable {
  embeddedTable ??= buildTable(
    embeddedPrices.map(([model, input, output]) => ({ model, input, output })),
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
  const entries: PriceEntry[] = [];
  for (const model of models) {
    if (model === 'sample_spec') continue;
    const spec = fields[model];
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) continue;
    const prices = spec as Record<string, unknown>;
    const input = prices[INPUT_PRICE_FIELD];
    const output = prices[OUTPUT_PRICE_FIELD];
    // A null price counts as missing.
    if (input == null || output == null) continue;
    entries.push({
      model,
      input: readPrice(model, INPUT_PRICE_FIELD, input),
      output: readPrice(model, OUTPUT_PRICE_FIELD, output),
    });
  }
  if (entries.length === 0) {
    throw shapeError(
      `none of its ${models.length} entries has both \`${INPUT_PRICE_FIELD}\` and \`${OUTPUT_PRICE_FIELD}\`; ${NOT_LITELLM}`,
    );
  }
  return buildTable(entries, null);
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
   * the nearest integer). `sample_spec`, non-object entries and entries
   * without both `input_cost_per_token` and `output_cost_per_token` (or with
   * a `null` one) are skipped.
   *
   * @throws TypeError if `text` is not a string.
   * @throws PricingTableError on invalid JSON, a document that is not an
   *   object or has no priced entry, or a price that is not a number, is
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

  /** The date (`YYYY-MM-DD`) the embedded prices were checked; `null` for a loaded table. */
  get checkedOn(): string | null {
    return this.#table.checkedOn;
  }

  /** The price of a model, or `null` if the table does not know it. */
  get(model: string): ModelPricing | null {
    checkModel(model);
    const entry = this.#lookup(model);
    return entry === null
      ? null
      : {
          model: entry.model,
          inputMicrosPerMillionTokens: entry.input,
          outputMicrosPerMillionTokens: entry.output,
        };
  }

  /** The cost of a request in micro-dollars, or `null` for an unknown model. */
  costMicros(model: string, inputTokens: number, outputTokens: number): number | null {
    checkModel(model);
    checkCount(inputTokens, 'inputTokens');
    checkCount(outputTokens, 'outputTokens');
    const entry = this.#lookup(model);
    return entry === null
      ? null
      : computeCostMicros(inputTokens, outputTokens, entry.input, entry.output);
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
