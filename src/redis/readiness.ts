// Is Redis fit for the queue right now? One node, the Sentinel master or every Cluster master; answers within a deadline.
import type { Cluster, Redis } from 'ioredis';
import { isCluster, type RedisClient } from './client.js';
import { lastConnectionError } from './connection-errors.js';

export type Readiness = { ok: true } | { ok: false; reason: string };

/** /readyz must answer even mid-failover, when a blocking connection would queue the probe until Redis is back. */
export const READINESS_TIMEOUT_MS = 2_000;
const CLUSTER_SLOTS = 16384;

export async function redisReadiness(client: RedisClient, timeoutMs = READINESS_TIMEOUT_MS): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Readiness>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `redis unreachable: no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const answer = await Promise.race([isCluster(client) ? clusterReadiness(client) : nodeReadiness(client), deadline]);
    // "Stream isn't writeable" or a timeout says nothing an operator can act on; the connection's own error does.
    const cause = answer.ok ? undefined : lastConnectionError(client);
    return !answer.ok && cause && !answer.reason.includes(cause) ? { ok: false, reason: `${answer.reason} (last connection error: ${cause})` } : answer;
  } finally {
    clearTimeout(timer);
  }
}

async function clusterReadiness(cluster: Cluster): Promise<Readiness> {
  let info: string;
  try {
    info = String(await cluster.cluster('INFO'));
  } catch (err) {
    return { ok: false, reason: `redis unreachable: ${(err as Error).message}` };
  }
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  // cluster_state:fail means some slot has no reachable master: writes to it fail until a replica is promoted.
  const state = field('cluster_state') ?? 'unknown';
  if (state !== 'ok') return { ok: false, reason: `redis cluster_state is ${state}` };
  // Slots of a master that stopped answering (PFAIL) come before cluster_state turns to fail.
  const slotsOk = Number(field('cluster_slots_ok') ?? CLUSTER_SLOTS);
  if (slotsOk < CLUSTER_SLOTS) return { ok: false, reason: `redis cluster serves ${slotsOk} of ${CLUSTER_SLOTS} slots` };
  const masters = cluster.nodes('master');
  const size = Number(field('cluster_size') ?? masters.length);
  // ioredis drops a master whose connection died; fewer than cluster_size means one is gone before the cluster noticed.
  if (masters.length < size) return { ok: false, reason: `redis unreachable: ${size - masters.length} of ${size} cluster masters not connected` };
  const results = await Promise.all(masters.map((node) => nodeReadiness(node, `${node.options.host}:${node.options.port} `)));
  return results.find((r) => !r.ok) ?? { ok: true };
}

/** One data node: it answers, it will not evict queue data, and (under Sentinel) it is still the master. */
async function nodeReadiness(redis: Redis, label = ''): Promise<Readiness> {
  try {
    if (redis.options.sentinels) {
      const [role] = (await redis.role()) as [string, ...unknown[]];
      if (role !== 'master') return { ok: false, reason: `redis ${label}is a ${role}, not the master (failover in progress)` };
    }
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== 'noeviction') {
      return { ok: false, reason: `redis ${label}maxmemory-policy is ${policy}; queue data needs noeviction` };
    }
    return { ok: true };
  } catch (err) {
    const message = (err as Error).message;
    // Managed Redis often forbids CONFIG; PING then proves liveness and the policy cannot be checked.
    if (/unknown command|NOPERM|not allowed/i.test(message)) {
      try {
        await redis.ping();
        return { ok: true };
      } catch {
        /* fall through */
      }
    }
    return { ok: false, reason: `redis unreachable: ${label}${message}` };
  }
}
