// The create script on real Redis: one write of key entry, record, flow and indexes; its offer to admission as Admission.add's.
import { afterAll, describe, expect, it } from 'vitest';
import { Admission, type TenantLimits } from '../../src/flow/admission.js';
import { writeNewJob, type CreateAdmission, type NewJobWrite } from '../../src/jobs/create-script.js';
import { doneEntry } from '../../src/jobs/idempotency.js';
import type { JobRecord } from '../../src/jobs/schemas.js';
import { JobStore } from '../../src/jobs/store.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';
import { makeJob } from '../helpers/jobs.js';
import { cleanupPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const redis = testRedis();
const prefixes: string[] = [];
const MAX_PER_ACCOUNT = 3;
const LIMITS: TenantLimits = { maxConcurrent: 0, weight: 2, account: 'acct-a' };

function keysOf(label: string, shards = 1): Keys {
  const prefix = uniquePrefix(label);
  prefixes.push(prefix);
  return createKeys(prefix, shards);
}

afterAll(async () => {
  for (const prefix of prefixes) await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const admissionOf = (keys: Keys, tenant: string, limits: TenantLimits = LIMITS): CreateAdmission => ({
  base: keys.admission(keys.shardOfTenant(tenant)),
  ...limits,
  maxPerAccount: MAX_PER_ACCOUNT,
});

function newRecord(keys: Keys, tenant: string, idem: string | null = null): JobRecord {
  const store = new JobStore(redis, keys);
  return { v: 1, tenant, cancel_requested: false, trace: null, group: null, idem, job: makeJob({ id: store.newId(tenant) }) };
}

/** Every key of one shard's scheduler, as plain values (so two schedulers can be compared). */
async function schedulerState(keys: Keys, tenant: string, account: string) {
  const base = keys.admission(keys.shardOfTenant(tenant));
  return {
    running: (await redis.smembers(`${base}running:${tenant}`)).sort(),
    account: (await redis.smembers(`${base}account:${account}`)).sort(),
    jobAccount: await redis.hgetall(`${base}job-account`),
    passes: await redis.hgetall(`${base}passes`),
    limits: await redis.hgetall(`${base}limits`),
    tenants: await redis.zrange(`${base}tenants`, 0, -1, 'WITHSCORES'),
    pending: await redis.zrange(`${base}pending:${tenant}`, 0, -1),
    vtime: await redis.get(`${base}vtime`),
  };
}

describe('writeNewJob (the create script)', () => {
  it('writes record, flow checkpoint, tenant indexes and the done entry of the key in one step', async () => {
    const keys = keysOf('create');
    const idemKey = keys.idempotency('acme', 'h1');
    const record = newRecord(keys, 'acme', idemKey);
    const entry = doneEntry('fp-1', record.job.id);
    const out = await writeNewJob(redis, keys, { record, flowJson: '{"step":"start"}', claim: { redisKey: idemKey, entryJson: entry, ttlMs: 60_000 } });
    expect(out).toEqual({ kind: 'created', admitted: false, started: [], jobJson: JSON.stringify(record.job) });
    const stored = await new JobStore(redis, keys).get(record.job.id);
    expect(stored).toEqual(record);
    expect(await redis.get(keys.jobFlow(record.job.id))).toBe('{"step":"start"}');
    expect(await redis.zrange(keys.tenantJobs('acme'), 0, -1)).toEqual([record.job.id]);
    expect(await redis.zrange(keys.tenantJobsByStatus('acme', 'queued'), 0, -1)).toEqual([record.job.id]);
    expect(await redis.get(idemKey)).toBe(entry);
    const ttl = await redis.pttl(idemKey);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // The record itself has no expiry until the job ends.
    expect(await redis.pttl(keys.job(record.job.id))).toBe(-1);
  });

  it('writes nothing and answers the entry when the key is taken', async () => {
    const keys = keysOf('taken');
    const idemKey = keys.idempotency('acme', 'h2');
    const first = newRecord(keys, 'acme', idemKey);
    const claim = (r: JobRecord) => ({ redisKey: idemKey, entryJson: doneEntry('fp', r.job.id), ttlMs: 60_000 });
    expect((await writeNewJob(redis, keys, { record: first, flowJson: '{}', claim: claim(first) })).kind).toBe('created');
    const second = newRecord(keys, 'acme', idemKey);
    const out = await writeNewJob(redis, keys, { record: second, flowJson: '{}', claim: claim(second), admission: admissionOf(keys, 'acme') });
    expect(out).toEqual({ kind: 'key_taken', entry: doneEntry('fp', first.job.id) });
    expect(await redis.exists(keys.job(second.job.id), keys.jobFlow(second.job.id))).toBe(0);
    expect(await redis.zrange(keys.tenantJobs('acme'), 0, -1)).toEqual([first.job.id]);
    // Not admitted either: the scheduler was never touched.
    expect((await schedulerState(keys, 'acme', LIMITS.account)).running).toEqual([]);
  });

  it('refuses an id that exists, and records that do not fit the script', async () => {
    const keys = keysOf('exists');
    const record = newRecord(keys, 'acme');
    expect((await writeNewJob(redis, keys, { record, flowJson: '{}' })).kind).toBe('created');
    expect(await writeNewJob(redis, keys, { record, flowJson: '{}' })).toEqual({ kind: 'exists' });
    await expect(writeNewJob(redis, keys, { record: { ...record, v: 2 }, flowJson: '{}' })).rejects.toThrow(/version 1/);
    const claim = { redisKey: keys.idempotency('acme', 'x'), entryJson: '{}', ttlMs: 1000 };
    await expect(writeNewJob(redis, keys, { record: newRecord(keys, 'acme'), flowJson: '{}', claim })).rejects.toThrow(/must name/);
  });

  it('starts the job at once with the same scheduler state Admission.add leaves when nobody waits', async () => {
    // Two identical schedulers: one fed by the create script, one by Admission.add, job by job.
    const viaScript = keysOf('fast-a');
    const viaAdd = keysOf('fast-b');
    const admission = new Admission(redis, viaAdd, MAX_PER_ACCOUNT);
    for (let i = 0; i < 2; i++) {
      const record = newRecord(viaScript, 'acme');
      const out = await writeNewJob(redis, viaScript, { record, flowJson: '{}', admission: admissionOf(viaScript, 'acme') });
      expect(out).toMatchObject({ kind: 'created', admitted: true });
      expect(await admission.add(record.job.id, 'acme', LIMITS)).toEqual([record.job.id]);
      expect(await schedulerState(viaScript, 'acme', LIMITS.account)).toEqual(await schedulerState(viaAdd, 'acme', LIMITS.account));
    }
    const state = await schedulerState(viaScript, 'acme', LIMITS.account);
    expect(state.running).toHaveLength(2);
    expect(Number(state.passes.acme)).toBeCloseTo(1, 10); // two starts at weight 2
    expect(state.limits.acme).toBe('0|2|acct-a');
  });

  it('waits the job its turn when its account is full, leaving the scheduler as Admission.add does', async () => {
    // Twin schedulers again, past the account's cap: the script waits the job itself, no Admission.add after it.
    const viaScript = keysOf('slow-a');
    const viaAdd = keysOf('slow-b');
    const admission = new Admission(redis, viaAdd, MAX_PER_ACCOUNT);
    for (let i = 0; i < MAX_PER_ACCOUNT + 2; i++) {
      const record = newRecord(viaScript, 'acme');
      const out = await writeNewJob(redis, viaScript, { record, flowJson: '{}', admission: admissionOf(viaScript, 'acme') });
      const added = await admission.add(record.job.id, 'acme', LIMITS);
      expect(out).toMatchObject({ kind: 'created', admitted: i < MAX_PER_ACCOUNT, started: added });
      expect(await schedulerState(viaScript, 'acme', LIMITS.account)).toEqual(await schedulerState(viaAdd, 'acme', LIMITS.account));
      if (i >= MAX_PER_ACCOUNT) expect(await new Admission(redis, viaScript, MAX_PER_ACCOUNT).state(record.job.id, 'acme')).toBe('pending');
    }
  });

  it('takes no shortcut past a waiting job: with anyone waiting in the shard, the job takes its turn in the round', async () => {
    const keys = keysOf('waiting');
    const admission = new Admission(redis, keys, MAX_PER_ACCOUNT);
    const capped = { ...LIMITS, maxConcurrent: 1 };
    const running = newRecord(keys, 'acme');
    expect(await writeNewJob(redis, keys, { record: running, flowJson: '{}', admission: admissionOf(keys, 'acme', capped) })).toMatchObject({ kind: 'created', admitted: true, started: [running.job.id] });
    const waiting = newRecord(keys, 'acme');
    expect(await writeNewJob(redis, keys, { record: waiting, flowJson: '{}', admission: admissionOf(keys, 'acme', capped) })).toMatchObject({ kind: 'created', admitted: false, started: [] });
    expect(await admission.state(waiting.job.id, 'acme')).toBe('pending');
    // The account has room, but acme waits in this shard: globex's job starts through the round (acme is at its cap).
    const other = newRecord(keys, 'globex');
    expect(await writeNewJob(redis, keys, { record: other, flowJson: '{}', admission: admissionOf(keys, 'globex') })).toMatchObject({ kind: 'created', admitted: true, started: [other.job.id] });
    expect(await admission.state(other.job.id, 'globex')).toBe('running');
    // A repeated offer (the sweeper's) changes nothing.
    expect(await admission.add(waiting.job.id, 'acme', capped)).toEqual([]);
    expect(await admission.state(waiting.job.id, 'acme')).toBe('pending');
  });

  it('respects the tenant’s own cap (max_concurrent_jobs)', async () => {
    const keys = keysOf('cap');
    const limits = { ...LIMITS, maxConcurrent: 1 };
    const first = newRecord(keys, 'acme');
    const second = newRecord(keys, 'acme');
    expect((await writeNewJob(redis, keys, { record: first, flowJson: '{}', admission: admissionOf(keys, 'acme', limits) })).kind).toBe('created');
    expect(await writeNewJob(redis, keys, { record: second, flowJson: '{}', admission: admissionOf(keys, 'acme', limits) })).toMatchObject({ kind: 'created', admitted: false });
  });

  it('with QUEUE_SHARDS > 1 touches only keys of the tenant’s shard, and refuses an id of another shard', async () => {
    const keys = keysOf('sharded', 4);
    const tenant = 'acme';
    const tag = keys.tags[keys.shardOfTenant(tenant)]!;
    const idemKey = keys.idempotency(tenant, 'h');
    const record = newRecord(keys, tenant, idemKey);
    const spec: NewJobWrite = { record, flowJson: '{}', claim: { redisKey: idemKey, entryJson: doneEntry('fp', record.job.id), ttlMs: 1000 }, admission: admissionOf(keys, tenant) };
    expect(await writeNewJob(redis, keys, spec)).toMatchObject({ kind: 'created', admitted: true });
    const written = [keys.job(record.job.id), keys.jobFlow(record.job.id), keys.tenantJobs(tenant), idemKey, `${keys.admission(keys.shardOfTenant(tenant))}running:${tenant}`];
    for (const key of written) {
      expect(key.startsWith(`${tag}:`)).toBe(true);
      expect(await redis.exists(key)).toBe(1);
    }
    const foreignShard = (keys.shardOfTenant(tenant) + 1) % 4;
    const foreign = { ...newRecord(keys, tenant), job: makeJob({ id: `job_${'0'.repeat(25)}${'0123'[foreignShard]}` }) };
    await expect(writeNewJob(redis, keys, { record: foreign, flowJson: '{}' })).rejects.toThrow(/not in the shard/);
  });
});
