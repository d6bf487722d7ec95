// One node, Sentinel and Cluster (QUEUE_SHARDS=3) on real redis-server nodes: the spine job and a worker SIGKILL mid-stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { ProcessGroup, type RoleProcess } from '../helpers/processes.js';
import { startCluster, startSentinel, startSingle, type Topology } from '../helpers/redis-topology.js';
import { accountFor, fetchesMp4, startRelay, waitForEnd, type RelayOnTopology } from '../helpers/topology-relay.js';
import { waitFor } from '../helpers/wait.js';

const PHOTOS = [1, 2, 3].map((i) => ({ url: `https://example.com/products/photo-${i}.jpg` }));
/** Real seconds, short: a 2 s generation is the window the SIGKILL aims at. */
const SCENARIO = { textMs: 200, generateMs: 2_000, editMs: 400, renderMs: 1_200, heartbeatIntervalMs: 250, silentEdits: 'never' as const };

const MODES: { name: string; start: () => Promise<Topology> }[] = [
  { name: 'one node', start: () => startSingle() },
  { name: 'Sentinel (master, replica, 3 sentinels)', start: () => startSentinel({ replicas: 1, sentinels: 3 }) },
  { name: 'Cluster (3 masters + 3 replicas, QUEUE_SHARDS=3)', start: () => startCluster({ masters: 3, replicasPerMaster: 1, shards: 3 }) },
];

describe.each(MODES)('redis modes: $name', ({ name, start }) => {
  const procs = new ProcessGroup();
  let topology: Topology;
  let relay: RelayOnTopology;

  beforeAll(async () => {
    const started = Date.now();
    topology = await start();
    // The API in this process; the workers are children, so one can be SIGKILLed.
    relay = await startRelay(topology, { scenario: SCENARIO, worker: false, env: { WORKER_LOCK_MS: '1500' } });
    console.info(`[redis-modes] ${name}: topology and API up in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    await procs.stopAll();
    await relay?.close();
    await topology?.stop();
  });

  it('runs the spine job and a job whose worker is SIGKILLed mid-/run_sse, each exactly once', async () => {
    let workerA: RoleProcess | undefined;
    try {
      workerA = procs.spawn('worker', relay.childEnv);
      const acme = relay.tenants[0]!;
      const spine = await relay.stack.api<Job>('POST', '/v1/jobs', {
        instruction: 'turn these images into a 30-second promo video with music and text',
        followups: ['add lo-fi background music at 35%', 'title "Urban Dreams" for the first 3 seconds'],
        sources: PHOTOS,
        webhook: { url: relay.receiver.url },
      });
      // One short text-only job per tenant: with 3 shards each tenant's keys live on its own master.
      const others = await Promise.all(
        relay.tenants.map((t) =>
          relay.stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 5-second clip', webhook: { url: relay.receiver.url } }, { key: t.key }),
        ),
      );
      for (const created of [spine, ...others]) expect(created.status, JSON.stringify(created.body)).toBe(202);
      const spineJob = await waitForEnd(relay, spine.body.id, acme.key);
      for (const [i, t] of relay.tenants.entries()) await waitForEnd(relay, others[i]!.body.id, t.key);

      // Alone in the worker (a kill between another job's "sent" mark and its send would lose that message, by design):
      // SIGKILL worker A while this job's agent stream is open; the agent keeps working upstream.
      const crash = await relay.stack.api<Job>('POST', '/v1/jobs', {
        instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
        followups: ['add lo-fi background music at 35%'],
        webhook: { url: relay.receiver.url },
      });
      expect(crash.status).toBe(202);
      const session = await waitFor(async () => (await relay.stack.api<Job>('GET', `/v1/jobs/${crash.body.id}`)).body.upstream.session_id, {
        what: 'the crash job’s upstream session',
        timeoutMs: 30_000,
      });
      await waitFor(
        () => relay.stack.sim.log.entries().some((e) => e.sessionId === session && e.endpoint === 'run_sse' && e.status === 0) && relay.stack.sim.session(session)?.busy,
        { what: 'an open /run_sse stream', timeoutMs: 30_000, intervalMs: 20 },
      );
      const killedAt = Date.now();
      await workerA.kill9();
      procs.spawn('worker', relay.childEnv);
      const crashJob = await waitForEnd(relay, crash.body.id, acme.key);
      const endedMs = Date.now() - killedAt;

      const accounts = [
        await accountFor(relay, spine.body.id, acme.key, 3),
        await accountFor(relay, crash.body.id, acme.key, 2),
        ...(await Promise.all(relay.tenants.map((t, i) => accountFor(relay, others[i]!.body.id, t.key, 1)))),
      ];
      for (const a of accounts) {
        expect(a, JSON.stringify(a)).toMatchObject({ status: 'succeeded', storedEnds: 1, deliveredEnds: 1, verified: true, renders: 1 });
        expect(a.runSse, `${a.id}: one /run_sse per message`).toBe(a.messages);
      }
      expect(spineJob.result?.timeline).toMatch(/^Timeline \(3 tracks\)/);
      expect(await fetchesMp4(spineJob.result!.url)).toBe(true);
      expect(crashJob.status).toBe('succeeded');

      const perMaster = await topology.keyCountsPerMaster(`*${relay.stack.prefix}*:job:job_*`);
      console.info(
        `[redis-modes] ${name}: ${accounts.length} jobs succeeded once each (run_sse = messages, 1 render, 1 verified webhook); ` +
          `crash job done ${endedMs} ms after the SIGKILL; job keys per master ${JSON.stringify(perMaster)}`,
      );
      if (topology.settings.shards === 3) {
        // The tenants' jobs spread over every master: each holds some of this run's job keys.
        const counts = Object.values(perMaster);
        expect(counts).toHaveLength(3);
        for (const count of counts) expect(count).toBeGreaterThan(0);
      }
    } catch (err) {
      console.error(procs.dump());
      throw err;
    }
  }, 120_000);
});
