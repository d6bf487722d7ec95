// Tenants' upstream tokens at rest: AES-256-GCM under SECRETS_KEY, validated at start-up, and key rotation with re-sealing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type Container } from '../../src/app/compose.js';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { waitReady } from '../../src/redis/client.js';
import { createKeys } from '../../src/redis/keys.js';
import { TenantDirectory } from '../../src/tenants/directory.js';
import { decodeSecretsKey, SecretBox, secretsKeyId } from '../../src/tenants/secret-box.js';
import { TenantStore } from '../../src/tenants/store.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const keyText = () => randomBytes(32).toString('base64');
const idOf = (text: string) => secretsKeyId(decodeSecretsKey(text)!);
const TOKEN = `nmv_usr_${randomBytes(20).toString('hex')}`;

describe('SECRETS_KEY at start-up', () => {
  it('accepts 32 bytes in base64 and refuses anything else with one clear line', () => {
    expect(loadConfig({ SECRETS_KEY: keyText() }).SECRETS_KEY).toBeDefined();
    expect(loadConfig({ SECRETS_KEY: randomBytes(32).toString('base64url') }).SECRETS_KEY).toBeDefined();
    for (const bad of ['short', randomBytes(16).toString('base64'), randomBytes(48).toString('base64'), `${keyText().slice(0, -2)}!=`]) {
      const err = (() => {
        try {
          loadConfig({ SECRETS_KEY: bad });
        } catch (e) {
          return e as ConfigError;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect(err!.problems).toEqual(['SECRETS_KEY: must be 32 random bytes in base64 (make one: openssl rand -base64 32)']);
      expect(err!.message).not.toContain(bad);
    }
    expect(loadConfig({ SECRETS_KEY_PREVIOUS: `${keyText()}, ${keyText()}` }).SECRETS_KEY_PREVIOUS).toHaveLength(2);
    expect(() => loadConfig({ SECRETS_KEY_PREVIOUS: `${keyText()},nope` })).toThrow(/SECRETS_KEY_PREVIOUS: each key must be 32 random bytes/);
  });
});

describe('SecretBox', () => {
  const a = keyText();
  const box = SecretBox.fromConfig(a)!;

  it('seals with a fresh IV, names the key, and opens only for the same record', () => {
    const one = box.seal(TOKEN, 'tenant:x:upstream-token');
    const two = box.seal(TOKEN, 'tenant:x:upstream-token');
    expect(one).not.toBe(two);
    expect(one).toMatch(new RegExp(`^v1\\.${idOf(a)}\\.`));
    expect(one).not.toContain(TOKEN);
    expect(box.open(one, 'tenant:x:upstream-token')).toEqual({ plaintext: TOKEN, keyId: idOf(a), current: true });
    // Copied into another tenant's record, it does not open.
    expect(() => box.open(one, 'tenant:y:upstream-token')).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_UNKNOWN' }));
    const parts = one.split('.');
    parts[4] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join('.'), 'tenant:x:upstream-token')).toThrow(/failed authentication/);
  });

  it('cannot seal without a current key, and does not know keys it was not given', () => {
    const openOnly = SecretBox.fromConfig(undefined, [a])!;
    expect(openOnly.canSeal).toBe(false);
    expect(() => openOnly.seal('x', 'c')).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_MISSING' }));
    const other = SecretBox.fromConfig(keyText())!;
    expect(() => other.open(box.seal('x', 'c'), 'c')).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_UNKNOWN' }));
  });
});

describe('rotating SECRETS_KEY', () => {
  const prefix = uniquePrefix('tenant-secrets');
  const keys = createKeys(prefix);
  const redis = testRedis();
  const store = new TenantStore(redis, keys);
  const logger = createLogger('silent');
  const [A, B, C] = [keyText(), keyText(), keyText()];
  const open: Container[] = [];

  /** A process's services, once its request connection is up: it refuses commands until then (no offline queue). */
  const container = async (env: Record<string, string>) => {
    const c = compose(loadConfig({ REDIS_URL: TEST_REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent', ...env }), logger);
    open.push(c);
    await waitReady(c.redis, 10_000);
    return c;
  };
  const sealedKeyOf = async (tenant: string) => {
    const record = await store.get(tenant);
    return record?.upstream.kind === 'token' ? SecretBox.keyIdOf(record.upstream.sealed) : null;
  };

  beforeAll(async () => {
    const withA = await container({ SECRETS_KEY: A });
    for (const id of ['north', 'south', 'east']) await withA.tenants.admin.create({ id, upstream: { token: `${TOKEN}-${id}` } });
    expect(await sealedKeyOf('north')).toBe(idOf(A));
  });
  afterAll(async () => {
    for (const c of open) await c.close();
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  it('with B current and A previous: still readable, and re-sealed under B on read', async () => {
    // A directory that did not run its start-up pass: only the read re-seals.
    const directory = new TenantDirectory({
      store,
      box: SecretBox.fromConfig(B, [A]),
      bootstrap: [],
      redis,
      subscriber: testRedis,
      channel: keys.tenantsChannel(),
      logger,
    });
    try {
      const account = await directory.upstreamOf('north');
      expect(account).toMatchObject({ kind: 'token', token: `${TOKEN}-north` });
      await waitFor(async () => (await sealedKeyOf('north')) === idOf(B), { what: 'north re-sealed under B', timeoutMs: 5_000 });
      // Same token, same account: re-sealing is not a new upstream account.
      expect(await directory.upstreamOf('north')).toEqual(account);
      expect(await sealedKeyOf('south')).toBe(idOf(A));
    } finally {
      directory.close();
    }
  });

  it('re-seals the rest at start-up (every process does it; compare-and-set keeps it safe)', async () => {
    await container({ SECRETS_KEY: B, SECRETS_KEY_PREVIOUS: A });
    await container({ SECRETS_KEY: B, SECRETS_KEY_PREVIOUS: A });
    await waitFor(async () => (await sealedKeyOf('south')) === idOf(B) && (await sealedKeyOf('east')) === idOf(B), {
      what: 'every token re-sealed under B',
      timeoutMs: 5_000,
    });
  });

  it('with A dropped: every token still opens', async () => {
    const onlyB = await container({ SECRETS_KEY: B });
    for (const id of ['north', 'south', 'east']) expect((await onlyB.tenants.directory.upstreamOf(id)).token).toBe(`${TOKEN}-${id}`);
    expect(await onlyB.tenants.admin.reseal()).toEqual({ checked: 3, resealed: 0, unreadable: [] });
  });

  it('the reseal command reports what it did; a key nobody configured any more is reported unreadable', async () => {
    const withB = await container({ SECRETS_KEY: B });
    await withB.tenants.admin.update('east', { upstream: { token: `${TOKEN}-east-2` } });
    const rotated = await container({ SECRETS_KEY: C, SECRETS_KEY_PREVIOUS: B });
    await rotated.tenants.directory.start();
    // Start-up already did it: nothing left for the command.
    expect(await rotated.tenants.admin.reseal()).toEqual({ checked: 3, resealed: 0, unreadable: [] });
    expect((await rotated.tenants.directory.upstreamOf('east')).token).toBe(`${TOKEN}-east-2`);

    const lost = await container({ SECRETS_KEY: keyText() });
    expect(await lost.tenants.admin.reseal()).toEqual({ checked: 3, resealed: 0, unreadable: ['east', 'north', 'south'] });
    await expect(lost.tenants.directory.upstreamOf('north')).rejects.toMatchObject({ code: 'SECRETS_KEY_UNKNOWN' });
    // The settings stay readable; the token is only ever "set".
    expect(await lost.tenants.admin.get('north')).toMatchObject({ upstream: { kind: 'token', set: true } });
  });

  it('refuses to store a token without SECRETS_KEY (409 SECRETS_KEY_MISSING); anonymous and default need none', async () => {
    const none = await container({});
    await expect(none.tenants.admin.create({ id: 'west', upstream: { token: TOKEN } })).rejects.toMatchObject({ code: 'SECRETS_KEY_MISSING', statusCode: 409 });
    expect(await store.get('west')).toBeNull();
    await expect(none.tenants.admin.create({ id: 'west', upstream: { anonymous: true } })).resolves.toMatchObject({ upstream: { kind: 'anonymous' } });
    await expect(none.tenants.directory.upstreamOf('north')).rejects.toMatchObject({ code: 'SECRETS_KEY_UNKNOWN' });
  });
});
