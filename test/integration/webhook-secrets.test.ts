// WebhookSecrets on real Redis: one secret per tenant under concurrency, rotation with a grace period, fixed secret.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../src/redis/keys.js';
import { generateSecret } from '../../src/webhooks/signing.js';
import { WebhookSecrets } from '../../src/webhooks/secrets.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniquePrefix('whsec');
const keys = createKeys(prefix);
let redisA: Redis;
let redisB: Redis;

beforeAll(() => {
  redisA = testRedis();
  redisB = testRedis();
});

afterAll(async () => {
  await cleanupPrefix(redisA, prefix);
  redisA.disconnect();
  redisB.disconnect();
});

const DAY = 86_400_000;

describe('WebhookSecrets', () => {
  it('creates exactly one secret per tenant even when two processes ask at once', async () => {
    const a = new WebhookSecrets({ redis: redisA, keys, graceMs: DAY });
    const b = new WebhookSecrets({ redis: redisB, keys, graceMs: DAY });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).current('acme')));
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(await b.signingSecrets('acme')).toEqual([results[0]]);
    expect(await a.current('other-tenant')).not.toBe(results[0]);
  });

  it('rotates: the new secret is current and the old one keeps signing until the grace period ends', async () => {
    const s = new WebhookSecrets({ redis: redisA, keys, graceMs: 300 });
    const old = await s.current('rot');
    const started = Date.now();
    const { secret, previousValidUntil } = await s.rotate('rot');
    expect(secret).not.toBe(old);
    expect(Date.parse(previousValidUntil) - started).toBeGreaterThanOrEqual(300);
    expect(Date.parse(previousValidUntil) - started).toBeLessThan(5_000);
    expect(await s.current('rot')).toBe(secret);
    const during = await s.signingSecrets('rot');
    // Guard against a slow machine where the 300 ms already passed before this read.
    if (Date.now() < Date.parse(previousValidUntil)) expect(during).toEqual([secret, old]);
    await waitFor(async () => (await s.signingSecrets('rot')).length === 1, { timeoutMs: 5_000, what: 'grace to end' });
    expect(await s.signingSecrets('rot')).toEqual([secret]);
  });

  it('keeps every rotated-out secret still in grace, and drops expired ones on the next rotation', async () => {
    let now = 1_000_000;
    const s = new WebhookSecrets({ redis: redisA, keys, graceMs: 1_000, now: () => now });
    const first = await s.current('multi');
    const { secret: second } = await s.rotate('multi');
    now += 500;
    const { secret: third, previousValidUntil } = await s.rotate('multi');
    expect(previousValidUntil).toBe(new Date(now + 1_000).toISOString());
    expect(await s.signingSecrets('multi')).toEqual([third, second, first]);
    now += 600; // first expired (valid until 1_001_000), second still valid until 1_001_500
    expect(await s.signingSecrets('multi')).toEqual([third, second]);
    await s.rotate('multi');
    const stored = JSON.parse((await redisA.get(keys.tenantWebhookSecrets('multi')))!) as { previous: unknown[] };
    expect(stored.previous).toHaveLength(2);
  });

  it('loses no rotation when two processes rotate at the same moment', async () => {
    const a = new WebhookSecrets({ redis: redisA, keys, graceMs: DAY });
    const b = new WebhookSecrets({ redis: redisB, keys, graceMs: DAY });
    const original = await a.current('race');
    const [ra, rb] = await Promise.all([a.rotate('race'), b.rotate('race')]);
    const secrets = await a.signingSecrets('race');
    expect(secrets).toHaveLength(3);
    expect(new Set(secrets)).toEqual(new Set([original, ra.secret, rb.secret]));
    expect([ra.secret, rb.secret]).toContain(await b.current('race'));
  });

  it('uses a fixed WEBHOOK_SECRET for every tenant and refuses to rotate it', async () => {
    const fixed = generateSecret();
    const s = new WebhookSecrets({ redis: redisA, keys, fixedSecret: fixed, graceMs: DAY });
    expect(await s.current('t1')).toBe(fixed);
    expect(await s.current('t2')).toBe(fixed);
    expect(await s.signingSecrets('t1')).toEqual([fixed]);
    const err = await s.rotate('t1').then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/rotation is unavailable while WEBHOOK_SECRET is set/);
    expect(err?.message).not.toContain(fixed.slice(6));
    expect(await redisA.exists(keys.tenantWebhookSecrets('t1'))).toBe(0);
  });

  it('reports a malformed stored record without quoting it', async () => {
    const leaked = generateSecret();
    await redisA.set(keys.tenantWebhookSecrets('broken'), JSON.stringify({ current: leaked.slice(0, 10), previous: 'x' }));
    const s = new WebhookSecrets({ redis: redisA, keys, graceMs: DAY });
    const err = await s.current('broken').then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/stored webhook secrets for tenant broken are malformed \(current, createdAt, previous\)/);
    expect(err?.message).not.toContain(leaked.slice(6, 10));
  });
});
