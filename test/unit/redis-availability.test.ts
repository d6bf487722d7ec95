// The API's view of an outage: a ready check per request, and ioredis' outage errors answered 503 NOT_READY, not 500.
import { describe, expect, it } from 'vitest';
import { toErrorBody } from '../../src/http/error-handler.js';
import type { RedisClient } from '../../src/redis/client.js';
import { isRedisOutage, storeAvailability } from '../../src/redis/availability.js';

describe('isRedisOutage', () => {
  it('knows what ioredis and Redis say while a master is replaced', () => {
    for (const message of [
      'Connection is closed.',
      'Command aborted due to connection close',
      "Stream isn't writeable and enableOfflineQueue options is false",
      "Cluster isn't ready and enableOfflineQueue options is false",
      'Command timed out',
      'Too many Cluster redirections. Last error: Error: Connection is closed.',
      'CLUSTERDOWN The cluster is down',
      'READONLY You can\'t write against a read only replica.',
      'All sentinels are unreachable. Retrying from scratch after 100ms.',
    ]) {
      expect(isRedisOutage(new Error(message)), message).toBe(true);
    }
    expect(isRedisOutage(Object.assign(new Error('Reached the max retries per request limit (which is 2).'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
  });

  it('leaves other errors alone (an HTTP client refused, a bug)', () => {
    for (const message of ['connect ECONNREFUSED 127.0.0.1:9', 'Cannot read properties of undefined', 'ERR wrong number of arguments']) {
      expect(isRedisOutage(new Error(message)), message).toBe(false);
    }
    expect(isRedisOutage('Connection is closed.')).toBe(false);
  });

  it('makes the API answer 503 NOT_READY for an outage met mid-request', () => {
    expect(toErrorBody(new Error('Connection is closed.'))).toMatchObject({ statusCode: 503, code: 'NOT_READY' });
    expect(toErrorBody(new Error('boom'))).toMatchObject({ statusCode: 500, code: 'INTERNAL' });
  });
});

describe('storeAvailability (one node, Sentinel)', () => {
  it('follows the request connection: ready, or not', () => {
    const client = { status: 'ready' } as unknown as RedisClient;
    const available = storeAvailability(client);
    expect(available()).toBe(true);
    (client as { status: string }).status = 'reconnecting';
    expect(available()).toBe(false);
  });
});
