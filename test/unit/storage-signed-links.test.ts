// Signed output links: a good link verifies; a tampered, expired or re-targeted one does not.
import { createSecretKey, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreateLinkSecret } from '../../src/storage/link-secret.js';
import { linkExpiresAt, outputUrl, signOutputLink, verifyOutputLink } from '../../src/storage/signed-links.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const secret = randomBytes(32);
const now = Date.UTC(2030, 0, 1, 12, 0, 0);
const jobId = 'job_01J0000000000000000000000';

describe('signed output links', () => {
  const link = signOutputLink({ jobId, expiresAtMs: now + 3_600_000, secret });

  it('verifies a fresh link and carries the expiry in unix seconds', () => {
    expect(link.expires).toBe((now + 3_600_000) / 1000);
    expect(link.sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret, now })).toBe('ok');
    // As the query string delivers them.
    expect(verifyOutputLink({ jobId, expires: String(link.expires), sig: link.sig, secret, now })).toBe('ok');
  });

  it('refuses a tampered signature', () => {
    const flipped = (link.sig[0] === 'A' ? 'B' : 'A') + link.sig.slice(1);
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: flipped, secret, now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig.slice(1), secret, now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: undefined, secret, now })).toBe('bad_signature');
  });

  it('refuses a moved expiry, another job id and another secret as bad signatures', () => {
    expect(verifyOutputLink({ jobId, expires: link.expires + 3600, sig: link.sig, secret, now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId: 'job_01J0000000000000000000001', expires: link.expires, sig: link.sig, secret, now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret: randomBytes(32), now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId, expires: '1e9', sig: link.sig, secret, now })).toBe('bad_signature');
    // One spelling per link: the same number with a leading zero is not the link that was signed.
    expect(verifyOutputLink({ jobId, expires: `0${link.expires}`, sig: link.sig, secret, now })).toBe('bad_signature');
    expect(verifyOutputLink({ jobId, expires: undefined, sig: link.sig, secret, now })).toBe('bad_signature');
  });

  it('says expired once now reaches expires, and only for a genuine link', () => {
    const at = link.expires * 1000;
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret, now: at - 1 })).toBe('ok');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret, now: at })).toBe('expired');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: 'x'.repeat(43), secret, now: at + 1 })).toBe('bad_signature');
  });

  it('builds the public URL the API route answers', () => {
    const url = outputUrl({ publicBaseUrl: 'https://relay.example/', jobId, expiresAtMs: now + 60_000, secret });
    const parsed = new URL(url);
    expect(`${parsed.origin}${parsed.pathname}`).toBe(`https://relay.example/v1/jobs/${jobId}/output`);
    const expires = parsed.searchParams.get('expires');
    const sig = parsed.searchParams.get('sig') ?? undefined;
    expect(expires).toBe(String((now + 60_000) / 1000));
    expect(verifyOutputLink({ jobId, expires: expires ?? undefined, sig, secret, now })).toBe('ok');
  });

  it('refuses a short secret without echoing it', () => {
    expect(() => signOutputLink({ jobId, expiresAtMs: now, secret: 'short-secret-value' })).toThrow(/^output link secret must be at least 32 bytes$/);
    expect(() => signOutputLink({ jobId, expiresAtMs: now, secret: createSecretKey(randomBytes(16)) })).toThrow(/^output link secret must be at least 32 bytes$/);
  });

  it('signs and verifies the same with the key imported once (a KeyObject) as with its bytes', () => {
    const key = createSecretKey(secret);
    expect(signOutputLink({ jobId, expiresAtMs: now + 3_600_000, secret: key })).toEqual(link);
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret: key, now })).toBe('ok');
    expect(verifyOutputLink({ jobId, expires: link.expires, sig: link.sig, secret: createSecretKey(randomBytes(32)), now })).toBe('bad_signature');
  });

  it('rounds expiries up to the minute so repeated reads give one URL', () => {
    expect(linkExpiresAt(now + 1, 3_600_000)).toBe(now + 3_660_000);
    expect(linkExpiresAt(now + 59_999, 3_600_000)).toBe(now + 3_660_000);
    expect(linkExpiresAt(now, 3_600_000)).toBe(now + 3_600_000);
  });
});

describe('link secret kept in Redis', () => {
  const redis = testRedis();
  const prefix = uniquePrefix('storage-link');
  afterAll(async () => {
    await cleanupPrefix(redis, prefix);
    redis.disconnect();
  });

  it('is created once and then shared', async () => {
    const key = `${prefix}:output-link-secret`;
    const [a, b] = await Promise.all([loadOrCreateLinkSecret(redis, key), loadOrCreateLinkSecret(redis, key)]);
    expect(a.length).toBe(32);
    expect(b.equals(a)).toBe(true);
    expect((await loadOrCreateLinkSecret(redis, key)).equals(a)).toBe(true);
  });
});
