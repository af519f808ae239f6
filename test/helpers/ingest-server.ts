/**
 * A real HTTP server implementing the ingestion endpoint of Protocol 012
 * (`POST /api/v1/analytics/events`), strictly, with fault injection driven by
 * the test. Listens on 127.0.0.1 on a free port.
 *
 * Order of handling of one POST:
 *   faults (a burst starting, drop before storing, 413 over the body limit,
 *   503 for a model, 503, 429, slow) → body validation (400) → token (401) →
 *   `bad-` models (400/422) → dedup and store (202/200) → fault "drop after
 *   storing". Faults may be counted (the next N requests) or periodic (every
 *   Nth request), and mixed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const INGEST_PATH = '/api/v1/analytics/events';

/** An accepted event as the server stored it. */
export interface StoredEvent {
  /** The agent the token maps to. */
  agentId: string;
  /** The request body, parsed. */
  body: Record<string, unknown>;
}

/** One POST to the endpoint, as seen by the server. */
export interface RequestRecord {
  /** `performance.now()` when the request arrived. */
  at: number;
  /** `performance.now()` when the answer was sent (or the socket destroyed), if it was. */
  answeredAt: number | null;
  /** The body's `event_id` when it could be read. */
  eventId: string | null;
  /** The status answered, or `'dropped'` when the socket was destroyed. */
  outcome: number | 'dropped' | null;
}

