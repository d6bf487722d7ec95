// Bounded shutdown helpers: every wait on SIGTERM has a deadline, so a stop always ends (and exits 0) in time.
import { redisReadiness } from '../redis/readiness.js';
import type { Logger } from '../observability/logger.js';
import { waitReady, type RedisClient } from '../redis/client.js';

/** True when `promise` settled (either way) within `ms`; false when the deadline came first. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Start-up check for workers: a Redis that evicts keys (or cannot be reached) would lose queue data, so say so loudly.
 * It does not stop the worker: a managed Redis may be fixed while we run, and /readyz keeps reporting the reason.
 */
export async function warnIfRedisUnsafe(redis: RedisClient, logger: Logger): Promise<void> {
  try {
    await waitReady(redis, 5_000);
  } catch {
    /* redisReadiness reports it as unreachable */
  }
  const ready = await redisReadiness(redis);
  if (!ready.ok) logger.warn({ reason: ready.reason }, `redis is not safe for the queue: ${ready.reason}`);
}
