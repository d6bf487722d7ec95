// A tenant's upstream token changed to another account while its job runs: the job is not paid for a second time on the new account.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';
const OLD = 'nmv_usr_old_account_0123456789';
const NEW = 'nmv_usr_new_account_0123456789';

describe('a tenant switched to another upstream account mid-job', () => {
  let stack: Stack;
  let key: string;
  const asTenant = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key });

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, SECRETS_KEY: randomBytes(32).toString('base64'), CREDITS_RECHECK_MS: '200' } });
    stack.sim.setScenario({ staticTokens: [OLD, NEW], staticCredits: 1_000_000 });
    expect((await stack.api('POST', '/admin/tenants', { id: 'switcher', upstream: { token: OLD } }, { key: ADMIN })).status).toBe(201);
    key = (await stack.api<{ key: string }>('POST', '/admin/tenants/switcher/keys', {}, { key: ADMIN })).body.key;
  });
  afterAll(async () => stack?.close());

  it('fails it UPSTREAM_ACCOUNT_CHANGED instead of sending its charged messages again on the new account', async () => {
    // The old account pays for the instruction (100), then has nothing left for the follow-up: the job waits for credits.
    stack.sim.setCredits(120, OLD);
    const created = await asTenant<Job>('POST', '/v1/jobs', { instruction: 'a promo from scratch', followups: ['add music'] });
    expect(created.status).toBe(202);
    const waiting = await waitFor(
      async () => {
        const job = (await asTenant<Job>('GET', `/v1/jobs/${created.body.id}`)).body;
        return job.waiting?.reason === 'upstream_credits' ? job.waiting : null;
      },
      { what: 'the job to wait for credits', timeoutMs: 30_000 },
    );
    // The advice names the tenant's own account, not the service's configured token.
    expect(waiting.message).toMatch(/top up the NemoVideo account of the tenant's upstream token/);
    // The operator moves the tenant to another account (another user), as one does for a tenant out of credits.
    expect((await stack.api('PATCH', '/admin/tenants/switcher', { upstream: { token: NEW } }, { key: ADMIN })).status).toBe(200);
    const job = await waitForFinished({ api: (m, p, b, o) => stack.api(m, p, b, { ...o, key }) }, created.body.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPSTREAM_ACCOUNT_CHANGED', retryable: true });
    // Nothing was generated again: the instruction went out once, on the old account's session only.
    const generations = stack.sim.log.entries().filter((e) => e.endpoint === 'run_sse' && e.status === 200);
    expect(generations.map((e) => e.sessionId)).toEqual([job.upstream.session_id]);
    expect(stack.sim.log.count('render_submit')).toBe(0);
  });

  it('takes the new token from the next step of a run that never hands the job back (no wait in between)', async () => {
    stack.sim.log.clear();
    expect((await stack.api('PATCH', '/admin/tenants/switcher', { upstream: { token: OLD } }, { key: ADMIN })).status).toBe(200);
    stack.sim.setCredits(1_000_000, OLD);
    stack.sim.setScenario({ generateMs: 2_000_000 }); // a 2 s generation: the token changes while it streams
    const created = await asTenant<Job>('POST', '/v1/jobs', { instruction: 'a promo from scratch' });
    await waitFor(async () => stack.sim.log.entries().some((e) => e.endpoint === 'run_sse'), { what: 'the instruction to be sent' });
    expect((await stack.api('PATCH', '/admin/tenants/switcher', { upstream: { token: NEW } }, { key: ADMIN })).status).toBe(200);
    const job = await waitForFinished({ api: (m, p, b, o) => stack.api(m, p, b, { ...o, key }) }, created.body.id);
    // The old account rendered nothing after the change: the next step, on the new account, found the session gone.
    expect(job.error?.code).toBe('UPSTREAM_ACCOUNT_CHANGED');
    expect(stack.sim.log.count('render_submit')).toBe(0);
  });

  it('fails it UPSTREAM_ACCOUNT_CHANGED at once when the change comes while its render runs (polls on the new account find no render)', async () => {
    stack.sim.log.clear();
    expect((await stack.api('PATCH', '/admin/tenants/switcher', { upstream: { token: OLD } }, { key: ADMIN })).status).toBe(200);
    stack.sim.setScenario({ generateMs: 0, renderMs: 3_000_000 }); // a 3 s render at the stack's time scale
    try {
      const created = await asTenant<Job>('POST', '/v1/jobs', { instruction: 'a promo from scratch' });
      await waitFor(async () => stack.sim.log.count('render_submit') > 0, { what: 'the render to be submitted' });
      expect((await stack.api('PATCH', '/admin/tenants/switcher', { upstream: { token: NEW } }, { key: ADMIN })).status).toBe(200);
      const job = await waitForFinished({ api: (m, p, b, o) => stack.api(m, p, b, { ...o, key }) }, created.body.id, 15_000);
      // It was retried for minutes as a passing fault, then failed UPSTREAM_ERROR.
      expect(job.error).toMatchObject({ code: 'UPSTREAM_ACCOUNT_CHANGED', retryable: true });
      expect(stack.sim.log.entries().filter((e) => e.endpoint === 'render_poll' && e.status === 404).length).toBeLessThanOrEqual(1);
    } finally {
      stack.sim.setScenario({ renderMs: 30_000 });
    }
  });

  it("a tenant's own token the upstream refuses: GET /v1/credits says so (502 UPSTREAM_AUTH_FAILED), not \"try again later\"", async () => {
    const bogus = 'nmv_usr_revoked_account_0123456789';
    expect((await stack.api('POST', '/admin/tenants', { id: 'revoked', upstream: { token: bogus } }, { key: ADMIN })).status).toBe(201);
    const revokedKey = (await stack.api<{ key: string }>('POST', '/admin/tenants/revoked/keys', {}, { key: ADMIN })).body.key;
    const res = await stack.api<{ code: string; message: string }>('GET', '/v1/credits', undefined, { key: revokedKey });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('UPSTREAM_AUTH_FAILED');
    expect(res.body.message).toMatch(/refused this account's token/);
    expect(res.body.message).not.toContain(bogus);
  });
});
