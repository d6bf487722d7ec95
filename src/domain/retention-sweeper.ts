// The retention sweeper: erases the jobs and batches whose retention has ended (one worker at a time does it).
import type { Logger } from '../observability/logger.js';
import { eraseBatch, eraseJob, type EraseDeps } from './erase-job.js';

export interface RetentionSweepDeps extends EraseDeps {
  intervalMs: number;
  logger: Logger;
  /** Deleted tenants past their retention: their remaining keys get their purge expiry, their tombstones go. */
  sweepDeletedTenants?: () => Promise<unknown>;
}

/** Erases what is due in every shard's index (up to `limit` per shard); answers how many jobs and batches were erased. */
export async function sweepRetention(deps: EraseDeps, now = Date.now(), limit = 500): Promise<number> {
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
      else await eraseJob(deps, tenant, id);
    }
    erased += due.length;
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
