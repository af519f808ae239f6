/** Runs `f` with `OTEL_SEMCONV_STABILITY_OPT_IN` set to `value` (unset for `undefined`), then puts the environment back. */
export function withOptIn<T>(value: string | undefined, f: () => T): T {
  const before = process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  if (value === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
  else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = value;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.OTEL_SEMCONV_STABILITY_OPT_IN;
    else process.env.OTEL_SEMCONV_STABILITY_OPT_IN = before;
  }
}
