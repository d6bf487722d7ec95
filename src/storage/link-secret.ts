// The output-link signing key: 32 random bytes created once by whichever process comes first and kept in Redis.
import { randomBytes } from 'node:crypto';

/** The two commands used, so any ioredis client (or cluster) fits without importing its types here. */
export interface SecretStore {
  set(key: string, value: string, nx: 'NX'): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/**
 * SET NX then GET: every API process converges on the same key without configuration, like NEMO_CLIENT_ID.
 * Deleting the Redis key rotates it (every link out there stops verifying; links are short-lived by design).
 * Cache the result for the process lifetime; the value is a secret and is never logged.
 */
export async function loadOrCreateLinkSecret(redis: SecretStore, redisKey: string): Promise<Buffer> {
  await redis.set(redisKey, randomBytes(32).toString('base64url'), 'NX');
  const value = await redis.get(redisKey);
  if (!value) throw new Error('the output link secret vanished from Redis right after SET NX');
  const key = Buffer.from(value, 'base64url');
  if (key.length < 32) throw new Error('the output link secret in Redis is shorter than 32 bytes');
  return key;
}
