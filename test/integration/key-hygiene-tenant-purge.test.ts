// Key hygiene of a deleted tenant: at its purge its batches, shared sessions, Idempotency-Key entries and scheduler
// fields go with its jobs, and a tenant made later under the same id finds nothing of the old one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, Job } from '../../src/jobs/schemas.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';
const T = 'ephemeral';

describe("a deleted tenant's keys at its purge", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, RETENTION_SWEEP_INTERVAL_MS: '200' } });
    stack.sim.setScenario({ anonCredits: 100_000_000 });
  });
  afterAll(async () => stack?.close());

  const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
  const newTenant = async (settings: Record<string, unknown>) => {
    expect((await admin('POST', '/admin/tenants', { id: T, ...settings })).status).toBe(201);
    return (await admin<{ key: string }>('POST', '/admin/tenants/' + T + '/keys')).body.key;
  };
  /** waitForFinished, asking with the tenant's own key. */
  const finished = (key: string, id: string) =>
    waitForFinished({ api: (method, path, body, opts) => stack.api(method, path, body, { ...opts, key }) }, id);
  const keysNaming = async (...needles: string[]) => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await stack.services.redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      found.push(...batch.filter((k) => k.startsWith(stack.prefix) && needles.some((n) => k.includes(n))));
    } while (cursor !== '0');
    return found;
  };

  it('erases its batches, groups, Idempotency-Keys and scheduler fields; a new tenant of the id starts afresh', async () => {
    const { redis, keys } = stack.services;
    const key = await newTenant({ retention_ms: 600_000 });
    const job = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'old tenant job' }, { key, headers: { 'idempotency-key': 'k-job' } });
    expect(job.status).toBe(202);
    const batch = await stack.api<Batch>(
      'POST',
      '/v1/batches',
      { items: [{ instruction: 'old batch item' }], metadata: { secret_of_old_tenant: 'x' } },
      { key, headers: { 'idempotency-key': 'k-batch' } },
    );
    expect(batch.status).toBe(202);
    await finished(key, job.body.id);
    const revision = await stack.api<Job>('POST', `/v1/jobs/${job.body.id}/revisions`, { instruction: 'warmer' }, { key, headers: { 'idempotency-key': 'k-rev' } });
    expect(revision.status).toBe(202);
    await finished(key, revision.body.id);
    await waitFor(async () => (await stack.api<Batch>('GET', `/v1/batches/${batch.body.id}`, undefined, { key })).body.status === 'succeeded' || null, {
      what: 'the batch to end',
      timeoutMs: 30_000,
    });
    const base = keys.admission(keys.shardOfTenant(T));
    expect(await redis.hexists(`${base}limits`, T)).toBe(1);
    expect(await redis.hexists(`${base}passes`, T)).toBe(1);
    expect(await redis.exists(keys.sessionGroup(job.body.id), keys.sessionGroup(batch.body.id))).toBe(2);

    // Deleted with a short retention: purged 2 s later, long before the jobs' and batch's own 10 minutes.
    expect((await admin('PATCH', `/admin/tenants/${T}`, { retention_ms: 2_000 })).status).toBe(200);
    const deleted = await admin<{ purge_at: string }>('DELETE', `/admin/tenants/${T}`);
    expect(deleted.status).toBe(200);
    await stack.services.tenants.store.sweepDeleted();
    const purgeAt = Date.parse(deleted.body.purge_at);
    const expiries = await Promise.all(
      [keys.batch(batch.body.id), keys.sessionGroup(batch.body.id), keys.sessionGroup(job.body.id)].map(async (k) => [k, Number(await redis.call('PEXPIRETIME', k))] as const),
    );
    const schedulerFields = [await redis.hexists(`${base}limits`, T), await redis.hexists(`${base}passes`, T)];

    await waitFor(async () => (await admin('GET', `/admin/tenants/${T}`)).status === 404, { what: 'the purge', timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 600)); // a sweep or two after the purge

    const key2 = await newTenant({});
    expect((await stack.api('GET', `/v1/jobs/${job.body.id}`, undefined, { key: key2 })).status).toBe(404);
    expect((await stack.api('GET', `/v1/batches/${batch.body.id}`, undefined, { key: key2 })).status).toBe(404);
    expect((await stack.api<{ data: unknown[] }>('GET', '/v1/batches', undefined, { key: key2 })).body.data).toEqual([]);
    const fresh = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'brand new' }, { key: key2, headers: { 'idempotency-key': 'k-job' } });
    expect(fresh.status).toBe(202);
    expect(fresh.body.id).not.toBe(job.body.id);
    const freshBatch = await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'brand new' }] }, { key: key2, headers: { 'idempotency-key': 'k-batch' } });
    expect(freshBatch.status).toBe(202);
    expect(freshBatch.body.id).not.toBe(batch.body.id);

    // Right after the deletion its batch and shared sessions were set to go at the purge, and (nothing of it waiting or
    // running any more) its scheduler fields were gone.
    for (const [k, at] of expiries) {
      expect(at, k).toBeGreaterThan(0);
      expect(at, k).toBeLessThanOrEqual(purgeAt);
    }
    expect(schedulerFields).toEqual([0, 0]);
    // No key of the old tenant's jobs and batch is left, under any name; its Idempotency-Key entries are the new tenant's.
    const old = [job.body.id, revision.body.id, batch.body.id];
    expect(await keysNaming(...old)).toEqual([]);
    const entries = await keysNaming(`:idem:${T}:`);
    expect(entries).toHaveLength(2);
    for (const entry of entries) {
      const value = String(await redis.get(entry));
      expect(old.some((id) => value.includes(id)), entry).toBe(false);
    }

    await finished(key2, fresh.body.id);
  });
});
