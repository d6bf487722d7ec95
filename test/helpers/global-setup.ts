// Vitest global setup: fail fast with one clear line when the shared test Redis does not answer.
import { Redis } from 'ioredis';

export default async function setup(): Promise<void> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`tests need Redis at ${url}: ${(err as Error).message}`, { cause: err });
  } finally {
    redis.disconnect();
  }
}
