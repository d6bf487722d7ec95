// Redis Cluster readiness: with a hash-tagged QUEUE_PREFIX every key, Lua script and multi-key command stays in one slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Job } from '../../src/jobs/schemas.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { startMonitor, type Monitor } from '../helpers/redis-monitor.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/** Commands whose first N arguments after the script are keys. */
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

describe('hash-tagged QUEUE_PREFIX for Redis Cluster', () => {
  const tag = uniquePrefix('slot');
  const prefix = `{${tag}}`;
  let stack: Stack;
  let receiver: WebhookReceiver;
  let monitor: Monitor;
  let admin: Redis;
  const commands: string[][] = [];

  beforeAll(async () => {
    admin = testRedis();
    // MONITOR sees every client's commands; only the ones naming our tag are ours.
    monitor = await startMonitor(TEST_REDIS_URL, (args) => {
      if (args.some((a) => a.includes(tag))) commands.push(args);
    });
    stack = await startStack({ env: { QUEUE_PREFIX: prefix, UPLOAD_DIR: `./data/test-uploads/${tag}` } });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
  });

  afterAll(async () => {
    monitor?.close();
    await receiver?.close();
    await stack?.close();
    await cleanupPrefix(admin, prefix);
    admin?.disconnect();
  });

  it('runs a job (with webhook and a cancel) touching only keys under the tag', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 10-second promo video',
      followups: ['add a title "Hello" for 2 seconds'],
      sources: [{ url: 'https://example.com/a.jpg' }],
      webhook: { url: receiver.url },
    });
    expect(created.status).toBe(202);
    await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === created.body.id && d.payload.type === 'job.succeeded'), {
      what: 'job.succeeded',
      timeoutMs: 45_000,
    });
    await stack.services.flowQueue.pause();
    const second = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make another video' });
    expect((await stack.api<Job>('POST', `/v1/jobs/${second.body.id}/cancel`)).status).toBe(200);
    await stack.services.flowQueue.resume();
    await waitFor(() => commands.length > 50, { what: 'monitored commands' });

    const scripts = commands.filter((c) => SCRIPT_COMMANDS.has(c[0]!.toLowerCase()));
    expect(scripts.length).toBeGreaterThan(10); // BullMQ's scripts and ours were seen
    const offenders: string[] = [];
    for (const args of commands) {
      const name = args[0]!.toLowerCase();
      if (SCRIPT_COMMANDS.has(name)) {
        const count = Number(args[2]);
        const keys = args.slice(3, 3 + count);
        // Every KEYS entry of a script must carry the tag, so the whole script runs in the tag's slot.
        for (const key of keys) if (!key.startsWith(prefix)) offenders.push(`${name} key ${key}`);
        continue;
      }
      if (name === 'publish' || name === 'subscribe' || name === 'unsubscribe' || name === 'client') continue; // channels, not keys
      // Any other command: every argument naming our tag is a key (or a key prefix) that starts with the tag.
      for (const arg of args.slice(1)) if (arg.includes(tag) && !arg.startsWith(prefix)) offenders.push(`${name} ${arg}`);
    }
    expect(offenders).toEqual([]);

    // And what is stored: every key of this run starts with the tag.
    const stored: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `*${tag}*`, 'COUNT', 1000);
      cursor = next;
      stored.push(...keys);
    } while (cursor !== '0');
    console.info(`${commands.length} commands naming the tag, ${scripts.length} script calls, ${stored.length} keys: all under ${prefix}`);
    expect(stored.length).toBeGreaterThan(5);
    expect(stored.filter((k) => !k.startsWith(prefix))).toEqual([]);
  });
});
