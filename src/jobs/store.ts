// The job store: versioned JSON records in Redis, updated by compare-and-set, with events appended in the same script.
import { copyPlain } from '../core/copy-plain.js';
import { waitForReplicas, type RedisClient } from '../redis/client.js';
import type { RedisSettings } from '../redis/settings.js';
import { groupByShard, type Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { writeNewJob, type NewJobOutcome, type NewJobWrite } from './create-script.js';
import { newEventId, newJobId } from './ids.js';
import { WEBHOOK_ATTEMPTS_FIELD, WEBHOOK_STATUS_FIELD, withWebhookState } from './webhook-state.js';
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
 * idempotencyEntry (the record key again when the job has none), lock (the record key again without a fence),
 * sessionGroup and its queue (the record key again, twice, for a job of no group)
 * ARGV: expectedVersion ('0': create; '-': leave the record as it is), newRecordJson, jobId, eventType|'', eventId, at,
 * jobJson, channel, ttlMs|'0', expireAt, member, flowJson|'', lockToken|''
 * One write of everything a step changes, all or nothing: with a lock token it first proves the caller still holds the
 * job (a worker that stalled and was taken over writes nothing: -3); the record only if its version is still the
 * expected one (-1 otherwise, -2 when it is gone), moving the id between the per-status sets when the status changed;
 * the flow checkpoint; and, when eventType is given, the event with the next sequence number, published. An event is
 * never recorded for a state that was not stored (and vice versa). With a ttl (the job has just ended) every key of
 * the job expires that long from now and the job joins the retention index, whose sweeper erases what a TTL cannot
 * reach (index entries, keys created later). Updates keep the TTL (KEEPTTL). A job of a session group (a batch, a
 * revision chain) that ends also bounds the group's shared session: the group's last job to end (no other job in its
 * queue) gives it its own expiry, so it goes with that job; an earlier one only lengthens it to its own (GT: the jobs
 * still to run keep it, session-groups.ts GROUP_LIVE_MS).
 */
const WRITE_SCRIPT = luaScript(`
if ARGV[13] ~= '' and redis.call('GET', KEYS[11]) ~= ARGV[13] then return -3 end
if ARGV[1] ~= '-' then
  local current = redis.call('GET', KEYS[1])
  if ARGV[1] == '0' then
    if current then return -1 end
  else
    if not current then return -2 end
    local v = string.match(current, '^{"v":(%d+),')
    if v ~= ARGV[1] then return -1 end
  end
  -- An ending job's record gets its retention with the write itself; any other write keeps the key's TTL.
  if ARGV[9] ~= '0' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[9]) else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
  if ARGV[1] == '0' then
    redis.call('ZADD', KEYS[2], 0, ARGV[3])
    redis.call('ZADD', KEYS[4], 0, ARGV[3])
  elseif KEYS[3] ~= KEYS[4] then
    redis.call('ZREM', KEYS[3], ARGV[3])
    redis.call('ZADD', KEYS[4], 0, ARGV[3])
  end
end
local flow_expires = false
if ARGV[12] ~= '' then
  if ARGV[9] ~= '0' then redis.call('SET', KEYS[6], ARGV[12], 'PX', ARGV[9]) flow_expires = true
  else redis.call('SET', KEYS[6], ARGV[12], 'KEEPTTL') end
end
local seq = 0
if ARGV[4] ~= '' then
  seq = redis.call('LLEN', KEYS[5]) + 1
  local event = '{"id":"' .. ARGV[5] .. '","seq":' .. seq .. ',"type":"' .. ARGV[4] .. '","at":"' .. ARGV[6] .. '","data":' .. ARGV[7] .. '}'
  redis.call('RPUSH', KEYS[5], event)
  redis.call('PUBLISH', ARGV[8], event)
end
if ARGV[9] ~= '0' then
  -- Record (set above), events, checkpoint. The webhook ledger and attempt log mostly appear after the end: each
  -- attempt settled after it gives them the record's expiry (delivery-scripts.ts), and the retention sweeper erases
  -- them with the rest when the index entry below comes due.
  if ARGV[1] == '-' then redis.call('PEXPIRE', KEYS[1], ARGV[9]) end
  redis.call('PEXPIRE', KEYS[5], ARGV[9])
  if not flow_expires then redis.call('PEXPIRE', KEYS[6], ARGV[9]) end
  -- The Idempotency-Key entry keeps its own 24 h unless the job's retention is shorter (LT: only ever shortened).
  -- What follows the record goes when it does, to the millisecond (its expiry as set above).
  local at = ARGV[10]
  if KEYS[10] ~= KEYS[1] or KEYS[12] ~= KEYS[1] then
    at = redis.call('PEXPIRETIME', KEYS[1])
    if at <= 0 then at = ARGV[10] end
  end
  if KEYS[10] ~= KEYS[1] then redis.call('PEXPIREAT', KEYS[10], at, 'LT') end
  if KEYS[12] ~= KEYS[1] then
    -- This job leaves the group's queue after this write (the group-release hook): the others are the ones still to end.
    local others = redis.call('LLEN', KEYS[13])
    if redis.call('LPOS', KEYS[13], ARGV[3]) then others = others - 1 end
    if others <= 0 then redis.call('PEXPIREAT', KEYS[12], at) else redis.call('PEXPIREAT', KEYS[12], at, 'GT') end
  end
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
  retentionMs?: (record: JobRecord) => number | Promise<number>;
}

/** The retention index's member for a job: what the sweeper needs once the record itself has expired. */
export const retentionMember = (tenant: string, jobId: string) => `job|${tenant}|${jobId}`;

export interface UpdateResult {
  record: JobRecord;
  eventSeq: number | null;
}

/** One write of a job (JobStore.commit): the record at its next version and/or the flow checkpoint, and an event. */
export interface CommitSpec {
  jobId: string;
  tenant: string;
  /** The record to store, its `v` already the next version; null leaves the record as it is (a checkpoint only). */
  record: JobRecord | null;
  /** The version the stored record must still have (ignored without `record`). */
  expectedVersion: number;
  /** The status the stored record has (its per-status set is left when the status changes). */
  oldStatus: JobStatus;
  event?: EventType;
  /** The job has just ended: its keys expire this long from now (its tenant's retention). */
  ttlMs?: number;
  /** The flow checkpoint to store with it. */
  flowJson?: string;
  /** Write only while this worker holds the job's lock (BullMQ's lock key and its token). */
  fence?: { lockKey: string; token: string };
  /** Wait for replicas to take the write (REDIS_WAIT_REPLICAS): it marks a message as sent. */
  durable?: boolean;
}

/** An event as a commit stored it: `raw` is byte for byte the stored (and published) line. */
export interface StoredEvent {
  id: string;
  seq: number;
  type: EventType;
  at: string;
  raw: string;
}

export type CommitOutcome =
  | { kind: 'stored'; event: StoredEvent | null }
  /** Another writer changed the record since `expectedVersion` (a cancel, a webhook status): re-read and retry. */
  | { kind: 'conflict' }
  | { kind: 'gone' }
  /** The fence failed: another worker holds the job now; nothing was written. */
  | { kind: 'lock_lost' };

export interface ReadOptions {
  /** Show the webhook status and attempts the delivery ledger holds (default); false: the record as stored. */
  webhookState?: boolean;
}

export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Replicas a durable commit waits for (REDIS_WAIT_REPLICAS; 0 on a single node), and for how long (REDIS_WAIT_TIMEOUT_MS). */
    private readonly durability: Pick<RedisSettings, 'waitReplicas' | 'waitTimeoutMs'> = { waitReplicas: 0, waitTimeoutMs: 100 },
  ) {}

  /** A new job id for `tenant`: with QUEUE_SHARDS > 1 it carries the tenant's shard, where all its keys live. */
  newId(tenant: string): string {
    return newJobId(this.keys.idShard(tenant));
  }

  /**
   * When the job's record expires (ms since the epoch: its retention, once it has ended); undefined when it has no expiry
   * (still running) or does not exist.
   */
  async expiresAt(id: string): Promise<number | undefined> {
    const at = Number(await this.redis.call('PEXPIRETIME', this.keys.job(id)));
    return at > 0 ? at : undefined;
  }

  /** Stores a brand-new job (with its first flow checkpoint, in the same write); fails if the id exists. */
  async create(
    tenant: string,
    job: Job,
    opts: { trace?: string | null; group?: string | null; idem?: string | null; flowJson?: string } = {},
  ): Promise<JobRecord> {
    const record: JobRecord = { v: 1, tenant, cancel_requested: false, trace: opts.trace ?? null, group: opts.group ?? null, idem: opts.idem ?? null, job };
    const outcome = await this.commit({
      jobId: job.id,
      tenant,
      record,
      expectedVersion: 0,
      oldStatus: job.status,
      ...(opts.flowJson ? { flowJson: opts.flowJson } : {}),
    });
    if (outcome.kind !== 'stored') throw new VersionConflict(`job ${job.id} already exists`);
    return record;
  }

  /**
   * The job's record, its webhook status and attempts as the delivery ledger holds them (jobs/webhook-state.ts; the
   * ledger is asked in the same tick, so one write on an auto-pipelined connection). `webhookState: false` for the
   * worker's own reads, which never look at that pair: the record as stored, one command.
   */
  async get(id: string, opts: ReadOptions = {}): Promise<JobRecord | null> {
    if (opts.webhookState === false) {
      const raw = await this.redis.get(this.keys.job(id));
      return raw === null ? null : jobRecordSchema.parse(JSON.parse(raw));
    }
    const [raw, pair] = await Promise.all([this.redis.get(this.keys.job(id)), this.webhookPair(id)]);
    return raw === null ? null : withWebhookState(jobRecordSchema.parse(JSON.parse(raw)), pair);
  }

  private webhookPair(id: string): Promise<(string | null)[]> {
    return this.redis.hmget(this.keys.jobWebhookPending(id), WEBHOOK_STATUS_FIELD, WEBHOOK_ATTEMPTS_FIELD);
  }

  /** The webhook pairs of several jobs, one HMGET each in the same tick (a cluster keeps each on its job's node). */
  private webhookPairs(ids: readonly string[], opts: ReadOptions): Promise<((string | null)[] | null)[]> {
    if (opts.webhookState === false) return Promise.resolve(ids.map(() => null));
    return Promise.all(ids.map((id) => this.webhookPair(id)));
  }

  /** The record and the flow checkpoint (unparsed: the flow's schema is the flow's) in one round trip: a run's first read. */
  async getWithFlow(id: string): Promise<{ record: JobRecord | null; flowRaw: string | null }> {
    const [raw, flowRaw] = await this.redis.mget(this.keys.job(id), this.keys.jobFlow(id));
    return { record: raw ? jobRecordSchema.parse(JSON.parse(raw)) : null, flowRaw: flowRaw ?? null };
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
      const next = mutate(copyPlain(current));
      if (next === null) return { record: current, eventSeq: null };
      const stored: JobRecord = { ...next, v: current.v + 1 };
      const ends = isTerminal(stored.job.status) && !isTerminal(current.job.status);
      const ttlMs = ends && options.retentionMs ? Math.max(1, Math.round(await options.retentionMs(stored))) : 0;
      const outcome = await this.commit({
        jobId: id,
        tenant: stored.tenant,
        record: stored,
        expectedVersion: current.v,
        oldStatus: current.job.status,
        ttlMs,
        ...(options.event ? { event: options.event } : {}),
      });
      if (outcome.kind === 'stored') return { record: stored, eventSeq: outcome.event?.seq ?? null };
      if (outcome.kind === 'gone') throw new Error(`job ${id} vanished during update`);
    }
    throw new VersionConflict(`job ${id}: too many concurrent updates`);
  }

  /** Several jobs in one round trip (one per shard the ids span: a cluster refuses an MGET across slots), null where one is gone. */
  async getMany(ids: readonly string[], opts: ReadOptions = {}): Promise<(JobRecord | null)[]> {
    if (ids.length === 0) return [];
    const pairs = this.webhookPairs(ids, opts);
    const groups = groupByShard(ids, this.keys.shardOfId);
    const byId = new Map<string, string | null>();
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const raws = await this.redis.mget(...group.map((i) => this.keys.job(i)));
        group.forEach((id, i) => byId.set(id, raws[i] ?? null));
      }),
    );
    return parseRecords(ids.map((id) => byId.get(id) ?? null), await pairs);
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
    const pairs = this.webhookPairs(page, {});
    const raws = page.length > 0 ? await this.redis.mget(...page.map((i) => this.keys.job(i))) : [];
    const records = parseRecords(raws, await pairs).flatMap((r) => (r ? [r] : []));
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

  /**
   * The one write of a job (WRITE_SCRIPT): record and/or flow checkpoint, event, retention, in one round trip. The
   * flow worker commits each step this way (flow/job-run.ts), the API through create and update.
   */
  async commit(spec: CommitSpec): Promise<CommitOutcome> {
    const { jobId, tenant, record } = spec;
    const status = record?.job.status ?? spec.oldStatus;
    // The version must be the first field: the Lua script reads it with a pattern instead of decoding JSON.
    // The job is serialized once: the record embeds it, the event carries it.
    const jobJson = record ? JSON.stringify(record.job) : '';
    const json = record ? recordJson(record, jobJson) : '';
    if (spec.event && !record) throw new Error('an event needs the record it describes');
    const eventId = spec.event ? newEventId() : '';
    const at = new Date().toISOString();
    const ttlMs = spec.ttlMs ?? 0;
    const recordKey = this.keys.job(jobId);
    const group = record?.group ?? null;
    const result = Number(
      await runScript(
        this.redis,
        WRITE_SCRIPT,
        13,
        recordKey,
        this.keys.tenantJobs(tenant),
        this.keys.tenantJobsByStatus(tenant, spec.oldStatus),
        this.keys.tenantJobsByStatus(tenant, status),
        this.keys.jobEvents(jobId),
        this.keys.jobFlow(jobId),
        this.keys.jobDeliveries(jobId),
        this.keys.jobWebhookPending(jobId),
        this.keys.retentionIndex(this.keys.shardOfId(jobId)),
        record?.idem ?? recordKey,
        spec.fence?.lockKey ?? recordKey,
        group ? this.keys.sessionGroup(group) : recordKey,
        group ? this.keys.sessionGroupQueue(group) : recordKey,
        record ? String(spec.expectedVersion) : '-',
        json,
        jobId,
        spec.event ?? '',
        eventId,
        at,
        spec.event ? jobJson : '',
        this.keys.jobEventsChannel(jobId),
        String(ttlMs),
        String(Date.now() + ttlMs),
        retentionMember(tenant, jobId),
        spec.flowJson ?? '',
        spec.fence?.token ?? '',
      ),
    );
    if (result === -1) return { kind: 'conflict' };
    if (result === -2) return { kind: 'gone' };
    if (result === -3) return { kind: 'lock_lost' };
    // Replication is asynchronous: a failover right after this write could lose the "message sent" mark and let the
    // message be sent twice. WAIT narrows that window to what the replicas have not acknowledged in waitTimeoutMs; on
    // a cluster it is routed (with a keyed no-op) to the master that took the write. A replica that does not answer in
    // time does not stop the job: availability first, and the window is documented (README "Running on Sentinel or
    // Cluster"). WAIT never fails the commit: the write is done, only its confirmation is missing. A throw here would
    // make the step retry with the mark already set in memory, so the message would be reconciled as sent without
    // ever having been sent.
    if (spec.durable && this.durability.waitReplicas > 0) {
      await waitForReplicas(this.redis, this.durability, recordKey).catch(() => 0);
    }
    if (!spec.event) return { kind: 'stored', event: null };
    const raw = `{"id":"${eventId}","seq":${result},"type":"${spec.event}","at":"${at}","data":${jobJson}}`;
    return { kind: 'stored', event: { id: eventId, seq: result, type: spec.event, at, raw } };
  }

  /**
   * Stores a brand-new job in one script (src/jobs/create-script.ts): its Idempotency-Key entry, record, first flow
   * checkpoint, tenant indexes, and a running slot when nobody waits for one. Nothing is written when the key is taken.
   */
  async createNew(spec: NewJobWrite): Promise<NewJobOutcome> {
    return writeNewJob(this.redis, this.keys, spec);
  }
}

/** Raw records parsed, each with its ledger's webhook pair (null: as stored) shown over its own. */
function parseRecords(raws: readonly (string | null)[], pairs: readonly ((string | null)[] | null)[]): (JobRecord | null)[] {
  return raws.map((raw, i) => (raw === null ? null : withWebhookState(jobRecordSchema.parse(JSON.parse(raw)), pairs[i] ?? null)));
}

/**
 * The stored form of a record: `v` first, as the scripts match it (the same text JSON.stringify would give for these
 * fields in this order). `jobJson`: the job already serialized, when the caller has it.
 */
export function recordJson(record: JobRecord, jobJson = JSON.stringify(record.job)): string {
  const { v, tenant, cancel_requested, cancel_reason, trace, group, idem } = record;
  const str = (value: string | null | undefined) => JSON.stringify(value ?? null);
  const reason = cancel_reason ? `,"cancel_reason":${str(cancel_reason)}` : '';
  return `{"v":${v},"tenant":${str(tenant)},"cancel_requested":${cancel_requested === true},"trace":${str(trace)},"group":${str(group)},"idem":${str(idem)}${reason},"job":${jobJson}}`;
}