const FIELDS = new Set([
  'ic_token',
  'event_id',
  'timestamp_ms',
  'event_type',
  'model',
  'provider',
  'input_tokens',
  'output_tokens',
  'cost_micros',
  'provider_id',
  'error_code',
  'error_message',
]);
const EVENT_TYPES = new Set(['llm_request_completed', 'llm_request_failed']);
const PROVIDERS = new Set(['openai', 'anthropic', 'unknown']);
const COMPLETED_ONLY = ['input_tokens', 'output_tokens', 'cost_micros'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why a body is invalid, or `null` if it follows the protocol. */
export function validateBody(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const b = body as Record<string, unknown>;
  for (const [key, value] of Object.entries(b)) {
    if (!FIELDS.has(key)) return `unknown field ${key}`;
    if (value === null) return `${key} must not be null (leave it out)`;
  }
  for (const key of ['ic_token', 'event_id', 'event_type', 'model', 'provider']) {
    if (typeof b[key] !== 'string' || b[key] === '') return `${key} is required and must be a non-empty string`;
  }
  if (!UUID.test(b.event_id as string)) return 'event_id must be a UUID';
  if (!Number.isSafeInteger(b.timestamp_ms) || (b.timestamp_ms as number) <= 0) {
    return 'timestamp_ms is required and must be a positive integer';
  }
  if (!EVENT_TYPES.has(b.event_type as string)) return `event_type ${JSON.stringify(b.event_type)} is not ingested`;
  if (!PROVIDERS.has(b.provider as string)) return `provider ${JSON.stringify(b.provider)} is not one of openai, anthropic, unknown`;
  for (const key of ['provider_id', 'error_code', 'error_message']) {
    if (key in b && typeof b[key] !== 'string') return `${key} must be a string`;
  }
  if (b.event_type === 'llm_request_completed') {
    for (const key of COMPLETED_ONLY) {
      const v = b[key];
      if (!Number.isSafeInteger(v) || (v as number) < 0) return `${key} is required for completed events and must be a non-negative integer`;
    }
    for (const key of ['error_code', 'error_message']) {
      if (key in b) return `${key} is only for failed events`;
    }
  } else {
    for (const key of COMPLETED_ONLY) {
      if (key in b) return `${key} must be omitted for failed events`;
    }
  }
  return null;
}

export class IngestServer {
  readonly #server: http.Server;
  readonly #tokens: Map<string, string>;
  #port = 0;
  #isUp = false;

  /** Accepted events, in arrival order (each (agent, event_id) once). */
  readonly accepted: StoredEvent[] = [];
  /** Every POST to the endpoint. */
  readonly requests: RequestRecord[] = [];
  /** Answers 200 `duplicate`. */
  duplicates = 0;
  /** The most requests being handled at once. */
  maxConcurrent = 0;
  /** Requests that arrived while another one for the same event was being handled (a client must never do that). */
  overlaps = 0;
  #concurrent = 0;
  readonly #seen = new Set<string>();
  /** Requests being handled now, per event id. */
  readonly #handling = new Map<string, number>();

  // Faults, each for the next N requests that reach it.
  #fail503 = 0;
  #dropBefore = 0;
  #dropAfter = 0;
  #rateLimit = 0;
  #retryAfter = '1';
  #slow = 0;
  #slowMs = 0;
  #delayAllMs = 0;
  #unauthorizedUntil = 0;
  #dropEvery = 0;
  #loseReplyEvery = 0;
  #burst: { after: number; unavailable: number; rateLimited: number; seconds: number } | null = null;
  #maxBodyBytes = Infinity;
  #failingModel: string | null = null;

  private constructor(tokens: Record<string, string>) {
    this.#tokens = new Map(Object.entries(tokens));
    this.#server = http.createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.destroy();
      });
    });
  }

  /** A server on 127.0.0.1 and a free port (or `port`); `tokens` maps IC tokens to agent ids. */
  static async start(tokens: Record<string, string>, port = 0): Promise<IngestServer> {
    const server = new IngestServer(tokens);
    await server.#listen(port);
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  /** The base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** POSTs received (whatever their outcome). */
  get posts(): number {
    return this.requests.length;
  }

  /** POSTs received for one event id. */
  postsFor(eventId: string): number {
    return this.requests.filter((r) => r.eventId === eventId).length;
  }

  /** The next `n` requests are answered 503. */
  fail503(n: number): void {
    this.#fail503 = n;
  }

  /** The next `n` requests have their connection destroyed before the event is stored. */
  dropBeforeStore(n: number): void {
    this.#dropBefore = n;
  }

  /** The next `n` accepted events are stored, then the connection is destroyed (the answer is lost). */
  dropAfterStore(n: number): void {
    this.#dropAfter = n;
  }

  /** The next `n` requests are answered 429 with `Retry-After: seconds`. */
  rateLimit(n: number, seconds = 1): void {
    this.#rateLimit = n;
    this.#retryAfter = String(seconds);
  }

  /** Every request is answered 401 `TOKEN_EXPIRED` until `performance.now() >= until`. */
  unauthorizedUntil(until: number): void {
    this.#unauthorizedUntil = until;
  }

  /** The next `n` requests are answered after `ms` (the event is processed after the wait). */
  slow(n: number, ms: number): void {
    this.#slow = n;
    this.#slowMs = ms;
  }

  /** Every request waits `ms` before being processed (0: none). */
  delayAll(ms: number): void {
    this.#delayAllMs = ms;
  }

  /** Every `n`-th request (1-based) has its connection destroyed before the event is stored (0: never). */
  dropEvery(n: number): void {
    this.#dropEvery = n;
  }

  /** Every `n`-th request is stored, then its connection destroyed: the answer is lost (0: never). */
  loseReplyEvery(n: number): void {
    this.#loseReplyEvery = n;
  }

  /** Once `after` requests have arrived, the next ones get `unavailable` 503s, then `rateLimited` 429s with `Retry-After: seconds`. */
  burstAfter(after: number, unavailable: number, rateLimited: number, seconds = 1): void {
    this.#burst = { after, unavailable, rateLimited, seconds };
  }

  /** Bodies longer than `bytes` are answered 413, as a proxy in front of the server would. */
  maxBodyBytes(bytes: number): void {
    this.#maxBodyBytes = bytes;
  }

  /** Events whose model starts with `prefix` are answered 503, every time (`null`: none). */
  failModel(prefix: string | null): void {
    this.#failingModel = prefix;
  }

  /** Stops listening and closes every connection; the port stays reserved for {@link up}. */
  async down(): Promise<void> {
    if (!this.#isUp) return;
    this.#isUp = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port. */
  async up(): Promise<void> {
    if (this.#isUp) return;
    await this.#listen(this.#port);
  }

  /** Closes the server and every connection, keep-alive ones included. */
  async close(): Promise<void> {
    await this.down();
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', onError);
        this.#isUp = true;
        resolve();
      });
    });
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.url !== INGEST_PATH) {
      req.resume();
      return this.#json(res, null, 404, { error: 'NOT_FOUND', message: `no route ${req.url}` });
    }
    if (req.method !== 'POST') {
      req.resume();
      return this.#json(res, null, 405, { error: 'METHOD_NOT_ALLOWED', message: 'use POST' });
    }
    const record: RequestRecord = { at: performance.now(), answeredAt: null, eventId: null, outcome: null };
    this.requests.push(record);
    const nth = this.requests.length;
    this.#concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.#concurrent);
    res.on('close', () => {
      this.#concurrent--;
      if (record.eventId !== null) this.#handling.set(record.eventId, (this.#handling.get(record.eventId) ?? 1) - 1);
    });

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
      const id = (body as { event_id?: unknown } | null)?.event_id;
      if (typeof id === 'string') record.eventId = id;
    } catch {
      body = undefined;
    }
    if (record.eventId !== null) {
      const handling = (this.#handling.get(record.eventId) ?? 0) + 1;
      this.#handling.set(record.eventId, handling);
      if (handling > 1) this.overlaps++;
    }

    // Faults of the infrastructure: before anything is stored.
    if (this.#burst !== null && nth > this.#burst.after) {
      this.#fail503 += this.#burst.unavailable;
      this.#rateLimit += this.#burst.rateLimited;
      this.#retryAfter = String(this.#burst.seconds);
      this.#burst = null;
    }
    const every = (n: number): boolean => n > 0 && nth % n === 0;
    if (this.#dropBefore > 0 || every(this.#dropEvery)) {
      if (this.#dropBefore > 0) this.#dropBefore--;
      return this.#drop(req, record);
    }
    if (chunks.reduce((n, c) => n + c.length, 0) > this.#maxBodyBytes) {
      return this.#json(res, record, 413, { error: 'PAYLOAD_TOO_LARGE', message: 'request entity too large' });
    }
    const model = (body as { model?: unknown } | undefined)?.model;
    if (this.#failingModel !== null && typeof model === 'string' && model.startsWith(this.#failingModel)) {
      return this.#json(res, record, 503, { error: 'SERVICE_UNAVAILABLE', message: 'not this one' });
    }
    if (this.#fail503 > 0) {
      this.#fail503--;
      return this.#json(res, record, 503, { error: 'SERVICE_UNAVAILABLE', message: 'try again later' });
    }
    if (this.#rateLimit > 0) {
      this.#rateLimit--;
      res.setHeader('Retry-After', this.#retryAfter);
      return this.#json(res, record, 429, { error: 'RATE_LIMIT_EXCEEDED', message: '1000 events per minute' });
    }
    let wait = this.#delayAllMs;
    if (this.#slow > 0) {
      this.#slow--;
      wait = Math.max(wait, this.#slowMs);
    }
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));

    // The protocol.
    const contentType = req.headers['content-type'] ?? '';
    if (!/^application\/json(\s*;|$)/i.test(contentType)) {
      return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message: `Content-Type ${contentType} is not application/json` });
    }
    if (body === undefined) {
      return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message: 'the body is not JSON' });
    }
    const invalid = validateBody(body);
    if (invalid !== null) return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message: invalid });
    const event = body as Record<string, unknown> & { ic_token: string; event_id: string; model: string };

    if (performance.now() < this.#unauthorizedUntil) {
      return this.#json(res, record, 401, { error: 'TOKEN_EXPIRED', message: 'the IC token has expired' });
    }
    const agentId = this.#tokens.get(event.ic_token);
    if (agentId === undefined) {
      return this.#json(res, record, 401, { error: 'UNAUTHORIZED', message: 'unknown IC token' });
    }

    if (event.model.startsWith('bad-422-')) {
      return this.#json(res, record, 422, {
        error: { code: 'UNPROCESSABLE_EVENT', message: `model ${event.model} cannot be processed` },
      });
    }
    const pad = /^bad-echo-pad-(\d+)$/.exec(event.model);
    if (pad !== null) {
      // A careless server that echoes the token after `pad` bytes of message.
      const message = `${'x'.repeat(Number(pad[1]))} from ${event.ic_token}`;
      return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message });
    }
    if (event.model.startsWith('bad-echo-')) {
      // A careless server that echoes the request: the client must redact the token.
      return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message: `bad event from ${event.ic_token}` });
    }
    if (event.model.startsWith('bad-')) {
      return this.#json(res, record, 400, { error: 'VALIDATION_ERROR', message: `model ${event.model} is not supported` });
    }

    const key = `${agentId}\u0000${event.event_id}`;
    if (this.#seen.has(key)) {
      this.duplicates++;
      return this.#json(res, record, 200, { event_id: event.event_id, status: 'duplicate' });
    }
    this.#seen.add(key);
    this.accepted.push({ agentId, body: event });
    if (this.#dropAfter > 0 || every(this.#loseReplyEvery)) {
      if (this.#dropAfter > 0) this.#dropAfter--;
      return this.#drop(req, record);
    }
    return this.#json(res, record, 202, { event_id: event.event_id, status: 'accepted' });
  }

  #drop(req: http.IncomingMessage, record: RequestRecord): void {
    record.outcome = 'dropped';
    record.answeredAt = performance.now();
    req.socket.destroy();
  }

  #json(res: http.ServerResponse, record: RequestRecord | null, status: number, payload: unknown): void {
    if (record !== null) {
      record.outcome = status;
      record.answeredAt = performance.now();
    }
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}
