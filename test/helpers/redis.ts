// Test Redis: REDIS_URL or the local one; every test file gets its own key prefix and deletes only its own keys.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { isCluster, scanKeys, type RedisClient } from '../../src/redis/client.js';

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniquePrefix(label = 't'): string {
  return `nrtest-${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function testRedis(): Redis {
  return new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
}

/**
 * Deletes every key under `prefix` (SCAN on every master, never KEYS) so parallel test runs never touch each other,
 * the keys of its QUEUE_SHARDS tags (`{<prefix>-0}`, … or `{<tag>-0}` for a tagged prefix) included.
 */
export async function cleanupPrefix(redis: RedisClient, prefix: string): Promise<void> {
  const base = /\{([^}]+)\}/.exec(prefix)?.[1] ?? prefix;
  for (const pattern of [`${prefix}*`, `*{${base}-*`]) {
    for await (const keys of scanKeys(redis, pattern)) {
      // A cluster refuses one UNLINK across slots: one per key there.
      if (isCluster(redis)) await Promise.all(keys.map((k) => redis.unlink(k)));
      else await redis.unlink(...keys);
    }
  }
}
