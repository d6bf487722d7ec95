// A Redis that stops answering (SIGSTOP: the connection stays up) must not hold the API: new requests 503 at once, caught ones bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_DEADLINE_MS } from '../../src/http/store-deadline.js';
import { REQUEST_COMMAND_TIMEOUT_MS } from '../../src/redis/client.js';
import { adminCall, startSingle } from '../helpers/redis-topology.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const BODY = { instruction: 'a ten-second teaser' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a Redis that stops answering', () => {
  let redis: Awaited<ReturnType<typeof startSingle>>;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startSingle();
    stack = await startStack({ worker: false, env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    // Should the test have failed while Redis was stopped, it is let go first, or closing would wait for it.
    if (redis) process.kill(redis.node.pid, 'SIGCONT');
    await stack?.close();
    await redis?.stop();
  });

  it('answers new requests 503 NOT_READY at once, the ones it caught within the deadline, and recovers', async () => {
    expect((await stack.api('POST', '/v1/jobs', BODY)).status).toBe(202);
    process.kill(redis.node.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    const caught: Promise<{ status: number; ms: number; code: string }>[] = [];
    try {
      // Traffic goes on: a create every 200 ms, each in flight on its own.
      for (let i = 0; i < 12; i++) {
        const sent = Date.now();
        caught.push(stack.api<{ code: string }>('POST', '/v1/jobs', BODY).then((res) => ({ status: res.status, ms: Date.now() - sent, code: res.body.code })));
        await sleep(200);
      }
      // By now a PING has gone unanswered for over a second: refused at once, reads too.
      const asked = Date.now();
      const refused = await stack.api<{ code: string }>('POST', '/v1/jobs', BODY);
      expect([refused.status, refused.body.code]).toEqual([503, 'NOT_READY']);
      const read = await stack.api<{ code: string }>('GET', '/v1/jobs');
      expect([read.status, read.body.code]).toEqual([503, 'NOT_READY']);
      expect(Date.now() - asked).toBeLessThan(1_000);
      // Every request caught by the stop has its answer within the deadline, while Redis is still stopped.
      const answers = await Promise.all(caught);
      expect(Date.now() - stoppedAt).toBeLessThan(STORE_DEADLINE_MS + 3_000);
      for (const a of answers) {
        expect([a.status, a.code]).toEqual([503, 'NOT_READY']);
        expect(a.ms).toBeLessThan(STORE_DEADLINE_MS + 1_000);
      }
    } finally {
      process.kill(redis.node.pid, 'SIGCONT');
    }
    await waitFor(async () => (await stack.api('POST', '/v1/jobs', BODY)).status === 202, { what: 'creates accepted again', timeoutMs: 10_000 });
  }, 40_000);

  it('answers reads it caught within the command timeout each, and the first request after the outage normally, however late', async () => {
    expect((await stack.api('GET', '/v1/jobs')).status).toBe(200);
    process.kill(redis.node.pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    let answers: { status: number; ms: number }[];
    try {
      // Reads arriving before the watch's PING has gone unanswered for a second are let through: each one is bounded by
      // its own command timeout (auto-pipelined, a read waited for the one before it to time out first: 5.5 s). The
      // last one comes late enough to send a PING, which goes unanswered.
      answers = await Promise.all(
        [0, 300, 600, 900, 1_300].map(async (delay) => {
          await sleep(delay);
          const sent = Date.now();
          const res = await stack.api('GET', '/v1/jobs');
          return { status: res.status, ms: Date.now() - sent };
        }),
      );
      // That PING has timed out by now: the watch has seen Redis silent.
      await sleep(Math.max(0, 1_300 + REQUEST_COMMAND_TIMEOUT_MS + 300 - (Date.now() - stoppedAt)));
      const refused = await stack.api<{ code: string }>('GET', '/v1/jobs');
      expect([refused.status, refused.body.code]).toEqual([503, 'NOT_READY']);
      // The PING that refusal sent goes unanswered too, and nothing asks again before Redis is back.
      await sleep(REQUEST_COMMAND_TIMEOUT_MS + 500);
    } finally {
      process.kill(redis.node.pid, 'SIGCONT');
    }
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(a.ms).toBeLessThan(REQUEST_COMMAND_TIMEOUT_MS + 700);
    }
    // Idle for a while after Redis is back: the first request must not be refused on the outage's last word.
    await sleep(2_500);
    const first = await stack.api<{ code?: string }>('GET', '/v1/jobs');
    expect([first.status, first.body.code]).toEqual([200, undefined]);
    expect((await stack.api('POST', '/v1/jobs', BODY)).status).toBe(202);
  }, 40_000);

  it('a batch whose key claim went unanswered in a stall can be retried with the same key as soon as Redis is back', async () => {
    const key = `stalled-batch-${Date.now()}`;
    const body = { items: [{ instruction: 'a teaser' }] };
    // A batch just before: the answering watch has seen Redis well and the tenant's settings are cached, so the create
    // below goes straight to its key claim in the stall.
    expect((await stack.api('POST', '/v1/batches', body, { headers: { 'idempotency-key': `${key}-before` } })).status).toBe(202);
    // Every client's commands wait 5 s (a stall with the connections up), then run: the claim lands after its request gave up.
    await adminCall(redis.node.port, 'CLIENT', 'PAUSE', 5_000, 'ALL');
    const first = await stack.api('POST', '/v1/batches', body, { headers: { 'idempotency-key': key } });
    expect(first.status).toBe(503);
    // Until the stall ends and a moment after: that claim was then held for a minute, every retry answered 409 IN_USE.
    await sleep(5_000);
    const retry = await stack.api<{ id: string }>('POST', '/v1/batches', body, { headers: { 'idempotency-key': key } });
    expect(retry.status).toBe(202);
    const replay = await stack.api<{ id: string }>('POST', '/v1/batches', body, { headers: { 'idempotency-key': key } });
    expect([replay.status, replay.body.id]).toEqual([200, retry.body.id]);
  }, 40_000);
});
