// The delivery scripts on real Redis: note an event, read a delivery, settle it; the webhook status in the ledger, keys in one slot.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { newJobId } from '../../src/jobs/ids.js';
import { eventSchema, jobRecordSchema, type Job } from '../../src/jobs/schemas.js';
import { JobStore } from '../../src/jobs/store.js';
import { createKeys } from '../../src/redis/keys.js';
import { slotOfTag } from '../../src/redis/shard-ids.js';
import { DeliveryLedger, MAX_ATTEMPT_RECORDS } from '../../src/webhooks/deliveries.js';
import { DeliveryScripts, deliveryEvent, deliveryRecord } from '../../src/webhooks/delivery-scripts.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('dscripts');
const keys = createKeys(prefix);
const store = new JobStore(redis, keys);
const ledger = new DeliveryLedger(redis, keys);
const scripts = new DeliveryScripts(redis, keys);

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const hooked = (overrides: Partial<Job> = {}) =>
  makeJob({ webhook: { url: 'https://hooks.example.com/a?b=1', events: ['job.started', 'job.succeeded'], status: 'none', attempts: 0 }, ...overrides });

/** A stored job with `events` job.started events appended, as the lifecycle would. */
async function storedJob(overrides: Partial<Job> = {}, events = 1): Promise<string> {
  const job = hooked(overrides);
  await store.create('acme', job);
  for (let i = 0; i < events; i++) await store.update(job.id, (r) => ({ ...r, job: { ...r.job, progress: i + 1 } }), { event: 'job.started' });
  return job.id;
}

const attempt = (eventId: string, n = 1) =>
  JSON.stringify({ event_id: eventId, type: 'job.started', attempt: n, status_code: 204, error: null, duration_ms: 3, at: new Date().toISOString() });

const rawRecord = async (id: string) => (await redis.get(keys.job(id)))!;

const WANTS = ['job.started', 'job.succeeded'];
const TERMINAL = ['job.succeeded', 'job.failed', 'job.canceled'];

/** Appends events of the given types to a stored job, as the lifecycle would. */
async function append(id: string, types: ('job.started' | 'job.progress' | 'job.succeeded')[]): Promise<void> {
  for (const type of types) await store.update(id, (r) => ({ ...r, job: { ...r.job, progress: r.job.progress + 1 } }), { event: type });
}

