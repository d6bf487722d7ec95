// The job store: versioned JSON records in Redis, updated by compare-and-set, with events appended in the same script.
import type { RedisClient } from '../redis/client.js';
import { groupByShard, type Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { newEventId, newJobId } from './ids.js';
import {
  eventSchema,
  isTerminal,
  JOB_STATUSES,
  jobRecordSchema,
  type EventType,
  type Job,
  type JobEvent,
  type JobRecord,
  type JobStatus,
} from './schemas.js';

/**
 * KEYS: record, tenantAll, tenantOldStatus, tenantNewStatus, events, flow, deliveries, webhookPending, retentionIndex,
 * idempotencyEntry (the record key again when the job has none)
 * ARGV: expectedVersion, newRecordJson, jobId, eventType|'' , eventId, at, jobJson, channel, ttlMs|'0', expireAt, member
 * Sets the record only if its version is still expectedVersion, moves the id between the per-status sets and,
 * when eventType is given, appends the event with the next sequence number and publishes it — all or nothing,
 * so an event is never recorded for a state that was not stored (and vice versa). With a ttl (the job has just
 * ended) every key of the job expires that long from now and the job joins the retention index, whose sweeper
 * erases what a TTL cannot reach (index entries, keys created later). Updates keep the TTL (KEEPTTL).
 */
const CAS_SCRIPT = luaScript(`
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return -1 end
else
  if not current then return -2 end
  local v = string.match(current, '^{"v":(%d+),')
  if v ~= ARGV[1] then return -1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('ZADD', KEYS[2], 0, ARGV[3])
if KEYS[3] ~= KEYS[4] then redis.call('ZREM', KEYS[3], ARGV[3]) end
redis.call('ZADD', KEYS[4], 0, ARGV[3])
local seq = 0
if ARGV[4] ~= '' then
  seq = redis.call('LLEN', KEYS[5]) + 1
  local event = '{"id":"' .. ARGV[5] .. '","seq":' .. seq .. ',"type":"' .. ARGV[4] .. '","at":"' .. ARGV[6] .. '","data":' .. ARGV[7] .. '}'
  redis.call('RPUSH', KEYS[5], event)
  redis.call('PUBLISH', ARGV[8], event)
end
if ARGV[9] ~= '0' then
  for i = 1, 8 do if i ~= 2 and i ~= 3 and i ~= 4 then redis.call('PEXPIRE', KEYS[i], ARGV[9]) end end
  -- The Idempotency-Key entry keeps its own 24 h unless the job's retention is shorter (LT: only ever shortened).
  if KEYS[10] ~= KEYS[1] then redis.call('PEXPIRE', KEYS[10], ARGV[9], 'LT') end
  redis.call('ZADD', KEYS[9], ARGV[10], ARGV[11])
end
return seq
`);

/**
 * KEYS: events. ARGV: eventId, type, at, dataJson, channel. Appends an event that is not a change of the job
 * record itself (a batch's end announced on the stream of the item that ended it), with the next seq.
 */
const APPEND_SCRIPT = luaScript(`
local seq = redis.call('LLEN', KEYS[1]) + 1
local event = '{"id":"' .. ARGV[1] .. '","seq":' .. seq .. ',"type":"' .. ARGV[2] .. '","at":"' .. ARGV[3] .. '","data":' .. ARGV[4] .. '}'
redis.call('RPUSH', KEYS[1], event)
redis.call('PUBLISH', ARGV[5], event)
return seq
`);

export class VersionConflict extends Error {}

export interface UpdateOptions {
  /** Append this event (with the updated Job as data) atomically with the update. */
  event?: EventType;
  /** How long the job's data is kept once it has ended (its tenant's retention); asked when an update ends the job. */
  retentionMs?: (record: JobRecord) => number;
}

/** The retention index's member for a job: what the sweeper needs once the record itself has expired. */
export const retentionMember = (tenant: string, jobId: string) => `job|${tenant}|${jobId}`;

export interface UpdateResult {
  record: JobRecord;
  eventSeq: number | null;
}

export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** A new job id for `tenant`: with QUEUE_SHARDS > 1 it carries the tenant's shard, where all its keys live. */
  newId(tenant: string): string {
    return newJobId(this.keys.idShard(tenant));
  }

  /** Stores a brand-new job; fails if the id exists. */
  async create(tenant: string, job: Job, opts: { trace?: string | null; group?: string | null; idem?: string | null } = {}): Promise<JobRecord> {
    const record: JobRecord = { v: 1, tenant, cancel_requested: false, trace: opts.trace ?? null, group: opts.group ?? null, idem: opts.idem ?? null, job };
    const result = await this.cas(record, 0, job.status, undefined);
    if (result === -1) throw new VersionConflict(`job ${job.id} already exists`);
    return record;
  }

  async get(id: string): Promise<JobRecord | null> {
    const raw = await this.redis.get(this.keys.job(id));
    return raw === null ? null : jobRecordSchema.parse(JSON.parse(raw));
  }

  /** A job only as seen by its own tenant: another tenant's job does not exist (contract §2). */
  async getForTenant(tenant: string, id: string): Promise<JobRecord | null> {
    if (!/^job_[0-9A-Z]{26}$/.test(id)) return null;
    const record = await this.get(id);
    return record && record.tenant === tenant ? record : null;
  }

  /**
   * Read-modify-write with optimistic concurrency: `mutate` gets a copy and returns the new record
   * (or null to leave it unchanged). Retried on conflict, so `mutate` must be pure.
   */
  async update(
    id: string,
    mutate: (record: JobRecord) => JobRecord | null,
    options: UpdateOptions = {},
  ): Promise<UpdateResult> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.get(id);
      if (!current) throw new Error(`job ${id} not found`);
      const next = mutate(structuredClone(current));
      if (next === null) return { record: current, eventSeq: null };
      const stored: JobRecord = { ...next, v: current.v + 1 };
      const ends = isTerminal(stored.job.status) && !isTerminal(current.job.status);
      const ttlMs = ends && options.retentionMs ? Math.max(1, Math.round(options.retentionMs(stored))) : 0;
      const result = await this.cas(stored, current.v, current.job.status, options.event, ttlMs);
      if (result >= 0) return { record: stored, eventSeq: options.event ? result : null };
      if (result === -2) throw new Error(`job ${id} vanished during update`);
    }
    throw new VersionConflict(`job ${id}: too many concurrent updates`);
  }

  /** Several jobs in one round trip (one per shard the ids span: a cluster refuses an MGET across slots), null where one is gone. */
  async getMany(ids: readonly string[]): Promise<(JobRecord | null)[]> {
    if (ids.length === 0) return [];
    const parse = (raw: string | null) => (raw === null ? null : jobRecordSchema.parse(JSON.parse(raw)));
    const groups = groupByShard(ids, this.keys.shardOfId);
    if (groups.size === 1) return (await this.redis.mget(...ids.map((i) => this.keys.job(i)))).map(parse);
    const byId = new Map<string, string | null>();
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const raws = await this.redis.mget(...group.map((i) => this.keys.job(i)));
        group.forEach((id, i) => byId.set(id, raws[i] ?? null));
      }),
    );
    return ids.map((id) => parse(byId.get(id) ?? null));
  }

  /** Appends an event whose data is not the job itself; answers its seq. */
  async appendEvent(jobId: string, type: EventType, data: unknown): Promise<number> {
    const result = await runScript(
      this.redis,
      APPEND_SCRIPT,
      1,
      this.keys.jobEvents(jobId),
      newEventId(),
      type,
      new Date().toISOString(),
      JSON.stringify(data),
      this.keys.jobEventsChannel(jobId),
    );
    return Number(result);
  }

  async events(id: string, afterSeq = 0, limit = 1000): Promise<JobEvent[]> {
    const raw = await this.redis.lrange(this.keys.jobEvents(id), afterSeq, afterSeq + limit - 1);
    return raw.map((line) => eventSchema.parse(JSON.parse(line)));
  }

  /** The newest event of a type among the last `scan` events (recent history is all the callers need). */
  async lastEventOfType(id: string, type: EventType, scan = 20): Promise<JobEvent | null> {
    const raw = await this.redis.lrange(this.keys.jobEvents(id), -scan, -1);
    for (let i = raw.length - 1; i >= 0; i--) {
      const event = eventSchema.parse(JSON.parse(raw[i]!));
      if (event.type === type) return event;
    }
    return null;
  }

  async eventCount(id: string): Promise<number> {
    return this.redis.llen(this.keys.jobEvents(id));
  }

  /** Newest first; the cursor is the last id seen, and ULID order makes pages stable under concurrent inserts. */
  async list(
    tenant: string,
    opts: { status?: JobStatus; limit: number; cursor?: string },
  ): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
    const set = opts.status ? this.keys.tenantJobsByStatus(tenant, opts.status) : this.keys.tenantJobs(tenant);
    const max = opts.cursor ? `(${opts.cursor}` : '+';
    const ids = await this.redis.zrevrangebylex(set, max, '-', 'LIMIT', 0, opts.limit + 1);
    const page = ids.slice(0, opts.limit);
    const raws = page.length > 0 ? await this.redis.mget(...page.map((i) => this.keys.job(i))) : [];
    const records = raws.flatMap((raw) => (raw ? [jobRecordSchema.parse(JSON.parse(raw))] : []));
    return { records, nextCursor: ids.length > opts.limit ? (page.at(-1) ?? null) : null };
  }

  /** Jobs per tenant and status (one pipelined round trip per shard: a cluster pipeline stays on one node), for the metrics gauge. */
  async countByStatus(tenants: readonly string[]): Promise<{ tenant: string; status: JobStatus; count: number }[]> {
    const unique = [...new Set(tenants)];
    if (unique.length === 0) return [];
    const groups = [...groupByShard(unique, this.keys.shardOfTenant).values()];
    const rows = await Promise.all(
      groups.map(async (group) => {
        const pipeline = this.redis.pipeline();
        for (const tenant of group) for (const status of JOB_STATUSES) pipeline.zcard(this.keys.tenantJobsByStatus(tenant, status));
        const results = (await pipeline.exec()) ?? [];
        const out: { tenant: string; status: JobStatus; count: number }[] = [];
        let i = 0;
        for (const tenant of group) {
          for (const status of JOB_STATUSES) {
            const [err, count] = results[i++] ?? [new Error('missing reply'), 0];
            if (err) throw err;
            out.push({ tenant, status, count: Number(count) });
          }
        }
        return out;
      }),
    );
    return rows.flat();
  }

  private async cas(record: JobRecord, expectedVersion: number, oldStatus: JobStatus, event: EventType | undefined, ttlMs = 0) {
    const { job, tenant } = record;
    // The version must be the first field: the Lua script reads it with a pattern instead of decoding JSON.
    const { cancel_requested, trace, group, idem } = record;
    const json = JSON.stringify({ v: record.v, tenant, cancel_requested, trace, group, idem, job });
    const result = await runScript(
      this.redis,
      CAS_SCRIPT,
      10,
      this.keys.job(job.id),
      this.keys.tenantJobs(tenant),
      this.keys.tenantJobsByStatus(tenant, oldStatus),
      this.keys.tenantJobsByStatus(tenant, job.status),
      this.keys.jobEvents(job.id),
      this.keys.jobFlow(job.id),
      this.keys.jobDeliveries(job.id),
      this.keys.jobWebhookPending(job.id),
      this.keys.retentionIndex(this.keys.shardOfId(job.id)),
      record.idem ?? this.keys.job(job.id),
      String(expectedVersion),
      json,
      job.id,
      event ?? '',
      newEventId(),
      new Date().toISOString(),
      JSON.stringify(job),
      this.keys.jobEventsChannel(job.id),
      String(ttlMs),
      String(Date.now() + ttlMs),
      retentionMember(tenant, job.id),
    );
    return Number(result);
  }
}
