// The OTEL_* settings: off unless an OTLP endpoint is set, the protocol picks the exporter, grpc is refused clearly.
import { describe, expect, it } from 'vitest';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { createExporter } from '../../src/tracing/sdk.js';
import { parseTracingSettings, TracingConfigError, type TracingSettings } from '../../src/tracing/settings.js';

const problems = (env: Record<string, string>) => {
  try {
    parseTracingSettings(env);
  } catch (err) {
    if (err instanceof TracingConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('tracing settings', () => {
  it('is off when no OTLP endpoint is set (empty counts as unset)', () => {
    expect(parseTracingSettings({})).toEqual({ enabled: false });
    expect(parseTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_SERVICE_NAME: 'x' })).toEqual({ enabled: false });
  });

  it('is on with the generic endpoint (+ /v1/traces) or the traces endpoint (as is), protobuf by default', () => {
    expect(parseTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318/' })).toEqual({
      enabled: true,
      tracesUrl: 'http://jaeger:4318/v1/traces',
      protocol: 'http/protobuf',
      serviceName: 'nemo-relay',
    });
    expect(
      parseTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/otlp/traces',
        OTEL_SERVICE_NAME: 'relay-eu',
      }),
    ).toMatchObject({ enabled: true, tracesUrl: 'https://collector.example/otlp/traces', serviceName: 'relay-eu' });
  });

  it('picks the exporter by protocol; the traces-specific variable wins', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318' };
    expect(parseTracingSettings({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toMatchObject({ protocol: 'http/json' });
    expect(parseTracingSettings({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' })).toMatchObject({ protocol: 'http/protobuf' });
    expect(
      parseTracingSettings({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }),
    ).toMatchObject({ protocol: 'http/json' });
  });

  it('builds the OTLP exporter the protocol names', async () => {
    const on = (protocol: string) => parseTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
    const json = createExporter(on('http/json') as Extract<TracingSettings, { enabled: true }>);
    const proto = createExporter(on('http/protobuf') as Extract<TracingSettings, { enabled: true }>);
    expect(json).toBeInstanceOf(OtlpJsonExporter);
    expect(proto).toBeInstanceOf(OtlpProtoExporter);
    await Promise.all([json.shutdown(), proto.shutdown()]);
  });

  it('refuses grpc and unknown protocols with one clear line, but only when tracing is on', () => {
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual([
      'OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported by nemo-relay; use http/protobuf (OTLP port 4318, the default) or http/json',
    ]);
    expect(problems({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://x:4318/v1/traces', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' })).toEqual([
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: must be http/protobuf or http/json',
    ]);
    expect(parseTracingSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual({ enabled: false });
  });

  it('refuses a sampler the SDK does not know, and a ratio out of 0..1, when tracing is on (the SDK sampled everything)', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318' };
    expect(problems({ ...on, OTEL_TRACES_SAMPLER: 'traceidratio_typo', OTEL_TRACES_SAMPLER_ARG: '0' })).toEqual([
      'OTEL_TRACES_SAMPLER: must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
    ]);
    expect(problems({ ...on, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: 'abc' })).toEqual([
      'OTEL_TRACES_SAMPLER_ARG: must be a ratio from 0 to 1 for a traceidratio sampler',
    ]);
    expect(parseTracingSettings({ ...on, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toMatchObject({ enabled: true });
    expect(parseTracingSettings({ OTEL_TRACES_SAMPLER: 'bogus' })).toEqual({ enabled: false });
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' })[0]).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http\(s\) URL/);
  });

  it('stays off when the SDK is disabled or the traces exporter is none', () => {
    const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318' };
    expect(parseTracingSettings({ ...on, OTEL_SDK_DISABLED: 'TRUE' })).toEqual({ enabled: false });
    expect(parseTracingSettings({ ...on, OTEL_SDK_DISABLED: 'false' })).toMatchObject({ enabled: true });
    expect(parseTracingSettings({ ...on, OTEL_TRACES_EXPORTER: 'none' })).toEqual({ enabled: false });
    expect(problems({ ...on, OTEL_TRACES_EXPORTER: 'zipkin' })).toEqual(['OTEL_TRACES_EXPORTER: must be otlp or none']);
  });
});
