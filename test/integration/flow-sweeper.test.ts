// The never-lose sweeper: a job record written without its queue entry (crash in JobCommands.create) still runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepQueued, jobIdTime } from '../../src/flow/sweeper.js';
import { createUlid, ulid } from '../../src/jobs/ids.js';
import type { Job } from '../../src/jobs/schemas.js';
import { JobCommands } from '../../src/domain/job-commands.js';
import { startWorker } from '../../src/app/roles.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** A job id created at `ms` (ulid() itself never goes back in time, so the time part is written here). */
function idAt(ms: number): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  for (let t = ms, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = alphabet[t % 32] + time;
  return `job_${time}${ulid().slice(10)}`;
}

const BODY = {
  instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
  followups: [],
  sources: [],
  output: { format: 'mp4', quality: 'high', resolution: '1080p' },
  language: 'en',
  metadata: {},
} as const;

describe('queued-job sweeper', () => {
  let stack: Stack;
  let worker: { stop(): Promise<void> } | null = null;
  /** JobCommands.create that "crashes" right after writing the record, before the queue entry. */
  let crashing: JobCommands;

  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { QUEUED_SWEEP_INTERVAL_MS: '200' } });
    const s = stack.services;
    crashing = new JobCommands({
      store: s.store,
      flows: s.flows,
      lifecycle: s.lifecycle,
      groups: s.groups,
      queue: {
        enqueue: async () => {
          throw new Error('process died between the record and the queue');
        },
        removeIfWaiting: async () => false,
        wake: async () => {},
        publishCancel: async () => {},
      },
      checkWebhookUrl: async () => {},
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
  });

  /** A record (and flow) left behind by a crash, `ageMs` old by its id. */
  async function orphan(ageMs: number): Promise<string> {
    await expect(crashing.create('acme', structuredClone(BODY) as never)).rejects.toThrow(/process died/);
    const s = stack.services;
    const young = (await s.store.list('acme', { status: 'queued', limit: 1 })).records[0]!;
    if (ageMs === 0) return young.job.id;
    const id = idAt(Date.now() - ageMs);
    await s.flows.save(id, (await s.flows.load(young.job.id))!);
    await s.store.create('acme', { ...young.job, id });
    await s.redis.zrem(s.keys.tenantJobsByStatus('acme', 'queued'), young.job.id);
    await s.redis.zrem(s.keys.tenantJobs('acme'), young.job.id);
    return id;
  }

  const status = async (id: string) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status;

  it('reads the creation time from a job id', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    expect(jobIdTime(idAt(at))).toBe(at);
    const now = Date.now();
    // A generator of its own: the process's must not be moved a second into the future.
    expect(jobIdTime(`job_${createUlid()(now + 1_000)}`)).toBe(now + 1_000);
    expect(jobIdTime('job_nope')).toBeNull();
  });

  it('re-enqueues queued jobs older than the minimum age; younger ones are left to the normal path', async () => {
    const old = await orphan(2 * 60_000);
    const young = await orphan(0);
    expect(await stack.services.flowQueue.getJob(old)).toBeUndefined();

    worker = await startWorker(stack.services);
    await waitFor(async () => (await status(old)) === 'succeeded', { what: 'the orphaned job to run', timeoutMs: 30_000 });
    // The young one (it may still be on its way to the queue) was not touched by the sweeper.
    expect(await status(young)).toBe('queued');
    expect(await stack.services.flowQueue.getJob(young)).toBeUndefined();

    // A minute later it is old enough; sweeping twice offers it twice, BullMQ runs it once.
    const later = Date.now() + 61_000;
    const s = stack.services;
    const deps = { redis: s.redis, keys: s.keys, queue: s.flowQueue, store: s.store, admission: s.admission, limitsOf: s.limitsOf, minAgeMs: 60_000 };
    expect(await sweepQueued(deps, later)).toBe(1);
    expect(await sweepQueued(deps, later)).toBeLessThanOrEqual(1);
    await waitFor(async () => (await status(young)) === 'succeeded', { what: 'the swept job to run', timeoutMs: 30_000 });
    const session = (await stack.api<Job>('GET', `/v1/jobs/${young}`)).body.upstream.session_id!;
    expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(1);
    expect(await sweepQueued(deps, later)).toBe(0);
  });

  it('a queued job that never reached the queue is canceled at once', async () => {
    const id = await orphan(0);
    const res = await stack.api<Job>('POST', `/v1/jobs/${id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('canceled');
    const events = (await stack.services.store.events(id)).map((e) => e.type);
    expect(events).toEqual(['job.canceled']);
  });
});
