// Benchmark 3: 2,000 jobs in flight at once in one worker process (each holding an open agent stream); RSS and event-loop lag.
import { createJobBodySchema } from '../src/jobs/schemas.js';
import { idleBuiltWorker, freePort } from './lib/built-worker.js';
import { spawnChild, type Child, type ChildStats } from './lib/child.js';
import { BENCH_TENANT, benchPrefix, cleanup, inProcessServices, redisReady, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO, FOLLOWUPS, INSTRUCTION, SOURCE_URLS } from './lib/fixtures.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { MB, median, sleep, until } from './lib/stats.js';
import { workerV8Flags } from '../src/app/v8-flags.js';

const JOBS = 2_000;
const GOAL_RSS_MB = 250;
const GOAL_PER_JOB_KB = 50;
const GOAL_LAG_MS = 20;
const GOAL_IDLE_RSS_MB = 100;

/** One window of measurement: the lag histogram is reset at its start and read, with RSS, at its end. */
async function windows(child: Child, count: number, ms: number): Promise<ChildStats[]> {
  const out: ChildStats[] = [];
  for (let i = 0; i < count; i++) {
    await child.call('resetLag');
    await sleep(ms);
    out.push(await child.stats());
  }
  return out;
}

/** CPU use between the first and last window, as a share of one core. */
function cpuShare(xs: ChildStats[]): number {
  if (xs.length < 2) return NaN;
  const first = xs[0]!;
  const last = xs.at(-1)!;
  const us = last.cpuUserUs - first.cpuUserUs + last.cpuSystemUs - first.cpuSystemUs;
  return (us / 1000 / (last.at - first.at)) * 100;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const jobs = ctx.quick ? 300 : JOBS;
  const windowMs = ctx.quick ? 2_000 : 10_000;
  const idleMs = ctx.quick ? 2_000 : 5_000;
  const settleMs = ctx.quick ? 2_000 : 15_000;
  const prefix = benchPrefix('inflight');
  const builtPrefix = benchPrefix('idle-worker');
  const children: Child[] = [];
  const services: { close(): Promise<void> }[] = [];
  try {
    // Long agent runs (the first message generates for 10 minutes) and long renders: nothing finishes while we measure.
    const sim = await spawnChild('sim', { timeScale: 1, scenario: { ...BENCH_SCENARIO, generateMs: 600_000, renderMs: 1_800_000 } });
    children.push(sim);
    // What operators run: a built worker (no tsx loader, no harness), idle, with its ops server.
    const builtEnv = serviceEnv(builtPrefix, { NEMO_BASE_URL: sim.url!, METRICS_PORT: String(await freePort()) });
    const built = await idleBuiltWorker(builtEnv, idleMs);
    ctx.log(`built worker idle RSS ${(built.rss / MB).toFixed(0)} MB (peak ${(built.peak / MB).toFixed(0)} MB; build took ${built.buildMs} ms)`);
    const env = serviceEnv(prefix, { NEMO_BASE_URL: sim.url!, WORKER_CONCURRENCY: String(jobs + 100), MAX_RUNNING_JOBS: String(jobs + 100) });
    const worker = await spawnChild('worker', { env });
    children.push(worker);
    ctx.log(`worker pid ${worker.pid}; measuring ${ctx.runs} idle window(s) of ${idleMs} ms`);
    await sleep(2_000);
    const idle = await windows(worker, ctx.runs, idleMs);
    // BENCH_HEAP_SNAPSHOTS=<dir>: heap snapshots of the worker idle and with every job waiting, to diff what a job holds.
    const snapshots = process.env.BENCH_HEAP_SNAPSHOTS;
    if (snapshots) ctx.log(`idle heap snapshot: ${await worker.call<string>('heapSnapshot', { path: `${snapshots}/inflight-idle.heapsnapshot` })}`);

    const api = inProcessServices(env);
    services.push(api);
    await redisReady(api);
    const body = createJobBodySchema.parse({ instruction: INSTRUCTION, followups: FOLLOWUPS, sources: SOURCE_URLS.map((url) => ({ url })) });
    await Promise.all([worker.call('resetPeak'), worker.call('resetLag')]);
    // BENCH_HEAP_PROFILE=<dir>: a sampling heap profile of the ramp (garbage included): what starting the jobs allocates.
    const profileDir = process.env.BENCH_HEAP_PROFILE;
    if (profileDir) await worker.call('startHeapSampling');
    const started = Date.now();
    let created = 0;
    const lane = async () => {
      while (created < jobs) {
        created += 1;
        await api.jobs.create(BENCH_TENANT, body);
      }
    };
    await Promise.all(Array.from({ length: 50 }, lane));
    ctx.log(`${jobs} jobs created in ${Date.now() - started} ms; waiting for every agent stream to be open`);
    await until(async () => (await sim.call<Record<string, number>>('counts')).run_sse! >= jobs, `${jobs} open agent streams`, 300_000, 500);
    const rampMs = Date.now() - started;
    const [ramp, rampPeak] = await Promise.all([worker.stats(), worker.call<number>('peak')]);
    if (profileDir) ctx.log(`ramp heap profile: ${await worker.call<string>('stopHeapSampling', { path: `${profileDir}/inflight-ramp.heapprofile` })}`);
    ctx.log(`all ${jobs} streams open after ${rampMs} ms (peak RSS ${(rampPeak / MB).toFixed(0)} MB); settling ${settleMs} ms, then ${ctx.runs} window(s) of ${windowMs} ms`);
    // Right after the ramp V8 still holds the heap it grew for it; the memory reducer gives much of it back within seconds.
    await sleep(settleMs);
    const busy = await windows(worker, ctx.runs, windowMs);
    if (snapshots) ctx.log(`busy heap snapshot: ${await worker.call<string>('heapSnapshot', { path: `${snapshots}/inflight-busy.heapsnapshot` })}`);
    const counts = await sim.call<Record<string, number>>('counts');
    if (counts.run_sse! > jobs) ctx.log(`note: ${counts.run_sse! - jobs} extra run_sse calls (streams re-opened?)`);

    const rss = (xs: ChildStats[]) => median(xs.map((s) => s.rss / MB));
    const lag = (xs: ChildStats[]) => median(xs.map((s) => s.lagP99Ms));
    const rssBusy = rss(busy);
    const rssIdle = rss(idle);
    const perJobKb = ((rssBusy - rssIdle) * 1024) / jobs;
    const n = jobs.toLocaleString('en-US');
    const lagBusy = lag(busy);
    return {
      name: 'in-flight',
      title: inFlight.title,
      rows: [
        { metric: `${n} jobs in flight: RSS`, unit: 'MB', value: rssBusy, baseline: rssIdle, ratio: rssBusy / rssIdle, goal: `< ${GOAL_RSS_MB} MB`, met: rssBusy < GOAL_RSS_MB },
        { metric: `${n} jobs in flight: RSS per job`, unit: 'KB', value: perJobKb, goal: `≤ ${GOAL_PER_JOB_KB} KB`, met: perJobKb <= GOAL_PER_JOB_KB, digits: 1 },
        { metric: 'V8 heap used', unit: 'MB', value: median(busy.map((s) => s.heapUsed / MB)), baseline: median(idle.map((s) => s.heapUsed / MB)) },
        { metric: 'V8 heap total (reserved)', unit: 'MB', value: median(busy.map((s) => s.heapTotal / MB)), baseline: median(idle.map((s) => s.heapTotal / MB)) },
        { metric: `peak RSS while the ${jobs} jobs start`, unit: 'MB', value: rampPeak / MB },
        { metric: `${n} jobs in flight: event-loop lag p99`, unit: 'ms', value: lagBusy, baseline: lag(idle), goal: `< ${GOAL_LAG_MS} ms`, met: lagBusy < GOAL_LAG_MS, digits: 1 },
        { metric: 'idle worker RSS', unit: 'MB', value: built.rss / MB, goal: `< ${GOAL_IDLE_RSS_MB} MB`, met: built.rss / MB < GOAL_IDLE_RSS_MB },
        { metric: 'idle worker RSS, bench child (tsx)', unit: 'MB', value: rssIdle },
        { metric: 'event-loop lag max', unit: 'ms', value: median(busy.map((s) => s.lagMaxMs)), baseline: median(idle.map((s) => s.lagMaxMs)), digits: 1 },
        { metric: 'event-loop lag p99 while the jobs start', unit: 'ms', value: ramp.lagP99Ms, digits: 1 },
        { metric: 'worker CPU with all jobs waiting', unit: '%', value: cpuShare(busy), baseline: cpuShare(idle), digits: 1 },
        { metric: `time until all ${jobs} streams open`, unit: 's', value: rampMs / 1000, digits: 1 },
      ],
      notes: [
        `One worker child process, WORKER_CONCURRENCY=MAX_RUNNING_JOBS=${jobs + 100} (the admission cap must not hold jobs back), with V8's default settings (opt-in flags from NEMO_WORKER_V8_FLAGS: ${workerV8Flags().join(' ') || 'none'}) and the heap release loop every worker runs (src/observability/heap-release.ts; NEMO_WORKER_HEAP_RELEASE=0 compares without); simulator in its own child at time scale 1 with 10-minute generations (heartbeat every 5 s) and 30-minute renders.`,
        `Each job: 3 URL sources, instruction + 2 follow-ups; measured while every job holds an open /run_sse stream.`,
        `Baseline: the same worker process idle before any job (${ctx.runs} window(s) of ${idleMs / 1000} s). With jobs: ${settleMs / 1000} s after the last stream opened, ${ctx.runs} window(s) of ${windowMs / 1000} s; medians. Lag = monitorEventLoopDelay (10 ms resolution) minus the 10 ms interval.`,
        `idle worker RSS: \`node dist/main.js worker\` as operators run it (compiled with tsc into node_modules/.cache first), with its ops server, ${idleMs / 1000} s after it started; the bench child rows run the same worker through tsx, whose loader adds ~15 MB to RSS on both sides.`,
      ],
      runs: { idle, busy, ramp, rampPeak, rampMs, built },
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.kill()));
    await Promise.allSettled(services.map((s) => s.close()));
    await cleanup(prefix);
    await cleanup(builtPrefix);
  }
}

export const inFlight: Benchmark = { name: 'in-flight', title: '3. Jobs in flight: 2,000 open jobs in one worker process', run };