describe('noteEvent', () => {
  it('claims a wanted event once and sets the webhook status to pending in the ledger; the record is not written', async () => {
    const id = await storedJob({ metadata: { webhook: { url: 'decoy', status: 'none', attempts: 7 }, note: 'ü "quoted" \\ text' } });
    const before = await rawRecord(id);
    expect(await scripts.noteEvent(id, 1, WANTS)).toEqual({ stopped: false, seqs: [1] });
    // The record, its version included, is byte for byte what it was: a flow worker's compare-and-set is not disturbed.
    expect(await rawRecord(id)).toBe(before);
    expect(await redis.hmget(keys.jobWebhookPending(id), 'wh_status', 'wh_attempts')).toEqual(['pending', '0']);
    const read = (await store.get(id))!;
    expect(read.job.webhook).toEqual({ ...jobRecordSchema.parse(JSON.parse(before)).job.webhook, status: 'pending' });
    expect(read.job.metadata).toEqual({ webhook: { url: 'decoy', status: 'none', attempts: 7 }, note: 'ü "quoted" \\ text' });
    expect(await ledger.states(id)).toEqual(new Map([[1, 'pending']]));
    // Noted again (its add lost, say): listed again to be queued, but nothing changes; `seen` is the caller's to raise.
    expect(await scripts.noteEvent(id, 1, WANTS)).toEqual({ stopped: false, seqs: [1] });
    expect(await rawRecord(id)).toBe(before);
    expect(await ledger.seen(id)).toBe(0);
  });

  it('looks past the unwanted events since the seen mark and claims every wanted one, lowest first', async () => {
    const id = await storedJob({}, 0);
    await append(id, ['job.started', 'job.progress', 'job.progress', 'job.succeeded']);
    expect(await scripts.noteEvent(id, 4, TERMINAL)).toEqual({ stopped: false, seqs: [4] });
    expect(await ledger.states(id)).toEqual(new Map([[4, 'pending']]));
    // A wanted event never seen (appended by another process, or before a crash) is claimed with the next one.
    const other = await storedJob({}, 0);
    await append(other, ['job.started', 'job.progress', 'job.started']);
    expect((await scripts.noteEvent(other, 3, WANTS)).seqs).toEqual([1, 3]);
    await ledger.markSeen(other, 3);
    await append(other, ['job.progress', 'job.succeeded']);
    expect((await scripts.noteEvent(other, 5, WANTS)).seqs).toEqual([5]);
  });

  it('reads the type of an event stored in another layout', async () => {
    const id = await storedJob({}, 0);
    await redis.rpush(keys.jobEvents(id), JSON.stringify({ type: 'job.started', seq: 1, id: 'evt_odd', at: '2025-01-01T00:00:00.000Z', data: {} }));
    await append(id, ['job.progress']);
    expect((await scripts.noteEvent(id, 2, ['job.started'])).seqs).toEqual([1]);
  });

  it('claims nothing once the job’s deliveries were stopped, and marks the event seen', async () => {
    const id = await storedJob({}, 2);
    await ledger.stop(id, 'receiver answered 410 Gone');
    expect(await scripts.noteEvent(id, 2, WANTS)).toEqual({ stopped: true, seqs: [] });
    expect(await ledger.states(id)).toEqual(new Map());
    expect(await ledger.seen(id)).toBe(2);
  });

  it('leaves a failing or exhausted status alone: a new event does not hide it', async () => {
    // The pair as a record stored before the ledger kept it: read from the record, and left as it is.
    const id = await storedJob({ webhook: { url: 'https://h.example.com/', events: ['job.started'], status: 'failing', attempts: 2 } });
    const before = await rawRecord(id);
    expect((await scripts.noteEvent(id, 1, ['job.started'])).seqs).toEqual([1]);
    expect(await rawRecord(id)).toBe(before);
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'failing', attempts: 2 });
    // Once the ledger has the pair, it is what counts.
    await scripts.settle(id, 1, { attemptJson: attempt('evt_1', 3), maxRecords: 500, action: 'failing', redeliver: false });
    expect((await scripts.noteEvent(id, 1, ['job.started'])).seqs).toEqual([1]);
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'failing', attempts: 3 });
  });
});

describe('sweep', () => {
  it('claims what was never seen and lists every pending event to queue again', async () => {
    const id = await storedJob({}, 0);
    await append(id, ['job.started', 'job.progress', 'job.started', 'job.progress', 'job.succeeded']);
    await scripts.noteEvent(id, 1, WANTS);
    await ledger.markSeen(id, 2);
    await ledger.claim(id, 3);
    await ledger.setState(id, 3, 'delivered');
    expect(await scripts.sweep(id, WANTS)).toEqual({ count: 5, seen: 2, pending: [1, 5] });
    expect(await ledger.states(id)).toEqual(new Map([[1, 'pending'], [3, 'delivered'], [5, 'pending']]));
    await ledger.markSeen(id, 5);
    expect(await scripts.sweep(id, WANTS)).toEqual({ count: 5, seen: 5, pending: [1, 5] });
    await ledger.stop(id, 'gone');
    expect(await scripts.sweep(id, WANTS)).toEqual({ count: 5, seen: 5, pending: [] });
  });
});

