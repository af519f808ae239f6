/** Errors specific to the library (bad arguments are plain `TypeError`/`RangeError`). */

/** A price table could not be loaded: invalid JSON, wrong shape, or a bad price. */
export class PricingTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PricingTableError';
  }
}
