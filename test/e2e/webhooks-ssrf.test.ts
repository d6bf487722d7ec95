// SSRF guard at job creation: every internal address class is refused with 400 WEBHOOK_TARGET_REFUSED, nothing is sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

// [url, what the refusal must name]; bracketed IPv6 is normalised by the URL parser before the check.
const REFUSED: [string, RegExp][] = [
  ['http://10.0.0.1/', /private address \(10\.0\.0\.1\)/],
  ['http://172.16.5.4/hook', /private address/],
  ['http://192.168.1.1/hook', /private address/],
  ['http://127.0.0.1/hook', /loopback address/],
  ['http://2130706433/hook', /loopback address \(127\.0\.0\.1\)/], // decimal form of 127.0.0.1
  ['http://0x7f.1/hook', /loopback address \(127\.0\.0\.1\)/],
  ['http://0.0.0.0/hook', /unspecified address/],
  ['http://[::1]/hook', /loopback address \(::1\)/],
  ['http://[::ffff:127.0.0.1]/hook', /ipv4-mapped loopback address/],
  ['http://169.254.169.254/latest/meta-data/', /metadata address/],
  ['http://[::ffff:169.254.169.254]/', /ipv4-mapped metadata address/],
  ['http://[fd00:ec2::254]/', /metadata address/],
  ['http://100.64.0.1/', /cgnat address/],
  ['http://169.254.10.1/', /link-local address/],
  ['http://[fe80::1]/', /link-local address/],
  ['http://224.0.0.1/', /multicast address/],
  ['http://[ff02::1]/', /multicast address/],
  ['http://255.255.255.255/', /broadcast address/],
  ['http://[fc00::1]/', /private address/],
  ['http://[64:ff9b::a00:1]/', /nat64 private address/],
  ['http://[2002:a00:1::]/', /6to4 private address/],
];

describe('webhook SSRF guard at job creation (WEBHOOK_ALLOW_PRIVATE=false)', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // No worker: nothing in this file may ever deliver, and the API alone decides at creation.
    stack = await startStack({ env: { WEBHOOK_ALLOW_PRIVATE: 'false' }, worker: false });
    receiver = await startWebhookReceiver();
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  const create = (url: string) => stack.api<{ code: string; message: string }>('POST', '/v1/jobs', { instruction: 'x', webhook: { url } });

  it.each(REFUSED)('refuses %s', async (url, reason) => {
    const res = await create(url);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(res.body.message).toMatch(reason);
  });

  it('refuses a real name that resolves to loopback (localhost), without contacting it', async () => {
    const url = receiver.url.replace('127.0.0.1', 'localhost');
    const res = await create(url);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'WEBHOOK_TARGET_REFUSED' });
    expect(res.body.message).toMatch(/^target resolves to a loopback address \((127\.0\.0\.1|::1)\)$/);
    const test = await stack.api<{ code: string }>('POST', '/v1/webhooks/test', { url });
    expect(test.status).toBe(400);
    expect(test.body.code).toBe('WEBHOOK_TARGET_REFUSED');
    expect(receiver.deliveries).toHaveLength(0);
  });

  it('stored no job for any refused target', async () => {
    const list = await stack.api<{ data: Job[] }>('GET', '/v1/jobs');
    expect(list.body.data).toEqual([]);
  });

  it('a batch refused at its first item (its webhook target, a HEIC source on a refused address) leaves no batch behind', async () => {
    for (const body of [
      { items: [{ instruction: 'a promo' }, { instruction: 'shorter' }], webhook: { url: receiver.url } },
      { items: [{ instruction: 'a promo' }], sources: [{ url: 'http://169.254.169.254/latest/photo.heic' }] },
    ]) {
      const res = await stack.api<{ code: string }>('POST', '/v1/batches', body, { headers: { 'idempotency-key': `ghost-${Math.random()}` } });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
    }
    // It was listed as `queued` with no items, and its record kept with no expiry.
    expect((await stack.api<{ data: unknown[] }>('GET', '/v1/batches')).body.data).toEqual([]);
    expect(await stack.services.redis.keys(`${stack.prefix}*:batch*`)).toEqual([]);
    expect(await stack.services.redis.keys(`${stack.prefix}*batches*`)).toEqual([]);
  });

  it('refuses non-http schemes and credentials in the URL, and accepts a public address', async () => {
    expect((await create('ftp://example.com/x')).status).toBe(400);
    const withCreds = await create('http://user:pw@93.184.215.14/hook');
    expect(withCreds.body).toMatchObject({ code: 'WEBHOOK_TARGET_REFUSED', message: 'webhook URL must not contain credentials' });
    expect(withCreds.body.message).not.toContain('pw');
    // A public literal passes the check (no worker runs here, so nothing is sent to it).
    const ok = await create('http://93.184.215.14/hook');
    expect(ok.status).toBe(202);
  });
});
