// Scale-out: three worker processes on one Redis share 30 jobs; every job runs its upstream work and ends exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, JobEvent } from '../../src/jobs/schemas.js';
import { TERMINAL_EVENTS } from '../../src/jobs/schemas.js';
import { freePort, spawnRole, stopChild, type Child } from '../helpers/ops-process.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const JOBS = 30;
const WORKERS = 3;

/** What one worker process says about itself at /metrics: the finish steps it ran, i.e. the jobs it completed. */
async function finishedBy(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('nemo_relay_flow_step_duration_seconds_count{step="finish",outcome="ok"} '));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('scale-out: three worker processes, one Redis', () => {
  let stack: Stack;
  const workers: { child: Child; metricsPort: number }[] = [];

  beforeAll(async () => {
    // API and simulator in this process; only the workers are separate processes.
    stack = await startStack({ worker: false, timeScale: 0.002 });
    for (let i = 0; i < WORKERS; i++) {
      const metricsPort = await freePort();
      const child = spawnRole('worker', {
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: stack.prefix,
        NEMO_BASE_URL: stack.sim.url,
        HOST: '127.0.0.1',
        METRICS_PORT: String(metricsPort),
        // Few slots per worker, so no single worker can hold all the jobs at once.
        WORKER_CONCURRENCY: '4',
        WORKER_LOCK_MS: '5000',
        RECONCILE_INTERVAL_MS: '50',
        WEBHOOK_ALLOW_PRIVATE: 'true',
        UPLOAD_DIR: `./data/test-uploads/${stack.prefix}`,
        LOG_LEVEL: 'info',
      });
      workers.push({ child, metricsPort });
    }
    for (const { child } of workers) await child.waitForLog((l) => l.msg === 'nemo-relay started', 'worker start-up', 60_000);
  });

  afterAll(async () => {
    await Promise.all(workers.map(({ child }) => stopChild(child)));
    await stack?.close();
  });

  it('spreads 30 jobs over the workers with no job run twice, and every worker exits 0 on SIGTERM', async () => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const created = await stack.api<Job>('POST', '/v1/jobs', {
        instruction: `make a 10-second promo video for product ${i + 1}`,
        sources: [{ url: `https://example.com/products/${i + 1}.jpg` }],
      });
      expect(created.status).toBe(202);
      ids.push(created.body.id);
    }
    await waitFor(
      async () => {
        const list = await stack.api<{ data: Job[] }>('GET', '/v1/jobs?status=succeeded&limit=100');
        return list.body.data.length === JOBS;
      },
      { what: `${JOBS} succeeded jobs`, timeoutMs: 150_000, intervalMs: 250 },
    );

    for (const id of ids) {
      const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
      expect(job.status).toBe('succeeded');
      // Each job's terminal event exactly once in its event log.
      const events = (await stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${id}/events`, undefined, { headers: { accept: 'application/json' } })).body.data;
      expect(events.filter((e) => (TERMINAL_EVENTS as readonly string[]).includes(e.type)).map((e) => e.type)).toEqual(['job.succeeded']);
      // The simulator saw one agent call and one render for it: no upstream work was repeated.
      const session = job.upstream.session_id!;
      expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(1);
      expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
    }
    expect(stack.sim.log.count('create_session')).toBe(JOBS);
    expect(stack.sim.log.count('render_submit')).toBe(JOBS);

    // Which worker finished what, as each process reports at its own /metrics. A finish step is counted when it
    // returns, a moment after its job reads succeeded: read until every job's is counted (or the sum is wrong for good).
    const counted = async () => Promise.all(workers.map(({ metricsPort }) => finishedBy(metricsPort)));
    const perWorker = await waitFor(async () => {
      const counts = await counted();
      return counts.reduce((a, b) => a + b, 0) >= JOBS ? counts : null;
    }, { what: `the finish steps of ${JOBS} jobs at the workers' /metrics`, timeoutMs: 10_000 }).catch(counted);
    console.info(`jobs finished per worker process: ${perWorker.join(', ')} (pids ${workers.map((w) => w.child.pid).join(', ')})`);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(JOBS);
    expect(perWorker.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    for (const { child } of workers) child.kill('SIGTERM');
    const exits = await Promise.all(workers.map(({ child }) => child.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
  });
});
