// Job store on real Redis: compare-and-set under concurrency, atomic event sequence numbers, tenant-scoped listing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobLifecycle } from '../../src/jobs/lifecycle.js';
import { JobStore } from '../../src/jobs/store.js';
import { createKeys } from '../../src/redis/keys.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('store');
const store = new JobStore(redis, createKeys(prefix));

const job = () => makeJob();

beforeAll(async () => {
  await redis.ping();
});
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

describe('JobStore', () => {
  it('applies 50 concurrent updates without losing one, and numbers events 1..n', async () => {
    const j = job();
    await store.create('acme', j);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.update(j.id, (r) => {
          r.job.messages.push(`m${i}`);
          return r;
        }, { event: 'job.progress' }),
      ),
    );
    const record = await store.get(j.id);
    expect(record?.job.messages).toHaveLength(50);
    expect(record?.v).toBe(51);
    const events = await store.events(j.id);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.id)).size).toBe(50);
  });

  it('hides other tenants and lists newest first with a stable cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const j = job();
      ids.push(j.id);
      await store.create('listing', j);
    }
    expect(await store.getForTenant('other', ids[0]!)).toBeNull();
    const first = await store.list('listing', { limit: 2 });
    expect(first.records.map((r) => r.job.id)).toEqual([ids[4], ids[3]]);
    // A job created between pages does not shift the next page.
    await store.create('listing', job());
    const second = await store.list('listing', { limit: 2, cursor: first.nextCursor! });
    expect(second.records.map((r) => r.job.id)).toEqual([ids[2], ids[1]]);
    const third = await store.list('listing', { limit: 2, cursor: second.nextCursor! });
    expect(third.records.map((r) => r.job.id)).toEqual([ids[0]]);
    expect(third.nextCursor).toBeNull();
  });

  it('moves jobs between status sets and records terminal events once', async () => {
    const lifecycle = new JobLifecycle(store);
    const j = job();
    await store.create('status', j);
    await lifecycle.start(j.id);
    await lifecycle.fail(j.id, { code: 'RENDER_FAILED', message: 'x', retryable: false });
    await lifecycle.fail(j.id, { code: 'RENDER_FAILED', message: 'again', retryable: false });
    await lifecycle.cancel(j.id);
    const failed = await store.list('status', { status: 'failed', limit: 10 });
    expect(failed.records.map((r) => r.job.id)).toEqual([j.id]);
    expect((await store.list('status', { status: 'queued', limit: 10 })).records).toHaveLength(0);
    expect((await store.events(j.id)).map((e) => e.type)).toEqual(['job.started', 'job.failed']);
  });
});
