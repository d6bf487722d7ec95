// Failover under load on real nodes: SIGKILL the Sentinel master, then a Cluster shard's master, amid 20 running jobs.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { adminCall, startCluster, startSentinel, type ClusterTopology, type RedisNode, type SentinelTopology, type Topology } from '../helpers/redis-topology.js';
import { accountFor, startRelay, waitForEnd, type JobAccount, type RelayOnTopology } from '../helpers/topology-relay.js';
import { waitFor } from '../helpers/wait.js';

/** REDIS_TOPOLOGY_SOAK=<jobs> runs the same failovers amid that many jobs (e.g. 200) instead of 20. */
const JOBS = Number(process.env.REDIS_TOPOLOGY_SOAK ?? 20);
const TEST_TIMEOUT_MS = 120_000 + JOBS * 1_000;
/** Real seconds: a 3 s generation keeps most jobs mid-stream (or mid-render) when the master dies. */
const SCENARIO = { textMs: 200, generateMs: 3_000, editMs: 600, renderMs: 1_500, heartbeatIntervalMs: 250, silentEdits: 'never' as const, anonCredits: 1_000_000 };
/** The API must answer within this while the master is replaced (503 NOT_READY or a real answer, never a hang). */
const MAX_ANSWER_MS = 5_000;
const CREATE_GAP_MS = 15;
/**
 * A create is its record-and-admission script, then the queue add: a failover between the two can lose the add with
 * the old master (README "Running on Sentinel or Cluster"), and the queued sweep re-adds it once the job is
 * QUEUED_SWEEP_AGE_MS old. With the defaults (60 s age, a pass every 60 s) that took up to 2 min, past the 90 s each
 * job is given here; these let the safety net act within the test's wait (a job stuck `queued`, admission running, no
 * queue entry, failed a run with four files at a time).
 */
const SWEEP_ENV = { QUEUED_SWEEP_INTERVAL_MS: '2000', QUEUED_SWEEP_AGE_MS: '5000' };

interface Probe {
  at: number;
  what: string;
  status: number;
  ms: number;
}

