// Key hygiene of the fair-start scheduler: a deleted tenant's fields in `<P>:adm:limits` and `<P>:adm:passes` (hashes
// without expiry) go once nothing of it waits or runs there; a live tenant's, and a busy deleted one's, are left alone.
import { afterAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../src/redis/keys.js';
import { newTenantRecord } from '../../src/tenants/schemas.js';
import { TenantStore } from '../../src/tenants/store.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('kh-adm');
const keys = createKeys(prefix);
const store = new TenantStore(redis, keys);
const base = keys.admission(0);

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const fields = async (tenant: string) => [await redis.hget(`${base}limits`, tenant), await redis.hget(`${base}passes`, tenant)];

describe("a deleted tenant's scheduler fields", () => {
  it('go on the sweep once it has nothing waiting or running; others are untouched', async () => {
    for (const t of ['gone', 'busy', 'live']) {
      await redis.hset(`${base}limits`, t, '0|1|default');
      await redis.hset(`${base}passes`, t, '12.5');
    }
    // `busy` still has a job running (its deletion's cancel has not ended it yet).
    await redis.sadd(`${base}running:busy`, 'job_1');
    const purgeAt = Date.now() + 60_000;
    await redis.zadd(keys.tenantsDeleted(), purgeAt, 'gone', purgeAt, 'busy');

    await store.sweepDeleted();
    expect(await fields('gone')).toEqual([null, null]);
    expect(await fields('busy')).toEqual(['0|1|default', '12.5']);
    expect(await fields('live')).toEqual(['0|1|default', '12.5']);

    // Its job ended (the release freed its slot): the next sweep removes them.
    await redis.srem(`${base}running:busy`, 'job_1');
    await store.sweepDeleted();
    expect(await fields('busy')).toEqual([null, null]);
    expect(await fields('live')).toEqual(['0|1|default', '12.5']);
  });

  it('past the purge, are removed on the last sweep of the tenant, unless a tenant was made since under the id', async () => {
    for (const t of ['late', 'remade']) {
      await redis.hset(`${base}limits`, t, '0|1|default');
      await redis.hset(`${base}passes`, t, '3');
    }
    await redis.zadd(keys.tenantsDeleted(), Date.now() - 1, 'late', Date.now() - 1, 'remade');
    expect((await store.create(newTenantRecord('remade', new Date().toISOString()))).created).toBe(true);
    await store.sweepDeleted();
    expect(await fields('late')).toEqual([null, null]);
    expect(await fields('remade')).toEqual(['0|1|default', '3']);
    expect(await redis.zrange(keys.tenantsDeleted(), 0, -1)).not.toContain('late');
  });
});
