// Span helpers for nemo-relay's own spans: with tracing off they hand out one non-recording span and touch nothing else.
import type { Attributes, Context, Span, SpanContext, SpanKind as OtelSpanKind, SpanStatusCode as OtelSpanStatusCode } from '@opentelemetry/api';
import { scrubSecrets } from '../observability/logger.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { ATTR } from './attributes.js';
import { tracingApi, tracingEnabled, type OtelApi } from './state.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import { isAbort } from '../core/run-abort.js';

export type { Span };

/**
 * The API's enums by value: @opentelemetry/api (100 modules, ~6 MB of RSS) loads with the SDK, only when tracing is
 * on; with it off, the worker and the API must not pay for it. The values are the API's own (stable since 1.0).
 */
export const SpanKind = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const satisfies Record<string, OtelSpanKind>;
export type SpanKind = OtelSpanKind;
export const SpanStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const satisfies Record<string, OtelSpanStatusCode>;

/** The API's INVALID_SPAN_CONTEXT: all-zero ids, not sampled. */
const INVALID_SPAN_CONTEXT: SpanContext = { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 };

/** What callers get when tracing is off: every method is a no-op, its context is invalid (so no traceparent). */
export const NOOP_SPAN: Span = {
  spanContext: () => INVALID_SPAN_CONTEXT,
  setAttribute: () => NOOP_SPAN,
  setAttributes: () => NOOP_SPAN,
  addEvent: () => NOOP_SPAN,
  addLink: () => NOOP_SPAN,
  addLinks: () => NOOP_SPAN,
  setStatus: () => NOOP_SPAN,
  updateName: () => NOOP_SPAN,
  end: () => undefined,
  isRecording: () => false,
  recordException: () => undefined,
};

/** The API while tracing is on; callers check tracingEnabled() first. */
function api(): OtelApi {
  const loaded = tracingApi();
  if (!loaded) throw new Error('tracing is off');
  return loaded;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /**
   * A stored W3C traceparent to continue instead of the active context (the job's trace, in the worker).
   * null or unparsable: the span starts a new trace. Leave it out to use the active context.
   */
  parent?: string | null;
}

function tracer() {
  return api().trace.getTracer('nemo-relay', PACKAGE_VERSION);
}

function parentOf(opts: SpanOptions): Context {
  const { context, trace, ROOT_CONTEXT } = api();
  if (opts.parent === undefined) return context.active();
  const remote = parseTraceparent(opts.parent);
  return remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
}

/** Starts a span that is not made active (the caller ends it with endSpan); NOOP_SPAN when tracing is off. */
export function startSpan(name: string, opts: SpanOptions = {}): Span {
  if (!tracingEnabled()) return NOOP_SPAN;
  return tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}) }, parentOf(opts));
}

/**
 * Runs `fn` inside a new active span (its children nest under it) and ends it; a throw marks it failed and is rethrown,
 * unless it is a deliberate abort (a cancel, a worker handing its jobs back): that span is marked aborted, not failed.
 */
export async function inSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return fn(NOOP_SPAN);
  const parent = parentOf(opts);
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, ...(opts.attributes ? { attributes: opts.attributes } : {}) }, parent);
  try {
    const { context, trace } = api();
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    if (isAbort(err)) span.setAttribute(ATTR.aborted, true);
    else markFailed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Marks a span failed: error.type is the error's kind or name; the status message is the scrubbed first line only.
 * No exception event: stacks and causes may carry URLs or headers that must not leave the process.
 */
export function markFailed(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  const e = err as { kind?: unknown; name?: unknown; message?: unknown } | null;
  const type = typeof e?.kind === 'string' ? e.kind : typeof e?.name === 'string' ? e.name : 'Error';
  span.setAttribute(ATTR.errorType, type);
  const message = typeof e?.message === 'string' ? scrubSecrets(e.message.split('\n', 1)[0]!).slice(0, 200) : type;
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** The W3C traceparent of a span (to send on, or to store); null for NOOP_SPAN. */
export function traceparentOf(span: Span): string | null {
  return formatTraceparent(span.spanContext());
}

/** The traceparent of the active span (the API request's, inside a handler); null when tracing is off or no span is active. */
export function currentTraceparent(): string | null {
  if (!tracingEnabled()) return null;
  const { context, trace } = api();
  const active = trace.getSpanContext(context.active());
  return active ? formatTraceparent(active) : null;
}

/** Sets attributes on the active span, if tracing is on and one is recording (e.g. a status only the callee learns). */
export function annotateActiveSpan(attributes: Attributes): void {
  if (!tracingEnabled()) return;
  api().trace.getActiveSpan()?.setAttributes(attributes);
}

/** `{ trace_id }` of the active span for a child logger, or `{}` (tracing off, no span). */
export function activeTraceFields(): { trace_id?: string } {
  if (!tracingEnabled()) return {};
  const { context, trace } = api();
  const active = trace.getSpanContext(context.active());
  return active && active.traceId !== INVALID_SPAN_CONTEXT.traceId ? { trace_id: active.traceId } : {};
}
