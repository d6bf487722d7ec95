// Tracing in a test process: the real SDK start-up (src/tracing/sdk.ts) with an in-memory exporter instead of OTLP.
import type { SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startSdk } from '../../src/tracing/sdk.js';

export interface TestTracing {
  spans(): ReadableSpan[];
  reset(): void;
  stop(): Promise<void>;
}

/** Call before building the service (compose reads whether tracing is on). One per test file: the SDK is global. */
export function startTestTracing(opts: { instrumentations?: boolean } = {}): TestTracing {
  const exporter = new InMemorySpanExporter();
  const runtime = startSdk({
    // Never contacted: the in-memory processor replaces the OTLP exporter.
    settings: { enabled: true, tracesUrl: 'http://127.0.0.1:9/v1/traces', protocol: 'http/protobuf', serviceName: 'nemo-relay-test' },
    role: 'all',
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    instrumentations: opts.instrumentations ?? true,
  });
  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    stop: () => runtime.shutdown(),
  };
}

export const spanId = (span: ReadableSpan): string => span.spanContext().spanId;
export const traceId = (span: ReadableSpan): string => span.spanContext().traceId;
export const parentId = (span: ReadableSpan): string | undefined => (span.parentSpanContext as SpanContext | undefined)?.spanId;
