// Benchmark 1: POST /v1/jobs (auth, validation, idempotency, record, enqueue) against a bare Fastify route doing only queue.add.
import autocannon from 'autocannon';
import { BENCH_KEY, benchPrefix, cleanup, REDIS_URL, serviceEnv } from './lib/env.js';
import { spawnChild, type Child } from './lib/child.js';
import { jobBody } from './lib/fixtures.js';
import type { Benchmark, BenchContext, BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { inTurn } from './lib/turns.js';

export const CONNECTIONS = 50;
const GOAL_RATIO = 0.6;
const GOAL_P99_MS = 25;

export interface CannonRun {
  rps: number;
  p99: number;
  p50: number;
  ok: number;
  non2xx: number;
  errors: number;
}

/**
 * `seconds` of POST /v1/jobs on CONNECTIONS connections (limited to `overallRate` req/s if set). Several API `keys`
 * (tenants, e.g. one per queue shard) are taken in turn by each connection.
 */
export async function cannon(url: string, seconds: number, opts: { overallRate?: number; keys?: string[] } = {}): Promise<CannonRun> {
  const keys = opts.keys ?? [BENCH_KEY];
  const result = await autocannon({
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    url: `${url}/v1/jobs`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    ...(keys.length > 1 ? { requests: keys.map((key) => ({ headers: { authorization: `Bearer ${key}` } })) } : {}),
    headers: {
      authorization: `Bearer ${keys[0]}`,
      'content-type': 'application/json',
      // autocannon puts a fresh id wherever [<id>] appears, so every request carries its own key.
      'idempotency-key': 'bench-[<id>]',
    },
    idReplacement: true,
    body: JSON.stringify(jobBody('http://127.0.0.1:9/hooks')),
  });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.quick ? 3 : 10;
  const warmSeconds = ctx.quick ? 1 : 3;
  const prefix = benchPrefix('accept');
  const basePrefix = benchPrefix('accept-base');
  const admittedPrefix = benchPrefix('accept-admitted');
  const children: Child[] = [];
  try {
    const api = await spawnChild('api', { env: serviceEnv(prefix) });
    children.push(api);
    // No worker drains the bench's jobs, so with the default MAX_RUNNING_JOBS (100) every create after the 100th waits in
    // admission (the create script alone: it waits the job itself; its queue add comes when a slot frees, from a worker). A second API with
    // a cap that is never reached shows the other path: every create admitted at once (create script + BullMQ's add).
    const admitted = await spawnChild('api', { env: serviceEnv(admittedPrefix, { MAX_RUNNING_JOBS: '1000000' }) });
    children.push(admitted);
    const base = await spawnChild('accept-baseline', { redisUrl: REDIS_URL, prefix: basePrefix });
    children.push(base);
    ctx.log(`api ${api.url}, baseline ${base.url}; warming up ${warmSeconds} s each`);
    await cannon(base.url!, warmSeconds);
    await cannon(api.url!, warmSeconds);
    await cannon(admitted.url!, warmSeconds);

    const runs: { api: CannonRun; base: CannonRun; admitted: CannonRun }[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const pair = await inTurn(i, { base: () => cannon(base.url!, seconds), api: () => cannon(api.url!, seconds) });
      const run = { ...pair, admitted: await cannon(admitted.url!, seconds) };
      runs.push(run);
      ctx.log(
        `run ${i + 1}: api ${run.api.rps.toFixed(0)} req/s p99 ${run.api.p99} ms; baseline ${run.base.rps.toFixed(0)} req/s p99 ${run.base.p99} ms; ` +
          `api, every job admitted at once ${run.admitted.rps.toFixed(0)} req/s p99 ${run.admitted.p99} ms`,
      );
    }
    const apiRps = median(runs.map((r) => r.api.rps));
    const baseRps = median(runs.map((r) => r.base.rps));
    const ratio = median(runs.map((r) => r.api.rps / r.base.rps));
    const apiP99 = median(runs.map((r) => r.api.p99));
    // Closed-loop saturation makes latency ≈ connections / throughput; at half the capacity it shows the route itself.
    const halfRate = Math.max(1, Math.round(apiRps / 2));
    const paced = await cannon(api.url!, seconds, { overallRate: halfRate });
    ctx.log(`paced at ${halfRate} req/s: p99 ${paced.p99} ms`);
    const bad = runs.reduce((n, r) => n + r.api.non2xx + r.api.errors, 0);
    return {
      name: 'accept',
      title: accept.title,
      rows: [
        {
          metric: 'accept: POST /v1/jobs vs a bare Fastify route doing one queue.add, req/s',
          unit: 'req/s',
          value: apiRps,
          baseline: baseRps,
          ratio,
          goal: `≥ ${GOAL_RATIO} × baseline`,
          met: ratio >= GOAL_RATIO,
        },
        {
          metric: `accept: POST /v1/jobs p99 at ${CONNECTIONS} connections`,
          unit: 'ms',
          value: apiP99,
          baseline: median(runs.map((r) => r.base.p99)),
          goal: `< ${GOAL_P99_MS} ms`,
          met: apiP99 < GOAL_P99_MS,
        },
        { metric: `p50 latency @ ${CONNECTIONS} conn`, unit: 'ms', value: median(runs.map((r) => r.api.p50)), baseline: median(runs.map((r) => r.base.p50)) },
        {
          metric: 'req/s, every job admitted at once (create script + BullMQ add; MAX_RUNNING_JOBS never reached)',
          unit: 'req/s',
          value: median(runs.map((r) => r.admitted.rps)),
          baseline: baseRps,
          ratio: median(runs.map((r) => r.admitted.rps / r.base.rps)),
        },
        { metric: `p99 at ${CONNECTIONS} connections, every job admitted at once`, unit: 'ms', value: median(runs.map((r) => r.admitted.p99)) },
        // Below saturation (informative: the goal is the closed-loop row above).
        { metric: `p99 latency @ ${CONNECTIONS} conn, ${halfRate} req/s offered`, unit: 'ms', value: paced.p99 },
      ],
      notes: [
        `autocannon, ${CONNECTIONS} connections, ${seconds} s per side per run after ${warmSeconds} s warm-up, ${ctx.runs} run(s), order alternated; medians (ratio = median of per-run ratios).`,
        'Both servers run in their own child process on the same Redis; the API logs at LOG_LEVEL=info to /dev/null, the baseline has no logger.',
        'Body: instruction, 2 follow-ups, 3 URL sources, webhook, metadata; a fresh Idempotency-Key on every request.',
        'No worker drains the jobs: with the default MAX_RUNNING_JOBS (100) the first 100 creates are admitted at once (create script + BullMQ add) and the rest wait in admission (the create script alone, which waits them itself; their queue add is a worker\'s, when a slot frees). The "admitted at once" rows: a second API with MAX_RUNNING_JOBS=1000000, so every create is the create script plus BullMQ\'s add.',
        `Non-2xx answers or socket errors from the API: ${bad}.`,
        `The paced row: the same ${CONNECTIONS} connections limited to half the API's measured throughput (one run), i.e. latency below saturation.`,
      ],
      runs: { runs, paced: { rate: halfRate, ...paced } },
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.kill()));
    await cleanup(prefix);
    await cleanup(basePrefix);
    await cleanup(admittedPrefix);
  }
}

export const accept: Benchmark = { name: 'accept', title: '1. Accepting jobs: POST /v1/jobs vs a bare queue.add route', run };
