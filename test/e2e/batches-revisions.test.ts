// Batches (one upload, one session, items one by one, each its own render) and revisions that take turns on a session.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { enqueueFlow, promoteIfDelayed } from '../../src/flow/queue.js';
import type { Batch, Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { readSse, type SseRead } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';

describe('batches and revisions', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    stack = await startStack();
    receiver = await startWebhookReceiver([(await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret]);
  });
  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });
  beforeEach(() => {
    stack.sim.log.clear();
    receiver.deliveries.length = 0;
  });

  /** Polls the batch until it has `status`. */
  const batchEnded = (id: string, status: Batch['status'], timeoutMs = 45_000) =>
    waitFor(
      async () => {
        const b = (await stack.api<Batch>('GET', `/v1/batches/${id}`)).body;
        return b.status === status ? b : null;
      },
      { what: `the batch to end ${status}`, timeoutMs },
    );
  /** The first `count` webhooks that are not job.started or job.progress. */
  const terminalWebhooks = (count: number) =>
    waitFor(
      () => {
        const terminal = receiver.deliveries.filter((d) => d.payload.type !== 'job.started' && d.payload.type !== 'job.progress');
        return terminal.length >= count ? terminal : null;
      },
      { what: `${count} terminal webhooks`, timeoutMs: 20_000 },
    );

  it('a batch of 3: one session, one upload, three messages and three renders; three job.succeeded then one batch.succeeded', async () => {
    const res = await stack.api<Batch>('POST', '/v1/batches', {
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.jpg' }],
      items: [
        { instruction: 'a 10 second teaser from these photos', output: { aspect_ratio: '16:9' } },
        { instruction: 'now make it square', output: { aspect_ratio: '1:1' } },
        { instruction: 'now vertical for stories', output: { aspect_ratio: '9:16' }, metadata: { channel: 'stories' } },
      ],
      webhook: { url: receiver.url },
    }, { headers: { 'idempotency-key': `batch-${stack.prefix}` } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.items).toHaveLength(3);
    const done = await batchEnded(res.body.id, 'succeeded');
    expect(done.counts).toMatchObject({ succeeded: 3, failed: 0 });
    expect(done.finished_at).not.toBeNull();
    const log = stack.sim.log.entries();
    expect(log.filter((e) => e.endpoint === 'create_session')).toHaveLength(1);
    expect(log.filter((e) => e.endpoint === 'upload')).toHaveLength(1);
    expect(log.filter((e) => e.endpoint === 'run_sse' && e.status === 200)).toHaveLength(3);
    expect(log.filter((e) => e.endpoint === 'render_submit' && e.status === 200)).toHaveLength(3);
    const jobs = await Promise.all(done.items.map(async (id) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body));
    expect(new Set(jobs.map((j) => j.upstream.session_id)).size).toBe(1);
    expect(jobs.every((j) => j.batch_id === done.id && j.status === 'succeeded')).toBe(true);
    expect(jobs.map((j) => j.result?.checks.find((c) => c.name === 'aspect_ratio')?.ok)).toEqual([true, true, true]);
    expect(jobs[2]!.metadata).toEqual({ channel: 'stories' });
    // Each item started from the draft the one before it left, and ran after it ended.
    expect(Date.parse(jobs[1]!.started_at!)).toBeLessThanOrEqual(Date.parse(jobs[1]!.finished_at!));
    const runs = log.filter((e) => e.endpoint === 'run_sse' && e.status === 200);
    expect(runs.map((r) => r.message?.split('\n')[0])).toEqual(['a 10 second teaser from these photos', 'now make it square', 'now vertical for stories']);
    // Webhooks: three job.succeeded, then batch.succeeded last, all verified.
    const delivered = await terminalWebhooks(4);
    expect(delivered.map((d) => d.payload.type)).toEqual(['job.succeeded', 'job.succeeded', 'job.succeeded', 'batch.succeeded']);
    expect(delivered.map((d) => d.payload.data.id)).toEqual([...done.items, done.id]);
    expect(delivered.every((d) => d.verified)).toBe(true);
    // The batch's webhook says what GET says, to the field and to the millisecond: it ended when its last item did.
    const batchEvent = delivered[3]!.payload.data as unknown as Batch;
    const lastItemEnd = jobs.map((j) => j.finished_at!).sort().at(-1);
    expect(done.finished_at).toBe(lastItemEnd);
    expect(batchEvent).toEqual((await stack.api<Batch>('GET', `/v1/batches/${done.id}`)).body);
    // A revision of an item continues its session but is not one of the batch's items: parent_id names the item.
    const revision = (await stack.api<Job>('POST', `/v1/jobs/${done.items[0]}/revisions`, { instruction: 'warmer colours' })).body;
    expect(revision).toMatchObject({ parent_id: done.items[0], batch_id: null });
    expect((await waitForFinished(stack, revision.id)).status).toBe('succeeded');
    expect((await stack.api<Batch>('GET', `/v1/batches/${done.id}`)).body.counts.succeeded).toBe(3);
    // The same Idempotency-Key replays the batch instead of creating another.
    const replay = await stack.api<Batch>('POST', '/v1/batches', {
      sources: [{ url: 'https://example.com/a.jpg' }, { url: 'https://example.com/b.jpg' }],
      items: [
        { instruction: 'a 10 second teaser from these photos', output: { aspect_ratio: '16:9' } },
        { instruction: 'now make it square', output: { aspect_ratio: '1:1' } },
        { instruction: 'now vertical for stories', output: { aspect_ratio: '9:16' }, metadata: { channel: 'stories' } },
      ],
      webhook: { url: receiver.url },
    }, { headers: { 'idempotency-key': `batch-${stack.prefix}` } });
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.id).toBe(done.id);
    const list = await stack.api<{ data: Batch[] }>('GET', '/v1/batches');
    expect(list.body.data.map((b) => b.id)).toContain(done.id);
    // Another tenant sees nothing of it.
    expect((await stack.api('GET', `/v1/batches/${done.id}`, undefined, { key: TENANTS.globex })).status).toBe(404);
    // An item erased after the batch ended (DELETE, its own retention) does not change how the batch ended.
    expect((await stack.api('DELETE', `/v1/jobs/${done.items[1]}`)).status).toBe(204);
    const after = (await stack.api<Batch>('GET', `/v1/batches/${done.id}`)).body;
    expect(after).toMatchObject({ status: 'succeeded', counts: { succeeded: 3, canceled: 0 }, finished_at: done.finished_at });
  });

  it('event streams: the item that ends the batch closes after batch.succeeded, live and replayed; an earlier item closes at its own end', async () => {
    const res = await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'a promo' }, { instruction: 'now shorter' }] });
    expect(res.status).toBe(202);
    const [first, last] = res.body.items as [string, string];
    const url = (id: string) => `${stack.apiUrl}/v1/jobs/${id}/events`;
    const types = (r: SseRead) => r.messages.map((m) => m.event);
    // Followed live from the start: both streams must end by themselves (a hung stream fails the test by its timeout).
    const [liveFirst, liveLast] = await Promise.all([readSse(url(first), {}), readSse(url(last), {})]);
    expect(liveFirst.closedByServer).toBe(true);
    expect(types(liveFirst).at(-1)).toBe('job.succeeded');
    expect(liveLast.closedByServer).toBe(true);
    expect(types(liveLast).slice(-2)).toEqual(['job.succeeded', 'batch.succeeded']);
    // Replayed from the start, and resumed right after the item's own end.
    const replay = await readSse(url(last), {});
    expect(types(replay)).toEqual(types(liveLast));
    const endSeq = replay.messages.find((m) => m.event === 'job.succeeded')!.id!;
    const resumed = await readSse(url(last), { 'last-event-id': endSeq });
    expect(types(resumed)).toEqual(['batch.succeeded']);
    expect(JSON.parse(resumed.messages[0]!.data).data.id).toBe(res.body.id);
    const replayFirst = await readSse(url(first), {});
    expect(types(replayFirst)).toEqual(types(liveFirst));
  });

  it('canceling a batch cancels its unfinished items and ends it with batch.failed (status canceled)', async () => {
    stack.sim.setScenario({ generateMs: 2_000_000 });
    try {
      const res = await stack.api<Batch>('POST', '/v1/batches', {
        items: [{ instruction: 'a promo' }, { instruction: 'shorter' }],
        webhook: { url: receiver.url },
      });
      expect(res.status).toBe(202);
      await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${res.body.items[0]}`)).body.stage === 'generate', { what: 'item 1 to generate' });
      const canceled = await stack.api<Batch>('POST', `/v1/batches/${res.body.id}/cancel`);
      expect(canceled.status).toBe(200);
      const ended = await batchEnded(res.body.id, 'canceled');
      expect(ended.counts.canceled).toBe(2);
      const last = await waitFor(() => receiver.deliveries.find((d) => d.payload.type === 'batch.failed'), { what: 'batch.failed' });
      expect(last.payload.data.status).toBe('canceled');
      expect((await stack.api('POST', `/v1/batches/${res.body.id}/cancel`)).status).toBe(409);
    } finally {
      stack.sim.setScenario({ generateMs: 0 });
    }
  });

  it('an item erased after it succeeded, before the batch ended, counts as succeeded: the batch ends succeeded, not canceled', async () => {
    // The second item's message is an edit on the shared session: slowed (4 s at the stack's time scale), the first
    // item is erased while the batch still runs.
    stack.sim.setScenario({ editMs: 4_000_000 });
    try {
      const res = await stack.api<Batch>('POST', '/v1/batches', {
        items: [{ instruction: 'a 10 second teaser' }, { instruction: 'now make it square', output: { aspect_ratio: '1:1' } }],
        webhook: { url: receiver.url },
      });
      expect(res.status).toBe(202);
      const [first, second] = res.body.items as [string, string];
      await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${first}`)).body.status === 'succeeded', { what: 'item 1 to succeed', intervalMs: 20 });
      expect((await stack.api('DELETE', `/v1/jobs/${first}`)).status).toBe(204);
      expect((await stack.api<Job>('GET', `/v1/jobs/${second}`)).body.status).toBe('running');
      const during = (await stack.api<Batch>('GET', `/v1/batches/${res.body.id}`)).body;
      expect(during).toMatchObject({ status: 'running', counts: { succeeded: 1, running: 1, canceled: 0 } });
      const done = await batchEnded(res.body.id, 'succeeded');
      expect(done.counts).toMatchObject({ succeeded: 2, canceled: 0 });
      const end = await waitFor(() => receiver.deliveries.find((d) => d.payload.type.startsWith('batch.') && d.payload.data.id === res.body.id), { what: 'the batch webhook' });
      expect(end.payload.type).toBe('batch.succeeded');
    } finally {
      stack.sim.setScenario({ editMs: 150_000 });
    }
  });

  it('sources refused upstream fail the batch’s later items with that answer: one session, one upload, nothing sent for them', async () => {
    // Refused once: the same file would be refused again, so the later items must not upload it each in a session of its own.
    stack.sim.injectFault({ kind: 'unsupported_file', endpoint: 'upload' });
    const res = await stack.api<Batch>('POST', '/v1/batches', {
      sources: [{ url: 'https://example.com/a.jpg' }],
      items: [{ instruction: 'a 15-second product teaser with music' }, { instruction: 'add a title "Sale" for 3 seconds' }, { instruction: 'remove the music' }],
      webhook: { url: receiver.url },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await batchEnded(res.body.id, 'failed', 30_000);
    expect(done.counts).toMatchObject({ succeeded: 0, failed: 3 });
    const jobs = await Promise.all(done.items.map(async (id) => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body));
    expect(jobs.map((j) => j.error?.code)).toEqual(['UNSUPPORTED_MEDIA', 'UNSUPPORTED_MEDIA', 'UNSUPPORTED_MEDIA']);
    for (const later of jobs.slice(1)) {
      expect(later.error?.message).toContain(`refused when ${done.items[0]} uploaded them`);
      expect(later.upstream.session_id).toBeNull();
    }
    const log = stack.sim.log.entries();
    expect(log.filter((e) => e.endpoint === 'create_session')).toHaveLength(1);
    expect(log.filter((e) => e.endpoint === 'upload')).toHaveLength(1);
    expect(log.filter((e) => e.endpoint === 'run_sse')).toHaveLength(0);
    const terminal = await terminalWebhooks(4);
    expect(terminal.map((d) => d.payload.type)).toEqual(['job.failed', 'job.failed', 'job.failed', 'batch.failed']);
  });

  it('a revision of a batch item that succeeded runs on its session though a later item found the sources refused', async () => {
    const res = await stack.api<Batch>('POST', '/v1/batches', { sources: [{ url: 'https://example.com/a.jpg' }], items: [{ instruction: 'a 10 second teaser' }] });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const done = await batchEnded(res.body.id, 'succeeded');
    const item = (await stack.api<Job>('GET', `/v1/jobs/${done.items[0]}`)).body;
    // As a later item leaves it whose new session's upload was refused (after the item's session was lost upstream).
    const group = (await stack.services.readStore.get(item.id))!.group!;
    const sources_failed = { job_id: 'job_later', code: 'UPSTREAM_REJECTED' as const, message: 'source url answered 404' };
    await stack.services.groups.publish(group, { task_id: 'task_other', session_id: 'ses_other', uploads: [], sources_failed });
    const revision = (await stack.api<Job>('POST', `/v1/jobs/${item.id}/revisions`, { instruction: 'warmer colours' })).body;
    const revised = await waitForFinished(stack, revision.id, 30_000);
    expect(revised.status, JSON.stringify(revised.error)).toBe('succeeded');
    expect(revised.upstream.session_id).toBe(item.upstream.session_id);
    // The batch's answer stays for its items.
    expect((await stack.services.groups.session(group))?.sources_failed).toEqual(sources_failed);
  });

  it('two revisions posted at once on one parent take turns: never two agent streams open on that session', async () => {
    const parent = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 10 second promo', output: { aspect_ratio: '16:9' } });
    const done = await waitForFinished(stack, parent.body.id);
    expect(done.status).toBe('succeeded');
    const [a, b] = await Promise.all([
      stack.api<Job>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'add lo-fi background music at 35%' }),
      stack.api<Job>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'title "Urban Dreams" for the first 3 seconds' }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const [ra, rb] = await Promise.all([waitForFinished(stack, a.body.id), waitForFinished(stack, b.body.id)]);
    expect([ra.status, rb.status]).toEqual(['succeeded', 'succeeded']);
    const session = stack.sim.session(done.upstream.session_id!)!;
    expect(session.maxConcurrentRuns).toBe(1);
    expect(session.runs).toHaveLength(3);
    // They ran one after the other, each its own render, in the parent's session.
    expect(ra.upstream.session_id).toBe(done.upstream.session_id);
    expect(rb.upstream.session_id).toBe(done.upstream.session_id);
    for (let i = 1; i < session.runs.length; i++) {
      expect(session.runs[i]!.openedAt).toBeGreaterThanOrEqual(session.runs[i - 1]!.closedAt!);
    }
    // The second in line sent its message only after the first had ended (its render included).
    const first = Date.parse(ra.finished_at!) < Date.parse(rb.finished_at!) ? ra : rb;
    expect(session.runs[2]!.openedAt).toBeGreaterThanOrEqual(Date.parse(first.finished_at!));
    expect(stack.sim.log.entries().filter((e) => e.endpoint === 'render_submit' && e.status === 200)).toHaveLength(3);
  });

  it('an item waiting for its turn on the batch’s session says so (job.waiting session_turn), and no longer once it runs', async () => {
    // The first item's generation is slowed (3 s at the stack's time scale), so the second one waits in plain sight.
    stack.sim.setScenario({ generateMs: 3_000_000 });
    try {
      const res = await stack.api<Batch>('POST', '/v1/batches', {
        items: [{ instruction: 'a slow 10 second teaser' }, { instruction: 'now make it square', output: { aspect_ratio: '1:1' } }],
      });
      expect(res.status).toBe(202);
      const second = res.body.items[1]!;
      // It was null all along: the machine cleared the notice the session step had just written.
      const waiting = await waitFor(
        async () => {
          const job = (await stack.api<Job>('GET', `/v1/jobs/${second}`)).body;
          return job.waiting?.reason === 'session_turn' ? job : null;
        },
        { what: 'the second item to show its wait', timeoutMs: 10_000, intervalMs: 50 },
      );
      expect(waiting).toMatchObject({ status: 'running', stage: 'session' });
      stack.sim.setScenario({ generateMs: 150_000 });
      const done = await waitForFinished(stack, second);
      expect(done.status).toBe('succeeded');
      expect(done.waiting).toBeNull();
    } finally {
      stack.sim.setScenario({ generateMs: 150_000 });
    }
  });

  it('a job found ended when it runs again hands its group’s session on: a worker killed between the end and the hand-over held the group up for good', async () => {
    const parent = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 10 second promo' });
    const done = await waitForFinished(stack, parent.body.id);
    expect(done.status).toBe('succeeded');
    const first = await waitForFinished(stack, (await stack.api<Job>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'warmer colours' })).body.id);
    expect(first.status).toBe('succeeded');
    const { services } = stack;
    // As if the first revision's run had died after writing its end and before leaving the group's queue.
    await services.blocking.lpush(services.keys.sessionGroupQueue(done.id), first.id);
    const rev = await stack.api<Job>('POST', `/v1/jobs/${done.id}/revisions`, { instruction: 'add lo-fi background music at 35%' });
    expect(rev.status).toBe(202);
    await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${rev.body.id}`)).body.waiting?.reason === 'session_turn', { what: 'the revision to wait' });
    // BullMQ hands the dead run's job to a worker again (stalled): it finds the job ended.
    await enqueueFlow(services.flowQueues, first.id);
    const revised = await waitForFinished(stack, rev.body.id, 15_000);
    expect(revised.status).toBe('succeeded');
    expect(revised.upstream.session_id).toBe(done.upstream.session_id);
  });

  it('a revision whose create dies before its record is written leaves no place in the session’s queue (the next one runs)', async () => {
    const parent = await waitForFinished(stack, (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a 10 second promo' })).body.id);
    expect(parent.status).toBe('succeeded');
    const { services } = stack;
    // The process dies between the two writes: here the record's write fails instead.
    const createNew = services.store.createNew.bind(services.store);
    services.store.createNew = async () => {
      throw new Error('killed before the record was written');
    };
    try {
      await expect(services.jobs.revise('acme', parent.id, { instruction: 'never stored' })).rejects.toThrow('killed');
    } finally {
      services.store.createNew = createNew;
    }
    // Joined first, its id sat at the head of the queue for good, and every later revision waited behind it.
    expect(await services.blocking.lrange(services.keys.sessionGroupQueue(parent.id), 0, -1)).toEqual([]);
    const next = await waitForFinished(stack, (await stack.api<Job>('POST', `/v1/jobs/${parent.id}/revisions`, { instruction: 'warmer colours' })).body.id, 15_000);
    expect(next.status).toBe('succeeded');
  });

  it('an item of a batch whose creating request died never runs: it waits while the request may be at work, then is canceled', async () => {
    const { services } = stack;
    const save = services.batchReads.save.bind(services.batchReads);
    // The request dies before it records the batch complete (its items reach the queue anyway, as the queued-job
    // sweeper or admission would start them); a retry of that request creates the whole batch again.
    services.batchReads.save = async (record) => (record.complete ? undefined : save(record));
    let batch: Batch;
    try {
      batch = (await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'a teaser' }, { instruction: 'now square' }] })).body;
    } finally {
      services.batchReads.save = save;
    }
    const sessions = stack.sim.log.count('create_session');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const id of batch.items) expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('queued');
    // Long after: the request that created it is known to have died.
    const raw = JSON.parse((await services.blocking.get(services.keys.batch(batch.id)))!) as { created_at: string };
    raw.created_at = new Date(Date.now() - 10 * 60_000).toISOString();
    await services.blocking.set(services.keys.batch(batch.id), JSON.stringify(raw));
    for (const id of batch.items) await promoteIfDelayed(services.flowQueues, id);
    for (const id of batch.items) {
      const item = await waitForFinished(stack, id, 15_000);
      expect(item.status).toBe('canceled');
      expect(item.error?.message).toMatch(/never fully created/);
    }
    // Nothing of it reached the upstream.
    expect(stack.sim.log.count('create_session')).toBe(sessions);
  });
});

