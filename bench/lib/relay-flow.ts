// The whole service on a private Redis topology for the throughput benchmarks: API (this process) → BullMQ → worker (child) → simulator → webhook.
import { Redis } from 'ioredis';
import { startApi } from '../../src/app/roles.js';
import { commandCount, perJob, type CommandCount } from '../../test/helpers/redis-stats.js';
import type { Topology } from '../../test/helpers/redis-topology.js';
import { postJobs } from './api-client.js';
import { cpuMsBetween, mainThreadMsBetween, spawnChild, type Child } from './child.js';
import { cpuSnapshot, machineCpuMsBetween } from './machine.js';
import { BENCH_KEY, BENCH_TENANT, inProcessServices, redisReady, serviceEnv } from './env.js';
import { jobBody } from './fixtures.js';
import { startCountingReceiver } from './receiver.js';
import { until } from './stats.js';

export interface SideRun {
  ms: number;
  jobsPerS: number;
  cpuMsPerJob: number;
  /** The worker's (or script's) main thread alone. */
  mainThreadMsPerJob: number;
  /** The simulator's CPU per job: what the side's calls cost the upstream. */
  simCpuMsPerJob: number;
  /** Every process on the machine (both cores), per job: the relay side counts API, worker, Redis and receiver. */
  machineCpuMsPerJob: number;
  upstreamCallsPerJob: number;
  /** Token and balance reads in the run (shared by all its jobs). */
  sharedCalls: number;
  /** Every command the private Redis ran during the run (all its masters), per job (the straight line uses no Redis: 0). */
  redisCommandsPerJob: number;
  failed: number;
}

export type Counts = Record<string, number>;
/** The result download comes from the CDN, not the API; the control endpoint is the benchmark's own. */
const NOT_API = new Set(['render_result', 'render_download', 'control']);
/** Calls a process makes once per token or once per cache period, whatever the number of jobs (shared, not per job). */
const SHARED = new Set(['anonymous_token', 'credits']);
const callsBetween = (before: Counts, after: Counts, keep: (endpoint: string) => boolean) =>
  Object.keys(after).reduce((n, k) => n + (keep(k) ? after[k]! - (before[k] ?? 0) : 0), 0);
/** Upstream API calls made for the jobs themselves. */
export const totalCalls = (before: Counts, after: Counts) => callsBetween(before, after, (k) => !NOT_API.has(k) && !SHARED.has(k));
export const sharedCalls = (before: Counts, after: Counts) => callsBetween(before, after, (k) => SHARED.has(k));

/** INFO commandstats summed over `nodes`; perJob subtracts one INFO call, so the other nodes' are taken off here. */
async function commandCountAll(nodes: Redis[]): Promise<CommandCount> {
  const counts = await Promise.all(nodes.map(commandCount));
  const byCommand = new Map<string, number>();
  for (const c of counts) for (const [k, v] of c.byCommand) byCommand.set(k, (byCommand.get(k) ?? 0) + v);
  return { total: counts.reduce((s, c) => s + c.total, 0) - (nodes.length - 1), byCommand };
}

export interface RelayFlowOptions {
  /** The simulator child the worker calls. */
  sim: Child;
  /** A private topology: its env points the service at it, its masters' INFO counts every command the jobs cost. */
  topology: Topology;
  prefix: string;
  concurrency: number;
  /** The callers, in turn (one per queue shard spreads the jobs over the shards); default the benchmark tenant. */
  tenants?: { name: string; key: string }[];
  log(message: string): void;
}

export interface RelayFlow {
  worker: Child;
  /** The job every run posts (its webhook points at this flow's receiver). */
  body: ReturnType<typeof jobBody>;
  /** Posts `count` jobs and waits for their webhooks; `profilePath`: a CPU profile of the worker meanwhile. */
  run(count: number, profilePath?: string): Promise<SideRun>;
  close(): Promise<void>;
}

export async function startRelayFlow(opts: RelayFlowOptions): Promise<RelayFlow> {
  const tenants = opts.tenants ?? [{ name: BENCH_TENANT, key: BENCH_KEY }];
  const keys = tenants.map((t) => t.key);
  const env = serviceEnv(
    opts.prefix,
    { API_KEYS: tenants.map((t) => `${t.name}:${t.key}`).join(','), NEMO_BASE_URL: opts.sim.url!, WORKER_CONCURRENCY: String(opts.concurrency) },
    opts.topology.env,
  );
  const masters = opts.topology.nodes.filter((n) => n.role === 'master');
  const stats = masters.map((n) => new Redis({ host: '127.0.0.1', port: n.port, maxRetriesPerRequest: 1 }));
  const closers: (() => Promise<unknown>)[] = [async () => stats.forEach((s) => s.disconnect())];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const worker = await spawnChild('worker', { env });
    closers.push(() => worker.kill());
    // The API and the webhook receiver live in this process; the worker is the process whose CPU is counted.
    const services = inProcessServices(env);
    closers.push(() => services.close());
    await redisReady(services);
    const { app, url: apiUrl } = await startApi(services);
    closers.push(() => app.close());
    const receiver = await startCountingReceiver({ parse: true });
    closers.push(() => receiver.close());
    const body = jobBody(receiver.url);
    const { sim } = opts;
    const run = async (count: number, profilePath?: string): Promise<SideRun> => {
      receiver.reset();
      if (profilePath) await worker.call('cpuProfileStart');
      const [simBefore, wBefore, redisBefore, simStatsBefore, machineBefore] = await Promise.all([sim.call<Counts>('counts'), worker.stats(), commandCountAll(stats), sim.stats(), cpuSnapshot()]);
      const startedAt = Date.now();
      await postJobs(apiUrl, count, body, 16, keys);
      await until(() => receiver.arrivals.length >= count, `${count} finished-job webhooks`, 300_000, 10);
      const ms = Math.max(...receiver.arrivals.map((a) => a.at)) - startedAt;
      if (profilePath) await worker.call('cpuProfileStop', { path: profilePath });
      const [simAfter, wAfter, redisAfter, simStatsAfter, machineAfter] = await Promise.all([sim.call<Counts>('counts'), worker.stats(), commandCountAll(stats), sim.stats(), cpuSnapshot()]);
      const failed = receiver.arrivals.filter((a) => a.type !== 'job.succeeded').length;
      const cost = perJob(redisBefore, redisAfter, count);
      opts.log(`Redis commands per job ${cost.perJob.toFixed(1)}: ${cost.top}`);
      return {
        ms,
        jobsPerS: (count / ms) * 1000,
        cpuMsPerJob: cpuMsBetween(wBefore, wAfter) / count,
        mainThreadMsPerJob: mainThreadMsBetween(wBefore, wAfter) / count,
        simCpuMsPerJob: cpuMsBetween(simStatsBefore, simStatsAfter) / count,
        machineCpuMsPerJob: machineCpuMsBetween(machineBefore, machineAfter) / count,
        upstreamCallsPerJob: totalCalls(simBefore, simAfter) / count,
        sharedCalls: sharedCalls(simBefore, simAfter),
        redisCommandsPerJob: cost.perJob,
        failed,
      };
    };
    return { worker, body, run, close };
  } catch (err) {
    await close();
    throw err;
  }
}
