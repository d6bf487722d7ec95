// Key hygiene of Idempotency-Keys on the batch and revision routes: an entry goes with what it created (DELETE, the
// end of its retention), so the key answers as if never used, as on POST /v1/jobs; it never outlives that retention.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, Job } from '../../src/jobs/schemas.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';

describe('Idempotency-Keys of batches and revisions', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, RETENTION_SWEEP_INTERVAL_MS: '200' } });
    stack.sim.setScenario({ anonCredits: 100_000_000 });
  });
  afterAll(async () => stack?.close());

  const entries = async (tenant: string) => {
    const { redis, keys } = stack.services;
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', keys.idempotency(tenant, '*'), 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };

  it('a deleted revision frees its key: the same key with another body is a new revision (202), not 422', async () => {
    const parent = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo to revise' });
    expect(parent.status).toBe(202);
    expect((await waitForFinished(stack, parent.body.id)).status).toBe('succeeded');
    const headers = { 'idempotency-key': 'rev-key-1' };
    const revision = await stack.api<Job>('POST', `/v1/jobs/${parent.body.id}/revisions`, { instruction: 'make it warmer' }, { headers });
    expect(revision.status).toBe(202);
    await waitForFinished(stack, revision.body.id);
    const { redis, keys } = stack.services;
    const [entry] = await entries('acme');
    const entryExpiry = Number(await redis.call('PEXPIRETIME', entry!));
    const revisionExpiry = Number(await redis.call('PEXPIRETIME', keys.job(revision.body.id)));

    expect((await stack.api('DELETE', `/v1/jobs/${revision.body.id}`)).status).toBe(204);
    const again = await stack.api<Job>('POST', `/v1/jobs/${parent.body.id}/revisions`, { instruction: 'make it colder' }, { headers });
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(revision.body.id);
    // The revision's record named its entry (as a created job's does), and the entry was kept no longer than it.
    expect(await redis.get(entry!)).toContain(again.body.id);
    expect(entryExpiry).toBeGreaterThan(0);
    expect(entryExpiry).toBeLessThanOrEqual(revisionExpiry);
    await waitForFinished(stack, again.body.id);
  });

  it("a batch's key expires with the batch: after its retention the same key with another body is a new batch (202)", async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'brief', retention_ms: 1_500 })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/brief/keys')).body.key;
    const headers = { 'idempotency-key': 'bat-key-1' };
    const batch = await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'one' }] }, { key, headers });
    expect(batch.status).toBe(202);
    expect(batch.body).not.toHaveProperty('idem');
    expect(await entries('brief')).toHaveLength(1);
    // The batch ends, its 1.5 s run out, the sweeper erases it: the entry is gone with it.
    await waitFor(async () => (await stack.api('GET', `/v1/batches/${batch.body.id}`, undefined, { key })).status === 404, {
      what: 'the batch erased after its retention',
      timeoutMs: 30_000,
    });
    const again = await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'two' }] }, { key, headers });
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(batch.body.id);
    const left = await entries('brief');
    expect(left).toHaveLength(1);
    expect(await stack.services.redis.get(left[0]!)).toContain(again.body.id);
  });
});
