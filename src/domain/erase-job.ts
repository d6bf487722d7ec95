// Erasing a job: every key it made, its entries in the tenant's indexes, its queue entries and its stored output.
import type { Queue } from 'bullmq';
import { AppError } from '../core/errors.js';
import { BatchStore } from '../jobs/batch-store.js';
import { isTerminal, JOB_STATUSES, type JobRecord } from '../jobs/schemas.js';
import { retentionMember, type JobStore } from '../jobs/store.js';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { isStorageError } from '../storage/errors.js';
import { queueFor, type QueueRef } from '../redis/shard-queues.js';
import { deliveryId, type DeliveryJobData } from '../webhooks/queue.js';

export interface EraseDeps {
  redis: RedisClient;
  keys: Keys;
  store: Pick<JobStore, 'get' | 'getForTenant'>;
  /** The flow queue(s): a finished job's entry is normally gone already (removeOnComplete); a stray one goes too. */
  flowQueue: Pick<Queue, 'remove'>;
  /** The webhooks queue(s): a delivery still retrying (its next attempt delayed) goes with its job. */
  deliveryQueue: QueueRef<DeliveryJobData>;
  /** Deletes the job's stored MP4 (outputs that last); absent when outputs are not stored. */
  outputs?: { erase(tenant: string, jobId: string): Promise<void> };
}

/**
 * Erases one job. The record may already have expired (its TTL runs with the retention): what is left is found by
 * name. Idempotent: erasing twice, or a job half erased by a crash, is fine.
 */
export async function eraseJob(deps: EraseDeps, tenant: string, jobId: string, known?: JobRecord | null): Promise<void> {
  const { redis, keys } = deps;
  // The stored video first: should storage fail, nothing else is gone yet, and the erase is simply tried again (the
  // retention index keeps its entry; DELETE answers 503). Erased after the rest, a failure left an orphaned object.
  await deps.outputs?.erase(tenant, jobId);
  const record = known === undefined ? await deps.store.get(jobId) : known;
  // Read before the ledger goes: its pending events are the deliveries that may wait in the webhooks queue for a retry,
  // and the manual redeliveries are noted apart (their queue ids carry a time).
  const retrying = (await pendingDeliveries(redis, keys, jobId)).map((seq) => deliveryId(jobId, seq));
  retrying.push(...(await redis.smembers(keys.jobRedeliveries(jobId))));
  const multi = redis
    .multi()
    .unlink(...keys.jobOwnKeys(jobId))
    .zrem(keys.tenantJobs(tenant), jobId);
  for (const status of JOB_STATUSES) multi.zrem(keys.tenantJobsByStatus(tenant, status), jobId);
  if (record?.idem) multi.unlink(record.idem);
  multi.zrem(keys.retentionIndex(keys.shardOfId(jobId)), retentionMember(tenant, jobId));
  await multi.exec();
  // A group's session outlives its jobs only while one of them still waits for a turn (it expires with the group's
  // last job anyway: JobStore.commit). The record may be gone already: a job that opened a group of revisions names
  // it with its own id, so that one is looked for by name too.
  await eraseIdleGroups(deps, [record?.group, jobId]);
  await deps.flowQueue.remove(jobId).catch(() => 0);
  // One being sent right now is locked and stays: it finds its job gone and ends without a request (delivery-processor).
  for (const queueId of retrying) await queueFor(deps.deliveryQueue, jobId).remove(queueId).catch(() => 0);
}

/** The seqs of the job's events whose webhook is still to be delivered (the ledger's `pending` fields). */
async function pendingDeliveries(redis: RedisClient, keys: Keys, jobId: string): Promise<number[]> {
  const ledger = await redis.hgetall(keys.jobWebhookPending(jobId));
  return Object.entries(ledger)
    .filter(([field, state]) => /^\d+$/.test(field) && state === 'pending')
    .map(([field]) => Number(field));
}

/** KEYS: group queue, group. The group's session goes unless a job still waits for (or holds) its turn on it. */
const ERASE_IDLE_GROUP = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('UNLINK', KEYS[2])`);

/** Removes the shared sessions of these groups that no job waits on any more (a later revision opens its again). */
async function eraseIdleGroups(deps: Pick<EraseDeps, 'redis' | 'keys'>, groups: readonly (string | null | undefined)[]): Promise<void> {
  const { redis, keys } = deps;
  for (const group of new Set(groups)) {
    if (group) await runScript(redis, ERASE_IDLE_GROUP, 2, keys.sessionGroupQueue(group), keys.sessionGroup(group));
  }
}

/**
 * A batch's own keys (its items are jobs, erased on their own retention): record, marks, Idempotency-Key entry (the
 * record names it; once the record has expired, the entry has too: BatchStore.claimEnd), and its shared session.
 */
export async function eraseBatch(deps: Pick<EraseDeps, 'redis' | 'keys'>, tenant: string, batchId: string): Promise<void> {
  const { redis, keys } = deps;
  // The record names its entry; an unreadable record names none.
  const idem = (await new BatchStore(redis, keys).get(batchId).catch(() => null))?.idem ?? null;
  const multi = redis
    .multi()
    .unlink(keys.batch(batchId), keys.batchFinalized(batchId), keys.batchChecked(batchId))
    .zrem(keys.tenantBatches(tenant), batchId)
    .zrem(keys.retentionIndex(keys.shardOfId(batchId)), `batch|${tenant}|${batchId}`);
  if (idem) multi.unlink(idem);
  await multi.exec();
  await eraseIdleGroups(deps, [batchId]);
}

/** DELETE /v1/jobs/{id}: a finished job of the tenant is erased now; a running one must be canceled first. */
export async function deleteJob(deps: EraseDeps, tenant: string, jobId: string): Promise<void> {
  const record = await deps.store.getForTenant(tenant, jobId);
  if (!record) throw new AppError('JOB_NOT_FOUND', `job ${jobId} not found`);
  if (!isTerminal(record.job.status)) {
    throw new AppError('JOB_NOT_FINISHED', `job ${jobId} is ${record.job.status}; cancel it first, then delete it`);
  }
  try {
    await eraseJob(deps, tenant, jobId, record);
  } catch (err) {
    // Nothing is erased yet when the stored video cannot be deleted: the caller may retry (503), the job still there.
    if (isStorageError(err)) throw new AppError('STORAGE_FAILED', err.message, { cause: err });
    throw err;
  }
}
