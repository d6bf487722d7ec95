// Several API processes on one Redis: a key revoked on one is refused by the others within 1 s; rate limits are shared.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type Container } from '../../src/app/compose.js';
import { createLogger } from '../../src/observability/logger.js';
import { startApi } from '../../src/app/roles.js';
import { hashApiKey } from '../../src/tenants/issued-keys.js';
import { apiCall, freePort, ProcessGroup, waitForHttp } from '../helpers/processes.js';
import { send } from '../helpers/http.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';

let stack: Stack;
let second: Container;
let secondApp: Awaited<ReturnType<typeof startApi>>;
let childUrl: string;
const children = new ProcessGroup();
/** The three API processes: this test's stack, a second container in this process, and a child process. */
let urls: { a: string; b: string; c: string };

const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { ADMIN_API_KEY: ADMIN } });
  // A second composition root on the same Redis prefix: its own caches, its own change-feed subscription.
  second = compose(stack.services.config, createLogger('silent'));
  secondApp = await startApi(second);
  const port = await freePort();
  const child = children.spawn('api', {
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: stack.prefix,
    NEMO_BASE_URL: stack.services.config.NEMO_BASE_URL,
    API_KEYS: `acme:${TENANTS.acme},globex:${TENANTS.globex}`,
    ADMIN_API_KEY: ADMIN,
    PORT: String(port),
    HOST: '127.0.0.1',
    UPLOAD_DIR: stack.services.config.UPLOAD_DIR,
    LOG_LEVEL: 'warn',
  });
  childUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(`${childUrl}/healthz`, child);
  urls = { a: stack.apiUrl, b: secondApp.url, c: childUrl };
}, 60_000);

afterAll(async () => {
  await children.stopAll();
  await secondApp?.app.close();
  await second?.close();
  await stack?.close();
});

const status = async (url: string, key: string) => (await send(url, 'GET', '/v1/jobs?limit=1', { key })).status;

