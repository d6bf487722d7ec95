// Tenant administration over HTTP: CRUD and wire shapes, issued keys, who may call it, and no secret in plaintext in Redis.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

const ADMIN = 'admin-key-0123456789abcdef';
const UPSTREAM_TOKEN = `nmv_usr_${randomBytes(24).toString('hex')}`;

interface Tenant {
  id: string;
  max_concurrent_jobs: number | null;
  rate_limit_per_min: number | null;
  retention_ms: number | null;
  weight: number;
  upstream: { kind: string; set?: boolean };
  bootstrap: boolean;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  purge_at: string | null;
}
interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

let stack: Stack;
const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
const issuedKeys: string[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { ADMIN_API_KEY: ADMIN, SECRETS_KEY: randomBytes(32).toString('base64') } });
});
afterAll(async () => stack?.close());

describe('who may administer tenants', () => {
  it('answers 401 without a key or with an unknown one, 403 for a tenant key', async () => {
    const none = await send<ErrorBody>(stack.apiUrl, 'GET', '/admin/tenants', { key: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
    expect((await send(stack.apiUrl, 'GET', '/admin/tenants', { key: 'nobody-key-0123456789abcdef' })).status).toBe(401);
    const tenant = await stack.api<ErrorBody>('POST', '/admin/tenants', { id: 'sneaky' });
    expect(tenant.status).toBe(403);
    expect(tenant.body.code).toBe('FORBIDDEN');
  });
});

describe('the admin key on the tenant routes (X-Tenant)', () => {
  it("acts for the tenant X-Tenant names; says so without one; a tenant's own key ignores it", async () => {
    const asAdminFor = <T>(tenant: string | null, method: string, path: string, body?: unknown) =>
      stack.api<T>(method, path, body, { key: ADMIN, ...(tenant === null ? {} : { headers: { 'x-tenant': tenant } }) });
    const mine = await stack.api<{ id: string }>('POST', '/v1/jobs', { instruction: 'an acme promo' });
    expect(mine.status).toBe(202);
    const listed = await asAdminFor<{ data: { id: string }[] }>('acme', 'GET', '/v1/jobs?limit=100');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((j) => j.id)).toContain(mine.body.id);
    expect((await asAdminFor('acme', 'GET', `/v1/jobs/${mine.body.id}`)).status).toBe(200);
    // It acts as that tenant everywhere: another tenant's job stays not found.
    expect((await asAdminFor('globex', 'GET', `/v1/jobs/${mine.body.id}`)).status).toBe(404);
    const created = await asAdminFor<{ id: string }>('globex', 'POST', '/v1/jobs', { instruction: 'made by the operator for globex' });
    expect(created.status).toBe(202);
    expect((await stack.api('GET', `/v1/jobs/${created.body.id}`, undefined, { key: TENANTS.globex })).status).toBe(200);

    const bare = await asAdminFor<ErrorBody>(null, 'GET', '/v1/jobs');
    expect([bare.status, bare.body.code]).toEqual([401, 'UNAUTHORIZED']);
    expect(bare.body.message).toMatch(/X-Tenant/);
    const unknown = await asAdminFor<ErrorBody>('nobody-here', 'GET', '/v1/jobs');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'TENANT_NOT_FOUND']);
    // A tenant key cannot borrow another tenant with the header.
    const borrowed = await stack.api('GET', `/v1/jobs/${mine.body.id}`, undefined, { key: TENANTS.globex, headers: { 'x-tenant': 'acme' } });
    expect(borrowed.status).toBe(404);
  });
});

