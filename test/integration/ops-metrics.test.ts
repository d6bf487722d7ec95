// /metrics after a real job (steps, upstream calls, webhook attempts, job and queue gauges) and the bull-board dashboard.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';

/** The value of one sample line, e.g. sample(text, 'nemo_relay_jobs{tenant="acme",status="succeeded"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('metrics and dashboard', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let jobId: string;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN_KEY } });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'turn these photos into a 15-second promo with music',
      followups: ['add the title "Grand Opening" for the first 3 seconds'],
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.jpg' }],
      webhook: { url: receiver.url },
    });
    expect(created.status).toBe(202);
    jobId = created.body.id;
    await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === jobId && d.payload.type === 'job.succeeded'), {
      what: 'job.succeeded delivery',
      timeoutMs: 45_000,
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it('exports jobs by status, step durations, upstream calls, webhook attempts, queue depth and event-loop lag', async () => {
    // The metrics name every tenant: on the API port they are the operator's alone.
    const anonymous = await get(`${stack.apiUrl}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ message: 'the metrics: the admin key (ADMIN_API_KEY) is needed' });
    const tenant = await get(`${stack.apiUrl}/metrics`, { authorization: `Bearer ${TENANTS.acme}` });
    expect(tenant.status).toBe(403);
    expect(JSON.parse(tenant.text)).toMatchObject({ message: 'the metrics: for the operator only, use the admin key' });
    // The finish step is timed when it returns, which can be after the delivery worker already sent the webhook the
    // step queued: read until the step is counted.
    const res = await waitFor(
      async () => {
        const read = await get(`${stack.apiUrl}/metrics`, { authorization: `Bearer ${ADMIN_KEY}` });
        return read.status !== 200 || sample(read.text, 'nemo_relay_flow_step_duration_seconds_count{step="finish",outcome="ok"}') !== undefined ? read : null;
      },
      { what: 'the finish step in the metrics' },
    );
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;
    // Job gauges come from this stack's own key prefix, so the numbers are exact.
    expect(sample(text, 'nemo_relay_jobs{tenant="acme",status="succeeded"}')).toBe(1);
    expect(sample(text, 'nemo_relay_jobs{tenant="acme",status="running"}')).toBe(0);
    expect(sample(text, 'nemo_relay_jobs{tenant="globex",status="succeeded"}')).toBe(0);
    // One step run each for the one-shot steps; two agent messages.
    for (const step of ['auth', 'session', 'upload', 'render_submit', 'finish']) {
      expect(sample(text, `nemo_relay_flow_step_duration_seconds_count{step="${step}",outcome="ok"}`), step).toBe(1);
    }
    expect(sample(text, 'nemo_relay_flow_step_duration_seconds_count{step="generate",outcome="ok"}')).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^nemo_relay_flow_step_duration_seconds_bucket\{le="0\.01",step="auth",outcome="ok"\} \d+$/m);
    // Upstream calls: the simulator saw exactly as many agent calls and render submits as the counters say.
    expect(sample(text, 'nemo_relay_upstream_requests_total{endpoint="run_sse",outcome="ok"}')).toBe(stack.sim.log.count('run_sse'));
    expect(sample(text, 'nemo_relay_upstream_requests_total{endpoint="render_submit",outcome="ok"}')).toBe(1);
    expect(sample(text, 'nemo_relay_upstream_request_duration_seconds_count{endpoint="create_session",outcome="ok"}')).toBe(1);
    // Webhook attempts: every delivery the receiver got was counted as delivered.
    await waitFor(async () => {
      const again = (await get(`${stack.apiUrl}/metrics`, { authorization: `Bearer ${ADMIN_KEY}` })).text;
      return sample(again, 'nemo_relay_webhook_attempts_total{outcome="delivered"}') === receiver.deliveries.length;
    }, { what: 'webhook attempts to match the receiver' });
    expect(text).toMatch(/^nemo_relay_webhook_attempt_duration_seconds_count\{outcome="delivered"\} \d+$/m);
    // Queue depth from BullMQ.
    // A finished run leaves nothing in BullMQ (retention): the gauge shows no completed entries, and nothing waiting.
    expect(sample(text, 'nemo_relay_queue_jobs{queue="flow",state="completed"}')).toBe(0);
    expect(sample(text, 'nemo_relay_queue_jobs{queue="flow",state="waiting"}')).toBe(0);
    expect(sample(text, 'nemo_relay_queue_jobs{queue="flow",state="active"}')).toBe(0);
    expect(sample(text, 'nemo_relay_queue_jobs{queue="webhooks",state="waiting"}')).toBeDefined();
    expect(sample(text, 'nemo_relay_redis_up')).toBe(1);
    expect(text).toMatch(/^nemo_relay_build_info\{version="\d+\.\d+\.\d+[^"]*"\} 1$/m);
    // Event-loop lag and process metrics from prom-client's defaults.
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it('serves the dashboard: 401 without a key, the full board to the admin key, 403 to tenant keys', async () => {
    const base = `${stack.apiUrl}/admin/queues`;
    const anonymous = await get(base);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(JSON.parse(anonymous.text).code).toBe('UNAUTHORIZED');
    expect((await get(`${base}/api/queues`, { authorization: 'Bearer wrong-key-0123456789abcdef' })).status).toBe(401);

    // The admin key, as a browser sends it (Basic, password = key) and as scripts do (Bearer).
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}`;
    const page = await get(base, { authorization: basic });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<base href="/admin/queues/"');
    expect(page.text).not.toMatch(/googleapis/); // offline: no external stylesheet
    const css = /href="(static\/css\/[^"]+\.css)"/.exec(page.text)![1]!;
    expect((await get(`${base}/${css}`, { authorization: basic })).status).toBe(200);
    const adminQueues = JSON.parse((await get(`${base}/api/queues`, { authorization: `Bearer ${ADMIN_KEY}` })).text) as {
      queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[];
    };
    expect(adminQueues.queues.map((q) => q.name).sort()).toEqual(['flow', 'webhooks']);
    expect(adminQueues.queues.every((q) => !q.readOnlyMode)).toBe(true);
    expect(adminQueues.queues.find((q) => q.name === 'flow')!.counts.completed).toBe(0);

    // A tenant key: refused everywhere on the board (it would show other tenants' job ids and failures).
    const tenant = { authorization: `Bearer ${TENANTS.acme}` };
    for (const path of ['', '/', '/api/queues', `/${css}`]) {
      const res = await get(`${base}${path}`, tenant);
      expect(res.status, path).toBe(403);
      expect(res.text).not.toMatch(/job_[0-9A-Z]{26}/);
    }
    const pauseFull = await request(`${base}/api/queues/flow/pause`, { method: 'PUT', headers: tenant });
    await pauseFull.body.dump();
    expect(pauseFull.statusCode).toBe(403);
    expect(await stack.services.flowQueue.isPaused()).toBe(false);
  });
});
