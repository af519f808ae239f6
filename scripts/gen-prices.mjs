#!/usr/bin/env node
// Generates src/shared/generated/prices.ts from crates/iron_cost/data/prices.json,
// the one price table both the Rust core and the JS fallback embed.
//
// Usage: node scripts/gen-prices.mjs [input.json] [output.ts]
// Fails (exit code 1, message on stderr) if the JSON does not have the
// expected shape, so a bad table never reaches a build.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const inputPath = resolve(process.argv[2] ?? resolve(root, 'crates/iron_cost/data/prices.json'));
const outputPath = resolve(process.argv[3] ?? resolve(root, 'src/shared/generated/prices.ts'));

class ShapeError extends Error {}

function fail(message) {
  throw new ShapeError(message);
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireMicros(entry, field, where) {
  const value = entry[field];
  // A u64 in the Rust core; the JS fallback needs it exact in a double too.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${where}.${field} must be a non-negative integer no greater than ${Number.MAX_SAFE_INTEGER} (micro-dollars per million tokens), got ${describe(value)}`);
  }
  return value;
}

/** An optional price: absent or null (unpublished) → null. */
function optionalMicros(entry, field, where) {
  return entry[field] == null ? null : requireMicros(entry, field, where);
}

const RATE_FIELDS = ['input_micros_per_mtok', 'output_micros_per_mtok'];
const CACHE_FIELDS = ['cache_read_micros_per_mtok', 'cache_write_micros_per_mtok', 'cache_write_1h_micros_per_mtok'];

/** [input, output, cacheRead, cacheWrite, cacheWrite1h] of one tier. */
function rates(entry, where) {
  return [
    ...RATE_FIELDS.map((field) => requireMicros(entry, field, where)),
    ...CACHE_FIELDS.map((field) => optionalMicros(entry, field, where)),
  ];
}

/** Exactly the `required` keys, plus any of `optional`: the Rust reader uses `deny_unknown_fields`. */
function requireKeys(object, required, optional, where) {
  const known = [...required, ...optional];
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) fail(`${where} has an unknown field ${JSON.stringify(key)} (expected ${known.join(', ')})`);
  }
  for (const key of required) {
    if (!Object.hasOwn(object, key)) fail(`${where} is missing the field ${JSON.stringify(key)}`);
  }
}

function requireString(value, where) {
  if (typeof value !== 'string') fail(`${where} must be a string, got ${describe(value)}`);
  return value;
}

/** The only `schema` this script and the Rust reader read. */
export const SCHEMA = 2;

/**
 * Validates the document with the rules of the Rust reader
 * (`crates/iron_cost/src/price_table.rs`), so that a table one side accepts
 * the other accepts too, and returns `{ checkedOn, litellmVersion, makers, rows }`.
 */
