/**
 * Prometheus text exposition (format 0.0.4) of a store's GenAI series and
 * outbox counters, on the OpenTelemetry GenAI conventions (see series.ts for
 * the versions). The fallback renders here; the native store has the core
 * render it (`render_prometheus` of `prometheus.rs`): both write the same
 * bytes, which the parity tests check.
 *
 * Names follow OpenTelemetry's Prometheus compatibility rules: dots become
 * underscores, unit `s` a `_seconds` suffix, an annotation unit (`{token}`)
 * none, a monotonic sum ends in `_total`.
 */
import { LATENCY_BOUNDS_MICROS } from './latency.js';
import {
  TIME_TO_FIRST_CHUNK_BOUNDS_MICROS,
  TOKEN_BOUNDS,
  countOf,
  providerAttribute,
  providerValue,
  type BucketCounts,
  type GenAiConventions,
  type SeriesAttributes,
  type SeriesReading,
} from './series.js';
import type { Accounting } from './types.js';

/** The labels of the overflow series (every series past the cardinality limit), as the OpenTelemetry SDK marks them. */
const OVERFLOW_LABEL = 'otel_metric_overflow="true"';

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value: backslash, double quote, newline. */
export function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const encoder = new TextEncoder();
const bytesOf = (text: string): Uint8Array => encoder.encode(text);
const NEWLINE = 0x0a;
const CLOSE = bytesOf('} ');

/** Writes a non-negative safe integer's digits at `at`; returns the end. */
function writeDigits(buf: Uint8Array, at: number, n: number): number {
  if (n < 10) {
    buf[at] = 0x30 + n;
    return at + 1;
  }
  let width = 1;
  for (let p = 10; p <= n; p *= 10) width++;
  const end = at + width;
  let i = end;
  do {
    const q = Math.floor(n / 10);
    buf[--i] = 0x30 + (n - q * 10);
    n = q;
  } while (n > 0);
  return end;
}

/**
 * The exposition's bytes, written into one buffer reused from call to call
 * (the text is megabytes with a few hundred series: growing a string piece
 * by piece, then flattening it, cost ~5x more), then decoded once: as
 * Latin-1 when every byte is ASCII (no UTF-8 validation), else as UTF-8.
 */
class ExpositionWriter {
  /** The buffer; replaced when it grows (read it after {@link reserve}). */
  buf: Buffer;
  at = 0;
  #ascii = true;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  /** Appends bytes (room reserved). */
  bytes(b: Uint8Array, ascii = true): void {
    this.buf.set(b, this.at);
    this.at += b.length;
    if (!ascii) this.#ascii = false;
  }

  /** Appends a non-negative safe integer's digits (room reserved). */
  digits(n: number): void {
    this.at = writeDigits(this.buf, this.at, n);
  }

  /** Appends a number as JavaScript prints it (room reserved: at most 24 bytes). */
  number(n: number): void {
    if (Number.isSafeInteger(n) && n >= 0) {
      this.digits(n);
      return;
    }
    const text = String(n); // ASCII: digits, '.', 'e', '+', '-'
    for (let i = 0; i < text.length; i++) this.buf[this.at++] = text.charCodeAt(i);
  }

  /** Appends ASCII text (a constant's, room reserved). */
  ascii(text: string): void {
    this.at += this.buf.write(text, this.at, 'latin1');
  }

  newline(): void {
    this.buf[this.at++] = NEWLINE;
  }

  /** The text, and the buffer to reuse. */
  finish(): [string, Buffer] {
    const text = this.buf.toString(this.#ascii ? 'latin1' : 'utf8', 0, this.at);
    return [text, this.buf];
  }
}

/** Label bytes of a series: one of its label sets, ready to write between braces. */
class LabelBytes {
  readonly ascii: boolean;
  constructor(readonly bytes: Uint8Array) {
    this.ascii = bytes.every((b) => b < 0x80);
  }
  static of(text: string): LabelBytes {
    return new LabelBytes(bytesOf(text));
  }
}

/** The label sets of a series: with `error_type` (duration, counters), without (first chunk), and the two token types. */
interface SeriesLabels {
  readonly conventions: GenAiConventions;
  readonly withError: LabelBytes;
  readonly base: LabelBytes;
  readonly input: LabelBytes;
  readonly output: LabelBytes;
  /** Bucket-line heads (see {@link HistogramFamily.head}), made on first use. */
  heads: { duration?: Uint8Array; ttfc?: Uint8Array; input?: Uint8Array; output?: Uint8Array };
}

/** A histogram family: the bytes of its names and of each bound's `le` label (`,le="0.01"} `). */
class HistogramFamily {
  readonly #bucket: Uint8Array;
  readonly #sum: Uint8Array;
  readonly #count: Uint8Array;
  readonly #le: Uint8Array[];
  /** The longest line but for labels and numbers. */
  readonly #lineRoom: number;

