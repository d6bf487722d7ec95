// The retention sweeper: erases the jobs and batches whose retention has ended (one worker at a time does it).
import type { Logger } from '../observability/logger.js';
import { eraseBatch, eraseJob, type EraseDeps } from './erase-job.js';

export interface RetentionSweepDeps extends SweepDeps {
  intervalMs: number;
  logger: Logger;
  /** Deleted tenants past their retention: their remaining keys get their purge expiry, their tombstones go. */
  sweepDeletedTenants?: () => Promise<unknown>;
}

export interface SweepDeps extends EraseDeps {
  /**
   * Whether a webhook delivery of the job is still pending (queued, or failing and waiting for its retry) and may hold
   * the job: a deleted tenant's jobs are not held (its data goes at its purge time).
   */
  deliveryPending?: (tenant: string, jobId: string) => Promise<boolean>;
  logger?: Logger;
}

/** How long a job due for erasure waits while a delivery of it is pending, before the sweep looks again. */
export const PENDING_RECHECK_MS = 60_000;
/**
 * A pending delivery holds its job this long past the job's end at most: longer than the whole retry schedule (about
 * 28 h) and a 24 h Retry-After. A delivery still pending after that is stuck, and waiting longer would keep the job
 * for ever.
 */
export const MAX_DELIVERY_HOLD_MS = 3 * 86_400_000;

/**
 * A job is due: erased now, unless a webhook delivery of it is still pending (its retention ran out before the
 * webhook went out, e.g. a backlog in the webhooks queue): then it waits, so the caller still hears how it ended.
 */
async function sweepJob(deps: SweepDeps, index: string, member: string, tenant: string, jobId: string, now: number): Promise<boolean> {
  if (deps.deliveryPending && (await deps.deliveryPending(tenant, jobId))) {
    const record = await deps.store.get(jobId);
    const endedAt = record?.job.finished_at ? Date.parse(record.job.finished_at) : NaN;
    if (record && !(now - endedAt > MAX_DELIVERY_HOLD_MS)) {
      await deps.redis.zadd(index, 'XX', now + PENDING_RECHECK_MS, member);
      return false;
    }
    deps.logger?.warn({ jobId }, 'erasing a job whose webhook delivery is still pending after the longest hold');
  }
  await eraseJob(deps, tenant, jobId);
  return true;
}

/** Erases what is due in every shard's index (up to `limit` per shard); answers how many jobs and batches were erased. */
export async function sweepRetention(deps: SweepDeps, now = Date.now(), limit = 500): Promise<number> {
  let erased = 0;
  for (let shard = 0; shard < deps.keys.shards; shard++) {
    const index = deps.keys.retentionIndex(shard);
    const due = await deps.redis.zrangebyscore(index, '-inf', now, 'LIMIT', 0, limit);
    for (const member of due) {
      const [kind, tenant, id] = member.split('|') as [string, string | undefined, string | undefined];
      if (!tenant || !id) {
        await deps.redis.zrem(index, member);
        continue;
      }
      if (kind === 'batch') await eraseBatch(deps, tenant, id);
      else if (!(await sweepJob(deps, index, member, tenant, id, now))) continue;
      erased += 1;
    }
  }
  return erased;
}

export function startRetentionSweeper(deps: RetentionSweepDeps): { stop(): void } {
  let stopped = false;
  let running = false;
  const tick = async () => {
    if (running || stopped) return;
    const claimed = await deps.redis.set(deps.keys.retentionSweepLock(), '1', 'PX', Math.max(10, deps.intervalMs - 5), 'NX');
    if (claimed !== 'OK') return;
    running = true;
    try {
      // A big backlog (a retention lowered, a worker down for a while) is worked off in rounds, not in one go.
      for (let round = 0; round < 20 && !stopped; round++) {
        const erased = await sweepRetention(deps);
        if (erased > 0) deps.logger.info({ erased }, 'erased jobs past their retention');
        // Below a full page per shard: nothing (much) is left; a shard that was full goes on at the next tick at worst.
        if (erased < 500 * deps.keys.shards) break;
      }
      await deps.sweepDeletedTenants?.();
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => {
    tick().catch((err: unknown) => deps.logger.warn({ err: String(err) }, 'retention sweep failed'));
  }, deps.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
