// Retention on real Redis: a job with a webhook ends without a TTL and is erased by the sweep only once none of its
// deliveries is pending; a job without one expires by itself as before.
import { afterAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { MAX_DELIVERY_HOLD_MS, PENDING_RECHECK_MS, sweepRetention, type SweepDeps } from '../../src/domain/retention-sweeper.js';
import { JobStore, retentionMember } from '../../src/jobs/store.js';
import { createKeys } from '../../src/redis/keys.js';
import { DeliveryLedger, lowestPending } from '../../src/webhooks/deliveries.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('retpend');
const keys = createKeys(prefix);
const redis = testRedis();
const store = new JobStore(redis, keys);
const ledger = new DeliveryLedger(redis, keys);
const flowQueue = new Queue(`${prefix}-flow`, { connection: { url: TEST_REDIS_URL } });
const deps: SweepDeps = {
  redis,
  keys,
  store,
  flowQueue,
  deliveryPending: async (_tenant, jobId) => lowestPending(await ledger.states(jobId), () => true) !== null,
};
afterAll(async () => {
  await flowQueue.close();
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const index = keys.retentionIndex(0);
const RETENTION_MS = 1_000;

async function endedJob(webhook: boolean): Promise<string> {
  const job = makeJob(webhook ? { webhook: { url: 'https://hooks.example/x', events: ['job.succeeded'], status: 'none', attempts: 0 } } : {});
  await store.create('acme', job);
  await store.update(job.id, (r) => ({ ...r, job: { ...r.job, status: 'succeeded', finished_at: new Date().toISOString() } }), {
    event: 'job.succeeded',
    retentionMs: () => RETENTION_MS,
  });
  return job.id;
}

describe('retention of a job whose webhook is pending', () => {
  it('a job without a webhook expires by itself, as before', async () => {
    const id = await endedJob(false);
    const ttl = await redis.pttl(keys.job(id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(RETENTION_MS);
    expect(await redis.pttl(keys.jobEvents(id))).toBeGreaterThan(0);
  });

  it('a job with a webhook has no TTL; the sweep waits while its delivery is pending, then erases it', async () => {
    const id = await endedJob(true);
    expect(await redis.pttl(keys.job(id))).toBe(-1);
    expect(await redis.pttl(keys.jobEvents(id))).toBe(-1);
    expect(await redis.zscore(index, retentionMember('acme', id))).not.toBeNull();
    expect(await ledger.claim(id, 1)).toBe('claimed');

    // Past its retention with the delivery still queued: kept, and looked at again a minute later.
    const later = Date.now() + RETENTION_MS + 10;
    await sweepRetention(deps, later);
    expect(await store.get(id)).not.toBeNull();
    expect(Number(await redis.zscore(index, retentionMember('acme', id)))).toBe(later + PENDING_RECHECK_MS);

    // Delivered: the next sweep that finds it due erases every key.
    await ledger.setState(id, 1, 'delivered');
    await sweepRetention(deps, later + PENDING_RECHECK_MS);
    expect(await store.get(id)).toBeNull();
    expect(await redis.exists(keys.jobEvents(id), keys.jobWebhookPending(id))).toBe(0);
    expect(await redis.zscore(index, retentionMember('acme', id))).toBeNull();
  });

  it('gives up on a delivery still pending long after the job ended', async () => {
    const id = await endedJob(true);
    await ledger.claim(id, 1);
    await sweepRetention(deps, Date.now() + MAX_DELIVERY_HOLD_MS + 1_000);
    expect(await store.get(id)).toBeNull();
  });
});
