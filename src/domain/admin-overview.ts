// The operator's overview (GET /admin/overview): queue depths, the last hour's jobs and failures, credits, tenants; from Redis.
import { createdPerMinute, endedBetween, MINUTE_MS } from '../jobs/activity.js';
import type { JobStore } from '../jobs/store.js';
import type { Balance } from '../nemo/balance.js';
import { readQueueDepths, withTimeout, type CountableQueue } from '../observability/metrics.js';
import type { RedisClient } from '../redis/client.js';
import { DEFAULT_ACCOUNT, type Keys } from '../redis/keys.js';
import type { TenantSettings } from '../tenants/schemas.js';

/** The period shown: this many minutes, the current (partial) one last. */
export const OVERVIEW_MINUTES = 60;
/** Failure codes are counted over the newest failures of the period, this many at most (one record read each). */
export const FAILURE_RECORDS_CAP = 1_000;
/** Ended jobs read per retention index window (one per shard and retention in use) at most. */
export const ENDED_SCAN_CAP = 20_000;
/** Records read at most to place the ended jobs of tenants with a retention_ms of their own (jobs/activity.ts). */
export const VERIFY_RECORDS_CAP = 1_000;
/** The console polls the overview: one computation serves every caller for this long. */
export const OVERVIEW_CACHE_MS = 5_000;
/** A balance the upstream does not give in this time is shown unknown (null) rather than holding the overview up. */
const CREDITS_TIMEOUT_MS = 3_000;

export interface AdminOverview {
  generated_at: string;
  queues: { name: string; waiting: number; active: number; delayed: number; failed: number }[];
  jobs_per_minute: { minute: string; created: number; succeeded: number; failed: number }[];
  failures: { code: string; count: number }[];
  failures_read: number;
  complete: boolean;
  accounts: { id: string; kind: TenantSettings['upstream']['kind']; available: number | null; frozen: number | null; total: number | null; claim_url: string | null }[];
  tenants: { id: string; account: string; max_concurrent_jobs: number | null; rate_limit_per_min: number | null; running: number; queued: number }[];
}

/** What the overview needs of a tenant (never its upstream token: the view says only which kind of account it has). */
export type OverviewTenant = Pick<TenantSettings, 'id' | 'max_concurrent_jobs' | 'rate_limit_per_min' | 'retention_ms' | 'upstream'>;

export interface AdminOverviewDeps {
  /** The request-path connection: a Redis outage fails the read at once (503) instead of queueing it. */
  redis: RedisClient;
  keys: Keys;
  store: Pick<JobStore, 'countByStatus' | 'getMany'>;
  /** Every shard's flow and webhooks queue. */
  queues: readonly CountableQueue[];
  /** Every tenant the service answers for (bootstrap ones and, with AUTH_DISABLED, the anonymous one included). */
  tenants(): Promise<OverviewTenant[]>;
  /** The id of the upstream account a tenant's jobs spend (no token opened). */
  accountOf(tenant: string): Promise<string>;
  /** The credits of a tenant's account, or of the service's own (`null`), as GET /v1/credits reads them. */
  credits(tenant: string | null): Promise<Balance & { claim_url: string | null }>;
  /** JOB_RETENTION_MS: the retention of tenants without their own. */
  defaultRetentionMs: number;
  now?: () => number;
}

const isoMinute = (ms: number) => `${new Date(ms).toISOString().slice(0, 16)}:00Z`;

export class AdminOverviewReader {
  private cached: { at: number; promise: Promise<AdminOverview> } | null = null;

  constructor(private readonly deps: AdminOverviewDeps) {}

