// An upstream that echoes the token it refused: a tenant's own token (a shape no pattern knows) reaches no job
// answer, event, webhook body, Redis record or log line.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { createLogger } from '../../src/observability/logger.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const ADMIN = 'admin-key-0123456789abcdef';
/** Operators set tenants' tokens; nothing says they look like the upstream's own (nmv_usr_…). */
const TOKEN = `tenantone-PLAINTOKEN-${randomBytes(6).toString('hex')}`;

describe('a tenant token echoed by the upstream in its refusal', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let key: string;
  let logText = '';

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logText += chunk.toString('utf8');
        done();
      },
    });
    stack = await startStack({
      env: { ADMIN_API_KEY: ADMIN, SECRETS_KEY: randomBytes(32).toString('base64'), WEBHOOK_ALLOW_PRIVATE: 'true' },
      logger: createLogger('debug', 'nemo-relay', sink),
    });
    receiver = await startWebhookReceiver();
    stack.sim.setScenario({ staticTokens: [TOKEN], staticCredits: 1_000_000, authErrorEchoesToken: true });
    expect((await stack.api('POST', '/admin/tenants', { id: 'echoed', upstream: { token: TOKEN } }, { key: ADMIN })).status).toBe(201);
    key = (await stack.api<{ key: string }>('POST', '/admin/tenants/echoed/keys', {}, { key: ADMIN })).body.key;
  });
  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it('fails the job naming the refusal, with the token scrubbed everywhere it is kept or sent', async () => {
    stack.sim.injectFault({ kind: 'token_expired', endpoint: 'run_sse' });
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo from scratch', webhook: { url: receiver.url } }, { key });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const job = await waitForFinished({ api: (m, p, b, o) => stack.api(m, p, b, { ...o, key }) }, created.body.id);
    expect(job.status).toBe('failed');
    // The refusal itself reached the caller, without the token.
    expect(job.error?.message).toMatch(/token \[redacted\] token invalid or expired/);
    expect(stack.sim.log.entries().some((e) => e.endpoint === 'run_sse' && e.fault === 'token_expired')).toBe(true);

    const events = await stack.api<{ data: unknown[] }>('GET', `/v1/jobs/${job.id}/events?after=0`, undefined, { key, headers: { accept: 'application/json' } });
    await expect.poll(() => receiver.deliveries.some((d) => d.payload.type === 'job.failed'), { timeout: 15_000 }).toBe(true);
    const stored: string[] = [];
    for (const k of await stack.services.redis.keys(`${stack.prefix}*`)) {
      const type = await stack.services.redis.type(k);
      if (type === 'string') stored.push((await stack.services.redis.get(k)) ?? '');
      else if (type === 'hash') stored.push(JSON.stringify(await stack.services.redis.hgetall(k)));
      else if (type === 'list') stored.push(JSON.stringify(await stack.services.redis.lrange(k, 0, -1)));
      else if (type === 'zset') stored.push(JSON.stringify(await stack.services.redis.zrange(k, 0, -1)));
      else if (type === 'stream') stored.push(JSON.stringify(await stack.services.redis.xrange(k, '-', '+')));
    }
    const places = {
      job: JSON.stringify(job),
      events: JSON.stringify(events.body),
      webhooks: receiver.deliveries.map((d) => d.body).join('\n'),
      redis: stored.join('\n'),
      logs: logText,
    };
    for (const [place, text] of Object.entries(places)) expect(text.includes(TOKEN), `${place} holds the token`).toBe(false);
    expect(places.webhooks).toContain('[redacted]');
  });
});
