// Admission's Lua functions (the round, and a job's offer to it), shared by flow/admission.ts and the create script.
import { START_AT_ONCE_FN } from './start-at-once.js';

/** The most jobs one call admits (a burst of freed slots is filled at once; the next end admits more). */
export const ADMIT_BATCH = 50;

/**
 * Stride scheduling in one Lua function: every tenant with work waiting has a pass (a score in `tenants`); the lowest
 * pass whose tenant and account are under their caps starts its oldest job, and its pass grows by 1/weight. A
 * tenant joining starts at the current virtual time, so it goes before a tenant that has just started many jobs,
 * and a tenant held back by its own cap banks no credit (its pass is raised to the virtual time when it starts).
 */
export const ADMIT_FN = `
-- A tenant's settings as the round reads them ('max|weight|account'): written by a job's offer and by a settings change.
local function set_limits(base, t, max_s, weight_s, account)
  redis.call('HSET', base .. 'limits', t, max_s .. '|' .. weight_s .. '|' .. account)
end
local function admit(base, maxAccount, limit)
  local out = {}
  local vt0 = tonumber(redis.call('GET', base .. 'vtime') or '0')
  local vt = vt0
  while #out < limit do
    local picked = false
    local list = redis.call('ZRANGE', base .. 'tenants', 0, -1, 'WITHSCORES')
    for i = 1, #list, 2 do
      local t, score = list[i], tonumber(list[i + 1])
      local head = redis.call('ZRANGE', base .. 'pending:' .. t, 0, 0)
      if #head == 0 then
        -- Nothing waiting: the tenant leaves the round, keeping its pass (rejoining does not reset it below that).
        redis.call('ZREM', base .. 'tenants', t)
        redis.call('HSET', base .. 'passes', t, tostring(score))
      else
        local lim = redis.call('HGET', base .. 'limits', t) or '0|1|default'
        local max, weight, account = string.match(lim, '^(%d+)|([%d%.eE+-]+)|(.*)$')
        max = tonumber(max) or 0
        weight = tonumber(weight) or 1
        if weight <= 0 then weight = 1 end
        if (max == 0 or redis.call('SCARD', base .. 'running:' .. t) < max)
          and redis.call('SCARD', base .. 'account:' .. account) < maxAccount then
          local job = head[1]
          redis.call('ZREM', base .. 'pending:' .. t, job)
          redis.call('SADD', base .. 'running:' .. t, job)
          redis.call('SADD', base .. 'account:' .. account, job)
          redis.call('HSET', base .. 'job-account', job, account)
          if score < vt then score = vt end
          vt = score
          redis.call('ZADD', base .. 'tenants', score + 1 / weight, t)
          table.insert(out, job)
          picked = true
          break
        end
      end
    end
    if not picked then break end
  end
  if vt ~= vt0 then redis.call('SET', base .. 'vtime', tostring(vt)) end
  return out
end
`;

/**
 * A job offered to admission: waits it (its tenant's `pending`, score `created`), admits what may start and answers
 * those ids, which go to the flow queue. When nobody waits in the shard at all (no contention, so no turns to take)
 * and the tenant and the account have room, the job starts at once without a pass through the round. Defines
 * start_at_once and admit too: a script includes this alone.
 */
export const ADD_JOB_FN = `${ADMIT_FN}${START_AT_ONCE_FN}
local function add_job(base, job, t, created, max_s, weight_s, account, max_account, limit)
  local fast = start_at_once(base, job, t, max_s, weight_s, account, max_account)
  if fast == 1 then return {job} end
  if fast == -1 then return {} end
  set_limits(base, t, max_s, weight_s, account)
  if redis.call('SISMEMBER', base .. 'running:' .. t, job) == 0 then
    -- Behind other waiting jobs of its tenant: those could not start, and this one changes no cap, so none can now.
    if redis.call('ZADD', base .. 'pending:' .. t, 'NX', created, job) == 1 and redis.call('ZCARD', base .. 'pending:' .. t) > 1 then
      return {}
    end
    if not redis.call('ZSCORE', base .. 'tenants', t) then
      -- (Re)joining the round: at the virtual time, or at its own pass if that is later (no credit for having left).
      local vt = tonumber(redis.call('GET', base .. 'vtime') or '0')
      local last = tonumber(redis.call('HGET', base .. 'passes', t) or '0')
      redis.call('ZADD', base .. 'tenants', math.max(vt, last), t)
    end
  end
  return admit(base, tonumber(max_account), tonumber(limit))
end
`;

/**
 * ARGV: base, tenant. A deleted tenant's fields in the scheduler's hashes (`limits`, `passes`) go once it has nothing
 * waiting or running in it and is out of the round (answers 1), else nothing changes (0: asked again on the next
 * sweep). A tenant made later under the id starts afresh: at the virtual time, with its own settings from its first job.
 */
export const FORGET_TENANT_SCRIPT = `
local base, t = ARGV[1], ARGV[2]
if redis.call('ZCARD', base .. 'pending:' .. t) > 0 or redis.call('SCARD', base .. 'running:' .. t) > 0
  or redis.call('ZSCORE', base .. 'tenants', t) then return 0 end
redis.call('HDEL', base .. 'limits', t)
redis.call('HDEL', base .. 'passes', t)
return 1`;