export function validatePrices(document) {
  if (!isPlainObject(document)) fail(`the document must be a JSON object, got ${describe(document)}`);
  if (document.schema !== SCHEMA) fail(`schema must be ${SCHEMA} (the only version this script reads), got ${describe(document.schema)}`);
  requireKeys(document, ['schema', 'checked_on', 'litellm_version', 'note', 'sources', 'litellm_providers', 'models'], [], 'the document');
  const checkedOn = document.checked_on;
  if (typeof checkedOn !== 'string' || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(checkedOn)) {
    fail(`checked_on must be a date written YYYY-MM-DD, got ${describe(checkedOn)}`);
  }
  const litellmVersion = requireString(document.litellm_version, 'litellm_version');
  requireString(document.note, 'note');
  const sources = document.sources;
  if (!isPlainObject(sources)) fail(`sources must be an object (provider -> pricing page URL), got ${describe(sources)}`);
  for (const [provider, url] of Object.entries(sources)) requireString(url, `sources.${provider}`);
  const unsourced = (provider) =>
    `provider ${JSON.stringify(provider)} has no pricing page in sources; add one or correct the provider`;
  const litellmProviders = document.litellm_providers;
  if (!isPlainObject(litellmProviders)) {
    fail(`litellm_providers must be an object (LiteLLM litellm_provider -> provider), got ${describe(litellmProviders)}`);
  }
  for (const [litellm, provider] of Object.entries(litellmProviders)) {
    requireString(provider, `litellm_providers.${litellm}`);
    if (!Object.hasOwn(sources, provider)) fail(unsourced(provider));
  }
  if (!Array.isArray(document.models) || document.models.length === 0) {
    fail(`models must be a non-empty array, got ${describe(document.models)}`);
  }
  const rows = [];
  const seen = new Set();
  document.models.forEach((entry, index) => {
    const where = `models[${index}]`;
    if (!isPlainObject(entry)) fail(`${where} must be an object, got ${describe(entry)}`);
    requireKeys(entry, ['model', 'provider', 'priced_from', ...RATE_FIELDS], [...CACHE_FIELDS, 'long_context'], where);
    const model = requireString(entry.model, `${where}.model`);
    const at = `${where} (${model})`;
    const provider = requireString(entry.provider, `${at}.provider`);
    requireString(entry.priced_from, `${at}.priced_from`);
    if (!Object.hasOwn(sources, provider)) fail(`${at}: ${unsourced(provider)}`);
    let tier = null;
    if (entry.long_context != null) {
      const tierAt = `${at}.long_context`;
      if (!isPlainObject(entry.long_context)) fail(`${tierAt} must be an object, got ${describe(entry.long_context)}`);
      requireKeys(entry.long_context, ['threshold_tokens', ...RATE_FIELDS], CACHE_FIELDS, tierAt);
      const threshold = entry.long_context.threshold_tokens;
      if (!Number.isSafeInteger(threshold) || threshold < 0) {
        fail(`${tierAt}.threshold_tokens must be a non-negative safe integer, got ${describe(threshold)}`);
      }
      tier = [threshold, ...rates(entry.long_context, tierAt)];
    }
    if (seen.has(model)) fail(`${at} is listed more than once; keep one entry per model`);
    seen.add(model);
    rows.push([model, ...rates(entry, at), tier]);
  });
  return { checkedOn, litellmVersion, makers: Object.keys(litellmProviders), rows };
}

export function renderModule({ checkedOn, litellmVersion, makers, rows }, sourceLabel) {
  const lines = [
    `// Generated by scripts/gen-prices.mjs from ${sourceLabel}. Do not edit: run`,
    '// `node scripts/gen-prices.mjs` after changing the JSON.',
    '',
    '/** The date (YYYY-MM-DD) the embedded prices were last generated. */',
    `export const checkedOn: string = ${JSON.stringify(checkedOn)};`,
    '',
    '/** The LiteLLM release the embedded prices were last generated from. */',
    `export const litellmVersion: string = ${JSON.stringify(litellmVersion)};`,
    '',
    "/** LiteLLM `litellm_provider` values that are model makers' own APIs. */",
    `export const litellmMakers: readonly string[] = ${JSON.stringify(makers)};`,
    '',
    '/** Micro-dollars per million tokens: [input, output, cache read, cache write (5 min), cache write (1 h)]; null = unpublished. */',
    'export type RateRow = readonly [number, number, number | null, number | null, number | null];',
    '',
    '/** [model, ...base rates, [threshold tokens, ...long-context rates] | null] */',
    'export type PriceRow = readonly [string, ...RateRow, readonly [number, ...RateRow] | null];',
    '',
    'export const prices: readonly PriceRow[] = [',
    ...rows.map((row) => `  ${JSON.stringify(row)},`),
    '];',
    '',
  ];
  return lines.join('\n');
}

function main() {
  let text;
  try {
    text = readFileSync(inputPath, 'utf8');
  } catch (error) {
    throw new ShapeError(`cannot read ${inputPath}: ${error.message}`);
  }
  let document;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ShapeError(`invalid JSON: ${error.message}`);
  }
  const table = validatePrices(document);
  const label = relative(root, inputPath).split('\\').join('/') || inputPath;
  mkdirSync(dirname(outputPath), { recursive: true });
  writeFileSync(outputPath, renderModule(table, label));
  console.log(`gen-prices: wrote ${table.rows.length} models (LiteLLM ${table.litellmVersion}, ${table.checkedOn}) to ${relative(root, outputPath)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    if (!(error instanceof ShapeError)) throw error;
    console.error(`gen-prices: ${inputPath}: ${error.message}`);
    process.exit(1);
  }
}
