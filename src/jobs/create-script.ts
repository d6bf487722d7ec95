// The one write of a new job: Idempotency-Key entry, record, flow checkpoint, tenant indexes and the offer to admission, in one script.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import type { JobRecord } from './schemas.js';
import { ADD_JOB_FN, ADMIT_BATCH } from './admission-lua.js';
import { recordJson } from './store.js';

/**
 * KEYS: record, tenantAll, tenantQueued, flow, idempotencyEntry (the record key again without one), admission route
 * (the scheduler's `tenants` key; the record key again without admission).
 * ARGV: jobId, recordJson, flowJson, idemJson|'', idemTtlMs, admissionBase|'', tenant, maxConcurrent, weight, account,
 * maxPerAccount, createdMs, admitLimit.
 * Returns {0, entry} when the Idempotency-Key already has an entry (nothing written: the caller replays, waits or
 * refuses), {-1} when the id exists, {1, started} once written. The entry is written as `done` with the job it names
 * in the same step as the record, so no state exists where one is stored without the other.
 * The admission part is Admission.add itself (ADD_JOB_FN, src/jobs/admission-lua.ts): the job starts at once when nobody
 * waits in the shard and its tenant and account are under their caps, else it waits its turn; `started` lists the jobs
 * that may run now (this one or others the round admitted), which the caller puts on the flow queue. One round trip
 * for a job that waits, instead of the create plus Admission.add.
 * Every key (the admission keys built from their base too) shares the tenant's shard tag: the job id carries that shard.
 */
const CREATE_SCRIPT = luaScript(`${ADD_JOB_FN}
if ARGV[4] ~= '' then
  local entry = redis.call('GET', KEYS[5])
  if entry then return {0, entry} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('SET', KEYS[4], ARGV[3])
if ARGV[4] ~= '' then redis.call('SET', KEYS[5], ARGV[4], 'PX', ARGV[5]) end
local started = {}
if ARGV[6] ~= '' then started = add_job(ARGV[6], ARGV[1], ARGV[7], ARGV[12], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[13]) end
return {1, started}
`);

/** What the offer to admission needs: the tenant's scheduler (its shard's base key) and caps. */
export interface CreateAdmission {
  /** Keys.admission(shard of the tenant). */
  base: string;
  maxConcurrent: number;
  weight: number;
  account: string;
  /** MAX_RUNNING_JOBS. */
  maxPerAccount: number;
}

/** An Idempotency-Key taken by the new job in its own write (its `done` entry, the job id already in it). */
export interface CreateClaim {
  /** The entry's Redis key (Idempotency.redisKeyOf); stored in the record as `idem`, erased with the job. */
  redisKey: string;
  /** The entry as stored: `{"state":"done","fp":…,"job_id":…}`. */
  entryJson: string;
  ttlMs: number;
}

export interface NewJobWrite {
  /** The record at v 1, status queued; record.idem must be the claim's key when there is a claim. */
  record: JobRecord;
  flowJson: string;
  claim?: CreateClaim | null;
  /** Absent: the job is not offered to admission here (the caller offers it to Admission.add). */
  admission?: CreateAdmission | null;
}

export type NewJobOutcome =
  /**
   * Stored; `started`: the jobs admission let run now (with admission: empty when this one waits its turn), for the
   * flow queue; `admitted`: this job is among them. `jobJson`: the job as stored in the record (JSON.stringify of
   * record.job), for an answer that needs no second serialization.
   */
  | { kind: 'created'; admitted: boolean; started: string[]; jobJson: string }
  /** The Idempotency-Key has an entry (raw JSON, pending or done): nothing was written. */
  | { kind: 'key_taken'; entry: string }
  | { kind: 'exists' };

/** Runs the create script (one round trip). */
export async function writeNewJob(redis: RedisClient, keys: Keys, spec: NewJobWrite): Promise<NewJobOutcome> {
  const { record, claim, admission } = spec;
  const id = record.job.id;
  const { tenant } = record;
  if (record.job.status !== 'queued' || record.v !== 1) throw new Error('a new job is stored queued, at version 1');
  if (claim && record.idem !== claim.redisKey) throw new Error('the record must name the Idempotency-Key entry it is created under');
  // One script, one slot: the id must carry the tenant's shard (JobStore.newId), as its tenant and admission keys do.
  if (keys.shardOfId(id) !== keys.shardOfTenant(tenant)) throw new Error(`job ${id} is not in the shard of tenant ${tenant}`);
  const recordKey = keys.job(id);
  const jobJson = JSON.stringify(record.job);
  const out = (await runScript(
    redis,
    CREATE_SCRIPT,
    6,
    recordKey,
    keys.tenantJobs(tenant),
    keys.tenantJobsByStatus(tenant, 'queued'),
    keys.jobFlow(id),
    claim?.redisKey ?? recordKey,
    admission ? `${admission.base}tenants` : recordKey,
    id,
    recordJson(record, jobJson),
    spec.flowJson,
    claim?.entryJson ?? '',
    claim?.ttlMs ?? 0,
    admission?.base ?? '',
    tenant,
    admission?.maxConcurrent ?? 0,
    admission?.weight ?? 1,
    admission?.account ?? '',
    admission?.maxPerAccount ?? 0,
    Date.now(),
    ADMIT_BATCH,
  )) as [number, string | string[]];
  if (out[0] === 0) return { kind: 'key_taken', entry: String(out[1]) };
  if (out[0] === -1) return { kind: 'exists' };
  const started = Array.isArray(out[1]) ? out[1] : [];
  return { kind: 'created', admitted: started.includes(id), started, jobJson };
}
