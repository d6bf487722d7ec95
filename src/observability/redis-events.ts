// Logs Redis connection loss once (warn) and recovery once (info), instead of ioredis' "Unhandled error event" per retry.
import type { RedisClient } from '../redis/client.js';
import type { Logger } from './logger.js';

export function logRedisConnection(redis: RedisClient, logger: Logger, name: string): void {
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ connection: name, err: err.message }, 'redis connection lost; retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ connection: name }, 'redis connection restored');
  });
}
