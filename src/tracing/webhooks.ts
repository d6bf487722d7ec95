// The span of one webhook attempt (`webhook.attempt`), in the job's trace, and the traceparent header it sends along.
import { scrubSecrets } from '../observability/logger.js';
import { ATTR } from './attributes.js';
import { SpanKind, SpanStatusCode, startSpan, traceparentOf, type Span } from './spans.js';
import { tracingApi } from './state.js';

export interface WebhookAttempt {
  jobId: string;
  eventType: string;
  seq: number;
  attempt: number;
  redeliver: boolean;
}

/** Starts the attempt's span as a child of the job's stored traceparent (a new trace if it has none). */
export function startWebhookAttempt(jobTrace: string | null, a: WebhookAttempt): Span {
  return startSpan('webhook.attempt', {
    kind: SpanKind.CLIENT,
    parent: jobTrace,
    attributes: {
      [ATTR.jobId]: a.jobId,
      [ATTR.webhookEventType]: a.eventType,
      [ATTR.webhookSeq]: a.seq,
      [ATTR.webhookAttempt]: a.attempt,
      [ATTR.webhookRedeliver]: a.redeliver,
      [ATTR.httpMethod]: 'POST',
    },
  });
}

/** Ends it with what came of the POST; anything but a delivery marks the span failed (error text already scrubbed). */
export function endWebhookAttempt(span: Span, r: { statusCode: number | null; outcome: string; error: string | null }): void {
  if (r.statusCode !== null) span.setAttribute(ATTR.httpStatus, r.statusCode);
  span.setAttribute(ATTR.webhookOutcome, r.outcome);
  if (r.outcome !== 'delivered') {
    span.setAttribute(ATTR.errorType, r.statusCode !== null ? String(r.statusCode) : r.outcome);
    span.setStatus({ code: SpanStatusCode.ERROR, message: scrubSecrets(r.error ?? r.outcome).slice(0, 200) });
  }
  span.end();
}

/**
 * The delivery's headers plus the attempt span's `traceparent`, so a receiver can continue the trace. The Standard
 * Webhooks signature covers id, timestamp and body only, so an extra header leaves it valid. Off: headers unchanged.
 */
export function withTraceparent(headers: Record<string, string>, span: Span): Record<string, string> {
  const traceparent = traceparentOf(span);
  return traceparent ? { ...headers, traceparent } : headers;
}

/** `{ trace_id }` of a span (ended or not) for a child logger, or `{}` when tracing is off. */
export function traceFieldsOf(span: Span): { trace_id?: string } {
  const api = tracingApi();
  if (!api) return {};
  const ctx = span.spanContext();
  return api.isSpanContextValid(ctx) ? { trace_id: ctx.traceId } : {};
}
