/**
 * {@link SyncError}: why a pass could not deliver every event it took, when
 * the events are fine and are tried again later. Mirrors the transient
 * variants of the Rust core's `SyncError`; never carries the IC token.
 */

/**
 * - `server`: the server answered 5xx;
 * - `rate_limited`: 429 (see {@link SyncError.retryAfterMs});
 * - `unauthorized`: 401 or 403, the token is wrong or expired;
 * - `unexpected_status`: any other status that is neither a success nor a
 *   verdict on the event (404, 405, 413, a redirect…): check the server URL;
 * - `timeout`: no complete answer within the configured timeout;
 * - `transport`: connection refused or reset, DNS, TLS…
 */
export type SyncFailureKind =
  | 'server'
  | 'rate_limited'
  | 'unauthorized'
  | 'unexpected_status'
  | 'timeout'
  | 'transport';

/** A transient delivery failure: the events stay buffered and are retried. */
export class SyncError extends Error {
  override readonly name = 'SyncError';
  /** What went wrong. */
  readonly kind: SyncFailureKind;
  /** The HTTP status, or `null` for a timeout or a transport error. */
  readonly status: number | null;
  /** For `rate_limited`: the server's `Retry-After` in ms, or `null` if it gave none. */
  readonly retryAfterMs: number | null;

  constructor(
    kind: SyncFailureKind,
    message: string,
    status: number | null = null,
    retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.kind = kind;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}
