// Creating a job under an Idempotency-Key in one script: a failed queue add loses nothing, replays, waits, Redis commands.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobQueuePort } from '../../src/app/job-queue.js';
import { CreateJob } from '../../src/domain/create-job.js';
import { JobCommands } from '../../src/domain/job-commands.js';
import { sweepQueued } from '../../src/flow/sweeper.js';
import { Idempotency, KeyTaken } from '../../src/jobs/idempotency.js';
import { z } from 'zod';
import { createJobBodySchema, jobSchema, type Job, type JobRecord } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { multipart, SAMPLES } from '../helpers/multipart.js';
import { startMonitor, type Monitor } from '../helpers/redis-monitor.js';
import { startSingle } from '../helpers/redis-topology.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;
let n = 0;
const freshKey = () => `claim-${Date.now()}-${n++}`;
const body = (instruction = 'a 10-second promo for a coffee shop') => createJobBodySchema.parse({ instruction, metadata: { order: 'A-17' } });

/** The service's CreateJob, but with a queue whose add fails after the create script (the job already admitted). */
function withFailingQueueAdd(): CreateJob {
  const s = stack.services;
  const queue = jobQueuePort({ admission: s.admission, flowQueue: s.flowQueues, redis: s.blocking, keys: s.keys, limitsOf: s.limitsOf, maxPerAccount: 100 });
  const commands = new JobCommands({
    store: s.store,
    flows: s.flows,
    lifecycle: s.lifecycle,
    groups: s.groups,
    queue: {
      ...queue,
      enqueue: async () => {
        throw new Error('queue add failed');
      },
    },
    checkWebhookUrl: async () => {},
  });
  return new CreateJob({ commands, store: s.readStore, uploads: s.uploads, idempotency: s.idempotency });
}

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

describe('create under an Idempotency-Key (one script)', () => {
  it('a create whose queue add fails leaves the job stored and admitted; the key replays it; the sweeper queues it', async () => {
    const s = stack.services;
    const key = freshKey();
    await expect(withFailingQueueAdd().execute({ tenant: 'acme', body: body(), ownFiles: [], idempotencyKey: key })).rejects.toThrow('queue add failed');
    const entry = JSON.parse((await s.redis.get(s.idempotency.redisKeyOf('acme', key)))!) as { state: string; job_id: string };
    expect(entry.state).toBe('done');
    const record = await s.store.get(entry.job_id);
    expect(record?.job.status).toBe('queued');
    expect(record?.idem).toBe(s.idempotency.redisKeyOf('acme', key));
    expect(await s.admission.state(entry.job_id, 'acme')).toBe('running');
    expect(await s.flowQueues.shard(0).getJob(entry.job_id)).toBeUndefined();

    // The client retries with the same key: the job the first request stored, not a second one.
    const retry = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 10-second promo for a coffee shop', metadata: { order: 'A-17' } }, { headers: { 'idempotency-key': key } });
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(entry.job_id);

    // Never lost: once old enough, the sweeper puts the admitted job on the queue.
    const deps = { redis: s.redis, keys: s.keys, queue: s.flowQueues, store: s.store, admission: s.admission, limitsOf: s.limitsOf, minAgeMs: 60_000 };
    expect(await sweepQueued(deps, Date.now() + 61_000)).toBeGreaterThanOrEqual(1);
    expect((await s.flowQueues.shard(0).getJob(entry.job_id))?.data).toEqual({ jobId: entry.job_id });
  });

  it('a stored job whose queue add failed keeps its uploads (handed over to it, not removed)', async () => {
    const s = stack.services;
    const form = multipart([{ name: 'file', filename: 'p.png', data: SAMPLES.png!.data }]);
    const up = await send<{ id: string }>(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType });
    expect(up.status).toBe(201);
    const withUpload = createJobBodySchema.parse({ instruction: 'promo from this photo', sources: [{ upload_id: up.body.id }] });
    await expect(withFailingQueueAdd().execute({ tenant: 'acme', body: withUpload, ownFiles: [], idempotencyKey: freshKey() })).rejects.toThrow('queue add failed');
    const [stored] = (await s.store.list('acme', { status: 'queued', limit: 1 })).records;
    expect(stored?.job.sources).toEqual([{ upload_id: up.body.id }]);
    expect(await s.redis.smembers(s.keys.uploadUsers(up.body.id))).toEqual([stored!.job.id]);
    expect(await s.uploads.get(up.body.id)).not.toBeNull();
  });

  it('waits for a key another request holds as pending, then replays its job; 409 when it takes too long', async () => {
    const s = stack.services;
    const idem = new Idempotency(s.redis, s.keys, { waitMs: 2_000, pollMs: 10 });
    const fp = 'fp-pending';
    const key = freshKey();
    const record = { v: 1, tenant: 'acme', job: { id: 'job_01ARZ3NDEKTSV4RRFFQ69G5FAV' } } as JobRecord;
    let release!: (r: JobRecord) => void;
    // The first request took the key the old way (a pending claim, e.g. a batch path or an older process).
    const first = idem.run('acme', key, fp, () => new Promise<JobRecord>((r) => (release = r)), async () => null, (r) => r.job.id);
    await waitFor(async () => (await s.redis.get(idem.redisKeyOf('acme', key))) !== null, { what: 'the pending claim' });
    let created = 0;
    const second = idem.runClaimed('acme', key, fp, async () => {
      created += 1;
      const raw = await s.redis.get(idem.redisKeyOf('acme', key));
      if (raw) throw new KeyTaken(raw);
      throw new Error('the key was free');
    }, async (id) => (id === record.job.id ? record : null));
    release(record);
    expect((await first).replayed).toBe(false);
    expect(await second).toEqual({ record, replayed: true });
    expect(created).toBe(1);

    const stuckKey = freshKey();
    const short = new Idempotency(s.redis, s.keys, { waitMs: 50, pollMs: 10 });
    void short.run('acme', stuckKey, fp, () => new Promise<JobRecord>(() => {}), async () => null, (r) => r.job.id);
    await waitFor(async () => (await s.redis.get(short.redisKeyOf('acme', stuckKey))) !== null, { what: 'the stuck claim' });
    await expect(
      short.runClaimed('acme', stuckKey, fp, async () => {
        throw new KeyTaken((await s.redis.get(short.redisKeyOf('acme', stuckKey)))!);
      }, async () => null),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE', statusCode: 409 });
    await s.redis.del(short.redisKeyOf('acme', stuckKey));
  });

  it('a key whose job is gone (erased) is let go and creates a new job', async () => {
    const key = freshKey();
    const first = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'erased later' }, { headers: { 'idempotency-key': key } });
    expect(first.status).toBe(202);
    await stack.services.redis.del(stack.services.keys.job(first.body.id));
    const second = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'erased later' }, { headers: { 'idempotency-key': key } });
    expect(second.status).toBe(202);
    expect(second.body.id).not.toBe(first.body.id);
    const third = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'erased later' }, { headers: { 'idempotency-key': key } });
    expect([third.status, third.body.id]).toEqual([200, second.body.id]);
  });
});

