// One factory, three topologies: PING, readiness, WAIT, pub/sub and a BullMQ job on one node, Sentinel and a real Cluster.
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullmqConnection, createRedisClient, waitForReplicas, waitReady, type RedisClient } from '../../src/redis/client.js';
import { redisReadiness } from '../../src/redis/readiness.js';
import { parseRedisSettings, type RedisSettings } from '../../src/redis/settings.js';
import { newShardedId, shardOfId, shardTags, slotOfTag } from '../../src/redis/shard-ids.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-container.js';
import { adminCall, startCluster, startSentinel, type ClusterTopology, type SentinelTopology } from '../helpers/redis-topology.js';

const label = () => `nrtopo-${randomBytes(3).toString('hex')}`;

/** A client of each kind from the factory, all ready, closed by the returned function. */
async function clientsFor(settings: RedisSettings) {
  const clients = {
    request: createRedisClient(settings, 'request', 'test:request'),
    blocking: createRedisClient(settings, 'blocking', 'test:blocking'),
    subscriber: createRedisClient(settings, 'subscriber', 'test:subscriber'),
  };
  for (const c of Object.values(clients)) c.on('error', () => {});
  await Promise.all(Object.values(clients).map((c) => waitReady(c, 10_000)));
  return { ...clients, close: () => Object.values(clients).forEach((c) => c.disconnect()) };
}

