// The OpenTelemetry Node SDK, set up from TracingSettings: imported dynamically, and only when tracing is on.
import * as otelApi from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { PACKAGE_VERSION } from '../core/version.js';
import { ATTR } from './attributes.js';
import { createInstrumentations } from './instrumentations.js';
import type { TracingSettings } from './settings.js';
import { setTracingRuntime, type TracingRuntime } from './state.js';

export interface SdkOptions {
  settings: Extract<TracingSettings, { enabled: true }>;
  role: string;
  /** Tests: their own processors (an in-memory exporter) instead of the batched OTLP exporter. */
  spanProcessors?: SpanProcessor[];
  /** Tests may leave the library instrumentations out; production always has them. */
  instrumentations?: boolean;
}

/**
 * Starts the SDK and registers it globally (tracer provider, AsyncLocalStorage context, propagators from
 * OTEL_PROPAGATORS). The sampler comes from OTEL_TRACES_SAMPLER/_ARG and the batch settings from OTEL_BSP_*, as the
 * SDK reads them itself. Metrics and logs stay with prom-client and pino: no OTel reader or log processor is made.
 */
export function startSdk(opts: SdkOptions): TracingRuntime {
  const { settings } = opts;
  const instrumentations = opts.instrumentations === false ? [] : createInstrumentations();
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    resource: defaultResource().merge(resourceFromAttributes({ 'service.version': PACKAGE_VERSION, [ATTR.role]: opts.role })),
    ...(opts.spanProcessors ? { spanProcessors: opts.spanProcessors } : { traceExporter: createExporter(settings) }),
    instrumentations,
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const { context, propagation, trace } = otelApi;
  const provider = () => (trace.getTracerProvider() as { getDelegate?: () => { forceFlush?: () => Promise<void> } }).getDelegate?.();
  const runtime: TracingRuntime = {
    api: otelApi,
    flush: async () => {
      await provider()?.forceFlush?.();
    },
    shutdown: async () => {
      setTracingRuntime(null);
      await sdk.shutdown();
      // Unpatch and unregister the globals too, so a later start in the same process (tests) can register again.
      for (const instrumentation of instrumentations) instrumentation.disable();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  setTracingRuntime(runtime);
  return runtime;
}

/** OTLP over HTTP, protobuf or JSON; headers (OTEL_EXPORTER_OTLP_HEADERS) and timeout are read by the exporter itself. */
export function createExporter(settings: SdkOptions['settings']) {
  const config = { url: settings.tracesUrl };
  return settings.protocol === 'http/json' ? new OtlpJsonExporter(config) : new OtlpProtoExporter(config);
}
