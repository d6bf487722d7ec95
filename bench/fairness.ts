// Benchmark 8: jobs/s with fair starts in play (four tenants: a backlog, a weighted, a capped and a late one) vs one tenant that never waits.
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { commandCount } from '../test/helpers/redis-stats.js';
import { startSingle } from '../test/helpers/redis-topology.js';
import { postJob } from './lib/api-client.js';
import { cpuMsBetween, spawnChild, type Child } from './lib/child.js';
import { benchPrefix, cleanup, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO, jobBody } from './lib/fixtures.js';
import { startCountingReceiver, type CountingReceiver } from './lib/receiver.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { median, until } from './lib/stats.js';

const GOAL_RATIO = 0.9;
/** The service's defaults (WORKER_CONCURRENCY, MAX_RUNNING_JOBS), set explicitly so a changed default shows here. */
const CONCURRENCY = 50;
const ACCOUNT_CAP = 100;
/** The baseline's MAX_RUNNING_JOBS: above any run's job count, so every job takes admission's fast path. */
const NO_ACCOUNT_CAP = 1_000_000;
const CAPPED_MAX = 10;
const POST_LANES = 16;
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

/** The fair side's tenants: share of the run's jobs and settings. The backlog posts first, the others together after it. */
const TENANTS = [
  { name: 'backlog', share: 0.5, settings: {} },
  { name: 'late', share: 0.2, settings: {} },
  { name: 'weighted', share: 0.2, settings: { weight: 2 } },
  { name: 'capped', share: 0.1, settings: { max_concurrent_jobs: CAPPED_MAX } },
] as const;
type TenantName = (typeof TENANTS)[number]['name'];

interface Stack {
  api: Child;
  worker: Child;
}

interface SideRun {
  ms: number;
  jobsPerS: number;
  apiCpuMsPerJob: number;
  workerCpuMsPerJob: number;
  redisCpuMsPerJob: number;
  redisCommandsPerJob: number;
  failed: number;
}

interface FairRun extends SideRun {
  /** Most of the capped tenant's jobs between started_at and finished_at at once. */
  cappedMaxRunning: number;
  /** The backlog's jobs not yet started when the late tenant posted its first job. */
  backlogWaiting: number;
  /** Of those, how many started before the late tenant's first job. */
  backlogAhead: number;
}

type JobTimes = { started_at: string | null; finished_at: string | null };

/** CPU ms a process has used (Linux /proc; utime + stime in 1/100 s ticks). */
async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (f[11]! + f[12]!) * 10;
}

