// The never-lose safety net: a job whose record says `queued` long after creation gets its queue entry (re-)added.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { Keys } from '../redis/keys.js';
import { enqueueFlow, type FlowJobData } from './queue.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Creation time of a `job_<ULID>` id (its first 10 characters are the epoch ms), or null when it is not one. */
export function jobIdTime(jobId: string): number | null {
  const m = /^job_([0-9A-HJKMNP-TV-Z]{10})[0-9A-HJKMNP-TV-Z]{16}$/.exec(jobId);
  if (!m) return null;
  let ms = 0;
  for (const ch of m[1]!) ms = ms * 32 + CROCKFORD.indexOf(ch);
  return ms;
}

export interface SweeperDeps {
  redis: Redis;
  keys: Keys;
  queue: Queue<FlowJobData>;
  intervalMs: number;
  minAgeMs: number;
  logger: Logger;
}

/**
 * JobCommands.create writes the record, then adds the queue entry; a crash in between leaves a `queued` job that no
 * worker will ever see. Re-adding every old-enough queued job is harmless: BullMQ ignores an add whose job id exists,
 * and a job already running has left `queued`. Returns how many jobs were (re-)offered to the queue.
 */
export async function sweepQueued(deps: Omit<SweeperDeps, 'intervalMs' | 'logger'>, now = Date.now()): Promise<number> {
  let offered = 0;
  let cursor = '0';
  do {
    const [next, sets] = await deps.redis.scan(cursor, 'MATCH', deps.keys.queuedJobSetsPattern(), 'COUNT', 200);
    cursor = next;
    for (const set of sets) {
      // ULIDs sort by time, so the old enough ones come first: stop at the first one that is too young.
      const ids = await deps.redis.zrangebylex(set, '-', '+');
      for (const id of ids) {
        const created = jobIdTime(id);
        if (created === null) continue;
        if (now - created < deps.minAgeMs) break;
        await enqueueFlow(deps.queue, id);
        offered += 1;
      }
    }
  } while (cursor !== '0');
  return offered;
}

export function startQueuedSweeper(deps: SweeperDeps): { stop(): void } {
  let stopped = false;
  const tick = async () => {
    // One sweep per interval across all workers: whoever claims the slot does it.
    const claimed = await deps.redis.set(deps.keys.queuedSweepLock(), '1', 'PX', Math.max(10, deps.intervalMs - 5), 'NX');
    if (claimed !== 'OK' || stopped) return;
    const offered = await sweepQueued(deps);
    if (offered > 0) deps.logger.info({ offered }, 'offered old queued jobs to the queue again');
  };
  const timer = setInterval(() => {
    tick().catch((err: unknown) => deps.logger.warn({ err: String(err) }, 'queued-job sweep failed'));
  }, deps.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