  /** The overview, computed at most once per OVERVIEW_CACHE_MS in this process (a failed computation is not kept). */
  read(): Promise<AdminOverview> {
    const now = this.now();
    if (this.cached && now - this.cached.at < OVERVIEW_CACHE_MS) return this.cached.promise;
    const promise = this.compute(now);
    this.cached = { at: now, promise };
    promise.catch(() => {
      if (this.cached?.promise === promise) this.cached = null;
    });
    return promise;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private async compute(now: number): Promise<AdminOverview> {
    const { deps } = this;
    const tenants = await deps.tenants();
    const ids = tenants.map((t) => t.id);
    const from = Math.floor(now / MINUTE_MS) * MINUTE_MS - (OVERVIEW_MINUTES - 1) * MINUTE_MS;
    const retentions = new Map(tenants.map((t) => [t.id, t.retention_ms ?? deps.defaultRetentionMs]));
    const retentionOf = (tenant: string) => retentions.get(tenant) ?? deps.defaultRetentionMs;
    const [queues, counts, created, ended, accounts] = await Promise.all([
      readQueueDepths(deps.queues),
      deps.store.countByStatus(ids),
      createdPerMinute(deps.redis, deps.keys, ids, from, OVERVIEW_MINUTES),
      endedBetween(deps.redis, deps.keys, deps.store, {
        from,
        to: now,
        retentionOf,
        defaultRetention: deps.defaultRetentionMs,
        retentions: [...retentions.values()],
        cap: ENDED_SCAN_CAP,
        verifyCap: VERIFY_RECORDS_CAP,
      }),
      Promise.all(tenants.map(async (t) => ({ tenant: t, account: await deps.accountOf(t.id) }))),
    ]);

    // The balances may need the upstream (one read per account per CREDITS_CACHE_MS): asked while the failures are read.
    const credits = this.accounts(accounts);
    const minutes = created.map((n, i) => ({ minute: isoMinute(from + i * MINUTE_MS), created: n, succeeded: 0, failed: 0 }));
    // Live tenants' jobs only, as created counts them: a deleted tenant's ended jobs stay in the retention index until
    // its purge, and counted there they made its jobs succeed or fail in minutes that created none.
    const live = new Set(ids);
    const endedJobs = ended.jobs.filter((job) => live.has(job.tenant));
    for (const job of endedJobs) {
      const row = minutes[Math.floor((job.endedAt - from) / MINUTE_MS)];
      if (row && job.status !== 'other') row[job.status] += 1;
    }
    const failed = endedJobs.filter((j) => j.status === 'failed').slice(0, FAILURE_RECORDS_CAP);
    const records = failed.length > 0 ? await deps.store.getMany(failed.map((j) => j.id)) : [];
    const codes = new Map<string, number>();
    for (const record of records) {
      if (!record) continue;
      const code = record.job.error?.code ?? 'UNKNOWN';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }

    const byStatus = new Map(counts.map((c) => [`${c.tenant}|${c.status}`, c.count]));
    const count = (tenant: string, status: string) => byStatus.get(`${tenant}|${status}`) ?? 0;
    return {
      generated_at: new Date(now).toISOString(),
      queues: queueRows(queues),
      jobs_per_minute: minutes,
      failures: [...codes].map(([code, n]) => ({ code, count: n })).sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : 1)),
      failures_read: records.filter(Boolean).length,
      complete: ended.complete,
      accounts: await credits,
      tenants: accounts.map(({ tenant, account }) => ({
        id: tenant.id,
        account,
        max_concurrent_jobs: tenant.max_concurrent_jobs,
        rate_limit_per_min: tenant.rate_limit_per_min,
        running: count(tenant.id, 'running'),
        queued: count(tenant.id, 'queued'),
      })),
    };
  }

  /** The service's own account, then each account a tenant spends, once, with its credits (unknown: null). */
  private async accounts(spent: { tenant: OverviewTenant; account: string }[]): Promise<AdminOverview['accounts']> {
    const byAccount = new Map<string, { tenant: string | null; kind: AdminOverview['accounts'][number]['kind'] }>([[DEFAULT_ACCOUNT, { tenant: null, kind: 'default' }]]);
    for (const { tenant, account } of spent) if (!byAccount.has(account)) byAccount.set(account, { tenant: tenant.id, kind: tenant.upstream.kind });
    return Promise.all(
      [...byAccount].map(async ([id, { tenant, kind }]) => {
        try {
          const credits = await withTimeout(this.deps.credits(tenant), CREDITS_TIMEOUT_MS);
          return { id, kind, available: credits.available, frozen: credits.frozen, total: credits.total, claim_url: credits.claim_url };
        } catch {
          return { id, kind, available: null, frozen: null, total: null, claim_url: null };
        }
      }),
    );
  }
}

/** Each queue (its shards added up) as the operator reads it: waiting counts the prioritized entries too. */
function queueRows(rows: Awaited<ReturnType<typeof readQueueDepths>>): AdminOverview['queues'] {
  const byName = new Map<string, AdminOverview['queues'][number]>();
  for (const { queue, state, count } of rows) {
    const row = byName.get(queue) ?? { name: queue, waiting: 0, active: 0, delayed: 0, failed: 0 };
    if (state === 'waiting' || state === 'prioritized') row.waiting += count;
    else if (state === 'active' || state === 'delayed' || state === 'failed') row[state] += count;
    byName.set(queue, row);
  }
  return [...byName.values()];
}
