/**
 * The pure-JS client's HTTP: one POST per event with `node:http` /
 * `node:https` over a keep-alive agent (any valid port works, unlike the
 * global `fetch`, which refuses some). The batching and the retry schedule
 * live elsewhere (`worker.ts`, `schedule.ts`): this module only sends a
 * body and reads the answer, as an exporter does behind OpenTelemetry's
 * batch processor.
 */
import http from 'node:http';
import https from 'node:https';

/** The most bytes of an answer read (error messages are short). */
const MAX_BODY_BYTES = 4_096;
const USER_AGENT = 'iron-runtime-analytics (node)';

/** The server's answer to one POST. */
export interface Answer {
  status: number;
  /** The `Retry-After` header, if any. */
  retryAfter: string | null;
  /** At most {@link MAX_BODY_BYTES} of the body, as UTF-8. */
  body: string;
  /** Whether the body was longer than what was read. */
  cut: boolean;
}

/** Why a POST got no answer. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    /** `timeout` (no complete answer in time), `cancelled` (the stop deadline), or `network`. */
    readonly reason: 'timeout' | 'cancelled' | 'network',
    /** Whether the connection itself could not be made (refused, DNS, unreachable). */
    readonly beforeConnecting: boolean,
  ) {
    super(message);
  }
}

/** What a sender needs to deliver one body. */
export interface Transport {
  /**
   * Posts `body` (JSON); resolves with the answer, rejects with a
   * {@link TransportError}. With `holdProcess` false, the request does not
   * keep the process alive (the background loop's requests: the process
   * may end meanwhile, and its exit hooks take over).
   */
  post(body: string, cancel: AbortSignal | null, holdProcess?: boolean): Promise<Answer>;
  /** Closes the idle connections. */
  close(): void;
}

/** The cause of a failed request, as `code: message`, without anything that could carry the token. */
function describe(error: unknown): string {
  const source = error as { code?: unknown; message?: unknown } | null;
  const code = typeof source?.code === 'string' ? source.code : null;
  const message = typeof source?.message === 'string' ? source.message : String(error);
  return code !== null && !message.includes(code) ? `${code}: ${message}` : message;
}

/** POSTs to one URL with a keep-alive agent of `maxSockets` connections. */
export class HttpTransport implements Transport {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #timeoutMs: number;

  constructor(url: string, maxSockets: number, timeoutMs: number) {
    this.#url = new URL(url);
    const secure = this.#url.protocol === 'https:';
    // Idle sockets are unref()'d by the agent: they never keep the process alive.
    const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    this.#agent = secure ? new https.Agent(options) : new http.Agent(options);
    this.#request = secure ? https.request : http.request;
    this.#timeoutMs = timeoutMs;
  }

  post(body: string, cancel: AbortSignal | null, holdProcess = true): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let connected = false;
      let settled = false;
      const fail = (error: TransportError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        cancel?.removeEventListener('abort', onCancel);
        req.destroy();
        reject(error);
      };
      const onCancel = (): void => fail(new TransportError('abandoned at the stop deadline', 'cancelled', !connected));
      const timer = setTimeout(
        () => fail(new TransportError(`no complete answer within ${this.#timeoutMs} ms`, 'timeout', !connected)),
        this.#timeoutMs,
      );
      if (!holdProcess) timer.unref();
      const req = this.#request(this.#url, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
          'user-agent': USER_AGENT,
        },
      });
      req.on('socket', (socket) => {
        // The agent ref()s a socket it hands out again: undo that for the loop's requests.
        if (!holdProcess) socket.unref();
        if (!socket.connecting) connected = true;
        else socket.once('connect', () => (connected = true));
      });
      req.on('error', (error) => fail(new TransportError(describe(error), 'network', !connected)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        let cut = false;
        res.on('data', (chunk: Buffer) => {
          if (cut) return;
          const room = MAX_BODY_BYTES - total;
          if (chunk.length > room) {
            cut = true;
            chunks.push(chunk.subarray(0, room));
            total = MAX_BODY_BYTES;
            // The rest is not read: this connection cannot be reused.
            res.destroy();
            finish();
            return;
          }
          chunks.push(chunk);
          total += chunk.length;
        });
        const finish = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          cancel?.removeEventListener('abort', onCancel);
          const retryAfter = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            body: Buffer.concat(chunks, total).toString('utf8'),
            cut,
          });
        };
        res.on('end', finish);
        // A body cut short by the network: the status is known all the same.
        res.on('error', finish);
        res.on('aborted', finish);
      });
      if (cancel !== null) {
        if (cancel.aborted) {
          onCancel();
          return;
        }
        cancel.addEventListener('abort', onCancel, { once: true });
      }
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