/** A BullMQ queue and worker on one factory connection: the worker doubles a number. */
async function runOneJob(connection: RedisClient, prefix: string): Promise<number> {
  const queue = new Queue<{ n: number }>('topology', { connection, prefix });
  const worker = new Worker<{ n: number }, number>('topology', async (job) => job.data.n * 2, { connection, prefix });
  try {
    const done = new Promise<number>((resolve, reject) => {
      worker.on('completed', (_job, value) => resolve(value));
      worker.on('failed', (_job, err) => reject(err));
    });
    await queue.add('double', { n: 21 }, { removeOnComplete: true });
    return await done;
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

describe('one node (container helper or the local Redis)', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('answers PING on every kind and is ready', async () => {
    const settings = parseRedisSettings({ REDIS_URL: redis.url });
    expect(settings.mode).toBe('single');
    const c = await clientsFor(settings);
    try {
      for (const client of [c.request, c.blocking, c.subscriber]) expect(await client.ping()).toBe('PONG');
      expect(await redisReadiness(c.request)).toEqual({ ok: true });
      expect(await waitForReplicas(c.blocking, settings, 'any')).toBe(0); // one node: WAIT is skipped
    } finally {
      c.close();
    }
  });
});

describe('Redis Cluster: 3 masters, 1 replica each', () => {
  let cluster: ClusterTopology;
  beforeAll(async () => {
    const started = Date.now();
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1, shards: 3 });
    console.info(`cluster of 6 redis-server up in ${Date.now() - started} ms`);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is described by its env, answers PING through the factory and is ready on every master', async () => {
    expect(parseRedisSettings(cluster.env)).toEqual(cluster.settings);
    const c = await clientsFor(cluster.settings);
    try {
      for (const client of [c.request, c.blocking, c.subscriber]) expect(await client.ping()).toBe('PONG');
      expect(await redisReadiness(c.request)).toEqual({ ok: true });
      // A write acknowledged by the replica of the key's master (WAIT rides to that master with the key).
      const key = `{${label()}}:k`;
      await c.blocking.set(key, 'v');
      // Up to 5 s here, not the 100 ms default: on a loaded machine the replica's ack can take longer (CI saw 0).
      expect(await waitForReplicas(c.blocking, { ...cluster.settings, waitTimeoutMs: 5_000 }, key)).toBe(1);
      // Pub/sub across the cluster: the cancel channel reaches a subscriber connected to any node.
      const channel = `{${label()}}:cancel`;
      const got = new Promise<string>((resolve) => c.subscriber.on('message', (_ch: string, msg: string) => resolve(msg)));
      await c.subscriber.subscribe(channel);
      await c.request.publish(channel, 'job_X');
      expect(await got).toBe('job_X');
    } finally {
      c.close();
    }
  });

  it('runs a BullMQ job with a {tag} prefix on a factory connection', async () => {
    const connection = bullmqConnection(cluster.settings, 'blocking');
    try {
      expect(await runOneJob(connection, `{${label()}}`)).toBe(42);
    } finally {
      connection.disconnect();
    }
  });

  it('puts QUEUE_SHARDS=3 tags on three different masters; a job id names its shard', async () => {
    const base = label();
    const tags = shardTags(base, 3);
    // Our CRC16 agrees with Redis about every tag's slot.
    for (const tag of tags) expect(Number(await adminCall(cluster.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', tag))).toBe(slotOfTag(tag.slice(1, -1)));
    const connection = bullmqConnection(cluster.settings, 'blocking');
    const queues = tags.map((prefix) => new Queue('flow', { connection, prefix }));
    try {
      for (let i = 0; i < 9; i++) {
        const id = newShardedId('job_', i % 3);
        expect(id).toMatch(/^job_[0-9A-Z]{26}$/);
        await queues[shardOfId(id, 3)]!.add('flow', { id }, { jobId: id });
      }
      const counts = await cluster.keyCountsPerMaster(`{${base}-*`);
      console.info(`keys per master for tags ${tags.join(' ')}: ${JSON.stringify(counts)}`);
      expect(Object.values(counts).filter((n) => n > 0)).toHaveLength(3);
      const owners = await Promise.all(tags.map((t) => cluster.masterFor(t)));
      expect(new Set(owners.map((o) => o.port)).size).toBe(3);
      for (const queue of queues) expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 3 });
    } finally {
      for (const q of queues) {
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
      }
      connection.disconnect();
    }
  });

  // Last in this block: it kills a replica. WAIT has no key, so a bare client.wait() goes to a random master.
  it("routes WAIT to the key's master", async () => {
    const key = `{${label()}}:w`;
    const master = await cluster.masterFor(key);
    const roles = await Promise.all(cluster.nodes.map(async (n) => [n, (await adminCall(n.port, 'ROLE')) as [string, string, number]] as const));
    const replica = roles.find(([, role]) => role[0] === 'slave' && Number(role[2]) === master.port)![0];
    await cluster.kill(replica);
    const client = createRedisClient(cluster.settings, 'blocking', 'test:wait');
    try {
      await waitReady(client);
      await client.set(key, 'v');
      // The key's master lost its replica: nobody acknowledges; every other master would have answered 1.
      expect(await waitForReplicas(client, cluster.settings, key)).toBe(0);
      let other = `{${label()}}:w`;
      while ((await cluster.masterFor(other)).port === master.port) other = `{${label()}}:w`;
      await client.set(other, 'v');
      expect(await waitForReplicas(client, { ...cluster.settings, waitTimeoutMs: 5_000 }, other)).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});

describe('Redis Sentinel: master, 1 replica, 3 sentinels', () => {
  let sentinel: SentinelTopology;
  beforeAll(async () => {
    const started = Date.now();
    sentinel = await startSentinel({ replicas: 1, sentinels: 3 });
    console.info(`sentinel topology (5 redis-server) up in ${Date.now() - started} ms`);
  });
  afterAll(async () => {
    await sentinel?.stop();
  });

  it('answers PING through the factory on the master the sentinels name, is ready, and WAITs for the replica', async () => {
    expect(parseRedisSettings(sentinel.env)).toEqual(sentinel.settings);
    const c = await clientsFor(sentinel.settings);
    try {
      for (const client of [c.request, c.blocking, c.subscriber]) expect(await client.ping()).toBe('PONG');
      const master = await sentinel.currentMaster();
      expect(master.role).toBe('master');
      const id = String(await c.request.client('ID'));
      expect(String(await adminCall(master.port, 'CLIENT', 'LIST', 'ID', id))).toContain('name=test:request');
      expect(await redisReadiness(c.request)).toEqual({ ok: true });
      await c.blocking.set(`${label()}:k`, 'v');
      expect(await waitForReplicas(c.blocking, { ...sentinel.settings, waitTimeoutMs: 5_000 }, 'k')).toBe(1);
    } finally {
      c.close();
    }
  });

  it('runs a BullMQ job on a factory connection', async () => {
    const connection = bullmqConnection(sentinel.settings, 'blocking');
    try {
      expect(await runOneJob(connection, label())).toBe(42);
    } finally {
      connection.disconnect();
    }
  });
});
