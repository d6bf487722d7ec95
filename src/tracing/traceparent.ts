// The W3C traceparent header (version 00) to and from a span context: what job records keep and webhooks carry.
import type { SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * `00-<trace id>-<parent id>-<flags>`. Written here rather than with the configured propagator: the stored value and
 * the webhook header are W3C by contract (§9), whatever OTEL_PROPAGATORS says for incoming requests.
 */
export function formatTraceparent(ctx: Pick<SpanContext, 'traceId' | 'spanId' | 'traceFlags'>): string | null {
  if (!isValidId(ctx.traceId, 32, INVALID_TRACE_ID) || !isValidId(ctx.spanId, 16, INVALID_SPAN_ID)) return null;
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** A remote span context, or null for anything that is not a valid traceparent (per the W3C parsing rules). */
export function parseTraceparent(header: string | null | undefined): SpanContext | null {
  if (!header) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is forbidden; version 00 has exactly four fields; a later version may append fields after a dash.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return null;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & 0x01, isRemote: true };
}

/** The trace id a stored traceparent belongs to (for log lines), or null. */
export function traceIdOf(header: string | null | undefined): string | null {
  return parseTraceparent(header)?.traceId ?? null;
}

function isValidId(id: string, length: number, invalid: string): boolean {
  return id.length === length && id !== invalid && /^[0-9a-f]+$/.test(id);
}
