// Readiness: /readyz is 503 with the reason when Redis evicts keys or is unreachable; the API keeps running; workers warn.
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startOpsServer } from '../../src/observability/ops-server.js';
import { startApi, startWorker } from '../../src/app/roles.js';
import { compose as createServices, type Container as Services } from '../../src/app/compose.js';
import { multipart } from '../helpers/multipart.js';
import { freePort } from '../helpers/ops-process.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'acme-key-0123456789abcdef';
const ADMIN_KEY = 'admin-key-0123456789abcdef';

function configFor(redisUrl: string) {
  const prefix = uniquePrefix('ready');
  return loadConfig({
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    API_KEYS: `acme:${KEY}`,
    ADMIN_API_KEY: ADMIN_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    NEMO_BASE_URL: 'http://127.0.0.1:9',
    UPLOAD_DIR: `./data/test-uploads/${prefix}`,
    LOG_LEVEL: 'warn',
  });
}

/** A logger whose JSON lines are kept for assertions. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('warn', 'nemo-relay', sink), lines };
}

async function get(url: string) {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, body: JSON.parse(text) as { code?: string; message?: string; status?: string } };
}

describe('readiness', () => {
  let lruServer: ChildProcess | null = null;
  let lruUrl = '';
  const open: Services[] = [];
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    // A second Redis that would evict queue data under memory pressure.
    const port = await freePort();
    lruServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'], {
      stdio: 'ignore',
    });
    lruServer.once('error', (err) => {
      throw new Error(`this test starts a second redis-server (apt-get install redis-server): ${err.message}`);
    });
    lruUrl = `redis://127.0.0.1:${port}`;
    const probe = new Redis(lruUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await waitFor(
      async () => {
        await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      },
      { what: 'the allkeys-lru redis-server', timeoutMs: 10_000, intervalMs: 100 },
    );
    probe.disconnect();
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const services of open) await services.close();
    lruServer?.kill('SIGTERM');
  });

  /** An API on the shared Redis; what it writes at start (tenant records, metadata) is removed with its prefix. */
  async function apiOnSharedRedis(config: ReturnType<typeof configFor>): Promise<string> {
    const services = createServices(config, createLogger('silent'));
    open.push(services);
    closers.unshift(async () => {
      const redis = testRedis();
      await cleanupPrefix(redis, config.QUEUE_PREFIX);
      redis.disconnect();
    });
    const { app, url } = await startApi(services);
    closers.push(() => app.close());
    return url;
  }

  it('answers 200 on a Redis with noeviction', async () => {
    const url = await apiOnSharedRedis(configFor(TEST_REDIS_URL));
    await waitFor(async () => (await get(`${url}/readyz`)).status === 200, { what: 'readyz 200' });
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });

  it('answers 503 naming the upload directory when the API cannot write it (every upload answered 500 while it said ready)', async () => {
    // A directory under a regular file: ENOTDIR, whoever runs the test.
    const url = await apiOnSharedRedis({ ...configFor(TEST_REDIS_URL), UPLOAD_DIR: 'package.json/uploads' });
    const res = await waitFor(async () => {
      const r = await get(`${url}/readyz`);
      return r.status === 503 ? r : null;
    }, { what: 'readyz 503' });
    expect(JSON.stringify(res.body)).toContain('upload directory package.json/uploads cannot be written: ENOTDIR');
    // An upload meanwhile: 503 (retry later) with the contract's body, no directory or system error in it (it was a 500).
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    const form = multipart([{ name: 'file', filename: 'a.png', contentType: 'image/png', data: png }]);
    const upload = await request(`${url}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': form.contentType },
      body: form.body,
    });
    const body = (await upload.body.json()) as { statusCode: number; code: string; message: string };
    expect([upload.statusCode, body.code]).toEqual([503, 'UPLOAD_STAGING_FAILED']);
    expect(body.message).toBe("the service could not stage the upload on its disk; retry later (the operator's logs say why)");
  });

  it('answers 503 naming the eviction policy, on the API and the worker ops server, and the worker warns at start-up', async () => {
    const { logger, lines } = capturingLogger();
    const services = createServices(configFor(lruUrl), logger);
    open.push(services);
    const { app, url } = await startApi(services);
    closers.push(() => app.close());
    const ready = await get(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.code).toBe('NOT_READY');
    expect(ready.body.message).toMatch(/maxmemory-policy is allkeys-lru/);

    const ops = await startOpsServer({ port: 0, host: '127.0.0.1', redis: services.redis, metrics: services.metrics, logger });
    closers.push(() => ops.close());
    const opsReady = await get(`${ops.url}/readyz`);
    expect(opsReady.status).toBe(503);
    expect(opsReady.body.message).toMatch(/allkeys-lru/);
    expect((await get(`${ops.url}/healthz`)).status).toBe(200);

    const worker = await startWorker(services);
    closers.push(() => worker.stop());
    const warning = await waitFor(() => lines.find((l) => l.level === 40 && /allkeys-lru/.test(String(l.reason))), {
      what: 'the start-up warning',
    });
    expect(warning.msg).toMatch(/not safe for the queue/);
  });

  it('keeps running with Redis unreachable: /healthz 200, /readyz 503 with the reason, /metrics answers', async () => {
    const deadPort = await freePort();
    const services = createServices(configFor(`redis://127.0.0.1:${deadPort}`), createLogger('silent'));
    open.push(services);
    // It listens after a short wait for Redis, so the probes answer while Redis cannot be reached.
    const starting = Date.now();
    const { app, url } = await startApi(services);
    closers.push(() => app.close());
    expect(Date.now() - starting).toBeLessThan(4_000);
    // Give the reconnect loops time to fail a few times: an unhandled 'error' event would crash this process.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await get(`${url}/healthz`)).status).toBe(200);
    const ready = await get(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.message).toMatch(/^redis unreachable/);
    // The cause, as the connection met it (not only "Stream isn't writeable").
    expect(ready.body.message).toContain(`last connection error: connect ECONNREFUSED 127.0.0.1:${deadPort}`);
    const metrics = await request(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const text = await metrics.body.text();
    expect(metrics.statusCode).toBe(200);
    expect(text).toMatch(/^nemo_relay_redis_up 0$/m);
    // Job routes answer 503 at once instead of waiting for Redis to come back.
    const started = Date.now();
    const create = await request(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instruction: 'a promo' }),
    });
    const createBody = (await create.body.json()) as { code: string };
    expect(create.statusCode).toBe(503);
    expect(createBody.code).toBe('NOT_READY');
    expect(Date.now() - started).toBeLessThan(2_000);
    // So do the operator's tenant routes (they hung with no answer, and their writes landed once Redis was back).
    const adminStarted = Date.now();
    for (const [method, path] of [['GET', '/admin/tenants'], ['POST', '/admin/tenants'], ['POST', '/admin/tenants/acme/keys']] as const) {
      const res = await request(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: path === '/admin/tenants' ? JSON.stringify({ id: 'zz' }) : '{}' } : {}),
      });
      expect([res.statusCode, ((await res.body.json()) as { code: string }).code]).toEqual([503, 'NOT_READY']);
    }
    expect(Date.now() - adminStarted).toBeLessThan(2_000);
    // The process is still answering after all that.
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });
});
