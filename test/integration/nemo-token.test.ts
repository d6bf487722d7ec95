// TokenProvider against real Redis: two providers (two workers) share one anonymous token, one acquire, one re-acquire.
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NemoClient } from '../../src/nemo/client.js';
import { TokenProvider } from '../../src/nemo/token.js';
import { createKeys } from '../../src/redis/keys.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { json, SKILL, startServer, type TestServer } from '../unit/nemo-test-server.js';

let srv: TestServer;
let issued = 0;
let expiresInMs = 7 * 24 * 3600 * 1000;
const clientIds: string[] = [];
const prefix = uniquePrefix('nemo-token');
const keys = createKeys(prefix);
const conns: Redis[] = [];
const logLines: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);

function provider(extra: Partial<ConstructorParameters<typeof TokenProvider>[0]> = {}): TokenProvider {
  const redis = testRedis();
  conns.push(redis);
  const client = new NemoClient({ baseUrl: srv.url, skill: SKILL, logger });
  return new TokenProvider({ redis, keys, client, logger, lockTtlMs: 5_000, ...extra });
}

beforeAll(async () => {
  srv = await startServer();
  srv.handle(async (req, res) => {
    if (req.url !== '/api/auth/anonymous-token') return json(res, 404, { detail: 'Not Found' });
    clientIds.push(String(req.headers['x-client-id']));
    issued++;
    const n = issued;
    // Slow enough that every concurrent caller is already waiting when the answer comes.
    await new Promise((r) => setTimeout(r, 150));
    json(res, 200, {
      code: 0,
      data: { token: `nmv_usr_issued${n}`, user_id: 'anon_1', expires_at: new Date(Date.now() + expiresInMs).toISOString(), credits: 100 },
    });
  });
});

beforeEach(async () => {
  issued = 0;
  expiresInMs = 7 * 24 * 3600 * 1000;
  clientIds.length = 0;
  await conns[0]?.del(keys.nemoToken(), keys.nemoTokenLock());
});

afterAll(async () => {
  const admin = testRedis();
  await cleanupPrefix(admin, prefix);
  await admin.quit();
  await Promise.all(conns.map((c) => c.quit()));
  await srv.close();
});

describe('TokenProvider', () => {
  it('20 concurrent callers across two workers cause exactly one anonymous-token call', async () => {
    const a = provider();
    const b = provider();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).get()));
    expect(new Set(tokens)).toEqual(new Set(['nmv_usr_issued1']));
    expect(issued).toBe(1);
    // Served from memory afterwards.
    expect(await a.get()).toBe('nmv_usr_issued1');
    expect(issued).toBe(1);
    expect(a.isStatic).toBe(false);
  });

  it('invalidate(bad) from both workers at once causes exactly one re-acquire', async () => {
    const a = provider();
    const b = provider();
    const bad = await a.get();
    expect(await b.get()).toBe(bad);
    await Promise.all([a.invalidate(bad), b.invalidate(bad)]);
    const fresh = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).get()));
    expect(new Set(fresh)).toEqual(new Set(['nmv_usr_issued2']));
    expect(issued).toBe(2);
    // A late 1001 for the old token must not throw away the new one.
    const c = provider();
    await c.invalidate(bad);
    expect(await c.get()).toBe('nmv_usr_issued2');
    expect(issued).toBe(2);
  });

  it('never hands out a token refused while its read from Redis was on the way', async () => {
    const a = provider();
    const bad = await a.get();
    const b = provider();
    // b reads the shared token; the refusal arrives before the read's answer does.
    const reading = b.get();
    await b.invalidate(bad);
    expect(await reading).toBe('nmv_usr_issued2');
    expect(await b.get()).toBe('nmv_usr_issued2');
    expect(issued).toBe(2);
  });

  it('ignores a refused token another worker wrote back to Redis late, and replaces it', async () => {
    const a = provider();
    const bad = await a.get();
    await a.invalidate(bad);
    // Another worker fetched the token before it was refused and stores it after the invalidation deleted it.
    await conns[0]!.set(keys.nemoToken(), JSON.stringify({ token: bad, expires_at: null, refresh_at: null }));
    expect(await a.get()).toBe('nmv_usr_issued2');
    // The fresh token replaced the refused one for every worker.
    expect(await provider().get()).toBe('nmv_usr_issued2');
    expect(issued).toBe(2);
  });

  it('refreshes before expires_at', async () => {
    expiresInMs = 1_000; // short-lived: refresh at half its remaining life
    const a = provider();
    expect(await a.get()).toBe('nmv_usr_issued1');
    await new Promise((r) => setTimeout(r, 600));
    expect(await a.get()).toBe('nmv_usr_issued2');
    expect(issued).toBe(2);
  });

  it('keeps one client id in Redis for every worker and sends it as X-Client-Id', async () => {
    const a = provider();
    const b = provider();
    const [ida, idb] = await Promise.all([a.clientId(), b.clientId()]);
    expect(ida).toBe(idb);
    expect(ida).toMatch(/^[0-9a-f-]{36}$/);
    expect(await conns[0]!.get(keys.nemoClientId())).toBe(ida);
    expect(await provider().clientId()).toBe(ida);
    await a.get();
    expect(clientIds).toEqual([ida]);
    expect(await provider({ clientId: 'configured-id' }).clientId()).toBe('configured-id');
  });

  it('a static token never calls upstream', async () => {
    const s = provider({ staticToken: 'nmv_usr_static0123' });
    expect(s.isStatic).toBe(true);
    expect(await s.get()).toBe('nmv_usr_static0123');
    await s.invalidate('nmv_usr_static0123');
    expect(await s.get()).toBe('nmv_usr_static0123');
    expect(issued).toBe(0);
    expect(await conns[0]!.get(keys.nemoToken())).toBeNull();
  });

  it('never logs a token', () => {
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toMatch(/nmv_usr_(issued|static)/);
  });
});
