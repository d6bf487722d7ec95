// Fair starts: jobs wait per tenant and are admitted round-robin (weighted), within each tenant's and each account's cap.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { ADD_JOB_FN, ADMIT_BATCH, ADMIT_FN } from '../jobs/admission-lua.js';
import { luaScript, runScript } from '../redis/scripts.js';

/** What admission needs to know of a tenant (its settings; the service's defaults when it has none). */
export interface TenantLimits {
  /** Running jobs (upstream sessions in use) at most; 0 = only the account's cap applies. */
  maxConcurrent: number;
  /** Share of starts relative to other tenants with work waiting (weight 2 starts twice as often as weight 1). */
  weight: number;
  /** The upstream account the tenant's jobs spend; MAX_RUNNING_JOBS caps each account. */
  account: string;
}

/** ARGV: base, jobId, tenant, createdMs, max, weight, account, maxAccount, admitLimit (ADD_JOB_FN). */
const ADD = luaScript(`${ADD_JOB_FN}
return add_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])`);

/** ARGV: base, jobId, tenant, maxAccount, admitLimit. The job ended (or was canceled): frees its slot, admits the next. */
const RELEASE = luaScript(`${ADMIT_FN}
local base, job, t = ARGV[1], ARGV[2], ARGV[3]
local account = redis.call('HGET', base .. 'job-account', job)
-- A running job is never also waiting (admit and start_at_once take it out first): only one that was not running may be.
if redis.call('SREM', base .. 'running:' .. t, job) == 0 then redis.call('ZREM', base .. 'pending:' .. t, job) end
if account then redis.call('SREM', base .. 'account:' .. account, job) end
redis.call('HDEL', base .. 'job-account', job)
if redis.call('ZCARD', base .. 'tenants') == 0 then return {} end
return admit(base, tonumber(ARGV[4]), tonumber(ARGV[5]))`);

/**
 * ARGV: base, tenant, max, weight, account, maxAccount, admitLimit. A tenant's settings changed (admin API): the
 * scheduler's copy follows at once, and what a raised cap now allows is admitted. A tenant the scheduler has never seen
 * is left alone (its next job writes them).
 */
const SET_LIMITS = luaScript(`${ADMIT_FN}
local base, t = ARGV[1], ARGV[2]
if redis.call('HEXISTS', base .. 'limits', t) == 0 then return {} end
set_limits(base, t, ARGV[3], ARGV[4], ARGV[5])
if redis.call('ZCARD', base .. 'tenants') == 0 then return {} end
return admit(base, tonumber(ARGV[6]), tonumber(ARGV[7]))`);

/** ARGV: base, jobId, tenant. 1 when the job was still waiting (and is now removed), else 0. */
const WITHDRAW = luaScript(`return redis.call('ZREM', ARGV[1] .. 'pending:' .. ARGV[3], ARGV[2])`);

/** ARGV: base, jobId, tenant. 'pending' | 'running' | 'none'. */
const STATE = luaScript(`
if redis.call('ZSCORE', ARGV[1] .. 'pending:' .. ARGV[3], ARGV[2]) then return 'pending' end
if redis.call('SISMEMBER', ARGV[1] .. 'running:' .. ARGV[3], ARGV[2]) == 1 then return 'running' end
return 'none'`);

/**
 * ARGV: base, jobId, tenant. About how many jobs start before this one: its place among its tenant's waiting jobs, plus
 * the other tenants' waiting jobs whose passes come before the pass this job will start at (caps ignored: an estimate).
 * 0 when it was admitted (its slot taken: it starts when a worker takes it), false when the scheduler does not hold it.
 */
const POSITION = luaScript(`
local base, job, t = ARGV[1], ARGV[2], ARGV[3]
local rank = redis.call('ZRANK', base .. 'pending:' .. t, job)
if not rank then
  if redis.call('SISMEMBER', base .. 'running:' .. t, job) == 1 then return 0 end
  return false
end
local vt = tonumber(redis.call('GET', base .. 'vtime') or '0')
local function weightOf(x)
  local lim = redis.call('HGET', base .. 'limits', x) or '0|1|default'
  local _, w = string.match(lim, '^(%d+)|([%d%.eE+-]+)|')
  w = tonumber(w) or 1
  if w <= 0 then w = 1 end
  return w
end
local function passOf(x)
  local s = tonumber(redis.call('ZSCORE', base .. 'tenants', x) or vt)
  if s < vt then s = vt end
  return s
end
local mine = passOf(t) + rank / weightOf(t)
local ahead = rank
for _, other in ipairs(redis.call('ZRANGE', base .. 'tenants', 0, -1)) do
  if other ~= t then
    local waiting = redis.call('ZCARD', base .. 'pending:' .. other)
    local before = math.ceil((mine - passOf(other)) * weightOf(other))
    if before > 0 then ahead = ahead + math.min(waiting, before) end
  end
end
return ahead + 1`);

