// The API's server span per request, by Fastify hooks: a caller's traceparent is its parent, and handlers run inside it.
import type { Context, Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PACKAGE_VERSION } from '../core/version.js';
import { ATTR } from './attributes.js';
import { SpanKind, SpanStatusCode } from './spans.js';
import { tracingApi } from './state.js';

export interface RequestSpanOptions {
  /** Paths that get no span (probes, scrapes, docs): they arrive every few seconds and say nothing about jobs. */
  skip: (path: string) => boolean;
}

/**
 * Installs the hooks; call before any other onRequest hook so auth and everything after it run inside the span.
 * Done here rather than by the http instrumentation's server spans: those would not know the route, and the
 * instrumentation needs the ESM loader hook, so tests (in-process) would see no request span at all.
 */
export function traceRequests(app: FastifyInstance, opts: RequestSpanOptions): void {
  // The API module the SDK handed over: with tracing off this is never called, and @opentelemetry/api never loads.
  const api = tracingApi();
  if (!api) return;
  const { context, propagation, ROOT_CONTEXT, trace } = api;
  const spans = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();
  const tracer = trace.getTracer('nemo-relay', PACKAGE_VERSION);

  /** Ends the request's span once, with the status sent; `aborted`: the connection closed before the response did. */
  const finish = (request: FastifyRequest, statusCode: number, aborted: boolean) => {
    const entry = spans.get(request);
    if (!entry) return;
    spans.delete(request);
    entry.span.setAttribute(ATTR.httpStatus, statusCode);
    if (aborted) {
      entry.span.setAttribute(ATTR.errorType, 'aborted');
      entry.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the connection closed before the response was complete' });
    } else if (statusCode >= 500) {
      entry.span.setAttribute(ATTR.errorType, String(statusCode));
      entry.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    entry.span.end();
  };

  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?', 1)[0]!;
    if (opts.skip(path)) return done();
    // The configured propagator (W3C traceparent by default) reads the caller's context; no header: a new trace.
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.routeOptions.url;
    const span = tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR.httpMethod]: request.method,
          [ATTR.urlPath]: path,
          [ATTR.urlScheme]: request.protocol,
          ...(route ? { [ATTR.httpRoute]: route } : {}),
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    spans.set(request, { span, ctx });
    // The request's log lines (its one-line summary, a handler's warnings) carry the trace they belong to.
    request.log = request.log.child({ trace_id: span.spanContext().traceId });
    // Event streams hijack the reply (no onResponse then) and clients may leave early: the socket's close ends those.
    reply.raw.once('close', () => finish(request, reply.raw.statusCode, !reply.raw.writableFinished));
    context.with(ctx, done);
  });

  // Body parsing resumes on the socket's own async context: enter the span again right before the handler.
  app.addHook('preHandler', (request, _reply, done) => {
    const entry = spans.get(request);
    if (!entry) return done();
    context.with(entry.ctx, done);
  });

  app.addHook('onResponse', (request, reply, done) => {
    finish(request, reply.statusCode, false);
    done();
  });
}