/** Polls /readyz, a job read and (every 5th round) a create until /readyz has been 503 and is 200 twice in a row. */
async function probeThroughFailover(relay: RelayOnTopology, jobId: string, created: string[]): Promise<Probe[]> {
  const probes: Probe[] = [];
  const call = async (what: string, run: () => Promise<number>) => {
    const started = Date.now();
    const status = await run().catch(() => 0);
    probes.push({ at: started, what, status, ms: Date.now() - started });
    return status;
  };
  const readyz = async () => {
    const res = await request(`${relay.stack.apiUrl}/readyz`);
    await res.body.dump();
    return res.statusCode;
  };
  let sawDown = false;
  let upInARow = 0;
  const deadline = Date.now() + 60_000;
  for (let round = 0; upInARow < 2 && Date.now() < deadline; round++) {
    const [ready] = await Promise.all([
      call('GET /readyz', readyz),
      call('GET /v1/jobs/{id}', async () => (await relay.stack.api('GET', `/v1/jobs/${jobId}`)).status),
      round % 5 === 0
        ? call('POST /v1/jobs', async () => {
            const res = await relay.stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 5-second clip', webhook: { url: relay.receiver.url } });
            if (res.status === 202) created.push(res.body.id);
            return res.status;
          })
        : null,
    ]);
    if (ready === 503) sawDown = true;
    upInARow = sawDown && ready === 200 ? upInARow + 1 : 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  return probes;
}

/** A job outside "one /run_sse per message, one render, one end": only the replication window may explain it. */
const exceptionOf = (a: JobAccount) => a.runSse > a.messages || a.renders > 1 || a.deliveredEnds > 1;

async function runFailover(
  name: string,
  topology: Topology,
  relay: RelayOnTopology,
  victim: () => Promise<RedisNode>,
  /** Cluster: the shard whose master dies; the others must go on meanwhile. */
  victimShard?: number,
) {
  const { tenants } = relay;
  // Created 15 ms apart: jobs made in one burst send and finish their messages in waves, and a failover that falls
  // between two waves would see no upstream call from any shard (200 jobs: the window is as long as a wave's gap).
  const jobs = await Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * CREATE_GAP_MS));
      const tenant = tenants[i % tenants.length]!;
      const res = await relay.stack.api<Job>(
        'POST',
        '/v1/jobs',
        { instruction: `make a 10-second promo video number ${i}`, followups: ['add lo-fi background music at 35%'], webhook: { url: relay.receiver.url } },
        { key: tenant.key },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return { id: res.body.id, key: tenant.key, messages: 2 };
    }),
  );
  // In the middle of the work: most jobs have sent their first message, and the first streams are ending (so the
  // failover meets streams closing, checkpoints being written and follow-ups going out).
  const streams = () => relay.stack.sim.log.entries().filter((e) => e.endpoint === 'run_sse');
  await waitFor(() => new Set(streams().map((e) => e.sessionId)).size >= Math.ceil(JOBS * 0.75) && streams().some((e) => e.status !== 0), {
    what: 'most jobs past their first message',
    timeoutMs: 30_000,
    intervalMs: 20,
  });
  const node = await victim();
  const killedAt = Date.now();
  await topology.kill(node);
  const created: string[] = [];
  const probes = await probeThroughFailover(relay, jobs[0]!.id, created);
  const downMs = Math.max(0, ...probes.filter((p) => p.what === 'GET /readyz' && p.status !== 200).map((p) => p.at + p.ms - killedAt));

  const all = [...jobs, ...created.map((id) => ({ id, key: tenants[0]!.key, messages: 1 }))];
  for (const job of all) await waitForEnd(relay, job.id, job.key, 90_000);
  const accounts = await Promise.all(all.map((j) => accountFor(relay, j.id, j.key, j.messages)));
  const exceptions = accounts.filter(exceptionOf);
  // Upstream calls made while /readyz was down, by whether the job's shard lost its master (cluster) or not.
  const { keys } = relay.stack.services;
  const shardOfSession = new Map(accounts.map((a) => [a.session, keys.shardOfTenant(a.tenant)]));
  const during = relay.stack.sim.log.entries().filter((e) => e.sessionId && Date.parse(e.at) > killedAt && Date.parse(e.at) < killedAt + downMs);
  const callsDuring = { hit: 0, other: 0 };
  for (const e of during) callsDuring[shardOfSession.get(e.sessionId!) === victimShard ? 'hit' : 'other'] += 1;
  const statuses = probes.reduce<Record<string, number>>((acc, p) => ({ ...acc, [`${p.what} ${p.status}`]: (acc[`${p.what} ${p.status}`] ?? 0) + 1 }), {});
  console.info(
    `[failover] ${name}: killed ${node.address} amid ${JOBS} jobs; /readyz not 200 for ${downMs} ms; answers ${JSON.stringify(statuses)}, ` +
      `slowest ${Math.max(...probes.map((p) => p.ms))} ms; ${accounts.length} jobs (${created.length} created during the failover) all ended once; ` +
      `replication-window exceptions: ${exceptions.length}${exceptions.length ? ` ${JSON.stringify(exceptions)}` : ''}` +
      (victimShard === undefined ? '' : `; upstream calls while down: shard ${victimShard} ${callsDuring.hit}, other shards ${callsDuring.other}`),
  );
  // The shards whose master lived went on working while the other one's replica was promoted.
  if (victimShard !== undefined) expect(callsDuring.other).toBeGreaterThan(0);

  // The API: 503 while the master was replaced, 200 after, never a 500 or an answer slower than 5 s.
  expect(probes.some((p) => p.what === 'GET /readyz' && p.status === 503)).toBe(true);
  expect(probes.filter((p) => p.what === 'GET /readyz').at(-1)!.status).toBe(200);
  for (const p of probes) {
    expect([200, 202, 503], `${p.what} answered ${p.status}`).toContain(p.status);
    expect(p.ms, `${p.what} took ${p.ms} ms`).toBeLessThan(MAX_ANSWER_MS);
  }
  // Every job ended, exactly once in the store, none lost; its webhook came, signed.
  for (const a of accounts) expect(a, JSON.stringify(a)).toMatchObject({ status: 'succeeded', storedEnds: 1, verified: true });
  // One /run_sse per message and one render per job; an acknowledged write lost with the master (README "Running on
  // Sentinel or Cluster") is the only way out of it, and it must stay rare: counted and shown above.
  for (const a of accounts) expect(a.runSse, JSON.stringify(a)).toBeGreaterThanOrEqual(a.messages);
  expect(exceptions.length).toBeLessThanOrEqual(1);
}

/** A Sentinel topology of its own (master, one replica, 3 sentinels) with the relay on it, for the describe block calling this. */
function onSentinel(): () => { topology: SentinelTopology; relay: RelayOnTopology } {
  let topology: SentinelTopology;
  let relay: RelayOnTopology;
  beforeAll(async () => {
    topology = await startSentinel({ replicas: 1, sentinels: 3 });
    relay = await startRelay(topology, { scenario: SCENARIO, worker: true, env: SWEEP_ENV });
  });
  afterAll(async () => {
    await relay?.close();
    await topology?.stop();
  });
  return () => ({ topology, relay });
}