async function call<T>(apiUrl: string, method: 'GET' | 'POST', path: string, key: string, body?: unknown): Promise<T> {
  const res = await request(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** `f` over `items`, at most `lanes` at once; results in the items' order. */
async function mapLanes<A, B>(items: readonly A[], lanes: number, f: (item: A, i: number) => Promise<B>): Promise<B[]> {
  const out: B[] = new Array<B>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
  return out;
}

/** Most intervals open at once; an end and a start at the same millisecond count as a hand-over, not an overlap. */
function maxOverlap(jobs: JobTimes[]): number {
  const events = jobs.flatMap((j) => [
    [Date.parse(j.started_at!), 1],
    [Date.parse(j.finished_at!), -1],
  ]);
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (open += d!));
  return most;
}

/** The job counts of one fair run: shares of n, the backlog taking what rounding leaves. */
function countsFor(n: number): Record<TenantName, number> {
  const counts = Object.fromEntries(TENANTS.map((t) => [t.name, Math.floor(n * t.share)])) as Record<TenantName, number>;
  counts.backlog += n - Object.values(counts).reduce((a, b) => a + b, 0);
  return counts;
}

/** After the backlog, the other tenants post interleaved, the late tenant first (its first POST is the moment it arrives). */
function secondWave(counts: Record<TenantName, number>): TenantName[] {
  const left = { ...counts, backlog: 0 };
  const order: TenantName[] = [];
  while (TENANTS.some((t) => left[t.name] > 0)) {
    for (const t of TENANTS) if (left[t.name]-- > 0) order.push(t.name);
  }
  return order;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  // Well past the account cap (the backlog alone is n / 2), so most of the fair side's jobs wait their turn.
  const n = ctx.quick ? 60 : 500;
  const warm = Math.min(n, 150);
  const fairPrefix = benchPrefix('fair');
  const openPrefix = benchPrefix('fair-open');
  const children: Child[] = [];
  let receiver: CountingReceiver | null = null;
  // A Redis of its own: its CPU and INFO commandstats are the two stacks' alone (they run one at a time).
  const redis = await startSingle();
  const stats = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  try {
    const sim = await spawnChild('sim', { timeScale: 0, scenario: BENCH_SCENARIO });
    children.push(sim);
    const common = { REDIS_URL: redis.url, NEMO_BASE_URL: sim.url!, WORKER_CONCURRENCY: String(CONCURRENCY), ADMIN_API_KEY: ADMIN_KEY };
    const start = async (prefix: string, maxRunning: number): Promise<Stack> => {
      const env = serviceEnv(prefix, { ...common, MAX_RUNNING_JOBS: String(maxRunning) });
      const [api, worker] = await Promise.all([spawnChild('api', { env }), spawnChild('worker', { env })]);
      children.push(api, worker);
      return { api, worker };
    };
    // Two stacks side by side (idle while the other runs): the fair one at the default account cap, the open one without.
    const [fair, open] = await Promise.all([start(fairPrefix, ACCOUNT_CAP), start(openPrefix, NO_ACCOUNT_CAP)]);
    receiver = await startCountingReceiver({ parse: true });
    const body = jobBody(receiver.url);

    // BENCH_CPU_PROFILE=<dir>: the last run profiles the worker of the fair side and of the baseline (two .cpuprofile files).
    const profileDir = process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null;
    if (profileDir) await mkdir(profileDir, { recursive: true });

    /** Times `post` from its start to the last finished-job webhook, with the worker's and Redis's CPU and Redis commands. */
    const timed = async (stack: Stack, count: number, post: () => Promise<void>, profile: string | null): Promise<SideRun> => {
      receiver!.reset();
      if (profile) await stack.worker.call('cpuProfileStart');
      const snapshot = () => Promise.all([stack.api.stats(), stack.worker.stats(), processCpuMs(redis.node.pid), commandCount(stats)]);
      const [aBefore, wBefore, rBefore, cBefore] = await snapshot();
      const startedAt = Date.now();
      await post();
      await until(() => receiver!.arrivals.length >= count, `${count} finished-job webhooks`, 300_000, 10);
      const ms = Math.max(...receiver!.arrivals.map((a) => a.at)) - startedAt;
      const [aAfter, wAfter, rAfter, cAfter] = await snapshot();
      if (profile) await stack.worker.call('cpuProfileStop', { path: join(profileDir!, profile) });
      return {
        ms,
        jobsPerS: (count / ms) * 1000,
        apiCpuMsPerJob: cpuMsBetween(aBefore, aAfter) / count,
        workerCpuMsPerJob: cpuMsBetween(wBefore, wAfter) / count,
        redisCpuMsPerJob: (rAfter - rBefore) / count,
        // Less the INFO call that took the second count.
        redisCommandsPerJob: (cAfter.total - cBefore.total - 1) / count,
        failed: receiver!.arrivals.filter((a) => a.type !== 'job.succeeded').length,
      };
    };
    /** One tenant (the bootstrap bench tenant, no settings) posts every job. */
    const oneTenant = (stack: Stack, count = n, profile: string | null = null) =>
      timed(stack, count, async () => void (await mapLanes(Array.from({ length: count }), POST_LANES, () => postJob(stack.api.url!, body))), profile);

    let tenantRound = 0;
    const fairRun = async (count = n, profile: string | null = null): Promise<FairRun> => {
      // Fresh tenants every run, so no run inherits another's passes in the scheduler.
      tenantRound += 1;
      const keys = {} as Record<TenantName, string>;
      for (const t of TENANTS) {
        const id = `r${tenantRound}-${t.name}`;
        await call(fair.api.url!, 'POST', '/admin/tenants', ADMIN_KEY, { id, ...t.settings });
        keys[t.name] = (await call<{ key: string }>(fair.api.url!, 'POST', `/admin/tenants/${id}/keys`, ADMIN_KEY)).key;
      }
      const counts = countsFor(count);
      const wave = secondWave(counts);
      const ids = {} as Record<TenantName, string[]>;
      for (const t of TENANTS) ids[t.name] = [];
      let lateAt = 0;
      const side = await timed(
        fair,
        count,
        async () => {
          ids.backlog = await mapLanes(Array.from({ length: counts.backlog }), POST_LANES, () => postJob(fair.api.url!, body, keys.backlog));
          lateAt = Date.now();
          const second = await mapLanes(wave, POST_LANES, (t) => postJob(fair.api.url!, body, keys[t]));
          second.forEach((id, i) => ids[wave[i]!].push(id));
        },
        profile,
      );
      // Read back once the clock has stopped: when each job of the backlog, late and capped tenants started and ended.
      const times = async (t: TenantName) => mapLanes(ids[t], POST_LANES, (id) => call<JobTimes>(fair.api.url!, 'GET', `/v1/jobs/${id}`, keys[t]));
      const [backlog, late, capped] = await Promise.all([times('backlog'), times('late'), times('capped')]);
      const lateFirst = Math.min(...late.map((j) => Date.parse(j.started_at!)));
      const backlogStarts = backlog.map((j) => Date.parse(j.started_at!));
      return {
        ...side,
        cappedMaxRunning: maxOverlap(capped),
        backlogWaiting: backlogStarts.filter((s) => s > lateAt).length,
        backlogAhead: backlogStarts.filter((s) => s > lateAt && s < lateFirst).length,
      };
    };

    ctx.log(`warming up every side with ${warm} jobs`);
    await fairRun(warm);
    await oneTenant(fair, warm);
    await oneTenant(open, warm);
    const runs: { fair: FairRun; capped: SideRun; open: SideRun }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const last = profileDir !== null && i === ctx.runs - 1;
      // Each run starts with another side, so a drift in machine load favours none of them.
      const sides = [
        async () => ({ fair: await fairRun(n, last ? 'fairness-worker-fair.cpuprofile' : null) }),
        async () => ({ capped: await oneTenant(fair) }),
        async () => ({ open: await oneTenant(open, n, last ? 'fairness-worker-open.cpuprofile' : null) }),
      ];
      let r = {};
      for (let j = 0; j < sides.length; j++) r = { ...r, ...(await sides[(i + j) % sides.length]!()) };
      const one = r as (typeof runs)[number];
      runs.push(one);
      ctx.log(
        `run ${i + 1}: fair ${one.fair.jobsPerS.toFixed(1)} jobs/s (capped tenant at most ${one.fair.cappedMaxRunning} running; ` +
          `late tenant's first start after ${one.fair.backlogAhead} of ${one.fair.backlogWaiting} waiting backlog jobs); ` +
          `one tenant under the account cap ${one.capped.jobsPerS.toFixed(1)} jobs/s; one tenant, nothing waiting ${one.open.jobsPerS.toFixed(1)} jobs/s`,
      );
    }
    const m = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
    const ratio = m((r) => r.fair.jobsPerS / r.open.jobsPerS);
    const cappedMost = Math.max(...runs.map((r) => r.fair.cappedMaxRunning));
    const failed = runs.reduce((s, r) => s + r.fair.failed + r.capped.failed + r.open.failed, 0);
    const counts = countsFor(n);
    return {
      name: 'fairness',
      title: fairness.title,
      rows: [
        {
          metric: `jobs/s with fairness (${TENANTS.length} tenants, caps)`,
          unit: 'jobs/s',
          value: m((r) => r.fair.jobsPerS),
          baseline: m((r) => r.open.jobsPerS),
          ratio,
          goal: `≥ ${GOAL_RATIO} × baseline`,
          met: ratio >= GOAL_RATIO,
          digits: 1,
        },
        {
          metric: `jobs/s, one tenant, account cap ${ACCOUNT_CAP}`,
          unit: 'jobs/s',
          value: m((r) => r.capped.jobsPerS),
          baseline: m((r) => r.open.jobsPerS),
          ratio: m((r) => r.capped.jobsPerS / r.open.jobsPerS),
          digits: 1,
        },
        { metric: 'API CPU per job', unit: 'ms', value: m((r) => r.fair.apiCpuMsPerJob), baseline: m((r) => r.open.apiCpuMsPerJob), ratio: m((r) => r.fair.apiCpuMsPerJob / r.open.apiCpuMsPerJob), digits: 1 },
        { metric: 'worker CPU per job', unit: 'ms', value: m((r) => r.fair.workerCpuMsPerJob), baseline: m((r) => r.open.workerCpuMsPerJob), ratio: m((r) => r.fair.workerCpuMsPerJob / r.open.workerCpuMsPerJob), digits: 1 },
        { metric: 'Redis CPU per job', unit: 'ms', value: m((r) => r.fair.redisCpuMsPerJob), baseline: m((r) => r.open.redisCpuMsPerJob), ratio: m((r) => r.fair.redisCpuMsPerJob / r.open.redisCpuMsPerJob), digits: 2 },
        { metric: 'Redis commands per job', unit: '', value: m((r) => r.fair.redisCommandsPerJob), baseline: m((r) => r.open.redisCommandsPerJob), digits: 1 },
        { metric: `most jobs of the capped tenant running at once (any run)`, unit: '', value: cappedMost, goal: `≤ ${CAPPED_MAX}`, met: cappedMost <= CAPPED_MAX },
        { metric: 'backlog jobs not started when the late tenant posted', unit: '', value: m((r) => r.fair.backlogWaiting) },
        { metric: "…of them started before the late tenant's first job", unit: '', value: m((r) => r.fair.backlogAhead) },
      ],
      notes: [
        `${n} jobs per side per run (3 URL sources, instruction + 2 follow-ups, webhook on finish), ${ctx.runs} run(s), the starting side rotated; medians. ` +
          `Each side timed from its first POST to its last finished-job webhook; API and worker are child processes (WORKER_CONCURRENCY=${CONCURRENCY}), simulator at time scale 0.`,
        `Fairness: tenants made through /admin/tenants, ${TENANTS.map((t) => `${t.name} ${counts[t.name]} jobs${'weight' in t.settings ? ` (weight ${t.settings.weight})` : ''}${'max_concurrent_jobs' in t.settings ? ` (max_concurrent_jobs ${CAPPED_MAX})` : ''}`).join(', ')}; ` +
          `the backlog posts first, the others together right after it (the late tenant's first). MAX_RUNNING_JOBS=${ACCOUNT_CAP} (the default; all share the default account), ` +
          (n > ACCOUNT_CAP ? 'so jobs wait in admission and start by turns as slots free.' : 'above this run\'s job count: nothing waits (quick: only the harness is exercised).'),
        `Baseline ("fairness off"): the service has no switch that turns admission off, so the baseline is what it does when fairness has nothing to decide: ` +
          `one tenant without settings and MAX_RUNNING_JOBS=${NO_ACCOUNT_CAP.toLocaleString('en-US')}, so every job takes admission's fast path (running at once, straight to the flow queue) ` +
          `and the worker's concurrency alone limits the work. Same worker concurrency and job count; its own API and worker processes, the same Redis and simulator.`,
        `Second row: the same one tenant on the fair side's stack (MAX_RUNNING_JOBS=${ACCOUNT_CAP}): jobs past the account cap wait in admission though no other tenant competes; ` +
          'it separates what the account cap costs from what the turns between tenants cost.',
        `CPU: the worker process's, and the private redis-server's (admission is Lua in Redis). Redis commands: INFO commandstats, scripts' inner commands included. ` +
          `Capped tenant: the most of its jobs between started_at and finished_at at once (a subset of the time it holds a slot, so ≤ what admission counted). ` +
          'Late tenant: backlog jobs whose started_at falls after its first POST; a first-come queue would start all of them before its first job.',
        `Jobs that did not succeed (all sides, all runs): ${failed}.`,
      ],
      runs,
    };
  } finally {
    await receiver?.close();
    await Promise.allSettled(children.map((c) => c.kill()));
    stats.disconnect();
    await redis.stop();
    await cleanup(fairPrefix, null);
    await cleanup(openPrefix, null);
  }
}

export const fairness: Benchmark = { name: 'fairness', title: '8. Fairness: jobs/s with fair starts between tenants vs one tenant that never waits', run };