describe('tenants', () => {
  it('lists the bootstrap tenants from API_KEYS as records', async () => {
    const res = await admin<{ data: Tenant[]; next_cursor: string | null }>('GET', '/admin/tenants');
    expect(res.status).toBe(200);
    const ids = res.body.data.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining(['acme', 'globex']));
    expect(res.body.data.find((t) => t.id === 'acme')).toMatchObject({ bootstrap: true, weight: 1, upstream: { kind: 'default' }, deleted_at: null });
  });

  it('creates a tenant with a token: 201, settings at the top level, the token never answered', async () => {
    const res = await admin<Tenant>('POST', '/admin/tenants', {
      id: 'initech',
      max_concurrent_jobs: 3,
      rate_limit_per_min: 120,
      retention_ms: 86_400_000,
      weight: 2.5,
      upstream: { token: UPSTREAM_TOKEN },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: 'initech',
      max_concurrent_jobs: 3,
      rate_limit_per_min: 120,
      retention_ms: 86_400_000,
      weight: 2.5,
      upstream: { kind: 'token', set: true },
      bootstrap: false,
      created_at: expect.any(String),
      updated_at: expect.any(String),
      deleted_at: null,
      purge_at: null,
    });
    const got = await admin<Tenant>('GET', '/admin/tenants/initech');
    expect(got.body).toEqual(res.body);
    expect(JSON.stringify(got.body)).not.toContain(UPSTREAM_TOKEN);
    // The workers' view of the settings (what retention and admission read).
    const directory = stack.services.tenants.directory;
    expect((await directory.get('initech'))?.weight).toBe(2.5);
    expect(await directory.get('nobody-at-all')).toBeNull();
    // The workers' view opens it.
    const account = await stack.services.tenants.directory.upstreamOf('initech');
    expect(account).toEqual({ account: expect.stringMatching(/^tenant:initech:[0-9a-f]{8}$/), kind: 'token', token: UPSTREAM_TOKEN });
  });

  it('refuses a second tenant with the same id (409 TENANT_EXISTS)', async () => {
    const again = await admin<ErrorBody>('POST', '/admin/tenants', { id: 'initech' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('TENANT_EXISTS');
    expect((await admin<ErrorBody>('POST', '/admin/tenants', { id: 'acme' })).body.code).toBe('TENANT_EXISTS');
  });

  it.each([
    [{ id: 'bad id!' }, /^id: /],
    // No storage key may hold them as a segment: every job of such a tenant failed after its render was paid for.
    [{ id: '.' }, /^id: .*not \. or \.\./],
    [{ id: '..' }, /^id: .*not \. or \.\./],
    [{ id: 'ok', weight: 0 }, /^weight: /],
    [{ id: 'ok', rate_limit_per_min: 1.5 }, /^rate_limit_per_min: /],
    [{ id: 'ok', retention_ms: 10 }, /^retention_ms: /],
    // Past ten years: now + it may be no date at all (the tenant could then not be deleted: 500).
    [{ id: 'ok', retention_ms: 9_000_000_000_000_000 }, /^retention_ms: /],
    // A weight this small broke the fair scheduler's turns for every tenant of the shard.
    [{ id: 'ok', weight: 1e-300 }, /^weight: /],
    [{ id: 'ok', max_concurrent_jobs: 0 }, /^max_concurrent_jobs: /],
    [{ id: 'ok', upstream: { token: 'a b c d e f g h' } }, /^upstream/],
    [{ id: 'ok', upstream: { kind: 'token' } }, /^upstream: must be \{"token"/],
    [{ id: 'ok', colour: 'blue' }, /colour/],
  ])('answers 400 VALIDATION_FAILED naming the field for %j', async (body, message) => {
    const res = await admin<ErrorBody>('POST', '/admin/tenants', body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(message);
  });

  it('creates anonymous and default tenants; PATCH changes settings, null resets, the upstream can switch', async () => {
    const anon = await admin<Tenant>('POST', '/admin/tenants', { id: 'hooli', upstream: { anonymous: true } });
    expect(anon.status).toBe(201);
    expect(anon.body.upstream).toEqual({ kind: 'anonymous' });
    const first = await stack.services.tenants.directory.upstreamOf('hooli');
    expect(first).toMatchObject({ kind: 'anonymous', account: expect.stringMatching(/^tenant:hooli:anon-[0-9a-f]{8}$/), clientId: expect.any(String) });

    const plain = await admin<Tenant>('POST', '/admin/tenants', { id: 'umbrella' });
    expect(plain.body).toMatchObject({ max_concurrent_jobs: null, rate_limit_per_min: null, retention_ms: null, weight: 1, upstream: { kind: 'default' } });

    const patched = await admin<Tenant>('PATCH', '/admin/tenants/hooli', { rate_limit_per_min: 10, weight: 3, upstream: { anonymous: true } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ rate_limit_per_min: 10, weight: 3, upstream: { kind: 'anonymous' } });
    // Asking for anonymous again keeps the same account.
    expect(await stack.services.tenants.directory.upstreamOf('hooli')).toEqual(first);
    const reset = await admin<Tenant>('PATCH', '/admin/tenants/hooli', { rate_limit_per_min: null, upstream: { default: true } });
    expect(reset.body).toMatchObject({ rate_limit_per_min: null, weight: 3, upstream: { kind: 'default' } });
    // The weight resets like the other settings (to 1).
    expect((await admin<Tenant>('PATCH', '/admin/tenants/hooli', { weight: null })).body).toMatchObject({ weight: 1 });
    expect(await stack.services.tenants.directory.upstreamOf('hooli')).toEqual({ account: 'default', kind: 'default' });
    // A bootstrap tenant's settings are data too.
    expect((await admin<Tenant>('PATCH', '/admin/tenants/globex', { weight: 2 })).body).toMatchObject({ id: 'globex', weight: 2, bootstrap: true });
  });

  it('answers 404 TENANT_NOT_FOUND for an unknown tenant on every route', async () => {
    for (const [method, path, body] of [
      ['GET', '/admin/tenants/nope'],
      ['PATCH', '/admin/tenants/nope', { weight: 2 }],
      ['DELETE', '/admin/tenants/nope'],
      ['POST', '/admin/tenants/nope/keys'],
      ['GET', '/admin/tenants/nope/keys'],
      ['DELETE', '/admin/tenants/nope/keys/key_0'],
    ] as [string, string, unknown?][]) {
      const res = await admin<ErrorBody>(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe('TENANT_NOT_FOUND');
    }
  });

  it('pages the list by id', async () => {
    const first = await admin<{ data: Tenant[]; next_cursor: string | null }>('GET', '/admin/tenants?limit=2');
    expect(first.body.data.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(first.body.next_cursor).toBe('globex');
    const rest = await admin<{ data: Tenant[]; next_cursor: string | null }>('GET', '/admin/tenants?limit=100&cursor=globex');
    expect(rest.body.data.map((t) => t.id)).toEqual(['hooli', 'initech', 'umbrella']);
    expect(rest.body.next_cursor).toBeNull();
  });

  it('refuses to delete a bootstrap tenant (409 TENANT_IS_BOOTSTRAP)', async () => {
    const res = await admin<ErrorBody>('DELETE', '/admin/tenants/acme');
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('TENANT_IS_BOOTSTRAP');
  });
});

describe('issued API keys', () => {
  it('issues a key shown once, lists it by id and prefix only, and it works on /v1', async () => {
    const res = await admin<{ id: string; key: string; prefix: string; created_at: string }>('POST', '/admin/tenants/initech/keys');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^nrk_[A-Za-z0-9_-]{43}$/), prefix: res.body.key.slice(0, 12), created_at: expect.any(String) });
    // The key is in this answer alone: no cache on the way may keep it.
    expect(res.headers['cache-control']).toBe('no-store');
    issuedKeys.push(res.body.key);
    const list = await admin<{ data: { id: string; prefix: string }[]; bootstrap: boolean }>('GET', '/admin/tenants/initech/keys');
    expect(list.body).toEqual({ data: [{ id: res.body.id, prefix: res.body.prefix, created_at: res.body.created_at }], bootstrap: false });
    expect(JSON.stringify(list.body)).not.toContain(res.body.key);

    const jobs = await stack.api<{ data: unknown[] }>('GET', '/v1/jobs', undefined, { key: res.body.key });
    expect(jobs.status).toBe(200);
    // The tenant's own key does not open the admin API.
    expect((await stack.api('GET', '/admin/tenants', undefined, { key: res.body.key })).status).toBe(403);
  });

  it('revokes a key: 204, then 401 for it; an unknown key id is 404 KEY_NOT_FOUND', async () => {
    const issued = await admin<{ id: string; key: string }>('POST', '/admin/tenants/umbrella/keys');
    issuedKeys.push(issued.body.key);
    expect((await stack.api('GET', '/v1/jobs', undefined, { key: issued.body.key })).status).toBe(200);
    const revoked = await admin('DELETE', `/admin/tenants/umbrella/keys/${issued.body.id}`);
    expect(revoked.status).toBe(204);
    expect((await stack.api('GET', '/v1/jobs', undefined, { key: issued.body.key })).status).toBe(401);
    const again = await admin<ErrorBody>('DELETE', `/admin/tenants/umbrella/keys/${issued.body.id}`);
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('KEY_NOT_FOUND');
  });

  it('says a bootstrap tenant’s configured keys are not revocable here, and they keep working', async () => {
    const list = await admin<{ data: unknown[]; bootstrap: boolean }>('GET', '/admin/tenants/acme/keys');
    expect(list.body).toEqual({ data: [], bootstrap: true });
    const res = await admin<ErrorBody>('DELETE', '/admin/tenants/acme/keys/key_whatever');
    expect(res.body.code).toBe('KEY_NOT_FOUND');
    expect(res.body.message).toMatch(/API_KEYS/);
    expect((await stack.api('GET', '/v1/jobs', undefined, { key: TENANTS.acme })).status).toBe(200);
  });
});

describe('deleting a tenant', () => {
  it('answers the tombstone, refuses its keys, keeps its id reserved (409) and answers GET with deleted_at', async () => {
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/hooli/keys')).body.key;
    expect((await stack.api('GET', '/v1/jobs', undefined, { key })).status).toBe(200);
    const res = await admin<Tenant & { jobs_canceled: number }>('DELETE', '/admin/tenants/hooli');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'hooli', deleted_at: expect.any(String), purge_at: expect.any(String), jobs_canceled: 0 });
    expect((await stack.api('GET', '/v1/jobs', undefined, { key })).status).toBe(401);
    const got = await admin<Tenant>('GET', '/admin/tenants/hooli');
    expect(got.status).toBe(200);
    expect(got.body.deleted_at).toBe(res.body.deleted_at);
    const reuse = await admin<ErrorBody>('POST', '/admin/tenants', { id: 'hooli' });
    expect(reuse.status).toBe(409);
    expect(reuse.body.code).toBe('TENANT_DELETED');
    expect(reuse.body.message).toContain(res.body.purge_at!);
    expect((await admin<ErrorBody>('PATCH', '/admin/tenants/hooli', { weight: 1 })).body.code).toBe('TENANT_DELETED');
    expect((await admin<ErrorBody>('POST', '/admin/tenants/hooli/keys')).body.code).toBe('TENANT_DELETED');
    // Deleting again answers the tombstone; the list no longer shows it.
    expect((await admin<Tenant>('DELETE', '/admin/tenants/hooli')).body.deleted_at).toBe(res.body.deleted_at);
    const list = await admin<{ data: Tenant[] }>('GET', '/admin/tenants');
    expect(list.body.data.map((t) => t.id)).not.toContain('hooli');
    // The tombstone (and the rest of the tenant's keys) expire with its retention.
    const ttl = await stack.services.redis.pttl(stack.services.keys.tenantRecord('hooli'));
    expect(ttl).toBeGreaterThan(stack.services.config.JOB_RETENTION_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(stack.services.config.JOB_RETENTION_MS);
  });

  it('deletes a tenant stored before the bounds with a retention past any date and a weight near 0 (read at the bounds)', async () => {
    expect((await admin('POST', '/admin/tenants', { id: 'legacy' })).status).toBe(201);
    const { redis, keys } = stack.services;
    const stored = JSON.parse((await redis.get(keys.tenantRecord('legacy')))!) as Record<string, unknown>;
    await redis.set(keys.tenantRecord('legacy'), JSON.stringify({ ...stored, retention_ms: 9_000_000_000_000_000, weight: 1e-300 }));
    await stack.services.tenants.directory.changed({ tenant: 'legacy' });
    const got = await admin<Tenant>('GET', '/admin/tenants/legacy');
    expect(got.body).toMatchObject({ retention_ms: 10 * 365 * 24 * 3600 * 1000, weight: 0.001 });
    const res = await admin<Tenant>('DELETE', '/admin/tenants/legacy');
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.purge_at!) - Date.parse(res.body.deleted_at!)).toBe(10 * 365 * 24 * 3600 * 1000);
  });
});

