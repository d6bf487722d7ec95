// SSRF address policy and URL checks: pure functions and stubbed DNS only, no traffic anywhere.
import dns from 'node:dns';
import { describe, expect, it } from 'vitest';
import { assertWebhookUrlAllowed, isForbiddenAddress, type LookupFunction } from '../../src/webhooks/ssrf.js';

describe('isForbiddenAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fec0::1', 'private'],
    ['64:ff9b:1::a00:1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['FF05::1:3', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::10.0.0.1', 'reserved'],
    ['4000::1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::ffff:10.0.0.1', 'ipv4-mapped private'],
    ['::ffff:a00:1', 'ipv4-mapped private'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'ipv4-mapped private'],
    ['::ffff:127.0.0.1', 'ipv4-mapped loopback'],
    ['::ffff:7f00:1', 'ipv4-mapped loopback'],
    ['::FFFF:169.254.169.254', 'ipv4-mapped metadata'],
    ['::ffff:0.0.0.0', 'ipv4-mapped unspecified'],
    ['64:ff9b::10.0.0.1', 'nat64 private'],
    ['64:ff9b::7f00:1', 'nat64 loopback'],
    ['64:ff9b::a9fe:a9fe', 'nat64 metadata'],
    ['2002:a00:1::1', '6to4 private'],
    ['2002:7f00:1::', '6to4 loopback'],
    ['2002:a9fe:a9fe::1', '6to4 metadata'],
    ['not-an-ip', 'invalid'],
    ['', 'invalid'],
    ['example.com', 'invalid'],
  ])('%s → %s', (ip, reason) => {
    expect(isForbiddenAddress(ip)).toBe(reason);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '169.253.255.255',
    '192.169.0.1',
    '223.255.255.255',
    '2606:4700::1111',
    '2a00:1450:4001:81c::200e',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('%s is allowed', (ip) => {
    expect(isForbiddenAddress(ip)).toBeNull();
  });
});

/** A resolver stub: names map to fixed answers, nothing is ever sent to a real DNS server. */
function stubLookup(table: Record<string, string[]>): LookupFunction {
  return (hostname, _options, callback) => {
    const answers = table[hostname];
    if (!answers) {
      const err: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      queueMicrotask(() => callback(err, []));
      return;
    }
    queueMicrotask(() => callback(null, answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))));
  };
}

const lookup = stubLookup({
  'public.test': ['93.184.215.14', '2606:4700::1111'],
  'internal.test': ['10.1.2.3'],
  'mixed.test': ['93.184.215.14', '192.168.0.10'],
  'loop.test': ['::1'],
});

async function refusal(url: string, allowPrivate = false): Promise<Error & { code?: string }> {
  try {
    await assertWebhookUrlAllowed(url, { allowPrivate, lookup });
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error(`expected ${url} to be refused`);
}

describe('assertWebhookUrlAllowed', () => {
  it('accepts dns.lookup itself as the lookup type', () => {
    const real: LookupFunction = dns.lookup;
    expect(typeof real).toBe('function');
  });

  it.each([
    ['ftp://public.test/hook', /scheme must be http or https, not ftp/],
    ['file:///etc/passwd', /scheme must be http or https/],
    ['not a url', /not a valid absolute URL/],
    ['http://user:pw@public.test/hook', /must not contain credentials/],
    ['https://token@public.test/hook', /must not contain credentials/],
    ['http://[::ffff:127.0.0.1]/', /target is an ipv4-mapped loopback address \(::ffff:7f00:1\)/],
    ['http://169.254.169.254/latest', /target is a metadata address \(169\.254\.169\.254\)/],
    ['http://2130706433/', /target is a loopback address \(127\.0\.0\.1\)/],
    ['http://0x7f.1:8080/', /loopback address/],
    ['http://[fe80::1]/', /link-local address/],
    ['http://internal.test/hook', /target resolves to a private address \(10\.1\.2\.3\)/],
    ['http://mixed.test/hook', /target resolves to a private address \(192\.168\.0\.10\)/],
    ['http://loop.test/hook', /target resolves to a loopback address \(::1\)/],
    ['https://nowhere.test/hook', /webhook host nowhere\.test does not resolve \(ENOTFOUND\)/],
  ])('refuses %s', async (url, message) => {
    const err = await refusal(url);
    expect(err.code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('pw');
  });

  it('accepts public targets', async () => {
    await expect(assertWebhookUrlAllowed('https://public.test/hooks?x=1', { allowPrivate: false, lookup })).resolves.toBeUndefined();
    await expect(assertWebhookUrlAllowed('http://8.8.8.8:8080/', { allowPrivate: false, lookup })).resolves.toBeUndefined();
  });

  it('checks only scheme and credentials when private targets are allowed', async () => {
    const noLookup: LookupFunction = () => {
      throw new Error('must not resolve');
    };
    const opts = { allowPrivate: true, lookup: noLookup };
    await expect(assertWebhookUrlAllowed('http://127.0.0.1:9/', opts)).resolves.toBeUndefined();
    await expect(assertWebhookUrlAllowed('http://internal.test/', opts)).resolves.toBeUndefined();
    expect((await refusal('ftp://127.0.0.1/', true)).message).toMatch(/scheme/);
    expect((await refusal('http://a:b@127.0.0.1/', true)).message).toMatch(/credentials/);
  });
});