/**
 * One scheduler per queue shard (QUEUE_SHARDS): a tenant's jobs wait and run in its shard's scheduler, whose keys
 * share the shard's hash tag. Tenants take turns within a shard, and MAX_RUNNING_JOBS caps each account per shard
 * (an account whose tenants span N shards may run up to N × MAX_RUNNING_JOBS). With one shard: one scheduler, as always.
 */
export class Admission {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** MAX_RUNNING_JOBS: upstream sessions in use at once per upstream account (per shard). */
    private readonly maxPerAccount: number,
  ) {}

  /** The shards to walk (the reconciler visits every one). */
  get shards(): number {
    return this.keys.shards;
  }

  /** Every script names one key of the scheduler (`tenants`) so a Redis Cluster routes it to the slot all of them share. */
  private at(shard: number): { base: string; route: string } {
    const base = this.keys.admission(shard);
    return { base, route: `${base}tenants` };
  }

  private of(tenant: string) {
    return this.at(this.keys.shardOfTenant(tenant));
  }

  /** A new (or re-offered) job waits its turn; answers the jobs admitted now, which go to the flow queue. */
  async add(jobId: string, tenant: string, limits: TenantLimits, createdMs = Date.now()): Promise<string[]> {
    const { base, route } = this.of(tenant);
    const out = await runScript(
      this.redis,
      ADD,
      1,
      route,
      base,
      jobId,
      tenant,
      createdMs,
      limits.maxConcurrent,
      limits.weight,
      limits.account,
      this.maxPerAccount,
      ADMIT_BATCH,
    );
    return out as string[];
  }

  /** The tenant's caps, weight or account changed: the scheduler uses them from now; answers the jobs admitted now. */
  async setLimits(tenant: string, limits: TenantLimits): Promise<string[]> {
    const { base, route } = this.of(tenant);
    const out = await runScript(this.redis, SET_LIMITS, 1, route, base, tenant, limits.maxConcurrent, limits.weight, limits.account, this.maxPerAccount, ADMIT_BATCH);
    return out as string[];
  }

  /** A job ended: its slot is free; answers the jobs admitted in its place (all of the same shard). */
  async release(jobId: string, tenant: string): Promise<string[]> {
    const { base, route } = this.of(tenant);
    // One job's tenant slot and account slot are free: at most one waiting job can take them.
    return (await runScript(this.redis, RELEASE, 1, route, base, jobId, tenant, this.maxPerAccount, 1)) as string[];
  }

  /** Takes back a job that never started (a cancel of a waiting job); true when it was waiting. */
  async withdraw(jobId: string, tenant: string): Promise<boolean> {
    const { base, route } = this.of(tenant);
    return Number(await runScript(this.redis, WITHDRAW, 1, route, base, jobId, tenant)) === 1;
  }

  async state(jobId: string, tenant: string): Promise<'pending' | 'running' | 'none'> {
    const { base, route } = this.of(tenant);
    return (await runScript(this.redis, STATE, 1, route, base, jobId, tenant)) as 'pending' | 'running' | 'none';
  }

  /** About how many jobs start before this one (1 = next) among its shard's; 0 once admitted; null when not held. */
  async position(jobId: string, tenant: string): Promise<number | null> {
    const { base, route } = this.of(tenant);
    const out = await runScript(this.redis, POSITION, 1, route, base, jobId, tenant);
    return typeof out === 'number' ? out : null;
  }

  /** Tenants with admitted jobs in one shard (the reconciler's worklist). */
  async tenants(shard = 0): Promise<string[]> {
    return this.redis.hkeys(`${this.at(shard).base}limits`);
  }

  async running(tenant: string): Promise<string[]> {
    return this.redis.smembers(`${this.of(tenant).base}running:${tenant}`);
  }

  /** Admits what may start in one shard (after slots were freed without a release call). */
  async admitWaiting(shard = 0): Promise<string[]> {
    const { base, route } = this.at(shard);
    return (await runScript(this.redis, RELEASE, 1, route, base, '', '', this.maxPerAccount, ADMIT_BATCH)) as string[];
  }
}