describe('failover: the Sentinel master SIGKILLed amid running jobs', () => {
  const on = onSentinel();

  it('promotes the replica; the API says 503 meanwhile, and every job ends once', async () => {
    const { topology, relay } = on();
    await runFailover('sentinel', topology, relay, () => topology.currentMaster());
  }, TEST_TIMEOUT_MS);
});

describe('failover: a manual Sentinel failover (SENTINEL FAILOVER, the old master alive) amid running jobs and creates', () => {
  const on = onSentinel();

  it('loses no accepted job and pays for no message twice, though the old master took writes until it was told', async () => {
    const { topology, relay } = on();
    const tenant = relay.tenants[0]!;
    const submit = async (instruction: string) => {
      const res = await relay.stack.api<Job>('POST', '/v1/jobs', { instruction, webhook: { url: relay.receiver.url } }, { key: tenant.key });
      return res.status === 202 ? res.body.id : null;
    };
    const running = (await Promise.all(Array.from({ length: JOBS }, (_, i) => submit(`make a 10-second promo video number ${i}`)))).filter((id) => id !== null);
    expect(running).toHaveLength(JOBS);
    await waitFor(() => relay.stack.sim.log.entries().filter((e) => e.endpoint === 'run_sse').length >= Math.ceil(JOBS / 2), {
      what: 'half the jobs streaming',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const before = await topology.currentMaster();
    // Creates every 50 ms from before the failover to well after the switch; the failover starts 500 ms in.
    const accepted: string[] = [];
    const statuses: Record<number, number> = {};
    const creating = (async () => {
      for (let i = 0; i < 80; i++) {
        const res = await relay.stack.api<Job>('POST', '/v1/jobs', { instruction: `a 5-second clip ${i}`, webhook: { url: relay.receiver.url } }, { key: tenant.key });
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 202) accepted.push(res.body.id);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await adminCall(topology.sentinels[0]!.port, 'SENTINEL', 'FAILOVER', topology.name);
    await waitFor(async () => (await topology.currentMaster()).port !== before.port, { what: 'the sentinels to name the new master', timeoutMs: 20_000 });
    await creating;
    // Past the old master's demotion (Sentinel reconfigures it as a replica, which drops what it took meanwhile).
    await waitFor(async () => String(await adminCall(before.port, 'ROLE')).startsWith('slave'), { what: 'the old master to be demoted', timeoutMs: 30_000, intervalMs: 200 });
    const missing: string[] = [];
    for (const id of accepted) if ((await relay.stack.api('GET', `/v1/jobs/${id}`, undefined, { key: tenant.key })).status !== 200) missing.push(id);
    const all = [...running.map((id) => ({ id, messages: 1 })), ...accepted.map((id) => ({ id, messages: 1 }))];
    const ended: { id: string; messages: number }[] = [];
    for (const job of all.filter((j) => !missing.includes(j.id))) ended.push(await waitForEnd(relay, job.id, tenant.key, 90_000).then(() => job));
    const accounts = await Promise.all(ended.map((j) => accountFor(relay, j.id, tenant.key, j.messages)));
    const exceptions = accounts.filter(exceptionOf);
    console.info(
      `[failover] sentinel, manual: ${accepted.length} creates accepted during it (answers ${JSON.stringify(statuses)}), ${missing.length} of them lost; ` +
        `${accounts.length} jobs ended; replication-window exceptions: ${exceptions.length}${exceptions.length ? ` ${JSON.stringify(exceptions)}` : ''}`,
    );
    expect(missing, 'accepted (202) jobs that no longer exist').toEqual([]);
    for (const a of accounts) expect(a, JSON.stringify(a)).toMatchObject({ status: 'succeeded', storedEnds: 1, verified: true });
    expect(exceptions.length).toBeLessThanOrEqual(1);
  }, TEST_TIMEOUT_MS);
});

describe('failover: a Cluster shard master SIGKILLed amid running jobs (QUEUE_SHARDS=3)', () => {
  let topology: ClusterTopology;
  let relay: RelayOnTopology;
  beforeAll(async () => {
    topology = await startCluster({ masters: 3, replicasPerMaster: 1, shards: 3 });
    relay = await startRelay(topology, { scenario: SCENARIO, worker: true, env: SWEEP_ENV });
  });
  afterAll(async () => {
    await relay?.close();
    await topology?.stop();
  });

  it("promotes the replica of the shard's master; the other shards go on, and every job ends once", async () => {
    // Shard 1's master: its tenant's jobs, scheduler and queues live there (shard 0 also holds the global keys: tokens,
    // the tenant registry; losing it pauses every shard's token reads for the failover, which is shown by the Sentinel case).
    const { keys } = relay.stack.services;
    await runFailover('cluster', topology, relay, () => topology.masterFor(keys.admission(1)), 1);
  }, TEST_TIMEOUT_MS);
});
