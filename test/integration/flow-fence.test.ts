// Fenced checkpoints: a worker that lost the BullMQ lock (it stalled and was taken over) cannot overwrite the flow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlow } from '../../src/flow/machine.js';
import { FlowStore, initialFlowState, LockLostError } from '../../src/flow/state.js';
import type { Job } from '../../src/jobs/schemas.js';
import { createLogger } from '../../src/observability/logger.js';
import { createKeys } from '../../src/redis/keys.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

describe('FlowStore fencing', () => {
  const redis = testRedis();
  const prefix = uniquePrefix('fence');
  const keys = createKeys(prefix);
  const flows = new FlowStore(redis, keys);

  afterAll(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  it('writes while the lock holds our token, refuses (LockLostError) once it does not', async () => {
    const id = 'job_01J00000000000000000000000';
    const lockKey = keys.flowJobLock(id);
    const state = initialFlowState(['hello']);
    await redis.set(lockKey, 'token-a');
    await flows.save(id, state, { lockKey, token: 'token-a' });
    expect((await flows.load(id))?.step).toBe('auth');

    // Worker B took over: the lock now holds its token. Worker A's late write must not land.
    await redis.set(lockKey, 'token-b');
    await expect(flows.save(id, { ...state, step: 'render_submit' }, { lockKey, token: 'token-a' })).rejects.toBeInstanceOf(LockLostError);
    await redis.del(lockKey);
    await expect(flows.save(id, { ...state, step: 'render_submit' }, { lockKey, token: 'token-a' })).rejects.toBeInstanceOf(LockLostError);
    expect((await flows.load(id))?.step).toBe('auth');
  });
});

describe('runFlow with a lost lock', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('stops at its first commit, before any paid call, and leaves the job to its new owner', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a coffee shop' });
    const id = created.body.id;
    const { services } = stack;
    const before = await services.flows.load(id);
    const fence = { lockKey: services.keys.flowJobLock(id), token: 'a-token-nobody-holds' };
    const result = await runFlow(services.flowDeps, id, new AbortController().signal, createLogger('silent'), fence);
    expect(result).toEqual({ kind: 'lost' });
    // Its first commit is the first message's mark (the start and the session go with it): refused by the fence, so
    // nothing was written and nothing sent. The free calls before it (a session, its state) are the run's only trace.
    expect(await services.flows.load(id)).toEqual(before);
    expect((await services.store.get(id))?.job.status).toBe('queued');
    expect(stack.sim.log.count('run_sse')).toBe(0);
    expect(stack.sim.log.count('create_session')).toBeLessThanOrEqual(1);
  });
});
