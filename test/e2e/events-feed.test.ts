// The job event feed: SSE that resumes with Last-Event-ID without gaps or repeats, the JSON form, tenancy, throttling.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, JobEvent } from '../../src/jobs/schemas.js';
import { newJobId } from '../../src/jobs/ids.js';
import { PROGRESS_EVENT_INTERVAL_MS } from '../../src/jobs/lifecycle.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { readSse } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

describe('job event feed', () => {
  let stack: Stack;

  beforeAll(async () => {
    // A slower simulator, so one job emits several progress events (render and generation take a few seconds).
    stack = await startStack({ timeScale: 0.03 });
  });

  afterAll(async () => {
    await stack?.close();
  });

  const jsonEvents = async (id: string, query = '', key: string = TENANTS.acme) =>
    stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${id}/events${query}`, undefined, { key, headers: { accept: 'application/json' } });

  it('streams a running job, survives a disconnect via Last-Event-ID with no gap or repeat, and closes at the end', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'turn these images into a 30-second promo video with music and text',
      followups: ['add lo-fi background music at 35%'],
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.jpg' }],
    });
    expect(created.status).toBe(202);
    const id = created.body.id;
    const url = `${stack.apiUrl}/v1/jobs/${id}/events`;

    // First connection: hang up right after the first progress event, while the job is still running.
    const first = await readSse(url, {}, (m) => m.some((x) => x.event === 'job.progress'));
    expect(first.status).toBe(200);
    expect(first.contentType).toMatch(/^text\/event-stream/);
    expect(first.closedByServer).toBe(false);
    expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('running');
    const lastId = first.messages.at(-1)!.id!;

    // Second connection resumes after the last id it saw and runs until the server closes after the terminal event.
    const second = await readSse(url, { 'last-event-id': lastId });
    expect(second.closedByServer).toBe(true);

    const all = [...first.messages, ...second.messages];
    const seqs = all.map((m) => Number(m.id));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    for (const m of all) {
      const event = JSON.parse(m.data) as JobEvent;
      expect(event.seq).toBe(Number(m.id));
      expect(event.type).toBe(m.event);
      expect(event.data.id).toBe(id);
    }
    expect(all[0]!.event).toBe('job.started');
    expect(all.at(-1)!.event).toBe('job.succeeded');
    const progress = all.filter((m) => m.event === 'job.progress');
    // Progress goes out with the worker's writes (each message, the render), at most one per 500 ms.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(second.messages.length).toBeGreaterThanOrEqual(2);

    // job.progress at most once per 500 ms per job, judged by the events' own timestamps.
    const times = progress.map((m) => Date.parse((JSON.parse(m.data) as JobEvent).at));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(PROGRESS_EVENT_INTERVAL_MS);
    console.info(
      `[measured] feed: ${all.length} events over two connections (${first.messages.length} + ${second.messages.length}); ` +
        `${progress.length} progress events, min gap ${Math.min(...gaps)} ms`,
    );

    // The JSON form agrees with the stream and pages with ?after=N.
    const json = await jsonEvents(id);
    expect(json.status).toBe(200);
    expect(json.body.data.map((e) => e.seq)).toEqual(seqs);
    expect(json.body.data.map((e) => e.id)).toEqual(all.map((m) => (JSON.parse(m.data) as JobEvent).id));
    const after = await jsonEvents(id, '?after=2');
    expect(after.body.data.map((e) => e.seq)).toEqual(seqs.slice(2));
    expect((await jsonEvents(id, `?after=${seqs.length}`)).body.data).toEqual([]);

    // A finished job replays from any point and closes; resuming after its last event closes at once, empty.
    const replay = await readSse(url, { 'last-event-id': String(seqs.length - 2) });
    expect(replay.closedByServer).toBe(true);
    expect(replay.messages.map((m) => Number(m.id))).toEqual([seqs.length - 1, seqs.length]);
    // A reconnecting EventSource repeats the URL's ?after=…; its Last-Event-ID is what counts.
    const reconnect = await readSse(`${url}?after=0`, { 'last-event-id': String(seqs.length - 1) });
    expect(reconnect.messages.map((m) => Number(m.id))).toEqual([seqs.length]);
    expect((await readSse(`${url}?after=${seqs.length - 1}`, {})).messages.map((m) => Number(m.id))).toEqual([seqs.length]);
    const atEnd = await readSse(url, { 'last-event-id': String(seqs.length) });
    expect(atEnd).toMatchObject({ status: 200, closedByServer: true, messages: [] });
  });

  it('hides another tenant’s job (404) and validates the cursor', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 5-second clip of waves' });
    const id = created.body.id;
    const other = await jsonEvents(id, '', TENANTS.globex);
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ code: 'JOB_NOT_FOUND' });
    const sse = await stack.api('GET', `/v1/jobs/${id}/events`, undefined, { key: TENANTS.globex });
    expect(sse.status).toBe(404);
    expect((await jsonEvents(id, '?after=-1')).status).toBe(400);
    const badHeader = await stack.api('GET', `/v1/jobs/${id}/events`, undefined, { headers: { 'last-event-id': 'abc' } });
    expect(badHeader.status).toBe(400);
    expect((await jsonEvents('job_01J0000000000000000000000Z')).status).toBe(404);
  });

  it('throttles a burst of progress updates to one job.progress event per 500 ms', async () => {
    // A job the worker never sees (stored directly), driven by hand through the lifecycle.
    const template = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'throttle probe' })).body;
    const job: Job = { ...template, id: newJobId(), status: 'running', stage: 'render' };
    await stack.services.store.create('acme', job);
    const started = Date.now();
    let calls = 0;
    let last = 0;
    while (Date.now() - started < 1_600) {
      calls += 1;
      // Progress rises every 20 ms, so nearly every call changes the record; only the events are throttled.
      last = Math.floor((Date.now() - started) / 20);
      await stack.services.lifecycle.progress(job.id, 'render', last);
      await new Promise((r) => setImmediate(r));
    }
    const events = (await jsonEvents(job.id)).body.data.filter((e) => e.type === 'job.progress');
    const times = events.map((e) => Date.parse(e.at));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.length).toBeLessThanOrEqual(4);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(PROGRESS_EVENT_INTERVAL_MS);
    // The record keeps up with every call (on a loaded machine fewer calls fit in the 1.6 s).
    expect((await stack.api<Job>('GET', `/v1/jobs/${job.id}`)).body.progress).toBe(last);
    console.info(`[measured] throttle: ${calls} progress calls in 1.6 s → ${events.length} job.progress events, gaps ${gaps.join(',')} ms`);
  });
});

describe('job event feed without a worker', () => {
  it('fills a gap left by a lost pub/sub message from the store, in order', async () => {
    const stack = await startStack({ worker: false });
    try {
      const job = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'driven by hand' })).body;
      const { services } = stack;
      const { keys } = services;
      const reading = readSse(`${stack.apiUrl}/v1/jobs/${job.id}/events`, {});
      await waitFor(async () => (await services.redis.pubsub('NUMSUB', keys.jobEventsChannel(job.id)))[1] === 1, { what: 'stream subscribed' });
      // Event 1 is stored but its message is lost (as during a subscriber reconnect); event 2 is published as usual.
      const lost: JobEvent = { id: 'evt_lost', seq: 1, type: 'job.started', at: new Date().toISOString(), data: job };
      await services.blocking.rpush(keys.jobEvents(job.id), JSON.stringify(lost));
      await services.lifecycle.progress(job.id, 'auth', 1);
      await services.lifecycle.fail(job.id, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      const read = await reading;
      expect(read.closedByServer).toBe(true);
      expect(read.messages.map((m) => [Number(m.id), m.event])).toEqual([
        [1, 'job.started'],
        [2, 'job.progress'],
        [3, 'job.failed'],
      ]);
    } finally {
      await stack.close();
    }
  });

  it('ends open streams when the API closes instead of waiting for clients to hang up', async () => {
    // No worker: the job stays queued, so its stream would stay open forever.
    const stack = await startStack({ worker: false });
    let closed = false;
    try {
      const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'never runs' });
      const reading = readSse(`${stack.apiUrl}/v1/jobs/${created.body.id}/events`, {});
      // The stream is open once the server has subscribed; give it the time a live connection needs to get there.
      await waitFor(async () => (await stack.services.redis.pubsub('NUMSUB', stack.services.keys.jobEventsChannel(created.body.id)))[1] === 1, {
        what: 'stream subscribed',
      });
      const started = Date.now();
      await stack.close();
      closed = true;
      const read = await reading;
      expect(read).toMatchObject({ status: 200, closedByServer: true, messages: [] });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      if (!closed) await stack.close();
    }
  });

  it('closes a stream resumed past the job’s last event when the job ends (it stayed open for good)', async () => {
    const stack = await startStack({ worker: false });
    try {
      const job = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'driven by hand' })).body;
      const { services } = stack;
      const reading = readSse(`${stack.apiUrl}/v1/jobs/${job.id}/events`, { 'last-event-id': '50' });
      await waitFor(async () => (await services.redis.pubsub('NUMSUB', services.keys.jobEventsChannel(job.id)))[1] === 1, { what: 'stream subscribed' });
      await services.lifecycle.start(job.id);
      await services.lifecycle.fail(job.id, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      const read = await Promise.race([reading, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000))]);
      expect(read).toMatchObject({ status: 200, closedByServer: true, messages: [] });
    } finally {
      await stack.close();
    }
  });

  it('keeps a stream open, and counted, through failed store reads, then writes every event in order', async () => {
    const stack = await startStack({ worker: false, env: { EVENT_STREAMS_PER_TENANT: '1' } });
    try {
      const { services } = stack;
      const job = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'driven by hand' })).body;
      const other = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'another' })).body;
      // The first two reads fail as a Redis command does when it times out on a starved machine.
      const events = services.readStore.events.bind(services.readStore);
      let calls = 0;
      services.readStore.events = async (...args: Parameters<typeof events>) => {
        calls += 1;
        if (calls <= 2) throw new Error('Command timed out');
        return events(...args);
      };
      const reading = readSse(`${stack.apiUrl}/v1/jobs/${job.id}/events`, {});
      await waitFor(() => calls >= 3, { what: 'the third store read' });
      // Still open and counted: the tenant's one stream is taken.
      const refused = await request(`${stack.apiUrl}/v1/jobs/${other.id}/events`, { headers: { authorization: `Bearer ${TENANTS.acme}`, accept: 'text/event-stream' } });
      expect(refused.statusCode).toBe(429);
      await refused.body.dump();
      await services.lifecycle.start(job.id);
      await services.lifecycle.fail(job.id, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      const read = await reading;
      expect(read.closedByServer).toBe(true);
      const seqs = read.messages.map((m) => Number(m.id));
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(read.messages.map((m) => m.event)).toEqual(expect.arrayContaining(['job.started', 'job.failed']));
    } finally {
      await stack.close();
    }
  });

  it('a batch item’s stream resumed past its end closes once another item is known to carry the batch’s end, though the first check failed', async () => {
    const stack = await startStack({ worker: false });
    try {
      const { services } = stack;
      const batch = (await stack.api<{ id: string; items: string[] }>('POST', '/v1/batches', { items: [{ instruction: 'one' }, { instruction: 'two' }] })).body;
      const item = batch.items[0]!;
      await services.lifecycle.start(item);
      await services.lifecycle.fail(item, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      const last = (await stack.api<{ data: JobEvent[] }>('GET', `/v1/jobs/${item}/events`, undefined, { headers: { accept: 'application/json' } })).body.data.at(-1)!;
      // The first look for the batch's end fails as a timed-out Redis command does; the next says another item carries it.
      let checks = 0;
      services.batchReads.endCarrier = async () => {
        checks += 1;
        if (checks === 1) throw new Error('Command timed out');
        return 'other';
      };
      const started = Date.now();
      const read = await Promise.race([
        readSse(`${stack.apiUrl}/v1/jobs/${item}/events`, { 'last-event-id': String(last.seq) }),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
      ]);
      expect(read).toMatchObject({ status: 200, closedByServer: true, messages: [] });
      expect(checks).toBe(2);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await stack.close();
    }
  });

  it('answers 429 past EVENT_STREAMS_PER_TENANT open streams of one tenant, and takes one again once a stream ends', async () => {
    const stack = await startStack({ worker: false, env: { EVENT_STREAMS_PER_TENANT: '2' } });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await stack.api<Job>('POST', '/v1/jobs', { instruction: `queued ${i}` })).body.id);
      const { services } = stack;
      // Answered at once (headers flushed before any event): the stream is open, and counted, when this resolves.
      const open = (id: string) => request(`${stack.apiUrl}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${TENANTS.acme}`, accept: 'text/event-stream' } });
      const first = await open(ids[0]!);
      const second = await open(ids[1]!);
      expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
      const third = await open(ids[2]!);
      expect(third.statusCode).toBe(429);
      expect(third.headers['retry-after']).toBe('5');
      expect(((await third.body.json()) as { code: string }).code).toBe('RATE_LIMITED');
      // JSON reads are not counted.
      expect((await stack.api('GET', `/v1/jobs/${ids[2]}/events`, undefined, { headers: { accept: 'application/json' } })).status).toBe(200);
      // One ends (its job fails): a stream can be opened again.
      await services.lifecycle.fail(ids[0]!, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      expect(await first.body.text()).toContain('event: job.failed');
      const again = await open(ids[2]!);
      expect(again.statusCode).toBe(200);
      for (const id of [ids[1]!, ids[2]!]) await services.lifecycle.fail(id, { code: 'UPSTREAM_ERROR', message: 'x', retryable: true });
      expect(await second.body.text()).toContain('event: job.failed');
      expect(await again.body.text()).toContain('event: job.failed');
    } finally {
      await stack.close();
    }
  });
});

