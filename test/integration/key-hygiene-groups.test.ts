// Key hygiene of shared sessions (`<P>:group:<id>`): a group's session expires with the last job of its group (and that
// job's retention), never while one of its jobs is still to run; erasing a batch or a revision chain's first job takes it.
import type { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { eraseBatch, eraseJob } from '../../src/domain/erase-job.js';
import { GROUP_LIVE_MS, SessionGroups } from '../../src/flow/session-groups.js';
import type { JobRecord } from '../../src/jobs/schemas.js';
import { JobStore } from '../../src/jobs/store.js';
import { newBatchId } from '../../src/jobs/ids.js';
import { createKeys } from '../../src/redis/keys.js';
import type { DeliveryJobData } from '../../src/webhooks/queue.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('kh-groups');
const keys = createKeys(prefix);
const store = new JobStore(redis, keys);
const groups = new SessionGroups(redis, keys);
const tenant = 'acme';
const session = { task_id: 't1', session_id: 's1', uploads: [{ filename: 'a.jpg', fileType: 'image', cdnUrl: 'https://cdn.example/a.jpg' }] };
// No webhook deliveries here: a queue that holds none.
const noDeliveries = { remove: async () => 0 } as unknown as Queue<DeliveryJobData>;
const eraseDeps = { redis, keys, store, flowQueue: { remove: async () => 0 }, deliveryQueue: noDeliveries };

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const expireTime = async (key: string) => Number(await redis.call('PEXPIRETIME', key));

/** A job of `group`, stored and in its queue, as JobCommands.create makes one. */
async function groupJob(group: string): Promise<JobRecord> {
  const job = makeJob();
  await groups.join(group, job.id);
  return store.create(tenant, job, { group });
}

/** The job ends (as the flow's last commit does), its retention `ttlMs`, and leaves its group (the release hook). */
async function end(record: JobRecord, ttlMs: number): Promise<void> {
  const stored = await store.get(record.job.id, { webhookState: false });
  const next: JobRecord = { ...stored!, v: stored!.v + 1, job: { ...stored!.job, status: 'succeeded', finished_at: new Date().toISOString() } };
  const outcome = await store.commit({ jobId: record.job.id, tenant, record: next, expectedVersion: stored!.v, oldStatus: stored!.job.status, event: 'job.succeeded', ttlMs });
  expect(outcome.kind).toBe('stored');
  await groups.leave(record.group!, record.job.id);
}

describe('shared sessions of session groups', () => {
  it('are stored with an expiry: kept while the group has jobs to run, then as long as its last job', async () => {
    const batch = newBatchId();
    const first = await groupJob(batch);
    const second = await groupJob(batch);
    await groups.publish(batch, session); // the first item uploaded the files
    const live = await expireTime(keys.sessionGroup(batch));
    expect(live, 'a published session has an expiry').toBeGreaterThan(0);
    expect(live).toBeGreaterThanOrEqual(Date.now() + GROUP_LIVE_MS - 60_000);

    // The first item ends with a short retention: the second, still to run, must keep the session.
    await end(first, 1_000);
    expect(await expireTime(keys.sessionGroup(batch))).toBeGreaterThanOrEqual(live);
    expect(await groups.session(batch)).toEqual(session);

    // The last item ends: the session goes with it, exactly when its record does.
    await end(second, 5_000);
    const at = await expireTime(keys.sessionGroup(batch));
    expect(at).toBe(await expireTime(keys.job(second.job.id)));
    expect(at).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it("a revision opening its parent's group keeps it while it runs, then as long as itself", async () => {
    const parent = makeJob({ status: 'succeeded' });
    await store.create(tenant, parent);
    const parentExpiry = Date.now() + 2_000;
    await redis.pexpireat(keys.job(parent.id), parentExpiry);
    // JobCommands.revise: the group is opened with the parent's expiry, then the revision joins it.
    await groups.publish(parent.id, session, await expireTime(keys.job(parent.id)));
    expect(await expireTime(keys.sessionGroup(parent.id))).toBe(parentExpiry);
    const revision = await groupJob(parent.id);
    expect(await expireTime(keys.sessionGroup(parent.id))).toBeGreaterThan(Date.now() + GROUP_LIVE_MS - 60_000);
    await end(revision, 60_000);
    expect(await expireTime(keys.sessionGroup(parent.id))).toBe(await expireTime(keys.job(revision.job.id)));
  });

  it("erasing a batch, or a revision chain's first job after its record expired, erases the group's session", async () => {
    const batch = newBatchId();
    await redis.set(keys.sessionGroup(batch), JSON.stringify(session)); // as stored before groups expired
    await eraseBatch(eraseDeps, tenant, batch);
    expect(await redis.exists(keys.sessionGroup(batch))).toBe(0);

    const root = makeJob().id; // its record is gone already (expired with its retention)
    await redis.set(keys.sessionGroup(root), JSON.stringify(session));
    await eraseJob(eraseDeps, tenant, root);
    expect(await redis.exists(keys.sessionGroup(root))).toBe(0);
  });

  it('erasing leaves the session of a group with a job still waiting for its turn', async () => {
    const batch = newBatchId();
    await groupJob(batch);
    await groups.publish(batch, session);
    await eraseBatch(eraseDeps, tenant, batch);
    expect(await groups.session(batch)).toEqual(session);
  });
});
