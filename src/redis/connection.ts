// ioredis connections with the settings BullMQ's production checklist asks for, per role.
import { Redis, type RedisOptions } from 'ioredis';

/**
 * `blocking` connections (workers, subscribers) must wait out Redis restarts forever
 * (maxRetriesPerRequest: null); request-path connections fail fast instead of queueing offline.
 */
export function createRedis(
  url: string,
  kind: 'blocking' | 'request',
  name = 'nemo-relay',
  opts: { autoPipelining?: boolean } = {},
): Redis {
  const options: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest: kind === 'blocking' ? null : 2,
    enableOfflineQueue: kind === 'blocking',
    lazyConnect: false,
    // Commands issued in the same tick (many requests, many jobs) share one socket write and one round trip.
    // Off for subscriber connections, which must not mix SUBSCRIBE into pipelines.
    enableAutoPipelining: opts.autoPipelining ?? false,
  };
  return new Redis(url, options);
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
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
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