describe('the 202 answer', () => {
  it('is the job as stored: the same text the response schema gives, and what a read returns', async () => {
    const res = await send<Job>(stack.apiUrl, 'POST', '/v1/jobs', {
      body: JSON.stringify({
        metadata: { z: 1, a: { y: [1, 'two'], b: null } },
        instruction: '  a promo with "quotes" and ünïcode  ',
        sources: [{ url: 'https://example.com/a.jpg' }],
        webhook: { url: 'https://example.com/hook', events: ['job.succeeded'] },
        output: { resolution: '720p' },
      }),
      contentType: 'application/json',
    });
    expect(res.status).toBe(202);
    expect(String(res.headers['content-type'])).toBe('application/json; charset=utf-8');
    const encoded = JSON.stringify(z.encode(jobSchema, res.body));
    expect(res.text).toBe(encoded);
    expect(res.body.instruction).toBe('a promo with "quotes" and ünïcode');
    const read = await stack.api<Job>('GET', `/v1/jobs/${res.body.id}`);
    // But its queue_position, computed on read (the create answer leaves it null, README "Fair starts"): admitted at
    // once, it waits for a worker (none runs here), so 0.
    expect(read.body.queue_position).toBe(0);
    expect({ ...read.body, queue_position: null }).toEqual(res.body);
  });
});

describe('Redis commands of one create (own Redis, MONITOR)', () => {
  let redis: Awaited<ReturnType<typeof startSingle>>;
  let own: Stack;
  let monitor: Monitor | null = null;
  beforeAll(async () => {
    redis = await startSingle();
    own = await startStack({ worker: false, env: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    monitor?.close();
    await own?.close();
    await redis?.stop();
  });

  it('is the create script and BullMQ’s add: two commands, with an Idempotency-Key', async () => {
    const commands: string[] = [];
    monitor = await startMonitor(redis.url, (args, source) => {
      if (source !== 'lua') commands.push(args.map((a) => a.slice(0, 40)).join(' '));
    });
    // Warm: scripts loaded, tenant settings cached. After the monitor is up, so that the settings are still cached (for
    // seconds) when the counted create comes, however slowly the monitor connected.
    expect((await own.api('POST', '/v1/jobs', { instruction: 'warm' }, { headers: { 'idempotency-key': freshKey() } })).status).toBe(202);
    // MONITOR shows commands asynchronously: a marker before and one after bracket the request's own.
    const probe = new Redis(redis.url);
    const mark = async (text: string) => {
      await waitFor(async () => {
        await probe.echo(text);
        return commands.some((c) => c === `echo ${text}`);
      }, { what: `MONITOR to show ${text}` });
    };
    await mark('start');
    const res = await own.api<Job>('POST', '/v1/jobs', { instruction: 'counted', sources: [{ url: 'https://example.com/a.jpg' }] }, { headers: { 'idempotency-key': freshKey() } });
    expect(res.status).toBe(202);
    await mark('end');
    probe.disconnect();
    const between = commands.slice(commands.lastIndexOf('echo start') + 1, commands.indexOf('echo end')).filter((c) => !c.startsWith('echo '));
    const ofCreate = between.map((c) => c.split(' ')[0]!.toLowerCase());
    expect(ofCreate, between.join('\n')).toEqual(['evalsha', 'evalsha']);
  });
});
