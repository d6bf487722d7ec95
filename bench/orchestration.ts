// Benchmark 2: jobs/s through the whole service against a straight-line script making the same upstream calls (simulator at time scale 0).
import { buildAgentMessages } from '../src/video/compile.js';
import { createJobBodySchema } from '../src/jobs/schemas.js';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startSingle } from '../test/helpers/redis-topology.js';
import { cpuMsBetween, mainThreadMsBetween, spawnChild, type Child } from './lib/child.js';
import { benchPrefix, cleanup } from './lib/env.js';
import { cpuSnapshot, machineCpuMsBetween } from './lib/machine.js';
import { BENCH_SCENARIO, SOURCE_URLS } from './lib/fixtures.js';
import { sharedCalls, startRelayFlow, totalCalls, type Counts, type RelayFlow, type SideRun } from './lib/relay-flow.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import type { StraightLineResult } from './lib/straight-line.js';
import { median } from './lib/stats.js';
import { inTurn } from './lib/turns.js';

export const CONCURRENCY = 50;
const WARMUP_JOBS = 400;
const GOAL_RATIO = 0.5;
/** Issue 14: Redis commands per job (create → webhook delivered) and upstream calls beyond the straight line's. */
const GOAL_REDIS_COMMANDS = 120;
const GOAL_EXTRA_CALLS = 1;

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 30 : 1_000;
  const prefix = benchPrefix('orch');
  const children: Child[] = [];
  let flow: RelayFlow | null = null;
  // A Redis of its own: INFO commandstats counts every client, and the shared one serves other work too.
  const redis = await startSingle();
  try {
    const sim = await spawnChild('sim', { timeScale: 0, scenario: BENCH_SCENARIO });
    children.push(sim);
    flow = await startRelayFlow({ sim, topology: redis, prefix, concurrency: CONCURRENCY, log: ctx.log });
    const straight = await spawnChild('straight-line', { simUrl: sim.url });
    children.push(straight);
    const messages = buildAgentMessages(createJobBodySchema.parse(flow.body));

    // BENCH_CPU_PROFILE=<dir>: the last run profiles the worker (orchestration-worker.cpuprofile).
    const profileDir = process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : null;
    if (profileDir) await mkdir(profileDir, { recursive: true });
    const full = flow.run;
    const straightLine = async (count: number): Promise<SideRun> => {
      const [simBefore, sBefore, simStatsBefore, machineBefore] = await Promise.all([sim.call<Counts>('counts'), straight.stats(), sim.stats(), cpuSnapshot()]);
      const r = await straight.call<StraightLineResult>('run', { n: count, concurrency: CONCURRENCY, messages, sources: SOURCE_URLS });
      const [simAfter, sAfter, simStatsAfter, machineAfter] = await Promise.all([sim.call<Counts>('counts'), straight.stats(), sim.stats(), cpuSnapshot()]);
      if (r.firstError) ctx.log(`straight line: ${r.failed} failed, first: ${r.firstError}`);
      return {
        ms: r.ms,
        jobsPerS: (count / r.ms) * 1000,
        cpuMsPerJob: cpuMsBetween(sBefore, sAfter) / count,
        mainThreadMsPerJob: mainThreadMsBetween(sBefore, sAfter) / count,
        simCpuMsPerJob: cpuMsBetween(simStatsBefore, simStatsAfter) / count,
        machineCpuMsPerJob: machineCpuMsBetween(machineBefore, machineAfter) / count,
        upstreamCallsPerJob: totalCalls(simBefore, simAfter) / count,
        sharedCalls: sharedCalls(simBefore, simAfter),
        redisCommandsPerJob: 0,
        failed: r.failed,
      };
    };

    // Enough jobs for both sides' code to be compiled: after 20 the first timed run still cost the worker ~60 % more
    // CPU per job than the next two (JIT), so it measured warm-up rather than the relay.
    const warm = Math.min(WARMUP_JOBS, n);
    ctx.log(`warming up both sides with ${warm} jobs`);
    await full(warm);
    await straightLine(warm);
    const runs: { relay: SideRun; base: SideRun }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const profile = profileDir !== null && i === ctx.runs - 1 ? join(profileDir, 'orchestration-worker.cpuprofile') : undefined;
      const pair = await inTurn(i, { base: () => straightLine(n), relay: () => full(n, profile) });
      runs.push(pair);
      const { relay } = pair;
      ctx.log(`run ${i + 1}: relay ${relay.jobsPerS.toFixed(1)} jobs/s (${relay.cpuMsPerJob.toFixed(1)} CPU ms/job, ${relay.mainThreadMsPerJob.toFixed(1)} on the main thread, sim ${relay.simCpuMsPerJob.toFixed(1)} vs ${pair.base.simCpuMsPerJob.toFixed(1)}, machine ${relay.machineCpuMsPerJob.toFixed(1)} vs ${pair.base.machineCpuMsPerJob.toFixed(1)}, ${relay.failed} failed); straight line ${pair.base.jobsPerS.toFixed(1)} jobs/s`);
    }
    const m = (pick: (r: { relay: SideRun; base: SideRun }) => number) => median(runs.map(pick));
    const ratio = m((r) => r.relay.jobsPerS / r.base.jobsPerS);
    const failed = runs.reduce((s, r) => s + r.relay.failed + r.base.failed, 0);
    const calls = m((r) => r.relay.upstreamCallsPerJob);
    const baseCalls = m((r) => r.base.upstreamCallsPerJob);
    const commands = m((r) => r.relay.redisCommandsPerJob);
    return {
      name: 'orchestration',
      title: orchestration.title,
      rows: [
        { metric: 'jobs/s', unit: 'jobs/s', value: m((r) => r.relay.jobsPerS), baseline: m((r) => r.base.jobsPerS), ratio, goal: `≥ ${GOAL_RATIO} × baseline`, met: ratio >= GOAL_RATIO, digits: 1 },
        { metric: 'CPU per job (worker / script process)', unit: 'ms', value: m((r) => r.relay.cpuMsPerJob), baseline: m((r) => r.base.cpuMsPerJob), ratio: m((r) => r.relay.cpuMsPerJob / r.base.cpuMsPerJob), digits: 1 },
        { metric: 'main-thread CPU per job (worker / script process)', unit: 'ms', value: m((r) => r.relay.mainThreadMsPerJob), baseline: m((r) => r.base.mainThreadMsPerJob), ratio: m((r) => r.relay.mainThreadMsPerJob / r.base.mainThreadMsPerJob), digits: 1 },
        { metric: 'simulator CPU per job (what each side\'s calls cost the upstream)', unit: 'ms', value: m((r) => r.relay.simCpuMsPerJob), baseline: m((r) => r.base.simCpuMsPerJob), ratio: m((r) => r.relay.simCpuMsPerJob / r.base.simCpuMsPerJob), digits: 1 },
        { metric: 'machine CPU per job (every process, both cores)', unit: 'ms', value: m((r) => r.relay.machineCpuMsPerJob), baseline: m((r) => r.base.machineCpuMsPerJob), ratio: m((r) => r.relay.machineCpuMsPerJob / r.base.machineCpuMsPerJob), digits: 1 },
        {
          metric: 'upstream calls per job',
          unit: '',
          value: calls,
          baseline: baseCalls,
          goal: `≤ baseline + ${GOAL_EXTRA_CALLS}`,
          met: calls <= baseCalls + GOAL_EXTRA_CALLS,
          digits: 2,
        },
        { metric: 'token and balance reads per run (shared by its jobs)', unit: '', value: m((r) => r.relay.sharedCalls), baseline: m((r) => r.base.sharedCalls), digits: 0 },
        { metric: 'Redis commands per job', unit: '', value: commands, goal: `≤ ${GOAL_REDIS_COMMANDS}`, met: commands <= GOAL_REDIS_COMMANDS, digits: 1 },
      ],
      notes: [
        `${n} jobs per side per run (3 URL sources, instruction + 2 follow-ups, webhook on finish) after ${warm} warm-up jobs per side, ${ctx.runs} run(s), order alternated; medians.`,
        `nemo-relay: POST /v1/jobs → BullMQ → worker (child process, WORKER_CONCURRENCY=${CONCURRENCY}) → simulator (child, time scale 0) → signed webhook; timed from the first POST to the last webhook.`,
        `Baseline: one child process running NemoClient calls in ${CONCURRENCY} parallel lanes (one shared token; session, upload URLs, run_sse per message, state, render submit, render poll at once then every 250 ms).`,
        `Jobs that did not succeed (both sides, all runs): ${failed}.`,
        'Upstream calls per job: every API call the simulator logged for the jobs (not the result download from the CDN, nor the token and balance reads a process makes once per token or cache period: those are the next row, per run). Redis commands: INFO commandstats of a Redis of its own (a redis-server started for this benchmark), every command including those inside scripts and BullMQ\'s, from the first POST to the last webhook, per job.',
      ],
      runs,
    };
  } finally {
    await flow?.close();
    await Promise.allSettled(children.map((c) => c.kill()));
    await redis.stop();
    await cleanup(prefix, null);
  }
}

export const orchestration: Benchmark = { name: 'orchestration', title: '2. Orchestration overhead: full flow vs straight-line upstream calls', run };
