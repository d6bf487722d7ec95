// The never-lose safety net: queued jobs whose start was lost are offered again, and slots of ended jobs are freed.
import { isTerminal } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import { scanKeys, type RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { Admission, TenantLimits } from './admission.js';
import { enqueueFlow, type FlowQueueRef } from './queue.js';

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
  redis: RedisClient;
  keys: Keys;
  /** The flow queue(s): each offered job goes to its shard's. */
  queue: FlowQueueRef;
  store: Pick<JobStore, 'getMany'>;
  admission: Admission;
  limitsOf: (tenant: string) => Promise<TenantLimits>;
  intervalMs: number;
  minAgeMs: number;
  logger: Logger;
}

async function offer(deps: SweeperDeps, admitted: string[]): Promise<void> {
  for (const id of admitted) await enqueueFlow(deps.queue, id);
}

/**
 * JobCommands.create writes the record, then offers the job to admission, which hands admitted jobs to the queue; a
 * crash in between leaves a `queued` job nobody will start. Every old-enough queued job is therefore checked: still
 * waiting its turn (fine), admitted (its queue entry is re-added: BullMQ ignores an add whose id exists), or known to
 * neither (offered again). Returns how many jobs were offered.
 */
export async function sweepQueued(deps: Omit<SweeperDeps, 'intervalMs' | 'logger'>, now = Date.now()): Promise<number> {
  let offered = 0;
  for (let shard = 0; shard < deps.keys.shards; shard++) {
    // SCAN on every master: on a cluster a plain SCAN would see one random node only.
    for await (const sets of scanKeys(deps.redis, deps.keys.queuedJobSetsPattern(shard), 200)) {
      offered += await sweepSets(deps, sets, shard, now);
    }
  }
  return offered;
}

/** One batch of a shard's queued-job sets: each old-enough job is re-offered unless it waits its turn. */
async function sweepSets(deps: Omit<SweeperDeps, 'intervalMs' | 'logger'>, sets: string[], shard: number, now: number): Promise<number> {
  let offered = 0;
  for (const set of sets) {
    const tenant = deps.keys.tenantOfQueuedSet(set, shard);
    // ULIDs sort by time, so the old enough ones come first: stop at the first one that is too young.
    const ids = await deps.redis.zrangebylex(set, '-', '+');
    for (const id of ids) {
      const created = jobIdTime(id);
      if (created === null) continue;
      if (now - created < deps.minAgeMs) break;
      const state = await deps.admission.state(id, tenant);
      if (state === 'pending') continue;
      if (state === 'running') await enqueueFlow(deps.queue, id);
      else await offer(deps as SweeperDeps, await deps.admission.add(id, tenant, await deps.limitsOf(tenant), created));
      offered += 1;
    }
  }
  return offered;
}

/** Slots held by jobs that have ended (their release was lost with a crashed process) are freed, and waiting work starts. */
export async function reconcileSlots(deps: Omit<SweeperDeps, 'intervalMs' | 'logger'>): Promise<number> {
  let freed = 0;
  for (let shard = 0; shard < deps.admission.shards; shard++) {
    for (const tenant of await deps.admission.tenants(shard)) {
      const running = await deps.admission.running(tenant);
      const records = await deps.store.getMany(running, { webhookState: false });
      for (const [i, record] of records.entries()) {
        if (record && !isTerminal(record.job.status)) continue;
        await offer(deps as SweeperDeps, await deps.admission.release(running[i]!, tenant));
        freed += 1;
      }
    }
    await offer(deps as SweeperDeps, await deps.admission.admitWaiting(shard));
  }
  return freed;
}

export function startQueuedSweeper(deps: SweeperDeps): { stop(): void } {
  let stopped = false;
  const tick = async () => {
    // One sweep per interval across all workers: whoever claims the slot does it.
    const claimed = await deps.redis.set(deps.keys.queuedSweepLock(), '1', 'PX', Math.max(10, deps.intervalMs - 5), 'NX');
    if (claimed !== 'OK' || stopped) return;
    const offered = await sweepQueued(deps);
    const freed = await reconcileSlots(deps);
    if (offered > 0 || freed > 0) deps.logger.info({ offered, freed }, 'offered lost queued jobs again and freed slots of ended jobs');
  };
  const run = () => void tick().catch((err: unknown) => deps.logger.warn({ err: String(err) }, 'queued-job sweep failed'));
  // A first pass soon after start, not a whole interval later: a fleet that keeps restarting (crash loop, rolling
  // deploys faster than the interval) would otherwise never sweep, and jobs admitted by a worker that died before
  // queueing them would wait for good. Jittered so a fleet restarting together does not race for the lock at once.
  const first = setTimeout(run, Math.random() * Math.min(deps.intervalMs, FIRST_PASS_MAX_DELAY_MS));
  first.unref();
  const timer = setInterval(run, deps.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}

/** The longest a worker waits after start before its first sweep (the lock still lets one pass run per interval). */
const FIRST_PASS_MAX_DELAY_MS = 5_000;
