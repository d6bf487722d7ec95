// POST /v1/webhooks/test (what was signed, and how), the delivery log and redelivery with the same webhook-id.
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSchema, EVENT_TYPES, jobSchema, type Job } from '../../src/jobs/schemas.js';
import type { DeliveryAttempt } from '../../src/webhooks/deliveries.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

interface TestAnswer {
  status_code: number | null;
  response_body: string;
  duration_ms: number;
  webhook_id: string;
  webhook_timestamp: string;
  signed_content: string;
  signature: string;
  error: string | null;
}

describe('webhook routes', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let secret: string;

  beforeAll(async () => {
    stack = await startStack();
    secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it('POST /v1/webhooks/test sends a signed sample and shows exactly what was signed', async () => {
    receiver.respond(() => ({ status: 200, body: 'thanks' }));
    const res = await stack.api<TestAnswer>('POST', '/v1/webhooks/test', { url: receiver.url });
    expect(res.status).toBe(200);
    const answer = res.body;
    expect(answer).toMatchObject({ status_code: 200, response_body: 'thanks', error: null });
    expect(answer.webhook_id).toMatch(/^evt_/);
    const got = receiver.deliveries.at(-1)!;
    expect(got.verified).toBe(true);
    expect(got.headers['webhook-id']).toBe(answer.webhook_id);
    expect(got.headers['webhook-signature']).toBe(answer.signature);
    // The signed string is id.timestamp.body, byte for byte what the receiver got.
    expect(answer.signed_content).toBe(`${answer.webhook_id}.${got.headers['webhook-timestamp']}.${got.body}`);
    // An independent HMAC over the signed string with the decoded secret gives the signature we were shown ...
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(answer.signature).toBe(`v1,${createHmac('sha256', key).update(answer.signed_content).digest('base64')}`);
    // ... and the official library agrees.
    const headers = { 'webhook-id': answer.webhook_id, 'webhook-timestamp': answer.webhook_timestamp, 'webhook-signature': answer.signature };
    expect(new Webhook(secret).verify(got.body, headers)).toMatchObject({ type: 'job.succeeded', data: { metadata: { test: true } } });
    expect(answer.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('a test event of each type carries the data a real one of that type does (a failed job has its error, a batch end the batch)', async () => {
    const expected: Record<string, { status: string; ended: boolean; error: string | null }> = {
      'job.started': { status: 'running', ended: false, error: null },
      'job.progress': { status: 'running', ended: false, error: null },
      'job.succeeded': { status: 'succeeded', ended: true, error: null },
      'job.failed': { status: 'failed', ended: true, error: 'RENDER_FAILED' },
      'job.canceled': { status: 'canceled', ended: true, error: 'CANCELED' },
    };
    for (const type of EVENT_TYPES) {
      const res = await stack.api<TestAnswer>('POST', '/v1/webhooks/test', { url: receiver.url, type });
      expect(res.status).toBe(200);
      const payload = JSON.parse(res.body.signed_content.split('.').slice(2).join('.')) as { type: string; data: Record<string, unknown> };
      expect(payload.type).toBe(type);
      expect(payload.data.metadata).toEqual({ test: true });
      if (type === 'batch.succeeded' || type === 'batch.failed') {
        const batch = batchSchema.parse(payload.data);
        expect([type, batch.id.startsWith('bat_'), batch.status]).toEqual([type, true, type === 'batch.succeeded' ? 'succeeded' : 'failed']);
        continue;
      }
      const job = jobSchema.parse(payload.data);
      const want = expected[type]!;
      expect([type, job.status, job.finished_at !== null, job.error?.code ?? null, job.result !== null]).toEqual([
        type,
        want.status,
        want.ended,
        want.error,
        type === 'job.succeeded',
      ]);
    }
  });

  it('returns what a rejecting or unreachable receiver said', async () => {
    receiver.respond(() => ({ status: 401, body: 'bad signature' }));
    const rejected = await stack.api<TestAnswer>('POST', '/v1/webhooks/test', { url: receiver.url, type: 'job.failed' });
    expect(rejected.body).toMatchObject({ status_code: 401, response_body: 'bad signature', error: 'receiver answered 401' });
    expect(receiver.deliveries.at(-1)!.payload.type).toBe('job.failed');
    receiver.respond(() => ({ status: 204 }));

    const closed = await startWebhookReceiver();
    const deadUrl = closed.url;
    await closed.close();
    const unreachable = await stack.api<TestAnswer>('POST', '/v1/webhooks/test', { url: deadUrl });
    expect(unreachable.status).toBe(200);
    expect(unreachable.body).toMatchObject({ status_code: null, error: 'connection refused (ECONNREFUSED)' });
    expect(unreachable.body.signature).toMatch(/^v1,/);
    expect((await stack.api('POST', '/v1/webhooks/test', { url: receiver.url, extra: 1 })).status).toBe(400);
  });

  it('POST /v1/webhooks/test: a url that is not an absolute http(s) URL is a validation error naming the field, as on a job', async () => {
    for (const url of ['nope', 'ftp://example.com/hook', '/relative/hook']) {
      const res = await stack.api<{ code: string; message: string }>('POST', '/v1/webhooks/test', { url });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', message: 'url: must be an absolute http or https URL' });
    }
  });

  /** A job whose job.succeeded the receiver took (204): its id, and the deliveries of it the receiver has seen so far. */
  async function deliveredJob() {
    receiver.respond(() => ({ status: 204 }));
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 5-second clip', webhook: { url: receiver.url } });
    const id = created.body.id;
    const forJob = () => receiver.deliveries.filter((d) => d.payload.data.id === id);
    await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.webhook?.status === 'delivered', { what: 'delivered' });
    return { id, forJob };
  }

  it('logs deliveries and redelivers the latest wanted event with the same webhook-id', async () => {
    const { id, forJob } = await deliveredJob();
    expect(forJob().map((d) => d.payload.type)).toEqual(['job.succeeded']);
    const original = forJob()[0]!;

    const log = await stack.api<{ data: DeliveryAttempt[] }>('GET', `/v1/jobs/${id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.data).toHaveLength(1);
    expect(log.body.data[0]).toMatchObject({ event_id: original.headers['webhook-id'], type: 'job.succeeded', attempt: 1, status_code: 204, error: null });
    expect(Date.parse(log.body.data[0]!.at)).not.toBeNaN();

    const redeliver = await stack.api<{ event_id: string; type: string }>('POST', `/v1/jobs/${id}/deliveries/redeliver`);
    expect(redeliver.status).toBe(202);
    expect(redeliver.body).toMatchObject({ event_id: original.headers['webhook-id'], type: 'job.succeeded' });
    await waitFor(() => forJob().length === 2, { what: 'redelivery' });
    const again = forJob()[1]!;
    expect(again.headers['webhook-id']).toBe(original.headers['webhook-id']);
    expect(again.body).toBe(original.body);
    expect(again.verified).toBe(true);
    await waitFor(async () => (await stack.api<{ data: DeliveryAttempt[] }>('GET', `/v1/jobs/${id}/deliveries`)).body.data.length === 2, {
      what: 'second log entry',
    });
    const after = (await stack.api<{ data: DeliveryAttempt[] }>('GET', `/v1/jobs/${id}/deliveries`)).body.data;
    expect(after.map((a) => [a.event_id, a.attempt, a.status_code])).toEqual([
      [original.headers['webhook-id'], 1, 204],
      [original.headers['webhook-id'], 2, 204],
    ]);
    await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.webhook?.status === 'delivered', { what: 'delivered again' });
    expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.webhook?.attempts).toBe(2);

    // Another tenant sees neither the log nor can it redeliver.
    expect((await stack.api('GET', `/v1/jobs/${id}/deliveries`, undefined, { key: TENANTS.globex })).status).toBe(404);
    expect((await stack.api('POST', `/v1/jobs/${id}/deliveries/redeliver`, undefined, { key: TENANTS.globex })).status).toBe(404);
  });

  it('redeliveries asked for at once are each sent: twenty 202s, twenty more deliveries of the same event', async () => {
    const { id, forJob } = await deliveredJob();
    const answers = await Promise.all(Array.from({ length: 20 }, () => stack.api('POST', `/v1/jobs/${id}/deliveries/redeliver`)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    // Same-millisecond requests shared a queue id, and BullMQ kept one of them: 15 of 20 arrived in an audit.
    await waitFor(() => forJob().length === 21, { what: `21 deliveries (now ${forJob().length})`, timeoutMs: 20_000 });
    expect(new Set(forJob().map((d) => d.headers['webhook-id'])).size).toBe(1);
  });

  it('refuses to redeliver for a job without a webhook: 409 NOTHING_TO_REDELIVER (the request was valid; the job has nothing to send)', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'no hooks here' });
    const res = await stack.api<{ code: string; message: string }>('POST', `/v1/jobs/${created.body.id}/deliveries/redeliver`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'NOTHING_TO_REDELIVER', message: `job ${created.body.id} has no webhook` });
    expect((await stack.api<{ data: unknown[] }>('GET', `/v1/jobs/${created.body.id}/deliveries`)).body.data).toEqual([]);
  });
});
