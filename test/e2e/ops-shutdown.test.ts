// Graceful shutdown: SIGTERM mid-job exits 0 and hands the job back; the next worker finishes it with no repeated upstream work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, JobEvent } from '../../src/jobs/schemas.js';
import { TERMINAL_EVENTS } from '../../src/jobs/schemas.js';
import { freePort, spawnRole, stopChild, type Child } from '../helpers/ops-process.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

describe('graceful shutdown of a worker process', () => {
  let stack: Stack;
  const children: Child[] = [];

  async function worker(env: Record<string, string>): Promise<Child> {
    const child = spawnRole('worker', {
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: stack.prefix,
      NEMO_BASE_URL: stack.sim.url,
      HOST: '127.0.0.1',
      METRICS_PORT: String(await freePort()),
      WORKER_LOCK_MS: '5000',
      // A stream cut by the shutdown is reconciled from state while the simulated agent finishes (seconds here).
      RECONCILE_INTERVAL_MS: '200',
      RECONCILE_MAX_UNCHANGED: '100',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      UPLOAD_DIR: `./data/test-uploads/${stack.prefix}`,
      LOG_LEVEL: 'info',
      ...env,
    });
    children.push(child);
    await child.waitForLog((l) => l.msg === 'nemo-relay started', 'worker start-up', 60_000);
    return child;
  }

  async function submit(): Promise<string> {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 20-second promo video from these photos',
      followups: ['add the title "Summer Sale" for the first 3 seconds'],
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.jpg' }],
    });
    expect(created.status).toBe(202);
    return created.body.id;
  }

  /** Waits until the job's first agent message is streaming (its /run_sse is open at the simulator). */
  async function midStream(id: string): Promise<string> {
    return waitFor(
      async () => {
        const session = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.upstream.session_id;
        return session && stack.sim.log.count('run_sse', { sessionId: session }) === 1 ? session : null;
      },
      { what: 'the first /run_sse to open', timeoutMs: 30_000 },
    );
  }

  async function assertFinishedOnce(id: string, session: string) {
    const job = await waitFor(
      async () => {
        const j = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
        return j.status === 'succeeded' || j.status === 'failed' ? j : null;
      },
      { what: `job ${id} to finish`, timeoutMs: 90_000, intervalMs: 100 },
    );
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // One /run_sse per message and one render: nothing upstream was done twice across the two workers.
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(2);
    expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
    const events = (await stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${id}/events`, undefined, { headers: { accept: 'application/json' } })).body.data;
    expect(events.filter((e) => (TERMINAL_EVENTS as readonly string[]).includes(e.type)).length).toBe(1);
  }

  beforeAll(async () => {
    // 0.03: a generate message takes ~4.5 s and an edit ~0.6 s at the simulator, so a SIGTERM lands mid-stream.
    stack = await startStack({ worker: false, timeScale: 0.03 });
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await stack?.close();
  });

  it('past the grace period: aborts the open stream, hands the job back, exits 0; the next worker reconciles instead of re-sending', async () => {
    const first = await worker({ SHUTDOWN_GRACE_MS: '300' });
    const id = await submit();
    const session = await midStream(id);
    const signalled = Date.now();
    first.kill('SIGTERM');
    // A second signal (compose repeating it, Ctrl-C twice) is ignored: the hand-over is not cut short.
    await first.waitForLog((l) => l.msg === 'shutting down', 'the shutdown to start');
    first.kill('SIGTERM');
    first.kill('SIGINT');
    const exit = await first.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.logs().filter((l) => l.msg === 'already shutting down')).toHaveLength(2);
    expect(Date.now() - signalled).toBeLessThan(15_000);
    expect(first.logs().some((l) => /handing their jobs back/.test(String(l.msg)))).toBe(true);
    // Handed back, not failed: still running, waiting in the queue for the next worker.
    expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('running');
    expect((await stack.services.flowQueue.getJobCounts('active'))['active']).toBe(0);

    const second = await worker({});
    await assertFinishedOnce(id, session);
    expect(second.logs().some((l) => /reconciled/.test(String(l.msg)))).toBe(true);
    // The next case needs its own first worker to be the only one.
    await stopChild(second);
    expect(second.process.exitCode).toBe(0);
  });

  it('within the grace period: lets the running step finish, then hands the job back at the step boundary and exits 0', async () => {
    const first = await worker({ SHUTDOWN_GRACE_MS: '30000' });
    const id = await submit();
    const session = await midStream(id);
    first.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(first.logs().some((l) => /handing their jobs back/.test(String(l.msg)))).toBe(false);
    // The first message's stream ran to its end before the exit; the second was not started.
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(1);
    const entry = stack.sim.log.entries().find((e) => e.endpoint === 'run_sse' && e.sessionId === session)!;
    expect(entry.status).toBe(200);

    const second = await worker({});
    await assertFinishedOnce(id, session);
    expect(second.logs().some((l) => /reconciled/.test(String(l.msg)))).toBe(false);
  });

  it('past the grace period, a webhook attempt still out (a receiver that never answers) is cut, not waited for, and retried by the next worker', async () => {
    // The workers of the cases before are stopped: this job must run on the worker below.
    await Promise.all(children.map((c) => stopChild(c)));
    const receiver = await startWebhookReceiver();
    try {
      receiver.respond(() => ({ status: 204, delayMs: 120_000 }));
      const env = { SHUTDOWN_GRACE_MS: '300', WEBHOOK_TIMEOUT_MS: '60000', WEBHOOK_RETRY_SCHEDULE_MS: '200,200' };
      const first = await worker(env);
      const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 5-second teaser', webhook: { url: receiver.url, events: ['job.succeeded'] } });
      const id = created.body.id;
      await waitFor(() => receiver.deliveries.some((d) => d.payload.data.id === id) || null, { what: 'the job.succeeded attempt to reach the receiver', timeoutMs: 60_000 });
      const signalled = Date.now();
      first.kill('SIGTERM');
      expect((await first.exited).code).toBe(0);
      // Grace + the abort's settling, not the attempt's 60 s timeout (nor grace + 20 s of two settle waits).
      expect(Date.now() - signalled).toBeLessThan(8_000);

      receiver.respond(() => ({ status: 204 }));
      const second = await worker(env);
      const delivered = await waitFor(
        async () => {
          const j = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
          return j.webhook?.status === 'delivered' ? j : null;
        },
        { what: 'the webhook delivered by the next worker', timeoutMs: 30_000 },
      );
      expect(delivered.webhook?.attempts).toBe(2);
      const attempts = (await stack.api<{ data: { error: string | null }[] }>('GET', `/v1/jobs/${id}/deliveries`)).body.data;
      expect(attempts[0]!.error).toMatch(/^aborted: the worker is shutting down/);
      await stopChild(second);
    } finally {
      await receiver.close();
    }
  });

  it('started while Redis cannot be reached, a worker and an api still stop on SIGTERM with exit 0', async () => {
    const closedRedis = `redis://127.0.0.1:${await freePort()}`;
    const common = { REDIS_URL: closedRedis, QUEUE_PREFIX: `${stack.prefix}-nored`, HOST: '127.0.0.1', LOG_LEVEL: 'info', UPLOAD_DIR: `./data/test-uploads/${stack.prefix}` };
    const lonely = [
      spawnRole('worker', { ...common, METRICS_PORT: String(await freePort()) }),
      spawnRole('api', { ...common, PORT: String(await freePort()), API_KEYS: 'acme:acme-key-0123456789abcdef' }),
    ];
    children.push(...lonely);
    for (const child of lonely) {
      // Start-up is waiting for Redis: it has said the connection is lost and has not said it started.
      await child.waitForLog((l) => l.msg === 'redis connection lost; retrying', 'a lost Redis connection', 30_000);
      child.kill('SIGTERM');
      // Repeated at once (compose may): not Node's default action, an exit by the signal.
      child.kill('SIGTERM');
      const exit = await child.exited;
      expect(exit.code, child.stderr().slice(-2000)).toBe(0);
      expect(child.logs().some((l) => l.msg === 'shutting down before start-up finished')).toBe(true);
      expect(child.logs().some((l) => l.msg === 'nemo-relay started')).toBe(false);
    }
  });
});
