// A job's step reads its tenant through a connection that waits out a Redis reconnect; the API's reads still fail fast.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type Container } from '../../src/app/compose.js';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { adminCall, startSingle } from '../helpers/redis-topology.js';
import { uniquePrefix } from '../helpers/redis.js';

describe('tenant reads while Redis connections drop (a Sentinel failover, a restart)', () => {
  let redis: Awaited<ReturnType<typeof startSingle>>;
  let c: Container;

  beforeAll(async () => {
    redis = await startSingle();
    c = compose(
      loadConfig({ REDIS_URL: redis.url, QUEUE_PREFIX: uniquePrefix('twr'), API_KEYS: 'acme:acme-key-0123456789abcdef', LOG_LEVEL: 'silent' }),
      createLogger('silent'),
    );
    await c.tenants.directory.start();
  });
  afterAll(async () => {
    await c?.close();
    await redis?.stop();
  });

  it("a step's account and limits reads wait for the reconnect instead of crashing the step; the request path's read fails fast", async () => {
    // Every client connection cut (as a promoted master does): ioredis reconnects within ~100 ms.
    const closed = once(c.redis, 'close');
    await adminCall(redis.node.port, 'CLIENT', 'KILL', 'TYPE', 'normal');
    await closed;
    const requestPath = c.tenants.directory.get('acme').then(
      () => 'answered',
      (err: Error) => err.message,
    );
    // Before: these went through the request connection (no offline queue) and threw "Stream isn't writeable…", so the
    // running step crashed and its next run reconciled a message that had already been answered.
    const account = c.flowDeps.accounts.currentId('acme');
    const limits = c.flowDeps.limitsOf('acme');
    expect(await requestPath).toMatch(/writeable|closed/i);
    expect(await account).toBe('default');
    expect(await limits).toMatchObject({ maxConcurrent: 0, weight: 1, account: 'default' });
    // Once reconnected, the request path answers again.
    await expect.poll(() => c.tenants.directory.get('acme').then((t) => t?.id ?? null, () => null), { timeout: 10_000 }).toBe('acme');
  });
});
