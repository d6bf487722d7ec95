// Batches in Redis: the record (items, shared sources, webhook), the tenant's listing index, and the one-time end mark.
import { z } from 'zod';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { newBatchId } from './ids.js';
import { BATCH_STATUSES, EVENT_TYPES, sourceSchema, TERMINAL_STATUSES, type Batch, type BatchStatus, type JobRecord, type JobStatus } from './schemas.js';

export const batchRecordSchema = z.object({
  tenant: z.string(),
  id: z.string(),
  items: z.array(z.string()),
  sources: z.array(sourceSchema),
  conformance: z.enum(['report', 'correct']),
  language: z.string(),
  webhook: z.object({ url: z.string(), events: z.array(z.enum(EVENT_TYPES)) }).nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  finished_at: z.string().nullable(),
  /** The Redis key of the Idempotency-Key entry the batch was created under (expires and is erased with the batch). */
  idem: z.string().nullable().optional(),
  /**
   * false while the request creating it still lists its items; true once it has decided (absent: a record from before).
   * An item of a batch left incomplete (its API killed) never runs: a retry of the request creates the batch again.
   */
  complete: z.boolean().optional(),
  /**
   * Written when the batch ended (claimEnd): its status and counts then. Its items may be erased later (DELETE, their
   * own retention): an erased item must not turn an ended batch into another status.
   */
  ended: z.object({ status: z.enum(BATCH_STATUSES), counts: z.record(z.enum(BATCH_STATUSES), z.number().int()) }).optional(),
});
export type BatchRecord = z.infer<typeof batchRecordSchema>;

export const BATCH_ID_PATTERN = /^bat_[0-9A-Z]{26}$/;

/**
 * What a batch reads of an item: its status and end. An item erased before the batch ended (DELETE, its own retention)
 * is the outcome noted when its end was looked at (BatchStore.markNotLast); null only when none was (counted canceled).
 */
export type BatchItem = { status: JobStatus; finished_at: string | null } | null;

/** A batch's status from its items: it ends when every item has ended. */
export function batchStatusOf(items: readonly BatchItem[]): { status: BatchStatus; counts: Batch['counts'] } {
  const counts = Object.fromEntries(BATCH_STATUSES.map((s) => [s, 0])) as Batch['counts'];
  for (const item of items) counts[item?.status ?? 'canceled'] += 1;
  const total = items.length;
  const ended = counts.succeeded + counts.failed + counts.canceled;
  let status: BatchStatus;
  // No item yet: the batch is being created (a batch has at least one), not one whose items all ended.
  if (total === 0 || ended < total) status = counts.queued === total ? 'queued' : 'running';
  else if (counts.failed > 0) status = 'failed';
  else if (counts.canceled > 0) status = 'canceled';
  else status = 'succeeded';
  return { status, counts };
}

export function batchView(record: BatchRecord, items: readonly BatchItem[]): Batch {
  const { status, counts } = record.ended ? { status: record.ended.status, counts: record.ended.counts as Batch['counts'] } : batchStatusOf(items);
  // What only the service reads stays out (a webhook body is this object as it is: no response schema strips it).
  const { tenant: _tenant, idem: _idem, complete: _complete, ended: _ended, ...rest } = record;
  // Ended by its items' records before the hook that announces the end has stamped it: the last item's end is its end.
  const ended = status === 'succeeded' || status === 'failed' || status === 'canceled';
  const lastEnd = items.reduce<string | null>((at, item) => {
    const end = item?.finished_at ?? null;
    return end !== null && (at === null || end > at) ? end : at;
  }, null);
  return { ...rest, status, counts, finished_at: record.finished_at ?? (ended ? lastEnd : null) };
}

