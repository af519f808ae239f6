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

/** A request in flight: how to end it early. */
type Abandon = () => void;

/**
 * POSTs to one URL with a keep-alive agent of `maxSockets` connections.
 *
 * Built for one POST per event at thousands per second (bench case `sync`),
 * so a request carries as little as it can: the request options are parsed
 * once, a cancel signal gets one listener for all the requests it covers
 * (not one `addEventListener` per request), and the answer is read without
 * extra listeners on the socket.
 */
export class HttpTransport implements Transport {
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #timeoutMs: number;
  /** `http.request` options, without the per-request headers. */
  readonly #target: { protocol: string; hostname: string; port: string; path: string; method: 'POST'; auth?: string };
  /** The requests each cancel signal would abandon. */
  readonly #byCancel = new WeakMap<AbortSignal, Set<Abandon>>();

  constructor(url: string, maxSockets: number, timeoutMs: number) {
    const parsed = new URL(url);
    const secure = parsed.protocol === 'https:';
    // Idle sockets are unref()'d by the agent: they never keep the process alive.
    const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    this.#agent = secure ? new https.Agent(options) : new http.Agent(options);
    this.#request = secure ? https.request : http.request;
    this.#timeoutMs = timeoutMs;
    this.#target = {
      protocol: parsed.protocol,
      // `[::1]` in a URL, `::1` for a socket.
      hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
      port: parsed.port,
      path: `${parsed.pathname}${parsed.search}`,
      method: 'POST',
    };
    // Credentials in the URL become basic auth, as `http.request(url)` does.
    if (parsed.username !== '' || parsed.password !== '') {
      this.#target.auth = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
    }
  }

  /** Registers `abandon` with `cancel`'s single listener; returns how to unregister it. */
  #watch(cancel: AbortSignal, abandon: Abandon): Set<Abandon> {
    let pending = this.#byCancel.get(cancel);
    if (pending === undefined) {
      const set = new Set<Abandon>();
      pending = set;
      this.#byCancel.set(cancel, set);
      cancel.addEventListener(
        'abort',
        () => {
          for (const each of [...set]) each();
          set.clear();
        },
        { once: true },
      );
    }
    pending.add(abandon);
    return pending;
  }

  post(body: string, cancel: AbortSignal | null, holdProcess = true): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let connected = false;
      let settled = false;
      let pending: Set<Abandon> | null = null;
      const done = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        pending?.delete(onCancel);
        return true;
      };
      const fail = (error: TransportError): void => {
        if (!done()) return;
        req.destroy();
        reject(error);
      };
      const onCancel = (): void => fail(new TransportError('abandoned at the stop deadline', 'cancelled', !connected));
      const timer = setTimeout(
        () => fail(new TransportError(`no complete answer within ${this.#timeoutMs} ms`, 'timeout', !connected)),
        this.#timeoutMs,
      );
      if (!holdProcess) timer.unref();
      const req = this.#request({
        ...this.#target,
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
        let first: Buffer | null = null;
        let more: Buffer[] | null = null;
        let total = 0;
        let cut = false;
        const finish = (): void => {
          if (!done()) return;
          const retryAfter = res.headers['retry-after'];
          const bytes = more === null ? first : Buffer.concat(more, total);
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            body: bytes === null ? '' : bytes.toString('utf8'),
            cut,
          });
        };
        res.on('data', (chunk: Buffer) => {
          if (cut) return;
          const room = MAX_BODY_BYTES - total;
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          if (first === null) first = part;
          else (more ??= [first]).push(part);
          total += part.length;
          if (chunk.length > room) {
            cut = true;
            // The rest is not read: this connection cannot be reused.
            res.destroy();
            finish();
          }
        });
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
        pending = this.#watch(cancel, onCancel);
      }
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
