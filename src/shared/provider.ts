/** Provider names and their inference from model names. */

import type { ProviderName } from './types.js';
import { checkModel } from './validate.js';
import { PREFIXES, PROVIDERS } from './generated/providers.js';

/** The provider names the library knows, by vendor (from the one list, `data/providers.json` of the core crate). */
export const Provider = Object.freeze(PROVIDERS satisfies Record<string, ProviderName>);

/**
 * Whether `text` starts with `lowerPrefix` ignoring ASCII case only (like
 * Rust's `eq_ignore_ascii_case`): a non-ASCII character never matches, even
 * one whose Unicode lowercase is ASCII (e.g. the Kelvin sign).
 */
function startsWithIgnoreAsciiCase(text: string, lowerPrefix: string): boolean {
  if (text.length < lowerPrefix.length) return false;
  for (let i = 0; i < lowerPrefix.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lowerPrefix.charCodeAt(i)) return false;
  }
  return true;
}

/** The provider name for the model, from the table's prefixes; no validation. */
export function inferProviderUnchecked(model: string): ProviderName {
  for (const [prefix, provider] of PREFIXES) {
    if (startsWithIgnoreAsciiCase(model, prefix)) return provider as ProviderName;
  }
  return 'unknown';
}

/**
 * Infers the provider from a model name by its prefix (ASCII
 * case-insensitive); `'unknown'` when no prefix matches. A `provider/`
 * prefix names its provider (`openai/gpt-4o` is `'openai'`, `mistralai/…`
 * `'mistral'`, `x-ai/…` `'xai'`), as the Rust core infers it; a gateway's
 * own prefix (`openrouter/openai/gpt-4`) does not.
 *
 * @throws TypeError if `model` is not a string; RangeError if it is empty.
 */
export function inferProvider(model: string): ProviderName {
  checkModel(model);
  return inferProviderUnchecked(model);
}
