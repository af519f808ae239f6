/** The native `PricingManager`: a JS object over the addon's price table. */
import type { ModelPricing } from '../shared/types.js';
import type { PricingManagerApi } from '../shared/api.js';
import { checkLlmCompletedArgs, checkModel, checkString } from '../shared/validate.js';
import { PricingTableError } from '../shared/errors.js';
import type { NativePricingHandle } from './loader.js';
import { addon } from './addon.js';

const handles = new WeakMap<object, NativePricingHandle>();

/** The addon leaves an unpublished price out; the contract says `null`. */
function rates(p: {
  inputMicrosPerMillionTokens: number;
  outputMicrosPerMillionTokens: number;
  cacheReadMicrosPerMillionTokens?: number | null;
  cacheWriteMicrosPerMillionTokens?: number | null;
  cacheWrite1hMicrosPerMillionTokens?: number | null;
}) {
  return {
    inputMicrosPerMillionTokens: p.inputMicrosPerMillionTokens,
    outputMicrosPerMillionTokens: p.outputMicrosPerMillionTokens,
    cacheReadMicrosPerMillionTokens: p.cacheReadMicrosPerMillionTokens ?? null,
    cacheWriteMicrosPerMillionTokens: p.cacheWriteMicrosPerMillionTokens ?? null,
    cacheWrite1hMicrosPerMillionTokens: p.cacheWrite1hMicrosPerMillionTokens ?? null,
  };
}

export class PricingManager implements PricingManagerApi {
  constructor() {
    handles.set(this, new (addon().NativePricing)());
  }

  /** A table in LiteLLM's `model_prices_and_context_window.json` format. */
  static fromLitellmJson(text: string): PricingManager {
    checkString(text, 'text');
    let handle: NativePricingHandle;
    try {
      handle = addon().NativePricing.fromLitellmJson(text);
    } catch (e) {
      throw new PricingTableError((e as Error).message);
    }
    const pricing = Object.create(PricingManager.prototype) as PricingManager;
    handles.set(pricing, handle);
    return pricing;
  }

  get size(): number {
    return handle(this).size;
  }

  get checkedOn(): string | null {
    return handle(this).checkedOn || null;
  }

  get(model: string): ModelPricing | null {
    checkModel(model);
    const p = handle(this).get(model);
    if (p == null) return null;
    const tier = p.longContext;
    return {
      model: p.model,
      ...rates(p),
      longContext: tier == null ? null : { thresholdTokens: tier.thresholdTokens, ...rates(tier) },
    };
  }

  costMicros(model: string, inputTokens: number, outputTokens: number): number | null {
    checkLlmCompletedArgs(model, inputTokens, outputTokens, null, null, undefined);
    return handle(this).costMicros(model, inputTokens, outputTokens) ?? null;
  }
}

/** Whether `value` is a native `PricingManager`. */
export const isPricing = (value: unknown): boolean => typeof value === 'object' && value !== null && handles.has(value);

/** The addon's table behind a native `PricingManager`. */
export function handle(pricing: PricingManagerApi): NativePricingHandle {
  const h = handles.get(pricing);
  if (h === undefined) throw new TypeError('pricing must be a PricingManager');
  return h;
}
