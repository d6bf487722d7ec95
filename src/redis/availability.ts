// Can the request path use Redis right now (one node, Sentinel, every Cluster slot)? And: is this error an outage?
import type { Cluster } from 'ioredis';
import { isCluster, type RedisClient } from './client.js';

/** How long a Cluster's answer is reused: the check walks the slot table, and the API asks on every request. */
const CLUSTER_CHECK_MS = 100;
/** While a slot has no reachable master, ask a node for the slot table this often (a promoted replica shows there). */
const CLUSTER_REFRESH_MS = 500;

/**
 * A synchronous "is the store up" for the API's request hook: false answers 503 NOT_READY at once instead of letting
 * the request queue or time out. One node or Sentinel: the connection is ready (during a Sentinel failover it is
 * reconnecting). Cluster: the client stays `ready` while one master is gone, so every slot's master must still have
 * a live connection; while one has none, the slot table is refreshed in the background so the promoted replica is found
 * without waiting for a request to fail.
 */
export function storeAvailability(client: RedisClient): () => boolean {
  if (!isCluster(client)) {
    const answering = answeringWatch(client);
    return () => client.status === 'ready' && answering();
  }
  let checkedAt = 0;
  let refreshedAt = 0;
  let answer = false;
  return () => {
    const now = Date.now();
    if (now - checkedAt < CLUSTER_CHECK_MS) return answer;
    checkedAt = now;
    answer = everySlotServed(client);
    if (!answer && client.status === 'ready' && now - refreshedAt >= CLUSTER_REFRESH_MS) {
      refreshedAt = now;
      client.refreshSlotsCache();
    }
    return answer;
  };
}

/** While requests come in, a PING at most this often watches that Redis still answers. */
const WATCH_EVERY_MS = 1_000;
/** A PING unanswered this long: Redis has stopped answering (frozen, a partition without RST). */
const SILENT_AFTER_MS = 1_000;

/**
 * A connection stays `ready` while Redis has stopped answering (SIGSTOP, a long stall, a partition that drops packets
 * without a reset): without this the request would wait out the command timeout (3 s), or longer on the worker-style
 * connections the create path also uses. The checks themselves send the PING, at most once a second and only while
 * requests arrive, so an idle API sends nothing. Once a PING has failed, the watch goes on pinging once a second by
 * itself until one is answered: otherwise the first request after the outage (however much later) was refused on the
 * last failure's word while its own PING went out.
 */
function answeringWatch(client: Exclude<RedisClient, Cluster>): () => boolean {
  let sentAt: number | null = null;
  let lastAt = 0;
  // The last PING's fate: a failed one keeps the store unavailable until one is answered again.
  let answering = true;
  let recheck: NodeJS.Timeout | null = null;
  const ping = () => {
    sentAt = lastAt = Date.now();
    client.ping().then(settled(true), settled(false));
  };
  const settled = (ok: boolean) => () => {
    sentAt = null;
    answering = ok;
    if (!ok) scheduleRecheck();
  };
  const scheduleRecheck = () => {
    if (recheck !== null) return;
    recheck = setTimeout(() => {
      recheck = null;
      if (answering || sentAt !== null) return;
      // Reconnecting: ask again once the connection is back (a PING now would be refused at once, not answered).
      if (client.status === 'ready') ping();
      else scheduleRecheck();
    }, WATCH_EVERY_MS);
    recheck.unref();
  };
  return () => {
    const now = Date.now();
    if (sentAt !== null) return answering && now - sentAt < SILENT_AFTER_MS;
    if (answering && now - lastAt >= WATCH_EVERY_MS && client.status === 'ready') ping();
    return answering;
  };
}

function everySlotServed(cluster: Cluster): boolean {
  if (cluster.status !== 'ready' || cluster.slots.length === 0) return false;
  const live = new Set<string>();
  for (const node of cluster.nodes('master')) {
    if (node.status !== 'end' && node.status !== 'close' && node.status !== 'reconnecting') live.add(`${node.options.host}:${node.options.port}`);
  }
  const seen = new Set<string>();
  for (let slot = 0; slot < 16384; slot++) {
    const master = cluster.slots[slot]?.[0];
    if (master === undefined) return false;
    if (seen.has(master)) continue;
    if (!live.has(master)) return false;
    seen.add(master);
  }
  return true;
}

/**
 * ioredis' and Redis' ways of saying "not reachable right now" (a failover, a restart, a partition). Socket errors such as
 * `connect ECONNREFUSED` are left out on purpose: ioredis only emits those as events, and from an HTTP client (a webhook
 * test, an upstream call) they are not about the store.
 */
const OUTAGE_MESSAGES = [
  /^Connection is closed/,
  /^Command aborted due to connection close/,
  /^Stream isn't writeable/,
  /enableOfflineQueue options is false/,
  /^Command timed out/,
  /^Reached the max retries per request limit/,
  /^Too many Cluster redirections/,
  /^Failed to refresh slots cache/,
  /^None of startup nodes is available/,
  /^All sentinels are unreachable/,
  /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|NOREPLICAS)\b/,
];

/** True for an error that says Redis is (momentarily) unreachable: the API answers 503 NOT_READY, never 500. */
export function isRedisOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true;
  return OUTAGE_MESSAGES.some((re) => re.test(err.message));
}
