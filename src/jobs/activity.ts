// Recent job activity read from the job indexes in Redis (every process's jobs): created per minute, and the jobs that ended.
import type { RedisClient } from '../redis/client.js';
import { groupByShard, type Keys } from '../redis/keys.js';
import { idTimePrefix } from './ids.js';
import type { JobStore } from './store.js';

export const MINUTE_MS = 60_000;

/** ZMSCORE takes one tenant's ids in chunks this long: no single command carries an unbounded argument list. */
const STATUS_CHUNK = 1_000;

/** An ended job's entry may carry a worker clock a little ahead of this one's: the scan looks this far past `to`. */
const CLOCK_SLACK_MS = 60_000;

/** Results of a pipeline in order; the first failed command fails the read (a half-counted chart would mislead). */
async function run(pipeline: ReturnType<RedisClient['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

/** Per shard, in parallel (a cluster pipeline stays on one node: a shard's tenant keys share one hash tag). */
function perShard<T>(keys: Keys, tenants: readonly string[], read: (group: string[]) => Promise<T>): Promise<T[]> {
  return Promise.all([...groupByShard([...new Set(tenants)], keys.shardOfTenant).values()].map(read));
}

/**
 * Jobs created in each of `minutes` minutes from `from` (a minute boundary, ms), all `tenants` added up. Job ids are
 * time-ordered (their first 10 characters are the creation ms) and each tenant's index is scored 0, so ordered by id:
 * one ZLEXCOUNT per tenant over the whole window, then one per minute for the tenants that created any (an idle tenant
 * costs one command). At most two pipelined round trips per shard.
 */
export async function createdPerMinute(redis: RedisClient, keys: Keys, tenants: readonly string[], from: number, minutes: number): Promise<number[]> {
  const bound = (i: number) => `job_${idTimePrefix(from + i * MINUTE_MS)}`;
  const counts = new Array<number>(minutes).fill(0);
  await perShard(keys, tenants, async (group) => {
    const totals = redis.pipeline();
    for (const tenant of group) totals.zlexcount(keys.tenantJobs(tenant), `[${bound(0)}`, `(${bound(minutes)}`);
    const active = (await run(totals)).flatMap((n, i) => (Number(n) > 0 ? [group[i]!] : []));
    if (active.length === 0) return;
    const perMinute = redis.pipeline();
    for (const tenant of active) for (let m = 0; m < minutes; m++) perMinute.zlexcount(keys.tenantJobs(tenant), `[${bound(m)}`, `(${bound(m + 1)}`);
    (await run(perMinute)).forEach((n, k) => (counts[k % minutes]! += Number(n)));
  });
  return counts;
}

export interface EndedJob {
  tenant: string;
  id: string;
  /** When it ended (ms): its retention index score less its retention, or its record's finished_at (endedBetween). */
  endedAt: number;
  /** From the tenant's status sets; `other`: canceled (or erased since). */
  status: 'succeeded' | 'failed' | 'other';
}

export interface EndedScan {
  /** Newest first. */
  jobs: EndedJob[];
  /** False when a read was cut at its cap (`cap` entries of a window, `verifyCap` records): some of the oldest are missing. */
  complete: boolean;
}

export interface EndedScanOptions {
  from: number;
  to: number;
  /** The retention a tenant's jobs get (its retention_ms, else JOB_RETENTION_MS; unknown tenants: the default). */
  retentionOf: (tenant: string) => number;
  /** JOB_RETENTION_MS. */
  defaultRetention: number;
  /** Every retention in use (retentionOf's values): one index window per retention and shard. */
  retentions: readonly number[];
  /** Entries read per window at most. */
  cap: number;
  /** Records read at most to place the jobs of tenants with a retention of their own (see endedBetween). */
  verifyCap: number;
}

/**
 * The jobs that ended in [from, to]. The one index of ended jobs by time is each shard's retention index: a job that
 * ends is entered there scored with its end time plus the retention it was given (JobStore.commit), so per retention
 * in use and per shard one ZREVRANGEBYSCORE finds them, and the tenants' failed and succeeded sets say how each ended
 * (ZMSCORE, pipelined per shard). A job of a tenant on JOB_RETENTION_MS found in that window is placed by its score.
 * A job of a tenant with a retention of its own may have been given the default instead (a worker reads the tenant's
 * settings from its directory cache, which answers the default when its copy is not fresh), so its score says
 * nothing sure: those jobs are placed by their records' finished_at (at most `verifyCap` read; beyond, the newest
 * are, and `complete` is false).
 */
export async function endedBetween(redis: RedisClient, keys: Keys, store: Pick<JobStore, 'getMany'>, opts: EndedScanOptions): Promise<EndedScan> {
  let complete = true;
  const windows = [...new Set([opts.defaultRetention, ...opts.retentions])].flatMap((retention) =>
    Array.from({ length: keys.shards }, (_, shard) => ({ retention, shard })),
  );
  const pages = await Promise.all(
    windows.map(async ({ retention, shard }) => {
      const raw = await redis.zrevrangebyscore(
        keys.retentionIndex(shard),
        opts.to + retention + CLOCK_SLACK_MS,
        opts.from + retention,
        'WITHSCORES',
        'LIMIT',
        0,
        opts.cap,
      );
      if (raw.length / 2 >= opts.cap) complete = false;
      return { retention, raw };
    }),
  );
  const placed = new Map<string, { tenant: string; id: string; endedAt: number }>();
  const unsure = new Map<string, { tenant: string; id: string; score: number }>();
  for (const { retention, raw } of pages) {
    for (let i = 0; i < raw.length; i += 2) {
      // Batches share the index.
      const [kind, tenant, id] = raw[i]!.split('|');
      if (kind !== 'job' || !tenant || !id) continue;
      const score = Number(raw[i + 1]);
      if (opts.retentionOf(tenant) !== opts.defaultRetention) unsure.set(id, { tenant, id, score });
      else if (retention === opts.defaultRetention) placed.set(id, { tenant, id, endedAt: Math.min(score - retention, opts.to) });
    }
  }
  // Newest entries first (a high score is a late end for any one retention); the records say when they really ended.
  const verify = [...unsure.values()].sort((a, b) => b.score - a.score);
  if (verify.length > opts.verifyCap) complete = false;
  const checked = verify.slice(0, opts.verifyCap);
  const records = checked.length > 0 ? await store.getMany(checked.map((j) => j.id), { webhookState: false }) : [];
  checked.forEach(({ tenant, id }, i) => {
    const finished = Date.parse(records[i]?.job.finished_at ?? '');
    if (finished >= opts.from && finished <= opts.to + CLOCK_SLACK_MS) placed.set(id, { tenant, id, endedAt: Math.min(finished, opts.to) });
  });
  const ended = [...placed.values()];
  const statuses = await statusesOf(redis, keys, ended);
  const jobs = ended.map((job) => ({ ...job, status: statuses.get(job.id) ?? ('other' as const) }));
  return { jobs: jobs.sort((a, b) => b.endedAt - a.endedAt), complete };
}

/** Which of the ids are in their tenant's failed or succeeded set. */
async function statusesOf(redis: RedisClient, keys: Keys, jobs: readonly { tenant: string; id: string }[]): Promise<Map<string, EndedJob['status']>> {
  const byTenant = new Map<string, string[]>();
  for (const { tenant, id } of jobs) {
    const ids = byTenant.get(tenant);
    if (ids) ids.push(id);
    else byTenant.set(tenant, [id]);
  }
  const out = new Map<string, EndedJob['status']>();
  await perShard(keys, [...byTenant.keys()], async (group) => {
    const pipeline = redis.pipeline();
    const asked: { ids: string[]; status: 'failed' | 'succeeded' }[] = [];
    for (const tenant of group) {
      const ids = byTenant.get(tenant)!;
      for (let at = 0; at < ids.length; at += STATUS_CHUNK) {
        const chunk = ids.slice(at, at + STATUS_CHUNK);
        for (const status of ['failed', 'succeeded'] as const) {
          pipeline.zmscore(keys.tenantJobsByStatus(tenant, status), ...chunk);
          asked.push({ ids: chunk, status });
        }
      }
    }
    (await run(pipeline)).forEach((scores, k) => {
      const { ids, status } = asked[k]!;
      (scores as (string | null)[]).forEach((score, i) => {
        if (score !== null) out.set(ids[i]!, status);
      });
    });
  });
  return out;
}
