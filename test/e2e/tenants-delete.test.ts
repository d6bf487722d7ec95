// Deleting a tenant with work in flight: its key is refused at once, its running and queued jobs are canceled, its data expires.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { SAMPLES } from '../helpers/multipart.js';
import { uploadFile } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';

describe('deleting a tenant with jobs in flight', () => {
  let stack: Stack;

  beforeAll(async () => {
    // One job runs at a time, so the tenant's second job stays queued behind its first.
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, MAX_RUNNING_JOBS: '1' } });
    // Renders never finish: the first job stays running (polling its render) until it is canceled.
    stack.sim.setScenario({ renderMs: 600_000_000 });
  });
  afterAll(async () => stack?.close());

  const statusOf = async (id: string) => (await stack.services.store.get(id))?.job.status;

  it('refuses its key at once, cancels its running and queued jobs (the render too), and sets its data to expire', async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'cyberdyne', retention_ms: 3_600_000 })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/cyberdyne/keys')).body.key;
    const create = async (instruction: string) => {
      const res = await stack.api<Job>('POST', '/v1/jobs', { instruction }, { key });
      expect(res.status).toBe(202);
      return res.body.id;
    };
    const running = await create('a promo that renders forever');
    await waitFor(async () => stack.sim.log.entries().some((e) => e.endpoint === 'render_poll'), { what: 'the first job polling its render', timeoutMs: 20_000 });
    expect(await statusOf(running)).toBe('running');
    const queued = await create('a second promo, waiting its turn');
    expect(await statusOf(queued)).toBe('queued');
    // Someone else's job is not touched.
    const other = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'acme’s own' })).body.id;

    const started = Date.now();
    const deleted = await admin<{ jobs_canceled: number; deleted_at: string; purge_at: string }>('DELETE', '/admin/tenants/cyberdyne');
    expect(deleted.status).toBe(200);
    expect(deleted.body.jobs_canceled).toBe(2);
    expect(Date.parse(deleted.body.purge_at) - Date.parse(deleted.body.deleted_at)).toBe(3_600_000);
    expect((await stack.api('GET', '/v1/jobs', undefined, { key })).status).toBe(401);
    expect((await stack.api('POST', '/v1/jobs', { instruction: 'too late' }, { key })).status).toBe(401);

    await waitFor(async () => (await statusOf(running)) === 'canceled' && (await statusOf(queued)) === 'canceled', {
      what: 'both jobs canceled',
      timeoutMs: 10_000,
    });
    console.log(`tenant deleted → both jobs canceled after ${Date.now() - started} ms`);
    const runningJob = (await stack.services.store.get(running))!.job;
    expect(runningJob.error?.code).toBe('CANCELED');
    // Both say why (the job.canceled webhook carries it): they read 'canceled by the caller', which nobody did.
    for (const id of [running, queued]) expect((await stack.services.store.get(id))!.job.error?.message, id).toBe('canceled because the operator deleted the tenant');
    await waitFor(async () => stack.sim.log.entries().some((e) => e.endpoint === 'render_cancel' && e.renderId === runningJob.upstream.render_id), {
      what: 'the upstream render canceled',
      timeoutMs: 10_000,
    });
    expect(await statusOf(other)).not.toBe('canceled');
    // The jobs its deletion ended are kept until its purge, not a whole retention from their end.
    for (const id of [running, queued]) {
      const at = Number(await stack.services.redis.call('PEXPIRETIME', stack.services.keys.job(id)));
      expect(at, id).toBeGreaterThan(0);
      expect(at, id).toBeLessThanOrEqual(Date.parse(deleted.body.purge_at));
    }

    // Everything the tenant left under its own keys expires at purge_at (sets made by the cancels included, on the sweep).
    await stack.services.tenants.store.sweepDeleted();
    const { redis, keys } = stack.services;
    const [, left] = await redis.scan('0', 'MATCH', keys.tenantKeysPattern('cyberdyne'), 'COUNT', 100_000);
    expect(left.length).toBeGreaterThan(2);
    for (const k of left) {
      const ttl = await redis.pttl(k);
      expect(ttl, k).toBeGreaterThan(0);
      expect(ttl, k).toBeLessThanOrEqual(3_600_000);
    }
  });

  it('brings its jobs and staged uploads forward to its purge: a tenant made later under the id finds none of them', async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'tyrell', retention_ms: 3_600_000 })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/tyrell/keys')).body.key;
    // A job that ended under the tenant's hour of retention; then the retention is lowered to a minute and it is deleted.
    const ended = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo kept an hour' }, { key })).body.id;
    expect((await stack.api('POST', `/v1/jobs/${ended}/cancel`, undefined, { key })).status).toBe(200);
    await waitFor(async () => (await statusOf(ended)) === 'canceled', { what: 'the job ended' });
    const staged = await uploadFile(stack, 'left.png', SAMPLES.png!.data, key);
    expect((await admin('PATCH', '/admin/tenants/tyrell', { retention_ms: 60_000 })).status).toBe(200);
    const deleted = await admin<{ purge_at: string }>('DELETE', '/admin/tenants/tyrell');
    expect(deleted.status).toBe(200);
    const purgeAt = Date.parse(deleted.body.purge_at);
    await stack.services.tenants.store.sweepDeleted();
    const { redis, keys } = stack.services;
    for (const k of [keys.job(ended), keys.jobEvents(ended), keys.upload(staged)]) {
      const at = Number(await redis.call('PEXPIRETIME', k));
      expect(at, k).toBeGreaterThan(0);
      expect(at, k).toBeLessThanOrEqual(purgeAt);
    }
    expect(Number(await redis.zscore(keys.retentionIndex(keys.shardOfId(ended)), `job|tyrell|${ended}`))).toBeLessThanOrEqual(purgeAt);
  });

  it('purges the keys of its own upstream account too: token, balance, a credits pause with no expiry', async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'skynet', retention_ms: 3_600_000, upstream: { anonymous: true } })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/skynet/keys')).body.key;
    // Its account's token is acquired by its first job; its credits endpoint reads (and caches) its balance.
    expect((await stack.api('GET', '/v1/credits', undefined, { key })).status).toBe(200);
    const { redis, keys } = stack.services;
    const accountKeys = async () => (await redis.scan('0', 'MATCH', `${keys.prefix}:nemo:account:tenant:skynet:*`, 'COUNT', 100_000))[1];
    const found = await accountKeys();
    expect(found.length).toBeGreaterThan(0);
    // What an account that ran out of credits leaves: a pause with no expiry.
    const account = found[0]!.split(':').slice(0, -1).join(':');
    await redis.set(`${account}:credits-paused`, '1');

    expect((await admin('DELETE', '/admin/tenants/skynet')).status).toBe(200);
    await stack.services.tenants.store.sweepDeleted();
    const left = await accountKeys();
    expect(left).toContain(`${account}:credits-paused`);
    for (const k of left) {
      const ttl = await redis.pttl(k);
      expect(ttl, k).toBeGreaterThan(0);
      expect(ttl, k).toBeLessThanOrEqual(3_600_000);
    }
  });
  it('kills its signed output links at once: they worked until the deletion, then 404 as for a job that is not there', async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    // An account of its own (anonymous): acme's job of the first test holds the shared account's one running slot.
    expect((await admin('POST', '/admin/tenants', { id: 'oscorp', retention_ms: 3_600_000, upstream: { anonymous: true } })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/oscorp/keys')).body.key;
    stack.sim.setScenario({ renderMs: 0 });
    const id = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo worth a link' }, { key })).body.id;
    await waitFor(async () => (await statusOf(id)) === 'succeeded' || null, { what: 'the job succeeded', timeoutMs: 20_000 });
    const link = (await stack.api<Job>('GET', `/v1/jobs/${id}`, undefined, { key })).body.result!.url;
    const get = () => fetch(link, { method: 'HEAD' });
    expect(link).toContain('sig=');
    expect((await get()).status).toBe(200);

    expect((await admin('DELETE', '/admin/tenants/oscorp')).status).toBe(200);
    const dead = await fetch(link);
    expect(dead.status).toBe(404);
    expect(((await dead.json()) as { code: string }).code).toBe('JOB_NOT_FOUND');
    expect((await get()).status).toBe(404);
  });
});
