// Our Standard Webhooks signing checked both ways against the official `standardwebhooks` package.
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { generateSecret, signPayload, verifySignature } from '../../src/webhooks/signing.js';

const nowSec = () => Math.floor(Date.now() / 1000);

function headersFor(id: string, timestamp: number, signature: string): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}

describe('generateSecret', () => {
  it('is whsec_ + base64 of 32 random bytes, different every time', () => {
    const a = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(generateSecret()).not.toBe(a);
  });
});

describe('signPayload', () => {
  it('matches the Standard Webhooks reference vector', () => {
    const { signedContent, signature } = signPayload(
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signedContent).toBe('msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}');
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('is accepted by the official verifier', () => {
    const secret = generateSecret();
    const ts = nowSec();
    const body = JSON.stringify({ type: 'job.succeeded', data: { id: 'job_1', note: 'ünïcode ✓' } });
    const { signature } = signPayload([secret], 'evt_1', ts, body);
    expect(new Webhook(secret).verify(body, headersFor('evt_1', ts, signature))).toEqual(JSON.parse(body));
  });

  it('signs with every secret during rotation; each alone verifies', () => {
    const [oldSecret, newSecret, other] = [generateSecret(), generateSecret(), generateSecret()];
    const ts = nowSec();
    const body = '{"a":1}';
    const { signature } = signPayload([newSecret, oldSecret], 'evt_2', ts, body);
    expect(signature.split(' ')).toHaveLength(2);
    const headers = headersFor('evt_2', ts, signature);
    expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(other).verify(body, headers)).toThrow();
    expect(verifySignature(oldSecret, 'evt_2', ts, body, signature)).toBe(true);
    expect(verifySignature(newSecret, 'evt_2', ts, body, signature)).toBe(true);
    expect(verifySignature(other, 'evt_2', ts, body, signature)).toBe(false);
  });

  it('refuses an empty secret list and malformed secrets without echoing them', () => {
    expect(() => signPayload([], 'x', 1, '')).toThrow(/at least one secret/);
    const bad = 'whsec_not*base64!';
    try {
      signPayload([bad], 'x', 1, '');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/invalid webhook secret/);
      expect((err as Error).message).not.toContain('not*base64');
    }
  });
});

describe('verifySignature', () => {
  const secret = generateSecret();
  const body = '{"type":"job.failed"}';

  it('accepts what the official signer produced', () => {
    const ts = nowSec();
    const header = new Webhook(secret).sign('evt_3', new Date(ts * 1000), body);
    expect(verifySignature(secret, 'evt_3', ts, body, header)).toBe(true);
    expect(verifySignature(secret, 'evt_3', String(ts), body, header)).toBe(true);
  });

  it('accepts any of several space-separated signatures, ignoring other versions', () => {
    const ts = nowSec();
    const real = new Webhook(secret).sign('evt_4', new Date(ts * 1000), body);
    const header = `v2,abc v1,${Buffer.alloc(32).toString('base64')} ${real}`;
    expect(verifySignature(secret, 'evt_4', ts, body, header)).toBe(true);
  });

  it.each([
    ['a tampered body', { body: '{"type":"job.succeeded"}' }],
    ['another id', { id: 'evt_other' }],
    ['a garbage header', { header: 'garbage' }],
    ['an empty header', { header: '' }],
    ['a wrong version prefix', { header: 'v1a,xyz' }],
  ])('rejects %s', (_name, change: { body?: string; id?: string; header?: string }) => {
    const ts = nowSec();
    const { signature } = signPayload([secret], 'evt_5', ts, body);
    const header = change.header ?? signature;
    expect(verifySignature(secret, change.id ?? 'evt_5', ts, change.body ?? body, header)).toBe(false);
  });

  it('rejects timestamps outside the tolerance, both past and future', () => {
    const now = Date.now();
    const stale = Math.floor(now / 1000) - 301;
    const future = Math.floor(now / 1000) + 301;
    expect(verifySignature(secret, 'e', stale, body, signPayload([secret], 'e', stale, body).signature)).toBe(false);
    expect(verifySignature(secret, 'e', future, body, signPayload([secret], 'e', future, body).signature)).toBe(false);
    const old = Math.floor(now / 1000) - 3600;
    const sig = signPayload([secret], 'e', old, body).signature;
    expect(verifySignature(secret, 'e', old, body, sig, 7200)).toBe(true);
    expect(verifySignature(secret, 'e', 'not-a-number', body, sig)).toBe(false);
  });
});

describe('WEBHOOK_SECRET: what start-up accepts, the signer can use', () => {
  // A value the config check accepted but the signer refused started the service and then dropped every webhook.
  const tried = [
    'whsec_ab=cdefghijklmnopqrst',
    'whsec_abcdefghijklmnopqrs===',
    'whsec_abcdefghijklmnopqrstuv',
    'whsec_abcdefghijklmnopqrstuvw=',
    'whsec_abcdefghijklmnopq/+rstuvwx==',
    'whsec_abc!defghijklmnopqrst',
    'whsec_short',
    'plain-secret-0123456789',
  ];

  it.each(tried)('%s: accepted by loadConfig exactly when our signer and the official library sign with it', (secret) => {
    let accepted = true;
    try {
      loadConfig({ WEBHOOK_SECRET: secret });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      accepted = false;
    }
    const officialSigns = (() => {
      try {
        new Webhook(secret).sign('msg_1', new Date(), '{}');
        return true;
      } catch {
        return false;
      }
    })();
    const oursSigns = (() => {
      try {
        signPayload([secret], 'msg_1', nowSec(), '{}');
        return true;
      } catch {
        return false;
      }
    })();
    if (accepted) {
      expect(oursSigns).toBe(true);
      expect(officialSigns).toBe(true);
    } else {
      expect(secret.startsWith('whsec_') && oursSigns && officialSigns && secret.length >= 22).toBe(false);
    }
  });
});
