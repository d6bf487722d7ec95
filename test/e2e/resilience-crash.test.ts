// Crash test with real processes: SIGKILL the worker mid-/run_sse and mid-render; fresh workers finish the job, paying once.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFlowQueue } from '../../src/flow/queue.js';
import type { Job } from '../../src/jobs/schemas.js';
import { createKeys } from '../../src/redis/keys.js';
import { createSimulator, type Simulator, type SimLogEntry } from '../../src/sim/index.js';
import { apiCall, freePort, ProcessGroup, waitForHttp, type RoleProcess } from '../helpers/processes.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const KEY = 'acme-key-0123456789abcdef';
const LOCK_MS = 2_000;
const INSTRUCTION = 'make a 10-second promo video for a coffee shop opening, warm tones';
const FOLLOWUP = 'add lo-fi background music at 35%';

describe('resilience: worker SIGKILLed mid-stream and mid-render', () => {
  const procs = new ProcessGroup();
  const redis = testRedis();
  const prefix = uniquePrefix('crash');
  let sim: Simulator;
  let receiver: WebhookReceiver;
  let apiUrl: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    // Real seconds, so the test can catch the moments: a 6 s generation, an 8 s render.
    sim = createSimulator({
      timeScale: 1,
      scenario: { textMs: 300, generateMs: 6_000, editMs: 1_500, renderMs: 8_000, heartbeatIntervalMs: 250, silentEdits: 'never' },
    });
    const simUrl = await sim.listen(0, '127.0.0.1');
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    receiver = await startWebhookReceiver([secret]);
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    env = {
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      NEMO_BASE_URL: simUrl,
      API_KEYS: `acme:${KEY}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKER_LOCK_MS: String(LOCK_MS),
      RECONCILE_INTERVAL_MS: '300',
      RECONCILE_MAX_UNCHANGED: '40',
      WEBHOOK_SECRET: secret,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200',
      UPLOAD_DIR: `./data/test-uploads/${prefix}`,
      LOG_LEVEL: 'warn',
      // Several workers on one host: no per-process ops port (it would collide).
      METRICS_PORT: '0',
    };
    const api = procs.spawn('api', env);
    await waitForHttp(`${apiUrl}/healthz`, api);
  });

  afterAll(async () => {
    await procs.stopAll();
    await receiver?.close();
    await sim?.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  const getJob = async (id: string) => (await apiCall<Job>(apiUrl, KEY, 'GET', `/v1/jobs/${id}`)).body;
  const sessionEntries = (sessionId: string, endpoint?: string): SimLogEntry[] =>
    sim.log.entries().filter((e) => e.sessionId === sessionId && (endpoint === undefined || e.endpoint === endpoint));
  /** The first upstream call for the session made after `at`: the moment a new worker took the job up. */
  const firstCallAfter = (sessionId: string, at: number) =>
    waitFor(() => sessionEntries(sessionId).find((e) => Date.parse(e.at) > at), { what: 'a new worker to take the job up', timeoutMs: 30_000 });

  it('resumes from the checkpoint each time: one /run_sse per message, one render, one job.succeeded', async () => {
    const queue = createFlowQueue({ url: TEST_REDIS_URL, maxRetriesPerRequest: null }, prefix);
    let workerA: RoleProcess | undefined;
    try {
      workerA = procs.spawn('worker', env);
      const created = await apiCall<Job>(apiUrl, KEY, 'POST', '/v1/jobs', {
        instruction: INSTRUCTION,
        followups: [FOLLOWUP],
        sources: [{ url: 'https://example.com/shop/front.jpg' }],
        webhook: { url: receiver.url },
      });
      expect(created.status).toBe(202);
      const id = created.body.id;

      // 1. Kill worker A while the agent stream of message 1 is open (the agent keeps working upstream).
      const sessionId = await waitFor(async () => (await getJob(id)).upstream.session_id, { what: 'the upstream session' });
      await waitFor(
        () => sessionEntries(sessionId, 'run_sse').some((e) => e.status === 0) && sim.session(sessionId)?.busy,
        { what: 'an open /run_sse stream', timeoutMs: 30_000 },
      );
      expect(await queue.getJobState(id)).toBe('active');
      const kill1 = Date.now();
      await workerA.kill9();
      // The sim sees the stream close with the worker; the agent's work goes on regardless.
      await waitFor(() => sessionEntries(sessionId, 'run_sse').every((e) => e.status !== 0), { what: 'the stream to close' });
      expect(sim.session(sessionId)?.busy).toBe(true);

      // 2. A fresh worker takes the stalled job over and reconciles from state instead of sending again.
      procs.spawn('worker', env);
      const takeover1 = await firstCallAfter(sessionId, kill1);
      expect(takeover1.endpoint).toBe('state');
      const takeover1Ms = Date.parse(takeover1.at) - kill1;

      // 3. Kill it while the render is being polled.
      await waitFor(() => sessionEntries(sessionId, 'render_poll').length > 0, { what: 'the first render poll', timeoutMs: 60_000 });
      const renderId = sessionEntries(sessionId, 'render_submit')[0]!.renderId!;
      expect((await getJob(id)).status).toBe('running');
      const kill2 = Date.now();
      await procs.started.at(-1)!.kill9();
      procs.spawn('worker', env);
      const takeover2 = await firstCallAfter(sessionId, kill2);
      const takeover2Ms = Date.parse(takeover2.at) - kill2;

      const done = await waitFor(
        async () => {
          const job = await getJob(id);
          return job.status === 'succeeded' || job.status === 'failed' ? job : null;
        },
        { what: 'the job to finish', timeoutMs: 60_000 },
      );
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.upstream.render_id).toBe(renderId);

      // Exactly one /run_sse per message, and exactly one render, as the upstream saw it.
      const sent = sessionEntries(sessionId, 'run_sse').map((e) => e.message);
      expect(sent).toHaveLength(2);
      expect(sent[0]).toContain(INSTRUCTION);
      expect(sent[1]).toBe(FOLLOWUP);
      expect(sessionEntries(sessionId, 'render_submit')).toHaveLength(1);
      expect(takeover2.endpoint).toBe('render_poll');
      // Resumed from the checkpoint, not from the start: no second session, upload or token.
      expect(sim.log.count('create_session')).toBe(1);
      expect(sim.log.count('upload')).toBe(1);
      expect(sim.log.count('anonymous_token')).toBe(1);

      // job.succeeded reached the webhook under one event id (re-sends would reuse it).
      await waitFor(() => receiver.deliveries.some((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded'), {
        what: 'the job.succeeded webhook',
      });
      const succeeded = receiver.deliveries.filter((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded');
      expect(new Set(succeeded.map((d) => d.headers['webhook-id'])).size).toBe(1);
      expect(succeeded.every((d) => d.verified)).toBe(true);
      // Exactly one terminal event was recorded for the job, whatever the kills.
      const types = (await redis.lrange(createKeys(prefix).jobEvents(id), 0, -1)).map((e) => (JSON.parse(e) as { type: string }).type);
      expect(types.filter((t) => t === 'job.succeeded' || t === 'job.failed' || t === 'job.canceled')).toEqual(['job.succeeded']);

      console.log(
        `[resilience-crash] lock ${LOCK_MS} ms: SIGKILL mid-stream → stalled job taken over and reconciling ${takeover1Ms} ms ` +
          `later (fresh worker process included); SIGKILL while parked between render polls → next poll by the fresh ` +
          `worker ${takeover2Ms} ms later (on its schedule); run_sse ${sent.length}, render_submit 1`,
      );
    } catch (err) {
      console.error(procs.dump());
      throw err;
    } finally {
      await queue.close();
    }
  }, 150_000);
});
