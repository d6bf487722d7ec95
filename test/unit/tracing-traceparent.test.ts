// The traceparent the job record keeps and webhooks send: W3C format, read back the same by the reference propagator.
import { ROOT_CONTEXT, trace, TraceFlags, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { NOOP_SPAN, traceparentOf } from '../../src/tracing/spans.js';
import { formatTraceparent, parseTraceparent, traceIdOf } from '../../src/tracing/traceparent.js';
import { withTraceparent } from '../../src/tracing/webhooks.js';

const W3C = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;
const ctx = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED };
const getter: TextMapGetter<Record<string, string>> = { keys: (c) => Object.keys(c), get: (c, k) => c[k] };

describe('traceparent', () => {
  it('is 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>', () => {
    expect(formatTraceparent(ctx)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(formatTraceparent({ ...ctx, traceFlags: TraceFlags.NONE })).toMatch(W3C);
    expect(formatTraceparent({ ...ctx, traceId: '0'.repeat(32) })).toBeNull();
    expect(formatTraceparent({ ...ctx, spanId: '0'.repeat(16) })).toBeNull();
  });

  it('matches what the W3C reference propagator writes and reads', () => {
    const carrier: Record<string, string> = {};
    new W3CTraceContextPropagator().inject(trace.setSpanContext(ROOT_CONTEXT, ctx), carrier, { set: (c, k, v) => (c[k] = v) });
    expect(formatTraceparent(ctx)).toBe(carrier.traceparent);
    const extracted = new W3CTraceContextPropagator().extract(ROOT_CONTEXT, { traceparent: formatTraceparent(ctx)! }, getter);
    expect(trace.getSpanContext(extracted)).toMatchObject({ ...ctx, isRemote: true });
    expect(parseTraceparent(carrier.traceparent)).toEqual({ ...ctx, isRemote: true });
  });

  it('rejects what is not a valid traceparent', () => {
    for (const bad of [
      '',
      'garbage',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    ]) {
      expect(parseTraceparent(bad), bad).toBeNull();
    }
    expect(parseTraceparent(null)).toBeNull();
    expect(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(ctx.traceId);
  });

  it('goes out on a webhook as the attempt span’s header, and not at all with tracing off', () => {
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,abc' };
    const sent = withTraceparent(headers, trace.wrapSpanContext(ctx));
    expect(sent.traceparent).toMatch(W3C);
    expect(sent).toEqual({ ...headers, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    expect(withTraceparent(headers, NOOP_SPAN)).toBe(headers);
    expect(traceparentOf(NOOP_SPAN)).toBeNull();
  });
});