describe('revoking a key', () => {
  it('is refused by the other API processes within 1 s (each had it cached as valid)', async () => {
    await admin('POST', '/admin/tenants', { id: 'wayne' });
    const issued = (await admin<{ id: string; key: string }>('POST', '/admin/tenants/wayne/keys')).body;
    // Every process has looked the key up (and caches the answer for a few seconds).
    for (const url of Object.values(urls)) expect(await status(url, issued.key)).toBe(200);
    for (const url of Object.values(urls)) expect(await status(url, issued.key)).toBe(200);

    const revokedAt = Date.now();
    expect((await admin('DELETE', `/admin/tenants/wayne/keys/${issued.id}`)).status).toBe(204);
    const refusedAfter: Record<string, number> = {};
    await Promise.all(
      (['b', 'c'] as const).map(async (name) => {
        while ((await status(urls[name], issued.key)) !== 401) {
          if (Date.now() - revokedAt > 5_000) throw new Error(`process ${name} still accepts the revoked key after 5 s`);
          await new Promise((r) => setTimeout(r, 5));
        }
        refusedAfter[name] = Date.now() - revokedAt;
      }),
    );
    expect(await status(urls.a, issued.key)).toBe(401);
    console.log(`revoked key refused after: in-process container ${refusedAfter.b} ms, child process ${refusedAfter.c} ms`);
    expect(refusedAfter.b).toBeLessThan(1_000);
    expect(refusedAfter.c).toBeLessThan(1_000);
  });

  it('is cached in each process: without the change notice a process would still accept it (so the notice is what revokes)', async () => {
    const issued = (await admin<{ id: string; key: string }>('POST', '/admin/tenants/wayne/keys')).body;
    // The issue's own change notice must reach process B first: arriving after the lookup below (a loaded machine,
    // once in a full run), it empties the cache this test relies on.
    await new Promise((r) => setTimeout(r, 500));
    expect(await status(urls.b, issued.key)).toBe(200);
    // Remove the lookup behind the API's back (no notice): process B answers from its cache.
    await stack.services.redis.del(stack.services.keys.apiKeyByHash(hashApiKey(issued.key)));
    expect(await status(urls.b, issued.key)).toBe(200);
    expect((await admin('DELETE', `/admin/tenants/wayne/keys/${issued.id}`)).status).toBe(204);
    await waitFor(async () => (await status(urls.b, issued.key)) === 401, { timeoutMs: 1_000, intervalMs: 5, what: 'process B to refuse the key' });
  });

  it('still holds after a process’s change feed lost its connection and came back', async () => {
    const issued = (await admin<{ id: string; key: string }>('POST', '/admin/tenants/wayne/keys')).body;
    expect(await status(urls.b, issued.key)).toBe(200);
    // Drop process B's subscriber connection; ioredis reconnects and the directory subscribes again.
    const directory = second.tenants.directory as unknown as { sub: { disconnect(reconnect: boolean): void }; live: boolean };
    directory.sub.disconnect(true);
    // While it is away nothing is served from cache (answers come from Redis); once subscribed again, the cache is used again.
    await waitFor(() => !directory.live, { timeoutMs: 1_000, intervalMs: 1, what: 'the feed to be seen down' });
    expect(await status(urls.b, issued.key)).toBe(200);
    await waitFor(() => directory.live, { timeoutMs: 5_000, what: 'the change feed to be subscribed again' });
    expect(await status(urls.b, issued.key)).toBe(200);
    expect((await admin('DELETE', `/admin/tenants/wayne/keys/${issued.id}`)).status).toBe(204);
    await waitFor(async () => (await status(urls.b, issued.key)) === 401, { timeoutMs: 1_000, intervalMs: 5, what: 'process B to refuse the key' });
  });

  it('deleting a tenant makes every process refuse its keys at once', async () => {
    await admin('POST', '/admin/tenants', { id: 'stark' });
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/stark/keys')).body.key;
    for (const url of Object.values(urls)) expect(await status(url, key)).toBe(200);
    const deletedAt = Date.now();
    expect((await admin('DELETE', '/admin/tenants/stark')).status).toBe(200);
    for (const name of ['b', 'c'] as const) {
      while ((await status(urls[name], key)) !== 401) {
        expect(Date.now() - deletedAt, `process ${name}`).toBeLessThan(1_000);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
});

describe('rate limits', () => {
  it('holds across API processes: 5/min, 3 on one and 2 on another pass, the 6th on either is 429', async () => {
    await admin('POST', '/admin/tenants', { id: 'tyrell', rate_limit_per_min: 5 });
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/tyrell/keys')).body.key;
    const create = (url: string) =>
      send<{ statusCode: number; code: string; message: string }>(url, 'POST', '/v1/jobs', {
        key,
        contentType: 'application/json',
        body: JSON.stringify({ instruction: 'a promo' }),
      });
    const remaining: string[] = [];
    for (const url of [urls.a, urls.a, urls.a, urls.c, urls.c]) {
      const res = await create(url);
      expect(res.status).toBe(202);
      expect(res.headers['ratelimit-limit']).toBe('5');
      remaining.push(String(res.headers['ratelimit-remaining']));
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    for (const url of [urls.b, urls.a]) {
      const refused = await create(url);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ statusCode: 429, code: 'RATE_LIMITED', message: expect.stringMatching(/5 requests a minute/) });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.headers['ratelimit-limit']).toBe('5');
      expect(refused.headers['ratelimit-remaining']).toBe('0');
      expect(refused.headers['ratelimit-reset']).toBe(String(retryAfter));
    }
    // Other routes are not limited; the refused creates made no jobs.
    expect(await status(urls.b, key)).toBe(200);
    const jobs = await send<{ data: unknown[] }>(urls.a, 'GET', '/v1/jobs?limit=100', { key });
    expect(jobs.body.data).toHaveLength(5);
    // Uploads count against the same window.
    const upload = await send(urls.c, 'POST', '/v1/uploads', { key, contentType: 'multipart/form-data; boundary=x', body: '--x--\r\n' });
    expect(upload.status).toBe(429);
    // So do revisions: each is a job, and spends upstream credits.
    const revision = await send(urls.b, 'POST', '/v1/jobs/job_00000000000000000000000000/revisions', {
      key,
      contentType: 'application/json',
      body: JSON.stringify({ instruction: 'warmer' }),
    });
    expect(revision.status).toBe(429);
    // And the webhook test: each one makes the service send a signed POST to a URL the caller names.
    const hook = await send<{ message: string }>(urls.a, 'POST', '/v1/webhooks/test', {
      key,
      contentType: 'application/json',
      body: JSON.stringify({ url: 'https://example.com/hook' }),
    });
    expect(hook.status).toBe(429);
    expect(hook.body.message).toContain('/v1/jobs/{id}/revisions, /v1/webhooks/test;');
  });

  it('a changed limit applies on every process at once', async () => {
    expect((await admin('PATCH', '/admin/tenants/tyrell', { rate_limit_per_min: 50 })).status).toBe(200);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/tyrell/keys')).body.key;
    const res = await send(urls.b, 'POST', '/v1/batches', { key, contentType: 'application/json', body: '{}' });
    // The window kept its count (10 so far: 5 passed, 5 refused), now under a limit of 50; the batch itself fails validation.
    expect(res.status).toBe(400);
    expect(res.headers['ratelimit-limit']).toBe('50');
    expect(res.headers['ratelimit-remaining']).toBe('39');
  });

  it('a tenant without a limit gets no headers and no window in Redis', async () => {
    const res = await send(urls.a, 'POST', '/v1/jobs', { contentType: 'application/json', body: JSON.stringify({ instruction: 'unlimited' }) });
    expect(res.status).toBe(202);
    expect(res.headers['ratelimit-limit']).toBeUndefined();
    expect(await stack.services.redis.exists(stack.services.keys.tenantRateWindow('acme'))).toBe(0);
  });
});

describe('the child process', () => {
  it('serves the same tenants (bootstrap records, admin API)', async () => {
    const list = await apiCall<{ data: { id: string }[] }>(childUrl, ADMIN, 'GET', '/admin/tenants');
    expect(list.body.data.map((t) => t.id)).toEqual(expect.arrayContaining(['acme', 'globex', 'tyrell']));
  });
});
