// The library instrumentations used when tracing is on (imported only then): outgoing HTTP, undici, ioredis — all quiet.
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { carriesTraceparent, urlWithoutQuery } from './redact.js';

/**
 * - http: outgoing only (the S3 client, CommonJS: patched without the loader hook); server spans come from the API's
 *   own hooks (see http-server.ts).
 * - undici: every fetch/request (upstream calls, webhooks, HEAD probes); a request that already carries a traceparent
 *   (a webhook attempt, whose own span is the client span) is left alone so receivers get exactly one header.
 * - ioredis: command name only (arguments are keys, payloads, passwords); no span without a parent, so the queue's
 *   background polling never starts a trace of its own.
 * No instrumentation records headers; URLs lose their query strings.
 */
export function createInstrumentations() {
  return [
    new HttpInstrumentation({
      disableIncomingRequestInstrumentation: true,
      requireParentforOutgoingSpans: true,
      startOutgoingSpanHook: (request) => {
        const protocol = request.protocol ?? 'http:';
        const host = request.hostname ?? request.host ?? 'localhost';
        const port = request.port ? `:${String(request.port)}` : '';
        return { 'url.full': urlWithoutQuery(`${protocol}//${host}${port}${request.path ?? '/'}`) };
      },
    }),
    new UndiciInstrumentation({
      requireParentforSpans: true,
      ignoreRequestHook: (request) => carriesTraceparent(request.headers),
      startSpanHook: (request) => {
        const url = `${request.origin}${request.path}`;
        return { 'url.full': urlWithoutQuery(url), 'url.query': '' };
      },
    }),
    new IORedisInstrumentation({
      requireParentSpan: true,
      dbStatementSerializer: (command) => command,
    }),
  ];
}
