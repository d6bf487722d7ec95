// Fairness through the real service: a tenant with a backlog never runs past its cap, and another tenant's job is next.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const ADMIN = 'admin-key-0123456789abcdef';
const BACKLOG = 200;

describe('fair starts across tenants', () => {
  let stack: Stack;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    // Two upstream sessions at once for the whole (default) account: a backlog competes for them.
    stack = await startStack({ env: { ADMIN_API_KEY: ADMIN, MAX_RUNNING_JOBS: '2', WORKER_CONCURRENCY: '10' }, timeScale: 0.004 });
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'team-a', max_concurrent_jobs: 2 })).status).toBe(201);
    expect((await admin('POST', '/admin/tenants', { id: 'team-b' })).status).toBe(201);
    for (const t of ['team-a', 'team-b']) keys[t] = (await admin<{ key: string }>('POST', `/admin/tenants/${t}/keys`)).body.key;
    stack.sim.setScenario({ anonCredits: 100_000_000 });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it(`A posts ${BACKLOG}, then B posts 1: A never runs more than 2, and B starts before any further job of A`, async () => {
    const a: string[] = [];
    for (let i = 0; i < BACKLOG; i++) {
      const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: `a promo ${i}` }, { key: keys['team-a'] });
      expect(res.status).toBe(202);
      a.push(res.body.id);
    }
    const b = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'one promo for team b' }, { key: keys['team-b'] });
    expect(b.status).toBe(202);
    // Waiting: it says where it stands (next, or close to it).
    const queued = (await stack.api<Job>('GET', `/v1/jobs/${b.body.id}`, undefined, { key: keys['team-b'] })).body;
    // A holds both sessions, so B waits, and it is next.
    expect(queued.status).toBe('queued');
    expect(queued.queue_position).toBe(1);

    let maxRunning = 0;
    const doneB = await waitFor(
      async () => {
        const running = (await stack.api<{ data: Job[] }>('GET', '/v1/jobs?status=running&limit=100', undefined, { key: keys['team-a'] })).body.data;
        maxRunning = Math.max(maxRunning, running.length);
        const job = (await stack.api<Job>('GET', `/v1/jobs/${b.body.id}`, undefined, { key: keys['team-b'] })).body;
        return job.status === 'succeeded' ? job : null;
      },
      { what: "team b's job to succeed", timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(maxRunning).toBeLessThanOrEqual(2);
    // A's jobs in the order they started: B's start falls before A's third.
    const started = await waitFor(
      async () => {
        const jobs = await Promise.all(a.slice(0, 10).map(async (id) => (await stack.api<Job>('GET', `/v1/jobs/${id}`, undefined, { key: keys['team-a'] })).body));
        const at = jobs.filter((j) => j.started_at).map((j) => Date.parse(j.started_at!)).sort((x, y) => x - y);
        return at.length >= 3 ? at : null;
      },
      { what: "A's third job to start", timeoutMs: 30_000 },
    );
    expect(Date.parse(doneB.started_at!)).toBeLessThanOrEqual(started[2]!);
    // Stop A's backlog: canceling waiting jobs takes them out of the queue at once.
    for (const id of a) await stack.api('POST', `/v1/jobs/${id}/cancel`, undefined, { key: keys['team-a'] });
    await waitForFinished({ api: (m, p, body, o) => stack.api(m, p, body, { ...o, key: keys['team-a'] }) }, a.at(-1)!);
  });

  it('a raised cap lets the jobs already waiting start at once, not at the tenant’s next create', async () => {
    const admin = <T>(method: string, path: string, body?: unknown) => stack.api<T>(method, path, body, { key: ADMIN });
    expect((await admin('POST', '/admin/tenants', { id: 'team-c', max_concurrent_jobs: 1 })).status).toBe(201);
    const key = (await admin<{ key: string }>('POST', '/admin/tenants/team-c/keys')).body.key;
    // Renders last until the test ends them: jobs hold their slots.
    const { renderMs } = stack.sim.scenario();
    stack.sim.setScenario({ renderMs: 1e12 });
    const asC = { key };
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await stack.api<Job>('POST', '/v1/jobs', { instruction: `a clip ${i}` }, asC)).body.id);
      const running = async () => (await stack.api<{ data: Job[] }>('GET', '/v1/jobs?status=running&limit=100', undefined, asC)).body.data.length;
      await waitFor(async () => (await running()) === 1, { what: 'one job of team c running' });
      // The account allows 2 at once (MAX_RUNNING_JOBS): raised to 2, the second starts without another create.
      expect((await admin('PATCH', '/admin/tenants/team-c', { max_concurrent_jobs: 2 })).status).toBe(200);
      await waitFor(async () => (await running()) === 2, { what: 'a second job of team c running', timeoutMs: 10_000 });
      for (const id of ids) await stack.api('POST', `/v1/jobs/${id}/cancel`, undefined, asC);
    } finally {
      stack.sim.setScenario({ renderMs });
      stack.sim.completeRendersNow();
    }
  });
});
