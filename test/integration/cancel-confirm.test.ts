// POST /v1/jobs/{id}/cancel of a job a worker holds: the answer waits (bounded) for the worker to end it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobCommands } from '../../src/domain/job-commands.js';
import { jobQueuePort } from '../../src/app/job-queue.js';
import { createJobBodySchema } from '../../src/jobs/schemas.js';
import { startStack, type Stack } from '../helpers/stack.js';

const TENANT = 'acme';
const CONFIRM_MS = 400;

describe('cancel of a job a worker holds', () => {
  let stack: Stack;
  /** Sees every job as held by a worker (its queue entry is never "waiting"), and waits CONFIRM_MS for its end. */
  let commands: JobCommands;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    const s = stack.services;
    const queue = jobQueuePort({ admission: s.admission, flowQueue: s.flowQueues, redis: s.blocking, keys: s.keys, limitsOf: s.limitsOf, maxPerAccount: 100 });
    commands = new JobCommands({
      store: s.store,
      flows: s.flows,
      lifecycle: s.lifecycle,
      groups: s.groups,
      queue: { ...queue, removeIfWaiting: async () => false },
      checkWebhookUrl: async () => {},
      events: { listen: (jobId, onEvent) => s.eventFeed().listen(s.keys.jobEventsChannel(jobId), onEvent) },
      cancelConfirmMs: CONFIRM_MS,
    });
  });
  afterAll(async () => stack?.close());

  const newJob = async () => (await commands.create(TENANT, createJobBodySchema.parse({ instruction: 'a promo' }))).job.id;

  it('answers canceled as soon as the worker has ended the job', async () => {
    const id = await newJob();
    const started = Date.now();
    // The worker's side: it sees the flag and ends the job 100 ms later.
    setTimeout(() => void stack.services.lifecycle.cancel(id), 100);
    const record = await commands.cancel(TENANT, id);
    const took = Date.now() - started;
    expect(record.job.status).toBe('canceled');
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(CONFIRM_MS);
  });

  it('answers the job as flagged once the wait is over when no worker ends it', async () => {
    const id = await newJob();
    const started = Date.now();
    const record = await commands.cancel(TENANT, id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(CONFIRM_MS - 5);
    expect(record.job.status).toBe('queued');
    expect(record.cancel_requested).toBe(true);
  });
});
