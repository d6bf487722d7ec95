// The one place that builds Redis connections: single node, Sentinel or Cluster, with the options of each role.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { rememberConnectionErrors } from './connection-errors.js';
import { watchSentinelSwitches } from './sentinel-watch.js';
import type { RedisSettings } from './settings.js';

/** A connection of any topology; both classes share ioredis' command interface, so the union type-checks. */
export type RedisClient = Redis | Cluster;

/**
 * `blocking`: workers and their stores — commands wait out restarts and failovers (maxRetriesPerRequest null, offline queue).
 * `request`: the API's path — fails fast (no offline queue, few retries, a command timeout) so a request answers 503.
 * `subscriber`: SUBSCRIBE connections — like blocking, but never auto-pipelined (SUBSCRIBE must not share a pipeline).
 */
export type ConnectionKind = 'blocking' | 'request' | 'subscriber';

export interface ClientOptions {
  /** Batches the commands of one tick into one write; default on for blocking and request, always off for subscribers. */
  autoPipelining?: boolean;
}

/** A request-path command gets this long, so a half-open socket (no RST, e.g. a partition) cannot hang a request. */
export const REQUEST_COMMAND_TIMEOUT_MS = 3_000;
/** A failover a blocking cluster command sits out: retries every 200 ms up to this many times (≈ 60 s). */
const CLUSTER_BLOCKING_RETRIES = 300;

function roleOptions(kind: ConnectionKind, name: string, opts: ClientOptions): RedisOptions {
  const waits = kind !== 'request';
  return {
    connectionName: name,
    maxRetriesPerRequest: waits ? null : 2,
    enableOfflineQueue: waits,
    ...(waits ? {} : { commandTimeout: REQUEST_COMMAND_TIMEOUT_MS }),
    lazyConnect: false,
    enableAutoPipelining: kind === 'subscriber' ? false : (opts.autoPipelining ?? true),
    // Reconnect quickly (a failover is over in seconds) but never hammer a node that is down.
    retryStrategy: (times: number) => Math.min(times * 100, 1_000),
    // A master demoted while we stay connected (Sentinel failover with the old master alive, a managed failover behind
    // one DNS name) answers writes with READONLY: reconnect, which finds the new master; a waiting command is resent.
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? (waits ? 2 : 1) : false),
  };
}

/** Builds a connection for `settings` in the given role; nothing else in the service calls `new Redis` or `new Cluster`. */
export function createRedisClient(settings: RedisSettings, kind: ConnectionKind, name: string, opts: ClientOptions = {}): RedisClient {
  const client = buildClient(settings, kind, name, opts);
  rememberConnectionErrors(client);
  return client;
}

function buildClient(settings: RedisSettings, kind: ConnectionKind, name: string, opts: ClientOptions): RedisClient {
  const role = roleOptions(kind, name, opts);
  const auth = settings.password !== undefined ? { password: settings.password } : {};
  const tls = settings.tls ? { tls: {} } : {};
  if (settings.mode === 'single') {
    // ioredis reads user, password, db and rediss:// (TLS) from the URL itself.
    return new Redis(settings.url, { ...role, ...auth });
  }
  if (settings.mode === 'sentinel') {
    const client = new Redis({
      ...role,
      ...auth,
      ...tls,
      sentinels: settings.sentinels,
      name: settings.sentinelName,
      role: 'master',
      ...(settings.sentinelPassword !== undefined ? { sentinelPassword: settings.sentinelPassword } : {}),
      ...(settings.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      // Not ioredis' failoverDetector (it can end a client for good, see sentinel-watch.ts): our own watch instead.
      failoverDetector: false,
      // A sentinel that does not answer is skipped after 1 s instead of the 10 s connect timeout.
      sentinelCommandTimeout: 1_000,
      sentinelRetryStrategy: (times: number) => Math.min(times * 100, 1_000),
    });
    watchSentinelSwitches(client, settings.sentinels, settings.sentinelName, settings.sentinelPassword, {
      ...(settings.password !== undefined ? { password: settings.password } : {}),
      tls: settings.tls,
    });
    return client;
  }
  // The per-node retry is ioredis' own business in a cluster (it reconnects through the cluster), so it is left out.
  const { enableAutoPipelining, enableOfflineQueue, retryStrategy: _nodeRetry, ...redisOptions } = role;
  const waits = kind !== 'request';
  const clusterOptions: ClusterOptions = {
    redisOptions: { ...redisOptions, ...auth, ...tls },
    scaleReads: 'master',
    // No CLUSTER INFO ready check: while a failover leaves cluster_state:fail for a second or two, a failing check makes
    // every connection disconnect and reconnect in a loop, and a BullMQ Worker's blocking connection caught in that loop
    // stopped taking jobs (or hung in close) in 4 runs out of 5 on real nodes; without it, 10 in 10 carried on.
    // CLUSTERDOWN replies are retried below instead, and /readyz checks cluster_state itself.
    enableReadyCheck: false,
    enableOfflineQueue,
    enableAutoPipelining,
    clusterRetryStrategy: (times: number) => Math.min(times * 100, 1_000),
    // A dead master's commands are retried until its replica is promoted (blocking) or for ~1.6 s (request).
    retryDelayOnFailover: waits ? 200 : 100,
    retryDelayOnClusterDown: waits ? 200 : 100,
    retryDelayOnTryAgain: waits ? 200 : 100,
    maxRedirections: waits ? CLUSTER_BLOCKING_RETRIES : 16,
  };
  return new Cluster(settings.nodes, clusterOptions);
}

/**
 * The `connection` to hand BullMQ: a client from this factory (BullMQ shares it and duplicates it for a Worker's
 * blocking BZPOPMIN). A Worker needs kind `blocking` (BullMQ refuses a retry limit); a Queue used only on the request
 * path may take `request`. Never auto-pipelined, as BullMQ expects. The caller owns it: disconnect it after closing
 * the queues and workers that use it (BullMQ does not close a connection it was given).
 */
export function bullmqConnection(settings: RedisSettings, kind: 'blocking' | 'request', name = `nemo-relay:bullmq-${kind}`): RedisClient {
  return createRedisClient(settings, kind, name, { autoPipelining: false });
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** The connections that hold data: every master of a cluster (as ioredis knows them), else the client itself. */
export function masterConnections(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** SCAN over every master (a cluster's SCAN would see only one random node); yields batches of keys. */
export async function* scanKeys(client: RedisClient, match: string, count = 500): AsyncGenerator<string[]> {
  for (const node of masterConnections(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/**
 * WAIT for `settings.waitReplicas` replicas to acknowledge this connection's writes so far; returns how many did.
 * `key` routes it on a cluster: WAIT has no key, so it rides a pipeline with a keyed no-op to the node that wrote.
 * WAIT holds its connection for up to waitTimeoutMs when replicas lag: call it on a worker (blocking) connection.
 */
export async function waitForReplicas(
  client: RedisClient,
  settings: Pick<RedisSettings, 'waitReplicas' | 'waitTimeoutMs'>,
  key: string,
): Promise<number> {
  if (settings.waitReplicas === 0) return 0;
  const results = await client.pipeline().exists(key).wait(settings.waitReplicas, settings.waitTimeoutMs).exec();
  const [err, acked] = results?.[1] ?? [new Error('WAIT got no reply'), 0];
  if (err) throw err;
  return Number(acked);
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitReady(client: RedisClient, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
