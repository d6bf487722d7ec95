// One job's trace end to end (API → queue → steps → upstream calls → webhook), parents checked, no secret in any span.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { request } from 'undici';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEPS } from '../../src/flow/state.js';
import { createJobBodySchema, type Job } from '../../src/jobs/schemas.js';
import { createLogger } from '../../src/observability/logger.js';
import { ATTR } from '../../src/tracing/attributes.js';
import { parseTraceparent } from '../../src/tracing/traceparent.js';
import { SAMPLES } from '../helpers/multipart.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { uploadFile } from '../helpers/uploads.js';
import { parentId, spanId, startTestTracing, traceId, type TestTracing } from '../helpers/tracing.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Simulator log entries that are not calls of the upstream client (test controls, the CDN-style result file). */
const NOT_UPSTREAM = new Set(['control', 'unknown', 'render_result']);

describe('tracing: one job, one trace', () => {
  let tracing: TestTracing;
  let stack: Stack;
  let receiver: WebhookReceiver;
  let secret: string;
  const logLines: Record<string, unknown>[] = [];
  const caller = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };

  beforeAll(async () => {
    tracing = startTestTracing();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    stack = await startStack({ logger: createLogger('debug', 'nemo-relay', sink) });
    secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
  });

  /** The attempt span ends once the receiver answered, the last run once the job is done: waits for both of the job. */
  const lastSpansOf = (id: string) =>
    waitFor(
      () =>
        tracing.spans().some((s) => s.name === 'webhook.attempt' && s.attributes[ATTR.jobId] === id && s.attributes[ATTR.webhookOutcome] === 'delivered') &&
        tracing.spans().some((s) => s.name === 'flow.run' && s.attributes[ATTR.jobId] === id && s.attributes[ATTR.runResult] === 'finished'),
      { what: 'the last run and the webhook attempt span', timeoutMs: 10_000 },
    );

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
    await tracing?.stop();
  });

  it('links the request, every run, step, upstream call and webhook attempt of the job into the caller’s trace', async () => {
    const created = await stack.api<Job>(
      'POST',
      '/v1/jobs',
      {
        instruction: 'turn these images into a 30-second promo video with music and text',
        followups: ['add lo-fi background music at 35%'],
        sources: [{ url: 'https://example.com/products/photo-1.jpg' }, { url: 'https://example.com/products/photo-2.jpg' }],
        webhook: { url: receiver.url },
      },
      { headers: { traceparent: `00-${caller.traceId}-${caller.spanId}-01` } },
    );
    expect(created.status).toBe(202);
    const id = created.body.id;
    const delivery = await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded'), {
      what: `job.succeeded webhook for ${id}`,
      timeoutMs: 30_000,
    });
    expect(delivery.verified, delivery.verifyError ?? '').toBe(true);
    const ofJob = (s: ReadableSpan) => s.attributes[ATTR.jobId] === id;
    await lastSpansOf(id);

    const all = tracing.spans();
    const byId = new Map(all.map((s) => [spanId(s), s]));
    const inTrace = all.filter((s) => traceId(s) === caller.traceId);

    // Exactly one trace: every span naming the job, and every span below one, is in the caller's trace.
    const below = (s: ReadableSpan): boolean => ofJob(s) || (parentId(s) !== undefined && byId.has(parentId(s)!) && below(byId.get(parentId(s)!)!));
    const jobSpans = all.filter(below);
    expect(new Set(jobSpans.map(traceId))).toEqual(new Set([caller.traceId]));

    // The API request: a server span whose parent is the caller's span; its traceparent is the one the job keeps.
    const requests = inTrace.filter((s) => s.name === 'POST /v1/jobs');
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(parentId(request)).toBe(caller.spanId);
    expect(request.attributes[ATTR.httpStatus]).toBe(202);
    expect(request.attributes[ATTR.httpRoute]).toBe('/v1/jobs');

    // Every worker run continues the request's span (a job runs again after each delayed wait).
    const runs = inTrace.filter((s) => s.name === 'flow.run');
    expect(runs.length).toBeGreaterThanOrEqual(1);
    for (const run of runs) {
      expect(parentId(run)).toBe(spanId(request));
      expect(run.kind).toBe(SpanKind.CONSUMER);
      expect(run.attributes[ATTR.jobId]).toBe(id);
    }
    const runIds = new Set(runs.map(spanId));

    // Every step of the flow, each a child of a run, with its outcome.
    const steps = inTrace.filter((s) => s.name.startsWith('flow.step '));
    for (const step of steps) {
      expect(runIds.has(parentId(step)!), `${step.name} is a child of a run`).toBe(true);
      expect(step.name).toBe(`flow.step ${String(step.attributes[ATTR.step])}`);
      expect(step.attributes[ATTR.jobId]).toBe(id);
      expect(['next', 'wait', 'finished']).toContain(step.attributes[ATTR.stepOutcome]);
    }
    const stepNames = steps.map((s) => String(s.attributes[ATTR.step]));
    expect(stepNames.filter((s) => !(STEPS as readonly string[]).includes(s))).toEqual([]);
    // The happy path's steps (reconcile only follows a broken stream; check and mirror depend on the job and storage).
    for (const expected of ['auth', 'session', 'upload', 'generate', 'render_submit', 'render_poll', 'finish']) {
      expect(stepNames, `step ${expected}`).toContain(expected);
    }
    expect(stepNames.filter((s) => s === 'generate').length).toBeGreaterThanOrEqual(2);

    // Every upstream call the simulator saw is a `nemo <endpoint>` span under a step, endpoint for endpoint.
    const stepIds = new Set(steps.map(spanId));
    const upstream = all.filter((s) => s.name.startsWith('nemo '));
    for (const call of upstream) {
      expect(traceId(call)).toBe(caller.traceId);
      expect(stepIds.has(parentId(call)!), `${call.name} is a child of a step`).toBe(true);
      expect(call.kind).toBe(SpanKind.CLIENT);
      expect(['GET', 'POST']).toContain(call.attributes[ATTR.httpMethod]);
    }
    const simCalls = stack.sim.log.entries().filter((e) => !NOT_UPSTREAM.has(e.endpoint));
    const count = (names: string[]) => names.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n]: (acc[n] ?? 0) + 1 }), {});
    expect(count(upstream.map((s) => String(s.attributes[ATTR.upstreamEndpoint])))).toEqual(count(simCalls.map((e) => e.endpoint)));
    // The agent stream included: its status is noted once the stream has ended.
    expect(upstream.filter((s) => typeof s.attributes[ATTR.httpStatus] !== 'number').map((s) => s.name)).toEqual([]);
    // Below each REST call, the HTTP client span of the undici instrumentation (README "Tracing"): the dependency's own
    // undici must publish what the instrumentation listens to (src/core/http-agent.ts).
    const upstreamIds = new Set(upstream.map(spanId));
    const httpClient = all.filter((s) => upstreamIds.has(parentId(s)!) && s.kind === SpanKind.CLIENT && /^(GET|POST)$/.test(s.name));
    expect(new Set(httpClient.map(parentId)).size).toBeGreaterThanOrEqual(upstream.filter((s) => s.attributes[ATTR.upstreamEndpoint] !== 'run_sse').length);

    // The webhook attempt: a child of the job's stored traceparent, and the receiver got that attempt's traceparent.
    const attempts = inTrace.filter((s) => s.name === 'webhook.attempt' && ofJob(s));
    expect(attempts).toHaveLength(1);
    const attempt = attempts[0]!;
    expect(parentId(attempt)).toBe(spanId(request));
    expect(attempt.attributes).toMatchObject({
      [ATTR.webhookEventType]: 'job.succeeded',
      [ATTR.webhookAttempt]: 1,
      [ATTR.webhookOutcome]: 'delivered',
      [ATTR.httpStatus]: 204,
    });
    expect(typeof attempt.attributes[ATTR.webhookSeq]).toBe('number');
    const sent = parseTraceparent(String(delivery.headers.traceparent));
    expect(sent).toMatchObject({ traceId: caller.traceId, spanId: spanId(attempt) });

    // Every line of the job's worker log carries the trace id, the lines of its upstream calls included (logged at
    // debug by the client, through the job's logger: one "nemo call" per upstream span of the job's own calls).
    const jobLines = logLines.filter((l) => l.jobId === id);
    expect(jobLines.length).toBeGreaterThan(0);
    expect(jobLines.filter((l) => l.trace_id !== caller.traceId)).toEqual([]);
    const callLines = jobLines.filter((l) => l.msg === 'nemo call');
    const jobCalls = upstream.filter((s) => s.attributes[ATTR.upstreamEndpoint] !== 'anonymous_token' && s.attributes[ATTR.upstreamEndpoint] !== 'credits');
    expect(callLines.map((l) => l.endpoint).sort()).toEqual(jobCalls.map((s) => s.attributes[ATTR.upstreamEndpoint]).sort());
    expect(jobLines.filter((l) => l.msg === 'agent run ended')).toHaveLength(2);
    // The API's line for the request that created the job carries the same trace id.
    const requestLines = logLines.filter((l) => l.msg === 'request' && l.method === 'POST' && l.url === '/v1/jobs' && l.trace_id === caller.traceId);
    expect(requestLines).toHaveLength(1);

    // No secret in any span of the process: attributes, status messages, events, links.
    const clientIds = stack.sim.log.entries().flatMap((e) => (e.clientId ? [e.clientId] : []));
    const forbidden = [TENANTS.acme, TENANTS.globex, 'nmv_usr_', 'Bearer', secret, secret.replace(/^whsec_/, ''), ...clientIds];
    for (const span of all) {
      const text = JSON.stringify({ name: span.name, attributes: span.attributes, status: span.status, events: span.events, links: span.links });
      for (const word of forbidden) expect(text, `span ${span.name}`).not.toContain(word);
    }
  });

  it('a job stored without a trace (its API did not trace) still becomes one trace: its first run’s, which later runs and its webhook join', async () => {
    // Created outside any span, as by an API with tracing off: the record keeps no traceparent.
    const body = createJobBodySchema.parse({
      instruction: 'turn these images into a 30-second promo video with music and text',
      followups: ['add lo-fi background music at 35%'],
      sources: [{ url: 'https://example.com/products/photo-3.jpg' }],
      webhook: { url: receiver.url },
    });
    const record = await stack.services.jobs.create('acme', body);
    expect(record.trace).toBeNull();
    const id = record.job.id;
    await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded'), { what: 'its job.succeeded', timeoutMs: 30_000 });
    const ofJob = (s: ReadableSpan) => s.attributes[ATTR.jobId] === id;
    await lastSpansOf(id);
    const spans = tracing.spans().filter(ofJob);
    expect(spans.some((s) => s.name === 'webhook.attempt')).toBe(true);
    expect(new Set(spans.map(traceId)).size).toBe(1);
    expect((await stack.services.store.get(id))!.trace).toMatch(new RegExp(`^00-${traceId(spans[0]!)}-`));
  });

  it('a cancel mid-message ends the step and its upstream call as aborted, not failed (as the step metric counts it)', async () => {
    stack.sim.setScenario({ generateMs: 2_000_000 });
    try {
      const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video' });
      const id = created.body.id;
      await waitFor(() => stack.sim.log.entries().some((e) => e.endpoint === 'run_sse' && e.message?.startsWith('make a 10-second')), { what: 'the message sent' });
      expect((await stack.api('POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
      await waitForFinished(stack, id);
      const step = await waitFor(() => tracing.spans().find((s) => s.name === 'flow.step generate' && s.attributes[ATTR.jobId] === id), { what: 'the generate step span' });
      expect(step.attributes[ATTR.stepOutcome]).toBe('aborted');
      expect(step.attributes[ATTR.aborted]).toBe(true);
      expect(step.status.code).not.toBe(2); // SpanStatusCode.ERROR
      const call = tracing.spans().find((s) => s.name === 'nemo run_sse' && parentId(s) === spanId(step));
      expect(call?.attributes[ATTR.aborted]).toBe(true);
      expect(call?.status.code).not.toBe(2);
    } finally {
      stack.sim.setScenario({ generateMs: 150_000 });
    }
  });

  it('gives the streamed file upload its HTTP client span too, below nemo upload', async () => {
    const uploadId = await uploadFile(stack, 'photo.jpg', SAMPLES.jpg!.data);
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a ten-second teaser', sources: [{ upload_id: uploadId }] });
    const job = await waitForFinished(stack, created.body.id);
    expect(job.status).toBe('succeeded');
    // Releasing the staged upload is logged (at debug) in the job's trace, like the job's own lines.
    const released = await waitFor(() => logLines.find((l) => l.msg === 'staged uploads removed after the job ended' && l.jobId === job.id), {
      what: 'the staged upload release line',
      timeoutMs: 10_000,
    });
    const jobSpan = tracing.spans().find((r) => r.attributes[ATTR.jobId] === job.id)!;
    expect(released.trace_id).toBe(traceId(jobSpan));
    const upload = await waitFor(
      () => tracing.spans().find((s) => s.name === 'nemo upload' && traceId(s) === traceId(tracing.spans().find((r) => r.attributes[ATTR.jobId] === job.id)!)),
      { what: 'the nemo upload span of the job', timeoutMs: 10_000 },
    );
    const client = tracing.spans().filter((s) => parentId(s) === spanId(upload));
    expect(client).toHaveLength(1);
    expect(client[0]).toMatchObject({ name: 'POST', kind: SpanKind.CLIENT });
    expect(client[0]!.attributes).toMatchObject({ [ATTR.httpMethod]: 'POST', [ATTR.httpStatus]: 200, [ATTR.urlPath]: expect.stringMatching(/^\/api\/upload-video\//) });
    expect(upload.attributes[ATTR.httpStatus]).toBe(200);
  });

  it('ends the span of an event stream (a hijacked reply) when the client goes away', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a ten-second teaser' });
    const res = await request(`${stack.apiUrl}/v1/jobs/${created.body.id}/events`, { headers: { authorization: `Bearer ${TENANTS.acme}` } });
    expect(res.statusCode).toBe(200);
    for await (const _chunk of res.body) break; // the first event arrived: hang up
    const span = await waitFor(() => tracing.spans().find((s) => s.name === 'GET /v1/jobs/:id/events' && s.attributes[ATTR.urlPath] === `/v1/jobs/${created.body.id}/events`), {
      what: 'the event stream request span',
      timeoutMs: 10_000,
    });
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.attributes[ATTR.httpStatus]).toBe(200);
    await waitForFinished(stack, created.body.id);
  });
});
