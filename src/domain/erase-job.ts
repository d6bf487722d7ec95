// Erasing a job: every key it made, its entries in the tenant's indexes, its queue entries and its stored output.
import type { Queue } from 'bullmq';
import { AppError } from '../core/errors.js';
import { isTerminal, JOB_STATUSES, type JobRecord } from '../jobs/schemas.js';
import { retentionMember, type JobStore } from '../jobs/store.js';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';

export interface EraseDeps {
  redis: RedisClient;
  keys: Keys;
  store: Pick<JobStore, 'get' | 'getForTenant'>;
  /** The flow queue(s): a finished job's entry is normally gone already (removeOnComplete); a stray one goes too. */
  flowQueue: Pick<Queue, 'remove'>;
  /** Deletes the job's stored MP4 (outputs that last); absent when outputs are not stored. */
  outputs?: { erase(tenant: string, jobId: string): Promise<void> };
}

/**
 * Erases one job. The record may already have expired (its TTL runs with the retention): what is left is found by
 * name. Idempotent: erasing twice, or a job half erased by a crash, is fine.
 */
export async function eraseJob(deps: EraseDeps, tenant: string, jobId: string, known?: JobRecord | null): Promise<void> {
  const { redis, keys } = deps;
  const record = known === undefined ? await deps.store.get(jobId) : known;
  const multi = redis
    .multi()
    .unlink(keys.job(jobId), keys.jobFlow(jobId), keys.jobEvents(jobId), keys.jobDeliveries(jobId), keys.jobWebhookPending(jobId))
    .zrem(keys.tenantJobs(tenant), jobId);
  for (const status of JOB_STATUSES) multi.zrem(keys.tenantJobsByStatus(tenant, status), jobId);
  if (record?.idem) multi.unlink(record.idem);
  multi.zrem(keys.retentionIndex(keys.shardOfId(jobId)), retentionMember(tenant, jobId));
  await multi.exec();
  // A group's session outlives its jobs only while one of them still waits for a turn.
  if (record?.group && (await redis.llen(keys.sessionGroupQueue(record.group))) === 0) await redis.unlink(keys.sessionGroup(record.group));
  await deps.flowQueue.remove(jobId).catch(() => 0);
  await deps.outputs?.erase(tenant, jobId);
}

/** A batch's own keys (its items are jobs, erased on their own retention). */
export async function eraseBatch(deps: Pick<EraseDeps, 'redis' | 'keys'>, tenant: string, batchId: string): Promise<void> {
  const { redis, keys } = deps;
  await redis
    .multi()
    .unlink(keys.batch(batchId), keys.batchFinalized(batchId), keys.batchChecked(batchId))
    .zrem(keys.tenantBatches(tenant), batchId)
    .zrem(keys.retentionIndex(keys.shardOfId(batchId)), `batch|${tenant}|${batchId}`)
    .exec();
}

/** DELETE /v1/jobs/{id}: a finished job of the tenant is erased now; a running one must be canceled first. */
export async function deleteJob(deps: EraseDeps, tenant: string, jobId: string): Promise<void> {
  const record = await deps.store.getForTenant(tenant, jobId);
  if (!record) throw new AppError('JOB_NOT_FOUND', `job ${jobId} not found`);
  if (!isTerminal(record.job.status)) {
    throw new AppError('JOB_NOT_FINISHED', `job ${jobId} is ${record.job.status}; cancel it first, then delete it`);
  }
  await eraseJob(deps, tenant, jobId, record);
}
