// The span of one NemoVideo call (`nemo <endpoint>`), made where every upstream call passes: src/nemo/http.ts.
import { ATTR } from './attributes.js';
import { annotateActiveSpan, inSpan, SpanKind } from './spans.js';
import { tracingEnabled } from './state.js';

/** Runs one upstream call inside its span; off, it is a plain call. Attributes: endpoint, method, status, error kind. */
export function traceUpstream<T>(endpoint: string, method: string, call: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return call();
  const attributes = { [ATTR.upstreamEndpoint]: endpoint, [ATTR.httpMethod]: method };
  return inSpan(`nemo ${endpoint}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await call();
    } catch (err) {
      const e = err as { kind?: unknown; httpStatus?: unknown } | null;
      if (typeof e?.kind === 'string') span.setAttribute(ATTR.upstreamErrorKind, e.kind);
      if (typeof e?.httpStatus === 'number') span.setAttribute(ATTR.httpStatus, e.httpStatus);
      throw err;
    }
  });
}

/** The HTTP status of the call in flight, once its answer is in (the span only wraps the call). */
export function noteUpstreamStatus(status: number): void {
  annotateActiveSpan({ [ATTR.httpStatus]: status });
}
