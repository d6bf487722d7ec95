// GET /admin/overview on the whole service: jobs that succeeded and failed, one running and one waiting, queues, credits, tenants.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminOverview } from '../../src/domain/admin-overview.js';
import type { Job } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';

describe('GET /admin/overview', () => {
  let stack: Stack;
  let failedJob: Job;
  const running: string[] = [];

  beforeAll(async () => {
    // Two queue shards: acme's keys are in shard 1, globex's in shard 0, so every read spans both.
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, QUEUE_SHARDS: '2' } });
    // globex keeps its jobs 2 h (not JOB_RETENTION_MS): its ended jobs are placed by their records, acme's by the index.
    expect((await stack.api('PATCH', '/admin/tenants/globex', { retention_ms: 7_200_000 }, { key: ADMIN })).status).toBe(200);
    // globex: one job that fails with a known code (the render fails upstream); one fault, taken by that job alone.
    stack.sim.injectFault({ kind: 'render_failed' });
    const asGlobex: Pick<Stack, 'api'> = { api: (method, path, body, o) => stack.api(method, path, body, { ...o, key: TENANTS.globex }) };
    failedJob = await waitForFinished(asGlobex, (await asGlobex.api<Job>('POST', '/v1/jobs', { instruction: 'globex promo' })).body.id);
    expect(failedJob.error?.code).toBe('RENDER_FAILED');
    // acme: two that succeed.
    for (const n of [1, 2]) {
      const job = await waitForFinished(stack, (await stack.api<Job>('POST', '/v1/jobs', { instruction: `acme promo ${n}` })).body.id);
      expect(job.status).toBe('succeeded');
    }
    // Then acme runs one job at a time: a slow one runs, the next waits its turn.
    expect((await stack.api('PATCH', '/admin/tenants/acme', { max_concurrent_jobs: 1 }, { key: ADMIN })).status).toBe(200);
    stack.sim.injectFault({ kind: 'slow', endpoint: 'create_session', delayMs: 6_000 });
    for (const n of [1, 2]) running.push((await stack.api<Job>('POST', '/v1/jobs', { instruction: `acme slow promo ${n}` })).body.id);
    await waitFor(
      async () => {
        const [a, b] = await Promise.all(running.map(async (id) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status));
        return a === 'running' && b === 'queued';
      },
      { what: 'one acme job running and one queued' },
    );
  });

  afterAll(async () => {
    for (const id of running) await waitForFinished(stack, id).catch(() => undefined);
    await stack?.close();
  });

  it('is the operator’s: 401 without a key or with an unknown one, 403 with a tenant key', async () => {
    const none = await send(stack.apiUrl, 'GET', '/admin/overview', { key: null });
    expect(none.status).toBe(401);
    // No Basic challenge: a browser would hold the console's fetch for a password prompt instead of answering it.
    expect(none.headers['www-authenticate']).toBeUndefined();
    expect((await send(stack.apiUrl, 'GET', '/admin/overview', { key: 'not-a-key' })).status).toBe(401);
    const tenant = await send<{ code: string }>(stack.apiUrl, 'GET', '/admin/overview', { key: TENANTS.acme });
    expect(tenant.status).toBe(403);
    expect(tenant.body.code).toBe('FORBIDDEN');
  });

  it('shows the hour’s jobs per minute, the failure code, queues, credits and tenants, without a secret', async () => {
    const res = await send<AdminOverview>(stack.apiUrl, 'GET', '/admin/overview', { key: ADMIN });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.body;

    // Sixty minutes, oldest first, the current one last.
    expect(body.jobs_per_minute).toHaveLength(60);
    const minutes = body.jobs_per_minute.map((m) => Date.parse(m.minute));
    expect(minutes.every((m, i) => i === 0 || m - minutes[i - 1]! === 60_000)).toBe(true);
    expect(minutes.at(-1)).toBe(Math.floor(Date.parse(body.generated_at) / 60_000) * 60_000);
    // This stack's own key prefix: the numbers are exact (five created, two succeeded, one failed).
    const sum = (field: 'created' | 'succeeded' | 'failed') => body.jobs_per_minute.reduce((n, m) => n + m[field], 0);
    expect({ created: sum('created'), succeeded: sum('succeeded'), failed: sum('failed') }).toEqual({ created: 5, succeeded: 2, failed: 1 });
    // The failure is counted in the minute it ended.
    const failedMinute = Math.floor(Date.parse(failedJob.finished_at!) / 60_000) * 60_000;
    expect(body.jobs_per_minute.find((m) => Date.parse(m.minute) === failedMinute)?.failed).toBe(1);
    expect(body.failures).toEqual([{ code: 'RENDER_FAILED', count: 1 }]);
    expect(body.failures_read).toBe(1);
    expect(body.complete).toBe(true);

    // Queue depths: both queues, each shard's added up; the slow job's flow entry is in the flow queue.
    expect(stack.services.keys.shardOfTenant('acme')).not.toBe(stack.services.keys.shardOfTenant('globex'));
    expect(body.queues.map((q) => q.name).sort()).toEqual(['flow', 'webhooks']);
    const flow = body.queues.find((q) => q.name === 'flow')!;
    expect(flow.active + flow.waiting + flow.delayed).toBeGreaterThanOrEqual(1);

    // Tenants with their limits and jobs now; both spend the service's own account.
    expect(body.tenants).toEqual([
      { id: 'acme', account: 'default', max_concurrent_jobs: 1, rate_limit_per_min: null, running: 1, queued: 1 },
      { id: 'globex', account: 'default', max_concurrent_jobs: null, rate_limit_per_min: null, running: 0, queued: 0 },
    ]);
    // Credits of that account, as GET /v1/credits reads them (the same shared cache).
    const credits = (await stack.api<{ available: number; frozen: number; total: number; claim_url: string | null }>('GET', '/v1/credits')).body;
    expect(body.accounts).toEqual([{ id: 'default', kind: 'default', ...credits }]);
    expect(body.accounts[0]!.available).toEqual(expect.any(Number));

    // No key and no upstream token anywhere in the answer.
    const token = JSON.parse((await stack.services.redis.get(stack.services.keys.nemoToken()))!) as { token: string };
    for (const secret of [ADMIN, TENANTS.acme, TENANTS.globex, token.token]) expect(res.text).not.toContain(secret);
  });

  it('serves repeats from a short in-process cache', async () => {
    const first = await send<AdminOverview>(stack.apiUrl, 'GET', '/admin/overview', { key: ADMIN });
    const second = await send<AdminOverview>(stack.apiUrl, 'GET', '/admin/overview', { key: ADMIN });
    expect(second.body.generated_at).toBe(first.body.generated_at);
  });

  it('leaves a deleted tenant’s jobs out of every column (they went from created and stayed in succeeded)', async () => {
    for (const id of running) expect((await waitForFinished(stack, id)).status).toBe('succeeded');
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'initech' })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/initech/keys')).body.key;
    const asInitech: Pick<Stack, 'api'> = { api: (method, path, body, o) => stack.api(method, path, body, { ...o, key }) };
    const job = await waitForFinished(asInitech, (await asInitech.api<Job>('POST', '/v1/jobs', { instruction: 'initech promo' })).body.id);
    expect(job.status).toBe('succeeded');
    expect((await admin('DELETE', '/admin/tenants/initech')).status).toBe(200);
    const deletedAt = Date.now();
    // The next answer computed after the deletion (the in-process cache keeps one 5 s).
    let body: AdminOverview | undefined;
    await waitFor(
      async () => {
        body = (await send<AdminOverview>(stack.apiUrl, 'GET', '/admin/overview', { key: ADMIN })).body;
        return Date.parse(body.generated_at) > deletedAt;
      },
      { what: 'an overview computed after the deletion', timeoutMs: 15_000 },
    );
    const sum = (field: 'created' | 'succeeded' | 'failed') => body!.jobs_per_minute.reduce((n, m) => n + m[field], 0);
    // acme's four (two of them the slow ones, now done) and globex's failure; nothing of initech's.
    expect({ created: sum('created'), succeeded: sum('succeeded'), failed: sum('failed') }).toEqual({ created: 5, succeeded: 4, failed: 1 });
    expect(body!.tenants.map((t) => t.id)).toEqual(['acme', 'globex']);
  });

  it('is documented in the OpenAPI document with its response schema', async () => {
    const doc = await send<{ paths: Record<string, { get?: { responses: Record<string, unknown> } }> }>(stack.apiUrl, 'GET', '/openapi.json', { key: null });
    expect(Object.keys(doc.body.paths['/admin/overview']?.get?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403', '408', '431', '503']);
  });
});
