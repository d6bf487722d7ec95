// Compatibility entry for today's callers: createRedis(url, …) builds a single-node client through the factory in client.ts.
import type { Redis } from 'ioredis';
import { createRedisClient, type ConnectionKind, type RedisClient } from './client.js';
import { DEFAULT_REDIS_URL, type RedisSettings } from './settings.js';

export { waitReady } from './client.js';

/** A one-node RedisSettings for a URL (what REDIS_URL alone means). */
export function singleNodeSettings(url = DEFAULT_REDIS_URL): RedisSettings {
  return { mode: 'single', url, tls: url.startsWith('rediss:'), shards: 1, waitReplicas: 0, waitTimeoutMs: 100 };
}

/**
 * `blocking` connections (workers, subscribers) wait out Redis restarts forever (maxRetriesPerRequest: null);
 * request-path connections fail fast instead of queueing offline. New code: createRedisClient(settings, kind, name).
 */
export function createRedis(url: string, kind: 'blocking' | 'request', name?: string, opts?: { autoPipelining?: boolean }): Redis;
export function createRedis(settings: RedisSettings, kind: ConnectionKind, name?: string, opts?: { autoPipelining?: boolean }): RedisClient;
export function createRedis(
  target: string | RedisSettings,
  kind: ConnectionKind,
  name = 'nemo-relay',
  opts: { autoPipelining?: boolean } = {},
): RedisClient {
  // Today's callers pass autoPipelining only where they want it; keep their default (off).
  const options = { autoPipelining: opts.autoPipelining ?? false };
  if (typeof target === 'string') return createRedisClient(singleNodeSettings(target), kind, name, options) as Redis;
  return createRedisClient(target, kind, name, options);
}