describe('read', () => {
  it('answers the record, the event, its state and the secrets in one call', async () => {
    const id = await storedJob();
    await ledger.claim(id, 1);
    await redis.set(keys.tenantWebhookSecrets('acme'), '{"current":"whsec_x"}');
    const read = await scripts.read(id, 1, false, 'acme', keys.tenantWebhookSecrets('acme'));
    expect(read).toMatchObject({ state: 'pending', blockedBy: 0, secrets: '{"current":"whsec_x"}' });
    expect(read.record).toEqual({ tenant: 'acme', trace: null, job: { webhook: { url: 'https://hooks.example.com/a?b=1' } } });
    expect(eventSchema.parse(JSON.parse(read.event!)).seq).toBe(1);
    // Without the secrets key: nothing is read for them.
    expect((await scripts.read(id, 1, false, 'acme', null)).secrets).toBeNull();
  });

  it('answers the record fields without the whole record, and takes them from the whole one past the windows', async () => {
    // A large record (the agent's messages) with a decoy webhook early on: only its head and tail are read.
    const messages = Array.from({ length: 400 }, (_, i) => `message ${i} with "webhook":{"url":"https://decoy.example.com"} in it`);
    const big = await storedJob({ messages, metadata: { webhook: { url: 'decoy' } } });
    await ledger.claim(big, 1);
    expect((await rawRecord(big)).length).toBeGreaterThan(20_000);
    expect((await scripts.read(big, 1, false, null, null)).record).toEqual({
      tenant: 'acme',
      trace: null,
      job: { webhook: { url: 'https://hooks.example.com/a?b=1' } },
    });
    // A URL longer than the tail window, and a head longer than the head window (a long traceparent-like trace).
    const url = `https://hooks.example.com/${'x'.repeat(1500)}`;
    const longUrl = await storedJob({ webhook: { url, events: ['job.started'], status: 'none', attempts: 0 } });
    await ledger.claim(longUrl, 1);
    expect((await scripts.read(longUrl, 1, false, null, null)).record?.job.webhook?.url).toBe(url);
    const trace = `00-${'a'.repeat(300)}-01`;
    const job = hooked();
    await store.create('acme', job, { trace });
    await store.update(job.id, (r) => ({ ...r, job: { ...r.job, progress: 1 } }), { event: 'job.started' });
    await ledger.claim(job.id, 1);
    expect((await scripts.read(job.id, 1, false, null, null)).record).toMatchObject({ tenant: 'acme', trace });
    // A record in another layout (keys in another order) is read whole and parsed.
    const other = newJobId();
    await redis.set(keys.job(other), JSON.stringify({ job: { webhook: { url: 'https://other.example.com/' } }, trace: null, tenant: 'zeta' }));
    await redis.rpush(keys.jobEvents(other), '{}');
    await redis.hset(keys.jobWebhookPending(other), '1', 'pending');
    expect((await scripts.read(other, 1, false, null, null)).record).toEqual({ tenant: 'zeta', trace: null, job: { webhook: { url: 'https://other.example.com/' } } });
  });

  it('stops early for an event that is not pending or is held back by an earlier pending one', async () => {
    const id = await storedJob({}, 3);
    await ledger.claim(id, 1);
    await ledger.claim(id, 3);
    expect(await scripts.read(id, 3, false, null, null)).toEqual({ record: null, event: null, state: 'pending', blockedBy: 1, secrets: null });
    await ledger.setState(id, 1, 'delivered');
    expect((await scripts.read(id, 3, false, null, null)).blockedBy).toBe(0);
    expect(await scripts.read(id, 1, false, null, null)).toEqual({ record: null, event: null, state: 'delivered', blockedBy: 0, secrets: null });
    // A redelivery does not look at the ledger at all.
    const again = await scripts.read(id, 1, true, null, null);
    expect(again.state).toBeNull();
    expect(again.record).not.toBeNull();
    expect(again.event).not.toBeNull();
  });

  it('does not hold an event back behind one of a job that is gone', async () => {
    const id = await storedJob({}, 2);
    await ledger.claim(id, 1);
    await ledger.claim(id, 2);
    await redis.del(keys.job(id));
    expect(await scripts.read(id, 2, false, null, null)).toEqual({ record: null, event: null, state: 'pending', blockedBy: 0, secrets: null });
  });

  it('reads the secrets along only when the tenant shares the job’s slot', async () => {
    const sharded = createKeys(`${prefix}-sh`, 4);
    const shardedScripts = new DeliveryScripts(redis, sharded);
    const tenant = 'acme';
    const own = newJobId(sharded.idShard(tenant));
    const other = newJobId((sharded.shardOfTenant(tenant) + 1) % 4);
    const secretsKey = sharded.tenantWebhookSecrets(tenant);
    await redis.set(secretsKey, 'S');
    for (const id of [own, other]) {
      await redis.set(sharded.job(id), JSON.stringify({ tenant, trace: null, job: { webhook: null } }));
      await redis.rpush(sharded.jobEvents(id), '{}');
      await redis.hset(sharded.jobWebhookPending(id), '1', 'pending');
    }
    expect((await shardedScripts.read(own, 1, false, tenant, secretsKey)).secrets).toBe('S');
    expect((await shardedScripts.read(other, 1, false, tenant, secretsKey)).secrets).toBeNull();
  });
});

