// scrubSecrets on free text: token shapes wherever they sit (URL-encoded, inside longer names), remembered values of
// any shape (a tenant's own upstream token, configured keys), and ioredis' failed command on a logged error.
import { describe, expect, it } from 'vitest';
import { createLogger, rememberSecret, scrubSecrets } from '../../src/observability/logger.js';

describe('scrubSecrets', () => {
  it('finds token shapes inside URL-encoded text and longer names, and keeps no part of them', () => {
    const cases = [
      'rejected: GET /run_sse?authorization=Bearer%20nmv_usr_TenantTwoStaticTok000000000',
      'rejected: GET /run_sse?authorization=Bearer+nmv_usr_TenantTwoStaticTok000000000',
      'bad field key_nmv_usr_TenantTwoStaticTok000000000 here',
      'Authorization:Bearernmv_usr_TenantTwoStaticTok000000000',
      'token nmv_usr_Tenant%2BTwo%2FStaticTok000000000 is not valid',
    ];
    for (const text of cases) expect(scrubSecrets(text), text).not.toMatch(/TenantTwo|StaticTok|Two%2F/);
    expect(scrubSecrets('Bearer%20some-opaque-value&next=1')).toBe('Bearer%20[redacted]&next=1');
  });

  it('scrubs a remembered value of any shape, as written and URL-encoded', () => {
    const token = 'tenantone PLAIN/token+7f3a9c2e';
    expect(scrubSecrets(`token ${token} is not valid`)).toContain(token);
    rememberSecret(token);
    expect(scrubSecrets(`token ${token} is not valid`)).toBe('token [redacted] is not valid');
    expect(scrubSecrets(`?t=${encodeURIComponent(token)}&x=1`)).toBe('?t=[redacted]&x=1');
  });

  it('does not remember values too short to be secrets (they would mangle ordinary text)', () => {
    rememberSecret('short');
    expect(scrubSecrets('a short note')).toBe('a short note');
  });

  it('censors the arguments of the failed Redis command a logged error carries (AUTH carries the password)', () => {
    const lines: string[] = [];
    const logger = createLogger('info', 'test', { write: (s: string) => void lines.push(s) });
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: ['default', 'WRONGPASS-SECRET'] } });
    logger.fatal({ err }, 'start-up failed');
    expect(lines.join('')).not.toContain('WRONGPASS-SECRET');
    expect(JSON.parse(lines[0]!).err).toMatchObject({ message: 'WRONGPASS invalid username-password pair', command: { name: 'auth', args: '[redacted]' } });
  });
});
