// Erasing jobs while the output storage is down: nothing is erased before the stored video, so DELETE answers 503 and
// can be retried, and the retention sweep keeps the entry for the next sweep while it erases the others.
import type { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { deleteJob } from '../../src/domain/erase-job.js';
import { FAILED_ERASE_RETRY_MS, sweepRetention } from '../../src/domain/retention-sweeper.js';
import { JobStore, retentionMember } from '../../src/jobs/store.js';
import { createKeys } from '../../src/redis/keys.js';
import { StorageError } from '../../src/storage/errors.js';
import type { DeliveryJobData } from '../../src/webhooks/queue.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('erase-storage');
const keys = createKeys(prefix);
const store = new JobStore(redis, keys);
const tenant = 'acme';

/** Storage that is down for the jobs named in `down`, and records what it deleted. */
const deleted: string[] = [];
const down = new Set<string>();
const outputs = {
  async erase(_tenant: string, jobId: string) {
    if (down.has(jobId)) throw new StorageError('STORAGE_FAILED', `deleting pre/${tenant}/${jobId}.mp4 in bucket outputs failed (ECONNREFUSED)`);
    deleted.push(jobId);
  },
};
const deps = {
  redis,
  keys,
  store,
  flowQueue: { remove: async () => 0 },
  deliveryQueue: { remove: async () => 0 } as unknown as Queue<DeliveryJobData>,
  outputs,
};

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

async function endedJob(): Promise<string> {
  const job = makeJob({ status: 'succeeded', stage: 'done', progress: 1 });
  await store.create(tenant, job);
  await redis.zadd(keys.retentionIndex(), 0, retentionMember(tenant, job.id));
  return job.id;
}

describe('erasing while the output storage is down', () => {
  it('DELETE answers 503 STORAGE_FAILED and erases nothing; once storage is back the same DELETE erases the job and its video', async () => {
    const id = await endedJob();
    down.add(id);
    const refused = await deleteJob(deps, tenant, id).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('STORAGE_FAILED');
    expect((refused as AppError).statusCode).toBe(503);
    expect(await store.get(id)).not.toBeNull();
    expect(await redis.zscore(keys.retentionIndex(), retentionMember(tenant, id))).not.toBeNull();

    down.delete(id);
    await deleteJob(deps, tenant, id);
    expect(await store.get(id)).toBeNull();
    expect(deleted).toContain(id);
  });

  it('the retention sweep erases the others and keeps the entry it could not erase for the next sweep', async () => {
    const ids = [await endedJob(), await endedJob(), await endedJob()];
    down.add(ids[1]!);
    const first = await sweepRetention(deps);
    expect(first).toMatchObject({ erased: 2, failed: 1 });
    expect(first.firstError).toContain(ids[1]);
    expect(await store.get(ids[0]!)).toBeNull();
    expect(await store.get(ids[2]!)).toBeNull();
    expect(await redis.zscore(keys.retentionIndex(), retentionMember(tenant, ids[1]!))).not.toBeNull();

    // Due again a minute later, behind what is due now: a job that keeps failing never blocks the page.
    const retryAt = Number(await redis.zscore(keys.retentionIndex(), retentionMember(tenant, ids[1]!)));
    expect(retryAt).toBeGreaterThan(Date.now() + FAILED_ERASE_RETRY_MS - 5_000);
    expect(await sweepRetention(deps)).toMatchObject({ due: 0, erased: 0 });
    down.delete(ids[1]!);
    expect(await sweepRetention(deps, retryAt)).toMatchObject({ erased: 1, failed: 0 });
    expect(await store.get(ids[1]!)).toBeNull();
    expect(deleted).toEqual(expect.arrayContaining(ids));
  });
});