describe('settle', () => {
  it('delivered: logs the attempt, marks the ledger, counts the attempt and names the next pending event', async () => {
    const id = await storedJob({}, 3);
    for (const seq of [1, 2, 3]) await ledger.claim(id, seq);
    const result = await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: MAX_ATTEMPT_RECORDS, action: 'delivered', redeliver: false });
    expect(result).toEqual({ next: 2, status: 'pending' });
    expect(await ledger.states(id)).toEqual(new Map([[1, 'delivered'], [2, 'pending'], [3, 'pending']]));
    expect((await ledger.attempts(id)).map((a) => a.event_id)).toEqual(['evt_1']);
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'pending', attempts: 1 });
    await ledger.setState(id, 2, 'exhausted');
    expect(await scripts.settle(id, 3, { attemptJson: attempt('evt_3'), maxRecords: 500, action: 'delivered', redeliver: false })).toEqual({
      next: null,
      status: 'exhausted',
    });
  });

  it('delivered with nothing else pending: the job’s webhook is delivered', async () => {
    const id = await storedJob();
    await ledger.claim(id, 1);
    await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'delivered', redeliver: false });
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('failing and exhausted: status and attempts; a redelivery that runs out leaves the ledger alone', async () => {
    const id = await storedJob({}, 2);
    await ledger.claim(id, 1);
    await ledger.claim(id, 2);
    expect(await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'failing', redeliver: false })).toMatchObject({ next: null, status: 'failing' });
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'failing', attempts: 1 });
    expect(await scripts.settle(id, 1, { attemptJson: attempt('evt_1', 2), maxRecords: 500, action: 'exhausted', redeliver: false })).toEqual({ next: 2, status: 'exhausted' });
    expect((await ledger.states(id)).get(1)).toBe('exhausted');
    await scripts.settle(id, 2, { attemptJson: attempt('evt_2'), maxRecords: 500, action: 'exhausted', redeliver: true });
    expect((await ledger.states(id)).get(2)).toBe('pending');
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'exhausted', attempts: 3 });
  });

  it('stop: every pending event stopped with the reason, later claims refused', async () => {
    const id = await storedJob({}, 3);
    for (const seq of [1, 2]) await ledger.claim(id, seq);
    await ledger.setState(id, 1, 'delivered');
    await scripts.settle(id, 2, { attemptJson: attempt('evt_2'), maxRecords: 500, action: 'stop', redeliver: false, stopReason: 'receiver answered 410 Gone' });
    expect(await ledger.states(id)).toEqual(new Map([[1, 'delivered'], [2, 'stopped']]));
    expect(await ledger.stopReason(id)).toBe('receiver answered 410 Gone');
    expect(await ledger.claim(id, 3)).toBe('stopped');
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'exhausted', attempts: 1 });
  });

  it('keeps at most maxRecords attempts, the newest', async () => {
    const id = await storedJob();
    await ledger.claim(id, 1);
    for (let n = 1; n <= 5; n++) await scripts.settle(id, 1, { attemptJson: attempt('evt_1', n), maxRecords: 3, action: 'failing', redeliver: false });
    expect((await ledger.attempts(id)).map((a) => a.attempt)).toEqual([3, 4, 5]);
  });

  it('does not touch the record, so a writer that read it before keeps its compare-and-set; neither write is lost', async () => {
    const id = await storedJob();
    await ledger.claim(id, 1);
    let calls = 0;
    await store.update(id, (r) => {
      calls += 1;
      // The settle lands between this writer's read and its write.
      if (calls === 1) void scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'delivered', redeliver: false });
      return { ...r, job: { ...r.job, progress: 42 } };
    });
    await scripts.settle(id, 1, { attemptJson: attempt('evt_1', 2), maxRecords: 500, action: 'delivered', redeliver: false });
    const record = (await store.get(id))!;
    expect(calls).toBe(1);
    expect(record.job).toMatchObject({ progress: 42, webhook: { status: 'delivered', attempts: 2 } });
    // A writer that stores the record as it read it (the pair shown from the ledger) does not make it count twice.
    await store.update(id, (r) => ({ ...r, job: { ...r.job, progress: 43 } }));
    await scripts.settle(id, 1, { attemptJson: attempt('evt_1', 3), maxRecords: 500, action: 'delivered', redeliver: false });
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'delivered', attempts: 3 });
    expect((await store.getMany([id]))[0]!.job.webhook).toMatchObject({ status: 'delivered', attempts: 3 });
    expect((await store.list('acme', { limit: 500 })).records.find((r) => r.job.id === id)!.job.webhook).toMatchObject({ attempts: 3 });
    // The worker's own reads see the record as stored.
    expect((await store.get(id, { webhookState: false }))!.job.webhook?.attempts).not.toBe(3);
  });

  it('starts from the pair of a record stored before the ledger kept it, in any layout, and leaves the record untouched', async () => {
    const id = await storedJob({ webhook: { url: 'https://hooks.example.com/x', events: ['job.started'], status: 'failing', attempts: 2 } });
    await ledger.claim(id, 1);
    const parsed = JSON.parse(await rawRecord(id)) as { job: Record<string, unknown> };
    const { webhook, ...rest } = parsed.job;
    // Keys in another order: the text pattern does not match, the record is decoded.
    const odd = JSON.stringify({ ...parsed, job: { ...rest, extra: 1, webhook } });
    await redis.set(keys.job(id), odd);
    const result = await scripts.settle(id, 1, { attemptJson: attempt('evt_1', 3), maxRecords: 500, action: 'delivered', redeliver: false });
    expect(result).toEqual({ next: null, status: 'delivered' });
    expect(await rawRecord(id)).toBe(odd);
    expect((await ledger.states(id)).get(1)).toBe('delivered');
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'delivered', attempts: 3 });
  });

  it('sets a status outside an attempt (a redelivery request), only from the statuses it is given', async () => {
    const id = await storedJob();
    expect(await scripts.setWebhookStatus(id, 'pending', 0, ['failing'])).toBe(false);
    expect(await scripts.setWebhookStatus(id, 'pending')).toBe(true);
    expect((await store.get(id))!.job.webhook).toMatchObject({ status: 'pending', attempts: 0 });
    const none = await storedJob({ webhook: null });
    expect(await scripts.setWebhookStatus(none, 'pending')).toBe(false);
    expect(await scripts.setWebhookStatus(newJobId(), 'pending')).toBe(false);
  });

  it('finds the job’s own webhook in a large record (near the end) and behind a URL longer than that window', async () => {
    // A decoy early in a record of tens of KB, as the agent's messages make it; then a URL that pushes the job's own
    // webhook out of the window looked at first, so the whole record is scanned.
    const bulky = { metadata: { webhook: { url: 'decoy', status: 'none', attempts: 7 } }, messages: Array.from({ length: 300 }, (_, i) => `step ${i}: "quoted" text`) };
    const longUrl = `https://hooks.example.com/${'a'.repeat(1500)}`;
    for (const overrides of [bulky, { ...bulky, webhook: { url: longUrl, events: ['job.started' as const], status: 'none' as const, attempts: 0 } }]) {
      const id = await storedJob(overrides);
      expect((await rawRecord(id)).length).toBeGreaterThan(8_000);
      await ledger.claim(id, 1);
      const result = await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'delivered', redeliver: false });
      expect(result).toEqual({ next: null, status: 'delivered' });
      const record = (await store.get(id))!;
      expect(record.job.webhook).toMatchObject({ status: 'delivered', attempts: 1 });
      expect(record.job.metadata).toEqual(bulky.metadata);
      expect(record.job.messages).toEqual(bulky.messages);
    }
  });

  it('writes nothing back for a job erased while the attempt was out: no log or ledger outlives it', async () => {
    const id = await storedJob();
    await ledger.claim(id, 1);
    // What erasing does to these keys (retention or DELETE), while an attempt is in flight.
    await redis.del(keys.job(id), keys.jobWebhookPending(id), keys.jobDeliveries(id));
    for (const action of ['failing', 'delivered', 'exhausted', 'stop'] as const) {
      const result = await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action, redeliver: false, stopReason: 'x' });
      expect(result).toEqual({ next: null, status: 'erased' });
    }
    expect(await redis.exists(keys.job(id), keys.jobWebhookPending(id), keys.jobDeliveries(id))).toBe(0);
  });

  it('gives the log and the ledger the record’s expiry once the job has ended (they mostly appear after the end)', async () => {
    const id = await storedJob({}, 2);
    for (const seq of [1, 2]) await ledger.claim(id, seq);
    await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'delivered', redeliver: false });
    // Not ended: nothing expires yet.
    expect(await redis.pttl(keys.jobDeliveries(id))).toBe(-1);
    expect(await redis.pttl(keys.jobWebhookPending(id))).toBe(-1);
    await store.update(id, (r) => ({ ...r, job: { ...r.job, status: 'succeeded' } }), { event: 'job.succeeded', retentionMs: () => 3_600_000 });
    const expiresAt = await redis.call('PEXPIRETIME', keys.job(id));
    expect(Number(expiresAt)).toBeGreaterThan(Date.now());
    await scripts.settle(id, 2, { attemptJson: attempt('evt_2'), maxRecords: 500, action: 'failing', redeliver: false });
    expect(await redis.call('PEXPIRETIME', keys.jobDeliveries(id))).toBe(expiresAt);
    expect(await redis.call('PEXPIRETIME', keys.jobWebhookPending(id))).toBe(expiresAt);
  });

  it('does nothing to a job without a webhook', async () => {
    const id = await storedJob({ webhook: null });
    const before = await rawRecord(id);
    expect((await scripts.settle(id, 1, { attemptJson: attempt('evt_1'), maxRecords: 500, action: 'delivered', redeliver: false })).status).toBe('delivered');
    expect(await rawRecord(id)).toBe(before);
    expect(await redis.hget(keys.jobWebhookPending(id), 'wh_status')).toBeNull();
  });
});

