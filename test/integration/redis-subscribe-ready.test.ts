// SUBSCRIBE sent while a fresh connection is between connect and ready no longer fails the connection (event streams ended at once).
import { afterEach, describe, expect, it } from 'vitest';
import { EventFeed } from '../../src/jobs/event-feed.js';
import { createRedisClient, type RedisClient } from '../../src/redis/client.js';
import { parseRedisSettings } from '../../src/redis/settings.js';
import { subscribeWhenReady } from '../../src/redis/subscribe.js';
import { freePort } from '../helpers/processes.js';
import { TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const opened: RedisClient[] = [];
function subscriber(url = TEST_REDIS_URL): { client: RedisClient; errors: string[] } {
  const client = createRedisClient(parseRedisSettings({ REDIS_URL: url }), 'subscriber', 'nemo-relay:test-subscribe');
  opened.push(client);
  const errors: string[] = [];
  client.on('error', (err: Error) => errors.push(err.message));
  return { client, errors };
}
/** The listeners a wait for ready adds and must take away again. */
const waitListeners = (client: RedisClient) => [client.listenerCount('ready'), client.listenerCount('end')];
async function subscribers(channel: string): Promise<number> {
  const admin = testRedis();
  try {
    const [, count] = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    return Number(count);
  } finally {
    admin.disconnect();
  }
}

afterEach(() => {
  for (const client of opened.splice(0)) client.disconnect();
});

describe('subscribing while a connection is being set up', () => {
  it('subscribes from the connect event (before the ready check) without the connection failing', async () => {
    const { client, errors } = subscriber();
    const channel = uniquePrefix('sub');
    // Called where a second event stream's first subscribe lands in a loaded API: after connect, before ready.
    const subscribed = new Promise<void>((resolve, reject) => client.once('connect', () => subscribeWhenReady(client, channel).then(resolve, reject)));
    await subscribed;
    expect(errors).toEqual([]);
    expect(await subscribers(channel)).toBe(1);
  });

  it('lets every event stream of a fresh feed listen, whenever in the connection set-up its subscribe comes', async () => {
    const { client, errors } = subscriber();
    const feed = new EventFeed(client);
    const prefix = uniquePrefix('feed');
    const before = feed.listen(`${prefix}-a`, () => {});
    const during = new Promise<unknown>((resolve, reject) => client.once('connect', () => feed.listen(`${prefix}-b`, () => {}).then(resolve, reject)));
    await expect(Promise.all([before, during])).resolves.toHaveLength(2);
    const after = await feed.listen(`${prefix}-c`, () => {});
    expect(errors).toEqual([]);
    for (const name of ['a', 'b', 'c']) expect(await subscribers(`${prefix}-${name}`)).toBe(1);
    await after();
    expect(await subscribers(`${prefix}-c`)).toBe(0);
  });

  it('fails a subscribe waiting for a connection that is closed, and leaves no listener behind', async () => {
    const { client } = subscriber();
    const before = waitListeners(client);
    const waiting = subscribeWhenReady(client, uniquePrefix('closed'));
    client.disconnect();
    await expect(waiting).rejects.toThrow('the Redis connection was closed');
    expect(waitListeners(client)).toEqual(before);
  });

  it('keeps waiting through the connection errors of a Redis that is not up yet (a worker started before Redis)', async () => {
    const { client, errors } = subscriber(`redis://127.0.0.1:${await freePort()}`);
    let outcome = 'waiting';
    void subscribeWhenReady(client, uniquePrefix('early')).then(
      () => (outcome = 'subscribed'),
      (err: Error) => (outcome = err.message),
    );
    await waitFor(() => errors.length >= 2, { what: 'two connection errors', timeoutMs: 10_000 });
    // Still waiting for Redis (as the start-up it holds up does), not failed by the first refused connection. A
    // disconnect during a reconnect's back-off emits no 'end' (ioredis), so the wait is left to the closed client.
    expect(outcome).toBe('waiting');
  });

  it('leaves no listener behind after waiting for ready', async () => {
    const { client } = subscriber();
    const before = waitListeners(client);
    await Promise.all([subscribeWhenReady(client, uniquePrefix('tidy')), subscribeWhenReady(client, uniquePrefix('tidy'))]);
    expect(waitListeners(client)).toEqual(before);
  });
});