export class BatchStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /** A new batch id for `tenant` (with QUEUE_SHARDS > 1 it carries the tenant's shard, as its items' ids do). */
  newId(tenant: string): string {
    return newBatchId(this.keys.idShard(tenant));
  }

  /** The Redis key of a batch's record. */
  recordKey(id: string): string {
    return this.keys.batch(id);
  }

  async save(record: BatchRecord): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.batch(record.id), JSON.stringify(record))
      .zadd(this.keys.tenantBatches(record.tenant), 0, record.id)
      .exec();
  }

  async get(id: string): Promise<BatchRecord | null> {
    const raw = await this.redis.get(this.keys.batch(id));
    return raw === null ? null : batchRecordSchema.parse(JSON.parse(raw));
  }

  /** Another tenant's batch does not exist (contract §2). */
  async getForTenant(tenant: string, id: string): Promise<BatchRecord | null> {
    if (!BATCH_ID_PATTERN.test(id)) return null;
    const record = await this.get(id);
    return record && record.tenant === tenant ? record : null;
  }

  /** Newest first, cursor = the last id seen (ids are time-ordered). */
  async list(tenant: string, opts: { limit: number; cursor?: string }): Promise<{ records: BatchRecord[]; nextCursor: string | null }> {
    const max = opts.cursor ? `(${opts.cursor}` : '+';
    const ids = await this.redis.zrevrangebylex(this.keys.tenantBatches(tenant), max, '-', 'LIMIT', 0, opts.limit + 1);
    const page = ids.slice(0, opts.limit);
    const raws = page.length > 0 ? await this.redis.mget(...page.map((i) => this.keys.batch(i))) : [];
    const records = raws.flatMap((raw) => (raw ? [batchRecordSchema.parse(JSON.parse(raw))] : []));
    return { records, nextCursor: ids.length > opts.limit ? (page.at(-1) ?? null) : null };
  }

  /**
   * True for exactly one caller: the item whose end ends the batch announces it (batch.succeeded / batch.failed).
   * The batch is kept `retentionMs` from now, like its items, and so is its Idempotency-Key entry (its own 24 h only
   * ever shortened: LT).
   */
  async claimEnd(id: string, at: string, retentionMs: number, jobId: string, ended?: BatchRecord['ended']): Promise<boolean> {
    // The mark names the item that carries the batch's event (see endCarrier).
    const claimed = await this.redis.set(this.keys.batchFinalized(id), jobId, 'PX', retentionMs, 'NX');
    if (!claimed) return false;
    const record = await this.get(id);
    if (record) {
      const multi = this.redis
        .multi()
        .set(this.keys.batch(id), JSON.stringify({ ...record, finished_at: at, ...(ended ? { ended } : {}) }), 'PX', retentionMs)
        .zadd(this.keys.retentionIndex(this.keys.shardOfId(id)), Date.now() + retentionMs, `batch|${record.tenant}|${id}`);
      if (record.idem) multi.pexpire(record.idem, retentionMs, 'LT');
      await multi.exec();
    }
    return true;
  }

  /**
   * An item's end was looked at and did not end the batch: its stream will not carry the batch's event. Its outcome is
   * noted with the mark, for the batch to count it as it ended should the item be erased before the batch ends.
   */
  async markNotLast(id: string, jobId: string, outcome: JobStatus): Promise<void> {
    await this.redis.multi().hset(this.keys.batchChecked(id), jobId, outcome).pexpire(this.keys.batchChecked(id), CHECKED_TTL_MS).exec();
  }

  /** The batch's items as its status reads them (BatchItem): the noted outcome stands in for an erased item's record. */
  async itemsOf(record: Pick<BatchRecord, 'id' | 'items'>, records: readonly (JobRecord | null)[]): Promise<BatchItem[]> {
    const items: BatchItem[] = records.map((r) => (r ? { status: r.job.status, finished_at: r.job.finished_at } : null));
    if (!items.includes(null)) return items;
    // Only when an item is gone: a read of a batch whose items all exist costs no command more.
    const noted = await this.redis.hgetall(this.keys.batchChecked(record.id));
    return items.map((item, i) => {
      if (item) return item;
      const outcome = notedOutcome.safeParse(noted[record.items[i]!]);
      return outcome.success ? { status: outcome.data, finished_at: null } : null;
    });
  }

  /**
   * Which stream carries the batch's end event, as far as `jobId` (an ended item) is concerned: its own, another
   * item's, or not known yet (its end has not been looked at: the announcement follows its own webhook attempt).
   */
  async endCarrier(id: string, jobId: string): Promise<'this' | 'other' | 'unknown'> {
    const [carrier, checked] = await Promise.all([this.redis.get(this.keys.batchFinalized(id)), this.redis.hexists(this.keys.batchChecked(id), jobId)]);
    if (carrier !== null) return carrier === jobId ? 'this' : 'other';
    return checked === 1 ? 'other' : 'unknown';
  }
}

/** A noted item outcome (marks written before outcomes were noted hold '1': read as none). */
const notedOutcome = z.enum(TERMINAL_STATUSES);

/** Long enough for any batch to run to its end; the marks are only read by streams of items that have just ended. */
const CHECKED_TTL_MS = 7 * 24 * 3600_000;
