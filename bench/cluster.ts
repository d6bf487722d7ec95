// Benchmark: accept and orchestration on a 3-master Redis Cluster (QUEUE_SHARDS=3) next to a single node, same run (issue 13).
import { startCluster, startSingle, type Topology } from '../test/helpers/redis-topology.js';
import { tenantsOnEveryShard } from '../test/helpers/topology-relay.js';
import { cannon, CONNECTIONS, type CannonRun } from './accept.js';
import { spawnChild, type Child } from './lib/child.js';
import { benchPrefix, cleanup, serviceEnv } from './lib/env.js';
import { BENCH_SCENARIO } from './lib/fixtures.js';
import { startRelayFlow, type RelayFlow, type SideRun } from './lib/relay-flow.js';
import type { Benchmark, BenchContext, BenchResult, Row } from './lib/report.js';
import { fmt, median } from './lib/stats.js';
import { inTurn } from './lib/turns.js';
import { CONCURRENCY } from './orchestration.js';

const MASTERS = 3;
const CLUSTER = `3-master cluster (QUEUE_SHARDS=${MASTERS})`;
/** A job's record key (`<tag>:job:job_<26 characters>`), not its flow, events or deliveries keys. */
const jobRecords = (prefix: string) => `{${prefix}-*}:job:job_${'?'.repeat(26)}`;

type Pair<T> = { single: T; cluster: T };

/** Cluster figure against the single node's, medians over the runs (ratio = median of per-run ratios). */
function compared<T>(runs: Pair<T>[], metric: string, unit: string, pick: (r: T) => number, digits = 0): Row {
  return {
    metric: `${metric}, ${CLUSTER}`,
    unit,
    value: median(runs.map((r) => pick(r.cluster))),
    baseline: median(runs.map((r) => pick(r.single))),
    ratio: median(runs.map((r) => pick(r.cluster) / pick(r.single))),
    digits,
  };
}

/** Both starts at once (the child processes load in parallel); waits for both, so a failed one leaves nothing running unseen. */
async function both<T>(single: Promise<T>, cluster: Promise<T>): Promise<Pair<T>> {
  const [a, b] = await Promise.allSettled([single, cluster]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return { single: a.value, cluster: b.value };
}

const perMaster = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([address, n]) => `${address} ${fmt(n)}`)
    .join(', ');

