// Holding an ended job for a webhook retry: on real Redis, keys and index entry move later, never earlier, a running
// job untouched; and how long, never past a deleted tenant's purge.
import { afterAll, describe, expect, it } from 'vitest';
import { holdEndedJob, keepForRetryUntil } from '../../src/jobs/retention-hold.js';
import { retentionMember } from '../../src/jobs/store.js';
import { createKeys } from '../../src/redis/keys.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('hold');
const keys = createKeys(prefix);
const redis = testRedis();
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const jobKeys = (id: string) => [keys.job(id), keys.jobFlow(id), keys.jobEvents(id), keys.jobDeliveries(id), keys.jobWebhookPending(id)];
const index = keys.retentionIndex(keys.shardOfId('x'));

describe('holdEndedJob', () => {
  it('moves an ended job’s expiries and its retention entry to the given time', async () => {
    const id = 'job_ENDED';
    const now = Date.now();
    for (const k of jobKeys(id)) await redis.set(k, 'v', 'PX', 2_000);
    await redis.zadd(index, now + 2_000, retentionMember('acme', id));
    expect(await holdEndedJob(redis, keys, 'acme', id, now + 60_000)).toBe(true);
    for (const k of jobKeys(id)) expect(await redis.pexpiretime(k)).toBe(now + 60_000);
    expect(Number(await redis.zscore(index, retentionMember('acme', id)))).toBe(now + 60_000);
  });

  it('never brings an expiry earlier', async () => {
    const id = 'job_LONG';
    const now = Date.now();
    for (const k of jobKeys(id)) await redis.set(k, 'v', 'PX', 3_600_000);
    await redis.zadd(index, now + 3_600_000, retentionMember('acme', id));
    expect(await holdEndedJob(redis, keys, 'acme', id, now + 60_000)).toBe(false);
    for (const k of jobKeys(id)) expect(await redis.pexpiretime(k)).toBeGreaterThan(now + 3_000_000);
    expect(Number(await redis.zscore(index, retentionMember('acme', id)))).toBe(now + 3_600_000);
  });

  it('leaves a running job (no TTL, no index entry) as it is, and makes no key that is gone', async () => {
    const id = 'job_RUNNING';
    await redis.set(keys.job(id), 'v');
    await redis.set(keys.jobEvents(id), 'v');
    expect(await holdEndedJob(redis, keys, 'acme', id, Date.now() + 60_000)).toBe(false);
    expect(await redis.pttl(keys.job(id))).toBe(-1);
    expect(await redis.pttl(keys.jobEvents(id))).toBe(-1);
    expect(await redis.exists(keys.jobFlow(id), keys.jobDeliveries(id), keys.jobWebhookPending(id))).toBe(0);
    expect(await redis.zscore(index, retentionMember('acme', id))).toBeNull();
  });
});

describe('keepForRetryUntil', () => {
  const retryAt = Date.parse('2026-11-30T12:00:00Z');
  it('keeps for the tenant’s retention past the retry, else the default', () => {
    expect(keepForRetryUntil({ retention_ms: 60_000, purge_at: null }, 2_000, retryAt)).toBe(retryAt + 60_000);
    expect(keepForRetryUntil({ retention_ms: null, purge_at: null }, 2_000, retryAt)).toBe(retryAt + 2_000);
    expect(keepForRetryUntil(null, 2_000, retryAt)).toBe(retryAt + 2_000);
  });
  it('never past a deleted tenant’s purge time', () => {
    expect(keepForRetryUntil({ retention_ms: 3_600_000, purge_at: '2026-11-30T12:10:00Z' }, 2_000, retryAt)).toBe(retryAt + 600_000);
    expect(keepForRetryUntil({ retention_ms: 60_000, purge_at: '2026-11-30T12:10:00Z' }, 2_000, retryAt)).toBe(retryAt + 60_000);
  });
});