describe('reads and settles of one turn, batched into one script call per shard', () => {
  /** Runs `calls` all at once (one turn: batched) on one set of jobs and one at a time on a twin set; both must agree. */
  async function twins(setup: () => Promise<string>, count: number): Promise<[string[], string[]]> {
    const a: string[] = [];
    const b: string[] = [];
    for (let i = 0; i < count; i++) {
      a.push(await setup());
      b.push(await setup());
    }
    return [a, b];
  }
  /** Script calls this test's connection makes (not Redis' own counters: other test files share that Redis). */
  const scriptCalls = vi.spyOn(redis, 'evalsha');
  const evalshaCalls = async () => scriptCalls.mock.calls.length;

  it('answers each read as a read on its own would: pending, held back, not pending, secrets, another layout', async () => {
    const setup = async () => {
      const id = await storedJob({}, 3);
      await ledger.claim(id, 1);
      await ledger.claim(id, 2);
      await ledger.setState(id, 2, 'delivered');
      await ledger.claim(id, 3);
      return id;
    };
    const [batched, alone] = await twins(setup, 3);
    // One job in another record layout (read whole on the Node side), and a tenant's secrets for some reads.
    for (const id of [batched[2]!, alone[2]!]) {
      const parsed = JSON.parse(await rawRecord(id)) as { job: Record<string, unknown> };
      const { webhook, ...rest } = parsed.job;
      await redis.set(keys.job(id), JSON.stringify({ ...parsed, job: { webhook, ...rest } }));
    }
    await redis.set(keys.tenantWebhookSecrets('acme'), '{"current":"whsec_y"}');
    const secrets = keys.tenantWebhookSecrets('acme');
    const asks = (ids: string[]) => [
      [ids[0]!, 1, false, 'acme', secrets],
      [ids[0]!, 3, false, 'acme', secrets],
      [ids[1]!, 2, false, null, null],
      [ids[1]!, 2, true, 'acme', secrets],
      [ids[2]!, 1, false, 'acme', null],
      [newJobId(), 1, false, null, null],
    ] as const;
    const before = await evalshaCalls();
    const together = await Promise.all(asks(batched).map(([id, seq, re, t, k]) => scripts.read(id, seq, re, t, k)));
    expect((await evalshaCalls()) - before).toBe(1);
    const oneByOne = [];
    for (const [id, seq, re, t, k] of asks(alone)) oneByOne.push(await scripts.read(id, seq, re, t, k));
    const same = (reads: typeof together) => reads.map((r) => ({ ...r, event: r.event === null ? null : { ...eventSchema.parse(JSON.parse(r.event)), id: 'x', at: 'x', data: null } }));
    expect(same(together)).toEqual(same(oneByOne));
    expect(together[0]).toMatchObject({ state: 'pending', blockedBy: 0, secrets: '{"current":"whsec_y"}' });
    expect(together[1]).toMatchObject({ state: 'pending', blockedBy: 1, record: null });
    expect(together[4]!.record).toEqual({ tenant: 'acme', trace: null, job: { webhook: { url: 'https://hooks.example.com/a?b=1' } } });
  });

  it('a read that fails in a batch fails alone: the others are answered', async () => {
    const good = await storedJob();
    await ledger.claim(good, 1);
    const bad = await storedJob();
    await redis.del(keys.jobEvents(bad));
    await redis.set(keys.jobEvents(bad), 'not a list');
    await ledger.claim(bad, 1);
    const [a, b] = await Promise.allSettled([scripts.read(good, 1, false, null, null), scripts.read(bad, 1, false, null, null)]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
  });

  it('settles each attempt as a settle on its own would', async () => {
    const setup = async () => {
      const id = await storedJob({}, 2);
      await ledger.claim(id, 1);
      await ledger.claim(id, 2);
      return id;
    };
    const [batched, alone] = await twins(setup, 4);
    const actions = ['delivered', 'failing', 'exhausted', 'stop'] as const;
    const input = (i: number) => ({ attemptJson: attempt(`evt_${i}`), maxRecords: 500, action: actions[i]!, redeliver: false, stopReason: 'gone' });
    const before = await evalshaCalls();
    const together = await Promise.all(batched.map((id, i) => scripts.settle(id, 1, input(i))));
    expect((await evalshaCalls()) - before).toBe(1);
    const oneByOne = [];
    for (const [i, id] of alone.entries()) oneByOne.push(await scripts.settle(id, 1, input(i)));
    expect(together).toEqual(oneByOne);
    expect(together.map((r) => r.status)).toEqual(['pending', 'failing', 'exhausted', 'exhausted']);
    for (let i = 0; i < 4; i++) {
      expect(await ledger.states(batched[i]!)).toEqual(await ledger.states(alone[i]!));
      expect((await store.get(batched[i]!))!.job.webhook).toEqual((await store.get(alone[i]!))!.job.webhook);
      expect((await ledger.attempts(batched[i]!)).length).toBe(1);
    }
  });
});

describe('deliveryEvent', () => {
  it('builds exactly the body JSON.stringify of the parsed event gives, without decoding the data', async () => {
    const id = await storedJob({ metadata: { note: 'ü "q" \\ \u2028', n: 1.5e-7, nested: { a: [1, { b: null }] } } });
    const raw = (await redis.lindex(keys.jobEvents(id), 0))!;
    const parsed = eventSchema.parse(JSON.parse(raw));
    expect(deliveryEvent(raw)).toEqual({
      id: parsed.id,
      type: 'job.started',
      at: parsed.at,
      body: JSON.stringify({ type: parsed.type, timestamp: parsed.at, data: parsed.data }),
    });
  });

  it('parses an event in another shape in full, and refuses a malformed one', () => {
    const job = hooked();
    const other = JSON.stringify({ seq: 1, id: 'evt_1', type: 'job.started', at: '2025-01-01T00:00:00.000Z', data: job });
    expect(deliveryEvent(other)).toEqual({ id: 'evt_1', type: 'job.started', at: '2025-01-01T00:00:00.000Z', body: JSON.stringify({ type: 'job.started', timestamp: '2025-01-01T00:00:00.000Z', data: job }) });
    expect(() => deliveryEvent('{"id":"evt_1","seq":1,"type":"job.nonsense","at":"2025-01-01T00:00:00.000Z","data":{}}')).toThrow();
  });
});

describe('deliveryRecord', () => {
  it('cuts tenant, trace and the job’s own webhook URL out of a stored record, a decoy in the metadata notwithstanding', async () => {
    const id = await storedJob({ metadata: { webhook: { url: 'https://decoy.example.com/' }, '"webhook":': 'x' } });
    await store.update(id, (r) => ({ ...r, trace: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }));
    const raw = await rawRecord(id);
    const full = jobRecordSchema.parse(JSON.parse(raw));
    expect(deliveryRecord(raw)).toEqual({ tenant: 'acme', trace: full.trace, job: { webhook: { url: 'https://hooks.example.com/a?b=1' } } });
    const none = await storedJob({ webhook: null });
    expect(deliveryRecord(await rawRecord(none))).toEqual({ tenant: 'acme', trace: null, job: { webhook: null } });
  });

  it('parses a record in another layout in full, and refuses one without a tenant', () => {
    const odd = JSON.stringify({ tenant: 'acme', v: 1, job: { webhook: { url: 'https://h.example.com/', status: 'none' } } });
    expect(deliveryRecord(odd)).toEqual({ tenant: 'acme', trace: null, job: { webhook: { url: 'https://h.example.com/' } } });
    expect(() => deliveryRecord('{"v":1,"job":{"webhook":null}}')).toThrow();
  });
});

describe('keys', () => {
  it('every key one script call touches is in the job’s slot, with shards', () => {
    const sharded = createKeys('{nr}', 4);
    const slot = (key: string) => slotOfTag(/\{([^}]+)\}/.exec(key)![1]!);
    for (const tenant of ['acme', 'globex', 'initech']) {
      const id = newJobId(sharded.idShard(tenant));
      const touched = [sharded.job(id), sharded.jobEvents(id), sharded.jobWebhookPending(id), sharded.jobDeliveries(id), sharded.tenantWebhookSecrets(tenant)];
      expect(new Set(touched.map(slot)).size).toBe(1);
    }
  });
});
