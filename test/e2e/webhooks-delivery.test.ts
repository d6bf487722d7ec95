// Delivery rules against real receivers: retries with one webhook-id, 410, Retry-After, redirects, timeouts, ordering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, JobEvent } from '../../src/jobs/schemas.js';
import type { DeliveryAttempt } from '../../src/webhooks/deliveries.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type ReceivedDelivery, type Responder, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const TIMEOUT_MS = 1_000;
const SCHEDULE = [50, 100, 200, 400];
const ALL_EVENTS = ['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled'];

describe('webhook delivery rules', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let elsewhere: WebhookReceiver;
  /** Each test's jobs carry metadata.case; the receiver answers per case, counting that job's deliveries. */
  const cases = new Map<string, Responder>();

  beforeAll(async () => {
    stack = await startStack({
      env: { WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS), WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE.join(',') },
    });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
    elsewhere = await startWebhookReceiver([secret]);
    receiver.respond((d) => {
      const name = String(d.payload.data.metadata && (d.payload.data.metadata as { case?: string }).case);
      const responder = cases.get(name);
      return responder ? responder(d, forJob(d.payload.data.id).length - 1) : { status: 204 };
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await elsewhere?.close();
    await stack?.close();
  });

  const forJob = (id: string): ReceivedDelivery[] => receiver.deliveries.filter((d) => d.payload.data.id === id);
  const job = async (id: string) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
  const attempts = async (id: string) => (await stack.api<{ data: DeliveryAttempt[] }>('GET', `/v1/jobs/${id}/deliveries`)).body.data;
  const events = async (id: string) =>
    (await stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${id}/events`, undefined, { headers: { accept: 'application/json' } })).body.data;

  async function createJob(name: string, responder: Responder, webhookEvents?: string[]): Promise<string> {
    cases.set(name, responder);
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 10-second promo video for a bakery',
      webhook: { url: receiver.url, ...(webhookEvents ? { events: webhookEvents } : {}) },
      metadata: { case: name },
    });
    expect(created.status).toBe(202);
    return created.body.id;
  }

  it('retries a failing receiver with the same webhook-id, logs every attempt, and ends delivered', async () => {
    // The second failure answers more than an attempt record keeps: its excerpt is the start of it.
    const long = `schema mismatch: ${'x'.repeat(600)}`;
    const id = await createJob('fail-3', (_d, n) => (n < 3 ? { status: 500, body: n === 1 ? long : 'boom' } : { status: 204, delayMs: 400 }));
    // While the 4th attempt is in flight, the job shows the failures so far.
    await waitFor(() => forJob(id).length === 4, { what: '4th attempt' });
    const during = await job(id);
    expect(during.webhook).toMatchObject({ status: 'failing', attempts: 3 });
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered' });

    const received = forJob(id);
    expect(received.every((d) => d.verified)).toBe(true);
    expect(new Set(received.map((d) => d.headers['webhook-id'])).size).toBe(1);
    expect(received.every((d) => d.payload.type === 'job.succeeded' && d.payload.data.status === 'succeeded')).toBe(true);
    expect((await job(id)).webhook).toMatchObject({ status: 'delivered', attempts: 4 });

    const log = await attempts(id);
    expect(log.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, 'receiver answered 500'],
      [2, 500, 'receiver answered 500'],
      [3, 500, 'receiver answered 500'],
      [4, 204, null],
    ]);
    // Each attempt keeps the start of what the receiver answered (the console's delivery log shows it).
    expect(log.map((a) => a.response_excerpt)).toEqual(['boom', long.slice(0, 500), 'boom', '']);
    expect(new Set(log.map((a) => a.event_id))).toEqual(new Set([received[0]!.headers['webhook-id']]));
    expect(log[3]!.duration_ms).toBeGreaterThanOrEqual(350);
    // Retry gaps follow the schedule (±20% jitter), measured at the receiver.
    const gaps = received.slice(1).map((d, i) => d.at - received[i]!.at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(SCHEDULE[i]! * 0.8 - 5));
    console.info(`[measured] fail-3: attempts=${log.length}, gaps ms=${gaps.join(',')} (schedule ${SCHEDULE.slice(0, 3).join(',')} ±20%)`);
  });

  it('gives up after the schedule and marks the webhook exhausted', async () => {
    const id = await createJob('always-500', () => ({ status: 500 }));
    await waitFor(async () => (await job(id)).webhook?.status === 'exhausted', { what: 'exhausted' });
    const log = await attempts(id);
    expect(log).toHaveLength(SCHEDULE.length + 1);
    expect((await job(id)).webhook?.attempts).toBe(SCHEDULE.length + 1);
  });

  it('stops delivering a job after 410 Gone: later events are never sent', async () => {
    const id = await createJob('gone', () => ({ status: 410 }), ALL_EVENTS);
    await waitFor(async () => ['succeeded', 'failed'].includes((await job(id)).status), { what: 'job finished' });
    const all = await events(id);
    // Every event has been looked at by the dispatcher (and refused a claim) once the ledger has seen the last one.
    await waitFor(async () => (await stack.services.ledger.seen(id)) === all.at(-1)!.seq, { what: 'dispatcher saw all events' });
    expect(all.length).toBeGreaterThan(2);
    expect(forJob(id).map((d) => d.payload.type)).toEqual(['job.started']);
    expect([...(await stack.services.ledger.states(id)).entries()]).toEqual([[1, 'stopped']]);
    expect(await stack.services.ledger.stopReason(id)).toBe('receiver answered 410 Gone');
    expect((await job(id)).webhook).toMatchObject({ status: 'exhausted', attempts: 1 });
    expect((await attempts(id)).map((a) => a.status_code)).toEqual([410]);
  });

  it('honours Retry-After on 429: the next attempt comes no earlier', async () => {
    const id = await createJob('429', (_d, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 204 }));
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered after 429' });
    const [first, second] = forJob(id);
    const gap = second!.at - first!.at;
    expect(gap).toBeGreaterThanOrEqual(1_000);
    expect((await attempts(id)).map((a) => a.status_code)).toEqual([429, 204]);
    console.info(`[measured] 429 Retry-After: 1 s → next attempt after ${gap} ms (schedule alone: ${SCHEDULE[0]} ms ±20%)`);
  });

  it('honours Retry-After on 503 as an HTTP date too', async () => {
    const id = await createJob('503', (_d, n) =>
      n === 0 ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 2_000).toUTCString() } } : { status: 204 },
    );
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered after 503' });
    const [first, second] = forJob(id);
    // An HTTP date has whole-second precision: at least 1 s of the asked-for 1-2 s remains.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1_000);
    console.info(`[measured] 503 Retry-After: <date +2 s> → next attempt after ${second!.at - first!.at} ms`);
  });

  it('honours Retry-After on a 500 too (the contract honours it on any failed answer)', async () => {
    const id = await createJob('500', (_d, n) => (n === 0 ? { status: 500, headers: { 'retry-after': '2' } } : { status: 204 }));
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered after 500' });
    const [first, second] = forJob(id);
    // The schedule alone would come back after SCHEDULE[0] ±20 %, well under 2 s.
    expect(SCHEDULE[0]! * 1.2).toBeLessThan(2_000);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
    expect((await attempts(id)).map((a) => a.status_code)).toEqual([500, 204]);
  });

  it('a slow receiver of job.started does not hold the job: the message goes out while the webhook is in flight', async () => {
    // The commit that writes job.started also marks the first message sent; its webhook attempt once ran before the
    // message did, so the message waited for the receiver (and a worker killed meanwhile lost it).
    const id = await createJob('slow-start', (d) => (d.payload.type === 'job.started' ? { status: 204, delayMs: 900 } : { status: 204 }), [
      'job.started',
      'job.succeeded',
    ]);
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered' && (await job(id)).status === 'succeeded', { what: 'succeeded, delivered' });
    const started = forJob(id).find((d) => d.payload.type === 'job.started')!;
    const session = (await job(id)).upstream.session_id;
    const firstRun = stack.sim.log.entries().find((e) => e.endpoint === 'run_sse' && e.sessionId === session)!;
    // Sent while the receiver still held job.started (it answers after 900 ms).
    expect(Date.parse(firstRun.at) - started.at).toBeLessThan(600);
    // And in order all the same: job.succeeded waited behind job.started, still in flight when the job ended.
    await waitFor(() => forJob(id).length === 2, { what: 'job.succeeded delivered too' });
    expect(forJob(id).map((d) => d.payload.type)).toEqual(['job.started', 'job.succeeded']);
  });

  it('does not follow a 302 and records it as a failed attempt', async () => {
    const id = await createJob('302', (_d, n) => (n === 0 ? { status: 302, headers: { location: elsewhere.url } } : { status: 204 }));
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered after 302' });
    const log = await attempts(id);
    expect(log.map((a) => [a.status_code, a.error])).toEqual([
      [302, 'redirect (302) not followed'],
      [204, null],
    ]);
    expect(elsewhere.deliveries).toHaveLength(0);
  });

  it('gives up on a receiver that hangs past WEBHOOK_TIMEOUT_MS and retries', async () => {
    const id = await createJob('hang', (_d, n) => (n === 0 ? { status: 204, delayMs: 10_000 } : { status: 204 }));
    await waitFor(async () => (await job(id)).webhook?.status === 'delivered', { what: 'delivered after a timeout' });
    const log = await attempts(id);
    expect(log.map((a) => [a.status_code, a.error])).toEqual([
      [null, `timeout after ${TIMEOUT_MS} ms`],
      [204, null],
    ]);
    expect(log[0]!.duration_ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(log[0]!.duration_ms).toBeLessThan(TIMEOUT_MS + 2_000);
    console.info(`[measured] hanging receiver: attempt 1 cut after ${log[0]!.duration_ms} ms (timeout ${TIMEOUT_MS} ms)`);
  });

  it('keeps a job’s deliveries in seq order while the first event is retried', async () => {
    const id = await createJob('order', (d, n) => (d.payload.type === 'job.started' && n < 3 ? { status: 503 } : { status: 200 }), ALL_EVENTS);
    await waitFor(async () => ['succeeded', 'failed'].includes((await job(id)).status), { what: 'job finished' });
    const all = await events(id);
    await waitFor(() => new Set(forJob(id).map((d) => d.headers['webhook-id'])).size === all.length, { what: 'every event delivered' });
    const received = forJob(id);
    const ids = received.map((d) => String(d.headers['webhook-id']));
    // The first event's four attempts come first; then every event once, in seq order.
    expect(ids.slice(0, 4)).toEqual(Array(4).fill(all[0]!.id));
    expect(ids.slice(3)).toEqual(all.map((e) => e.id));
    expect(received.every((d) => d.verified)).toBe(true);
    // The last attempt is settled after its receiver answered: the job's record says so a moment after the arrival.
    await expect.poll(async () => (await job(id)).webhook, { timeout: 5_000 }).toMatchObject({ status: 'delivered', attempts: all.length + 3 });
    console.info(`[measured] ordering: ${all.length} events (${all.map((e) => e.type).join(' ')}), ${received.length} deliveries`);
  });
});
