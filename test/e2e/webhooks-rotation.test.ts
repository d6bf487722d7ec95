// Secret rotation: during the grace period deliveries carry both signatures; afterwards only the new secret verifies.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type ReceivedDelivery, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const GRACE_MS = 6_000;

function verifiesWith(secret: string, d: ReceivedDelivery): boolean {
  const headers = {
    'webhook-id': String(d.headers['webhook-id']),
    'webhook-timestamp': String(d.headers['webhook-timestamp']),
    'webhook-signature': String(d.headers['webhook-signature']),
  };
  try {
    new Webhook(secret).verify(d.body, headers);
    return true;
  } catch {
    return false;
  }
}

describe('webhook secret rotation', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    stack = await startStack({ env: { WEBHOOK_SECRET_GRACE_MS: String(GRACE_MS) } });
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  async function deliverOne(): Promise<ReceivedDelivery> {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'a 5-second logo sting',
      webhook: { url: receiver.url, events: ['job.started'] },
    });
    expect(created.status).toBe(202);
    return waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === created.body.id), { what: 'job.started delivery' });
  }

  it('signs with old and new during the grace period, and with the new one only afterwards', async () => {
    const oldSecret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    expect(oldSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    // The receiver holds only the old secret throughout, like a caller who has not switched yet.
    receiver = await startWebhookReceiver([oldSecret]);

    const before = await deliverOne();
    expect(before.verified).toBe(true);
    expect(String(before.headers['webhook-signature']).split(' ')).toHaveLength(1);

    const rotated = await stack.api<{ secret: string; previous_valid_until: string }>('POST', '/v1/webhook-secret/rotate');
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    expect((await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret).toBe(newSecret);
    // Another tenant's secret is untouched by this rotation.
    const globex = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret', undefined, { key: TENANTS.globex })).body.secret;
    expect([oldSecret, newSecret]).not.toContain(globex);
    const graceEnd = Date.parse(rotated.body.previous_valid_until);

    const during = await deliverOne();
    expect(Date.now()).toBeLessThan(graceEnd); // the delivery really happened inside the grace period
    const signatures = String(during.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => s.startsWith('v1,'))).toBe(true);
    expect(during.verified).toBe(true); // old-only receiver
    expect(verifiesWith(oldSecret, during)).toBe(true);
    expect(verifiesWith(newSecret, during)).toBe(true);

    await waitFor(() => Date.now() > graceEnd + 50, { what: 'grace period over', timeoutMs: GRACE_MS + 5_000 });
    const after = await deliverOne();
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(after.verified).toBe(false);
    expect(after.verifyError).toMatch(/signature/i);
    expect(verifiesWith(oldSecret, after)).toBe(false);
    expect(verifiesWith(newSecret, after)).toBe(true);
  });
});