describe('secrets at rest', () => {
  it('never keeps the upstream token or an API key in plaintext in any Redis key or value', async () => {
    expect(issuedKeys.length).toBeGreaterThanOrEqual(2);
    const redis = stack.services.redis;
    const needles = [UPSTREAM_TOKEN, ...issuedKeys, ADMIN, TENANTS.acme, TENANTS.globex];
    let cursor = '0';
    let seen = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${stack.prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let values: string[] = [];
        if (type === 'string') values = [(await redis.get(key)) ?? ''];
        else if (type === 'hash') values = Object.entries(await redis.hgetall(key)).flat();
        else if (type === 'list') values = await redis.lrange(key, 0, -1);
        else if (type === 'set') values = await redis.smembers(key);
        else if (type === 'zset') values = await redis.zrange(key, 0, -1);
        else if (type === 'stream') values = (await redis.xrange(key, '-', '+')).flat(3) as string[];
        const text = [key, ...values].join('\n');
        for (const needle of needles) expect(text.includes(needle), `${key} (${type}) holds a secret`).toBe(false);
        seen++;
      }
    } while (cursor !== '0');
    expect(seen).toBeGreaterThan(5);
    // The sealed form is there, naming its key.
    const raw = (await redis.get(stack.services.keys.tenantRecord('initech')))!;
    expect(raw).toMatch(/"sealed":"v1\.[0-9a-f]{8}\./);
  });
});