  constructor(readonly name: string, le: string[]) {
    this.#bucket = bytesOf(`${name}_bucket{`);
    this.#sum = bytesOf(`${name}_sum{`);
    this.#count = bytesOf(`${name}_count{`);
    this.#le = [...le.map((b) => `,le="${b}"} `), ',le="+Inf"} '].map(bytesOf);
    this.#lineRoom = this.#count.length + Math.max(...this.#le.map((b) => b.length)) + 32;
  }

  /** `<name>_bucket{<labels>`: the start of every bucket line of a series, cached with its labels. */
  head(labels: LabelBytes): Uint8Array {
    const head = new Uint8Array(this.#bucket.length + labels.bytes.length);
    head.set(this.#bucket);
    head.set(labels.bytes, this.#bucket.length);
    return head;
  }

  /** The family's lines for one series (`head`: from {@link head} with `labels`). */
  write(out: ExpositionWriter, labels: LabelBytes, head: Uint8Array, h: BucketCounts, sum: number): void {
    const { bytes, ascii } = labels;
    const counts = h.counts;
    out.reserve((counts.length + 2) * (this.#lineRoom + bytes.length));
    // One copy of the cached head per line, the short `le` label byte by
    // byte: a typed-array copy call costs more than a dozen byte stores.
    const buf = out.buf;
    const les = this.#le;
    let at = out.at;
    let cumulative = 0;
    for (let i = 0; i < counts.length; i++) {
      cumulative += counts[i]!;
      buf.set(head, at);
      at += head.length;
      const le = les[i]!;
      for (let k = 0; k < le.length; k++) buf[at + k] = le[k]!;
      at = writeDigits(buf, at + le.length, cumulative);
      buf[at++] = NEWLINE;
    }
    out.at = at;
    out.bytes(this.#sum);
    out.bytes(bytes, ascii);
    out.bytes(CLOSE);
    out.number(sum);
    out.newline();
    out.bytes(this.#count);
    out.bytes(bytes, ascii);
    out.bytes(CLOSE);
    out.digits(cumulative);
    out.newline();
  }
}

const seconds = (boundsMicros: readonly number[]): string[] => boundsMicros.map((b) => String(b / 1e6));

const DURATION = new HistogramFamily('gen_ai_client_operation_duration_seconds', seconds(LATENCY_BOUNDS_MICROS));
const TTFC = new HistogramFamily(
  'gen_ai_client_operation_time_to_first_chunk_seconds',
  seconds(TIME_TO_FIRST_CHUNK_BOUNDS_MICROS),
);
const TOKENS = new HistogramFamily('gen_ai_client_token_usage', TOKEN_BOUNDS.map(String));

const OVERFLOW_LABELS: SeriesLabels = ((mark: LabelBytes) => ({
  conventions: 'v1.36.0' as GenAiConventions,
  withError: mark,
  base: mark,
  input: LabelBytes.of(`${OVERFLOW_LABEL},gen_ai_token_type="input"`),
  output: LabelBytes.of(`${OVERFLOW_LABEL},gen_ai_token_type="output"`),
  heads: {},
}))(LabelBytes.of(OVERFLOW_LABEL));

/**
 * Label bytes by series names. A store hands the same attributes object
 * for a series at every reading, so its labels are escaped and encoded
 * once (and forgotten with the series).
 */
const labelCache = new WeakMap<SeriesAttributes, SeriesLabels>();

/** The label sets of a series. */
function labelsOf(s: SeriesReading, conventions: GenAiConventions, providerLabel: string): SeriesLabels {
  const a = s.attributes;
  // The overflow series' own attributes are gone: only the SDK's mark stays.
  if (a === null) return OVERFLOW_LABELS;
  const cached = labelCache.get(a);
  if (cached !== undefined && cached.conventions === conventions) return cached;
  let base =
    `gen_ai_operation_name="${escapeLabel(a.operation)}",${providerLabel}="${escapeLabel(providerValue(conventions, a.provider))}",` +
    `gen_ai_request_model="${escapeLabel(a.requestModel)}"`;
  if (a.responseModel !== null) base += `,gen_ai_response_model="${escapeLabel(a.responseModel)}"`;
  const labels: SeriesLabels = {
    conventions,
    withError: LabelBytes.of(a.errorType === null ? base : `${base},error_type="${escapeLabel(a.errorType)}"`),
    base: LabelBytes.of(base),
    input: LabelBytes.of(`${base},gen_ai_token_type="input"`),
    output: LabelBytes.of(`${base},gen_ai_token_type="output"`),
    heads: {},
  };
  labelCache.set(a, labels);
  return labels;
}

/**
 * The largest buffer kept from one exposition to the next: 200 series take
 * ~3 MB; a store at the default cardinality limit (2,001 series) ~20 MB,
 * which is allocated per call instead of held (as the core's binding does).
 */
const KEPT_SCRATCH_BYTES = 8 * 1024 * 1024;
const INITIAL_SCRATCH_BYTES = 64 * 1024;
/** The buffer of the last exposition, reused by the next. */
let scratch: Buffer = Buffer.allocUnsafeSlow(INITIAL_SCRATCH_BYTES);
/** The length of the last exposition: a larger one starts in a buffer that big, not grown by doubling. */
let lastLength = 0;

/** Renders sorted series and the outbox counters. */
export function renderPrometheus(
  series: readonly SeriesReading[],
  accounting: Accounting,
  unsynced: number,
  conventions: GenAiConventions,
): string {
  const providerLabel = providerAttribute(conventions).replace(/\./g, '_');
  const labels = series.map((s) => labelsOf(s, conventions, providerLabel));
  const out = new ExpositionWriter(scratch.length >= lastLength ? scratch : Buffer.allocUnsafeSlow(lastLength + (lastLength >> 3)));
  const family = (name: string, kind: string, help: string): void => {
    const text = `# HELP ${name} ${help}\n# TYPE ${name} ${kind}\n`;
    out.reserve(text.length);
    out.ascii(text);
  };
  family(DURATION.name, 'histogram', 'GenAI operation duration.');
  series.forEach((s, i) => {
    if (countOf(s.duration) === 0) return;
    const l = labels[i]!;
    DURATION.write(out, l.withError, (l.heads.duration ??= DURATION.head(l.withError)), s.duration, s.duration.sum / 1e6);
  });
  family(
    TTFC.name,
    'histogram',
    'Time to receive the first chunk, measured from when the client issues the generation request to when the first chunk is received in the response stream.',
  );
  series.forEach((s, i) => {
    if (countOf(s.timeToFirstChunk) === 0) return;
    const l = labels[i]!;
    TTFC.write(out, l.base, (l.heads.ttfc ??= TTFC.head(l.base)), s.timeToFirstChunk, s.timeToFirstChunk.sum / 1e6);
  });
  family(TOKENS.name, 'histogram', 'Number of input and output tokens used.');
  series.forEach((s, i) => {
    const l = labels[i]!;
    if (countOf(s.inputTokens) > 0) TOKENS.write(out, l.input, (l.heads.input ??= TOKENS.head(l.input)), s.inputTokens, s.inputTokens.sum);
    if (countOf(s.outputTokens) > 0) {
      TOKENS.write(out, l.output, (l.heads.output ??= TOKENS.head(l.output)), s.outputTokens, s.outputTokens.sum);
    }
  });
  const perSeries: [string, string, (s: SeriesReading) => number][] = [
    [
      'iron_analytics_requests_total',
      'LLM requests, completed and failed (error_type), by GenAI series.',
      (s) => s.requestCount,
    ],
    ['iron_analytics_cost_usd_total', 'Cost of LLM requests in US dollars, by GenAI series.', (s) => s.costMicros / 1e6],
    [
      'iron_analytics_unpriced_requests_total',
      'Completed LLM requests whose model had no price (they cost 0), by GenAI series.',
      (s) => s.unpricedRequests,
    ],
  ];
  for (const [name, help, value] of perSeries) {
    family(name, 'counter', help);
    const head = bytesOf(`${name}{`);
    series.forEach((s, i) => {
      const { bytes, ascii } = labels[i]!.withError;
      out.reserve(head.length + bytes.length + 32);
      out.bytes(head);
      out.bytes(bytes, ascii);
      out.bytes(CLOSE);
      out.number(value(s));
      out.newline();
    });
  }
  const outbox: [string, string, string, number][] = [
    ['iron_analytics_events_dropped_total', 'counter', 'LLM events dropped because the buffer was full.', accounting.dropped],
    ['iron_analytics_events_evicted_total', 'counter', 'Local events evicted to make room.', accounting.evicted],
    ['iron_analytics_events_buffered', 'gauge', 'Events in the buffer.', accounting.buffered],
    ['iron_analytics_events_unsynced', 'gauge', 'LLM events waiting to be delivered.', unsynced],
    ['iron_analytics_events_delivered_total', 'counter', 'Events delivered to the Control API.', accounting.synced],
    ['iron_analytics_events_rejected_total', 'counter', 'Events the Control API rejected as invalid.', accounting.rejected],
    ['iron_analytics_records_lost_total', 'counter', 'Records accepted by a binding but never recorded.', accounting.lost],
  ];
  for (const [name, kind, help, value] of outbox) {
    family(name, kind, help);
    const line = `${name} ${value}\n`;
    out.reserve(line.length);
    out.ascii(line);
  }
  const [text, buf] = out.finish();
  lastLength = out.at;
  scratch = buf.length <= KEPT_SCRATCH_BYTES ? buf : Buffer.allocUnsafeSlow(INITIAL_SCRATCH_BYTES);
  return text;
}
