// What one job costs, counted (not timed): Redis commands from create to webhook delivered, and upstream calls against the straight-line script's.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStraightLine } from '../../bench/lib/straight-line.js';
import { buildAgentMessages } from '../../src/video/compile.js';
import { createJobBodySchema, type Job } from '../../src/jobs/schemas.js';
import type { SimEndpoint } from '../../src/sim/index.js';
import { perJob, quietCount } from '../helpers/redis-stats.js';
import { startSingle } from '../helpers/redis-topology.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/wait.js';

/** Issue 14's budgets: ≤ 120 Redis commands per job, and at most one upstream call more than the straight line (the draft read the checks need). */
const MAX_REDIS_COMMANDS_PER_JOB = 120;
const EXTRA_UPSTREAM_CALLS = 1;
const JOBS = Number(process.env.JOB_COST_JOBS ?? 12);

/** Calls to the API proper; the result download comes from the CDN, not the API, and the test's own control calls do not count. */
const NOT_API: ReadonlySet<string> = new Set<SimEndpoint | 'control'>(['control', 'render_result', 'render_download']);

const job = {
  instruction: 'turn these images into a 30-second promo video with music and text',
  followups: ['add lo-fi background music at 35%', 'title "Urban Dreams" for the first 3 seconds'],
  sources: [1, 2, 3].map((i) => ({ url: `https://example.com/products/photo-${i}.jpg` })),
  output: { resolution: '1080p' },
};

describe('what a job costs', () => {
  let redis: Awaited<ReturnType<typeof startSingle>>;
  let stack: Stack;
  let admin: Redis;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // A Redis of its own: INFO commandstats counts every client, so a shared server would count other tests' work.
    redis = await startSingle();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    // Production's lock time, reconcile interval and webhook timeout (the test stack shortens them for takeover, sweep
    // and retry tests): BullMQ's stalled checks and the reconciler run at their usual pace, and a loaded machine's slow
    // answer to a webhook is not a failed attempt sent again.
    stack = await startStack({
      env: { REDIS_URL: redis.url, LOG_LEVEL: 'silent', WORKER_LOCK_MS: '30000', RECONCILE_INTERVAL_MS: '30000', WEBHOOK_TIMEOUT_MS: '15000' },
      timeScale: 0,
      scenario: { anonCredits: 1e9, silentEdits: 'never' },
    });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
    admin?.disconnect();
    await redis?.stop();
  });

  const submitAndDeliver = async (count: number, tag: string): Promise<void> => {
    // Posted together, as a busy caller does (and as the orchestration benchmark measures): the queue is rarely empty.
    const posted = await Promise.all(
      Array.from({ length: count }, (_, i) => stack.api<Job>('POST', '/v1/jobs', { ...job, metadata: { run: `${tag}-${i}` }, webhook: { url: receiver.url } })),
    );
    for (const res of posted) expect(res.status).toBe(202);
    const ids = posted.map((res) => res.body.id);
    await waitFor(
      () => ids.every((id) => receiver.deliveries.some((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded')) || null,
      { what: `${count} job.succeeded webhooks`, timeoutMs: 60_000 },
    );
  };

  it(`makes at most ${MAX_REDIS_COMMANDS_PER_JOB} Redis commands per job, create → webhook delivered`, async () => {
    await submitAndDeliver(2, 'warm'); // scripts loaded, tokens and caches warm: the steady state is what is counted
    // Counted from quiet to quiet: the warm-up's trailing work (its queue completions) is not counted, the counted jobs' is.
    const before = await quietCount(admin);
    await submitAndDeliver(JOBS, 'counted');
    const cost = perJob(before, await quietCount(admin), JOBS);
    expect(cost.perJob, `Redis commands per job: ${cost.perJob.toFixed(1)} (${cost.top})`).toBeLessThanOrEqual(MAX_REDIS_COMMANDS_PER_JOB);
    expect(cost.perJob).toBeGreaterThan(10); // the count is real: a job cannot run on nothing
    console.info(`[measured] Redis commands per job: ${cost.perJob.toFixed(1)} (${cost.top})`);
  });

  it(`makes at most ${EXTRA_UPSTREAM_CALLS} upstream call more per job than the straight-line script`, async () => {
    const apiCalls = () => stack.sim.log.entries().filter((e) => !NOT_API.has(e.endpoint)).length;
    const before = apiCalls();
    await submitAndDeliver(JOBS, 'upstream');
    const relay = (apiCalls() - before) / JOBS;

    const messages = buildAgentMessages(createJobBodySchema.parse({ ...job, webhook: { url: receiver.url } }));
    const straightBefore = apiCalls();
    const straight = await runStraightLine(stack.sim.url, { n: JOBS, concurrency: 4, messages, sources: job.sources.map((s) => s.url) });
    expect(straight.failed, straight.firstError ?? '').toBe(0);
    const baseline = (apiCalls() - straightBefore) / JOBS;

    expect(baseline).toBeGreaterThanOrEqual(7); // session, upload, three messages, state, render, poll
    expect(relay, `upstream calls per job: ${relay} vs the straight line's ${baseline}`).toBeLessThanOrEqual(baseline + EXTRA_UPSTREAM_CALLS);
    console.info(`[measured] upstream calls per job: ${relay.toFixed(2)}, straight line ${baseline.toFixed(2)}`);
  });
});