async function run(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.quick ? 2 : 5;
  const warmSeconds = ctx.quick ? 1 : 2;
  const n = ctx.quick ? 30 : 300;
  // One tenant per queue shard (a tenant's jobs all live in its shard); the single node serves the same tenants.
  const tenants = tenantsOnEveryShard(MASTERS);
  const keys = tenants.map((t) => t.key);
  const apiKeys = tenants.map((t) => `${t.name}:${t.key}`).join(',');
  const prefix = { orch: [benchPrefix('cl-orch-1'), benchPrefix('cl-orch-3')], accept: [benchPrefix('cl-acc-1'), benchPrefix('cl-acc-3')] } as const;
  const topologies: Topology[] = [];
  const children: Child[] = [];
  const flows: RelayFlow[] = [];
  try {
    const single = await startSingle();
    topologies.push(single);
    // No replicas: on 2 cores they would only take CPU from the masters (and REDIS_WAIT_REPLICAS is 0 without them).
    const cluster = await startCluster({ masters: MASTERS, replicasPerMaster: 0, shards: MASTERS });
    topologies.push(cluster);
    ctx.log(`single node ${single.node.address}; cluster ${cluster.nodes.map((x) => x.address).join(', ')}`);

    // (b) orchestration first: its few thousand jobs barely grow the nodes, whereas accept leaves tens of thousands.
    const sim = await spawnChild('sim', { timeScale: 0, scenario: BENCH_SCENARIO });
    children.push(sim);
    const flowOn = async (topology: Topology, p: string) => {
      const flow = await startRelayFlow({ sim, topology, prefix: p, concurrency: CONCURRENCY, tenants, log: ctx.log });
      flows.push(flow);
      return flow;
    };
    const flow = await both(flowOn(single, prefix.orch[0]), flowOn(cluster, prefix.orch[1]));
    ctx.log(`orchestration: warming up both with ${Math.min(20, n)} jobs`);
    await flow.single.run(Math.min(20, n));
    await flow.cluster.run(Math.min(20, n));
    const orchRuns: Pair<SideRun>[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const r = await inTurn(i, { single: () => flow.single.run(n), cluster: () => flow.cluster.run(n) });
      orchRuns.push(r);
      ctx.log(`orchestration run ${i + 1}: single ${r.single.jobsPerS.toFixed(1)} jobs/s, cluster ${r.cluster.jobsPerS.toFixed(1)} jobs/s`);
    }
    for (const f of flows.splice(0)) await f.close();
    await sim.kill();
    const orchKeys = await cluster.keyCountsPerMaster(jobRecords(prefix.orch[1]));

    // (a) accept: the API in a child process on each topology, no worker (as the accept benchmark).
    const apiOn = async (topology: Topology, p: string) => {
      const api = await spawnChild('api', { env: serviceEnv(p, { API_KEYS: apiKeys }, topology.env) });
      children.push(api);
      return api.url!;
    };
    const api = await both(apiOn(single, prefix.accept[0]), apiOn(cluster, prefix.accept[1]));
    ctx.log(`accept: warming up ${warmSeconds} s each`);
    await cannon(api.single, warmSeconds, { keys });
    await cannon(api.cluster, warmSeconds, { keys });
    const acceptRuns: Pair<CannonRun>[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      const r = await inTurn(i, { single: () => cannon(api.single, seconds, { keys }), cluster: () => cannon(api.cluster, seconds, { keys }) });
      acceptRuns.push(r);
      ctx.log(`accept run ${i + 1}: single ${r.single.rps.toFixed(0)} req/s p99 ${r.single.p99} ms; cluster ${r.cluster.rps.toFixed(0)} req/s p99 ${r.cluster.p99} ms`);
    }
    const acceptKeys = await cluster.keyCountsPerMaster(jobRecords(prefix.accept[1]));
    const bad = acceptRuns.reduce((s, r) => s + r.single.non2xx + r.single.errors + r.cluster.non2xx + r.cluster.errors, 0);
    const failed = orchRuns.reduce((s, r) => s + r.single.failed + r.cluster.failed, 0);

    return {
      name: 'cluster',
      title: TITLE,
      rows: [
        compared(acceptRuns, 'accept req/s', 'req/s', (r) => r.rps),
        compared(acceptRuns, `accept p99 at ${CONNECTIONS} connections`, 'ms', (r) => r.p99),
        compared(orchRuns, 'orchestration jobs/s', 'jobs/s', (r) => r.jobsPerS, 1),
        compared(orchRuns, 'orchestration worker CPU per job', 'ms', (r) => r.cpuMsPerJob, 1),
        compared(orchRuns, 'orchestration Redis commands per job (all masters)', '', (r) => r.redisCommandsPerJob, 1),
      ],
      notes: [
        `Baseline = the same figure on a single redis-server started for this benchmark (QUEUE_SHARDS=1); ${CLUSTER}: ${MASTERS} redis-server masters, no replicas (so no WAIT), joined by redis-cli --cluster create; all on this machine, so the cluster adds Redis processes, not cores. Medians over the runs; ratio = median of the per-run ratios (cluster / single). No goal: informative.`,
        `Tenants: ${tenants.map((t) => t.name).join(', ')}, one per queue shard, taken in turn by every request on both topologies.`,
        `Accept: the API in a child process, no worker (default MAX_RUNNING_JOBS, per shard on the cluster), autocannon ${CONNECTIONS} connections, ${seconds} s per side per run after ${warmSeconds} s warm-up, ${ctx.runs} run(s), order alternated; non-2xx or socket errors: ${bad}.`,
        `Orchestration: ${n} jobs per side per run, as the orchestration benchmark (worker child, WORKER_CONCURRENCY=${CONCURRENCY}: ${Math.ceil(CONCURRENCY / MASTERS)} per shard on the cluster; simulator at time scale 0; API and receiver in the benchmark process), ${ctx.runs} run(s), order alternated; jobs that did not succeed: ${failed}.`,
        `Job records per cluster master after the runs: orchestration ${perMaster(orchKeys)}; accept ${perMaster(acceptKeys)}.`,
      ],
      runs: { accept: acceptRuns, orchestration: orchRuns, jobRecordsPerMaster: { orchestration: orchKeys, accept: acceptKeys } },
    };
  } finally {
    for (const f of flows) await f.close();
    await Promise.allSettled(children.map((c) => c.kill()));
    await Promise.allSettled(topologies.map((t) => t.stop()));
    for (const p of [...prefix.orch, ...prefix.accept]) await cleanup(p, null);
  }
}

const TITLE = '9. Redis Cluster: accept and orchestration on 3 masters vs one node';

export const cluster: Benchmark = { name: 'cluster', title: TITLE, run };
