// The API's view of an outage: a ready check per request, and ioredis' outage errors answered 503 NOT_READY, not 500.
import { describe, expect, it, vi } from 'vitest';
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
    const client = { status: 'ready', ping: async () => 'PONG' } as unknown as RedisClient;
    const available = storeAvailability(client);
    expect(available()).toBe(true);
    (client as { status: string }).status = 'reconnecting';
    expect(available()).toBe(false);
  });

  it('says unavailable once a PING has gone unanswered for a second (a frozen Redis keeps the connection ready)', async () => {
    vi.useFakeTimers();
    try {
      let pings = 0;
      let answer: (() => void) | null = null;
      const client = { status: 'ready', ping: () => (pings++, new Promise<string>((resolve) => (answer = () => resolve('PONG')))) } as unknown as RedisClient;
      const available = storeAvailability(client);
      expect(available()).toBe(true);
      expect(pings).toBe(1);
      // Requests keep coming: no second PING while one is out, and still available within the second.
      vi.advanceTimersByTime(900);
      expect(available()).toBe(true);
      expect(pings).toBe(1);
      vi.advanceTimersByTime(200);
      expect(available()).toBe(false);
      // Redis answers again: available (a second has passed since that PING, so this check sends the next one).
      answer!();
      await Promise.resolve();
      await Promise.resolve();
      expect(available()).toBe(true);
      expect(pings).toBe(2);
      answer!();
      await Promise.resolve();
      await Promise.resolve();
      // Within the second after it, no PING more.
      vi.advanceTimersByTime(500);
      expect(available()).toBe(true);
      expect(pings).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stays unavailable after a PING that failed until one is answered, pinging once a second by itself meanwhile', async () => {
    // A request no longer probes on the last failure's word: the first one after a long-past outage was refused.
    vi.useFakeTimers();
    try {
      const timedOut = async () => Promise.reject(new Error('Command timed out'));
      const outcomes: (() => Promise<string>)[] = [timedOut, timedOut, async () => 'PONG'];
      let pings = 0;
      const client = { status: 'ready', ping: () => outcomes[pings++]!() } as unknown as RedisClient;
      const available = storeAvailability(client);
      expect(available()).toBe(true);
      await vi.advanceTimersByTimeAsync(0);
      expect(available()).toBe(false);
      expect(pings).toBe(1);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(pings).toBe(2);
      expect(available()).toBe(false);
      // No request in between: the watch found Redis answering again by itself.
      await vi.advanceTimersByTimeAsync(1_000);
      expect(pings).toBe(3);
      expect(available()).toBe(true);
      await vi.advanceTimersByTimeAsync(5_000);
      expect(pings).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
