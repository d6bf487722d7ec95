// The retention sweeper: erases the jobs and batches whose retention has ended (one worker at a time does it).
import type { Logger } from '../observability/logger.js';
import { eraseBatch, eraseJob, type EraseDeps } from './erase-job.js';

export interface RetentionSweepDeps extends EraseDeps {
  intervalMs: number;
  logger: Logger;
  /** Deleted tenants past their retention: their remaining keys get their purge expiry, their tombstones go. */
  sweepDeletedTenants?: () => Promise<unknown>;
}

export interface SweepOutcome {
  /** Index entries looked at (a full page per shard means more may be due). */
  due: number;
  erased: number;
  /** Entries whose erase failed (its stored video could not be deleted): kept in the index, tried again next sweep. */
  failed: number;
  firstError: string | null;
}

/** How long an entry whose erase failed waits before the sweep tries it again. */
export const FAILED_ERASE_RETRY_MS = 60_000;

/** Erases what is due in every shard's index (up to `limit` per shard), each entry on its own. */
export async function sweepRetention(deps: EraseDeps, now = Date.now(), limit = 500): Promise<SweepOutcome> {
  const outcome: SweepOutcome = { due: 0, erased: 0, failed: 0, firstError: null };
  for (let shard = 0; shard < deps.keys.shards; shard++) {
    const index = deps.keys.retentionIndex(shard);
    const due = await deps.redis.zrangebyscore(index, '-inf', now, 'LIMIT', 0, limit);
    outcome.due += due.length;
    for (const member of due) {
      const [kind, tenant, id] = member.split('|') as [string, string | undefined, string | undefined];
      if (!tenant || !id) {
        await deps.redis.zrem(index, member);
        continue;
      }
      try {
        if (kind === 'batch') await eraseBatch(deps, tenant, id);
        else await eraseJob(deps, tenant, id);
        outcome.erased += 1;
      } catch (err) {
        // One entry that cannot be erased now (storage down) does not hold up the others: it goes to the back of the
        // index, due again in a minute, so entries that keep failing never fill the page the next sweeps read.
        outcome.failed += 1;
        outcome.firstError ??= `${member}: ${String(err)}`;
        await deps.redis.zadd(index, 'XX', now + FAILED_ERASE_RETRY_MS, member).catch(() => 0);
      }
    }
  }
  return outcome;
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
        const { due, erased, failed, firstError } = await sweepRetention(deps);
        if (erased > 0) deps.logger.info({ erased }, 'erased jobs past their retention');
        if (failed > 0) deps.logger.warn({ failed, firstError }, 'some jobs past their retention could not be erased; tried again on the next sweep');
        // Below a full page per shard: nothing (much) is left; a shard that was full goes on at the next tick at worst.
        // Failures are not worked through again in this tick (they would fail the same way).
        if (due < 500 * deps.keys.shards || failed > 0) break;
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
