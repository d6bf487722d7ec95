// The fast path of admission as a Lua function: a job starts at once when nobody waits and its tenant and account have room.

/**
 * The fast path of a start, shared by Admission.add and the create script (src/jobs/create-script.ts): when nobody waits
 * in the shard (no contention, so no turns to take) and the tenant and its account have room, the job takes a running
 * slot at once. Answers 1 (started), -1 (it was running already), 0 (it must wait its turn).
 */
export const START_AT_ONCE_FN = `
local function start_at_once(base, job, t, max_s, weight_s, account, max_account)
  if redis.call('ZCARD', base .. 'tenants') ~= 0 then return 0 end
  local max = tonumber(max_s) or 0
  local running = redis.call('SCARD', base .. 'running:' .. t)
  if not ((max == 0 or running < max) and redis.call('SCARD', base .. 'account:' .. account) < tonumber(max_account)) then return 0 end
  if redis.call('SADD', base .. 'running:' .. t, job) == 0 then return -1 end
  -- Listed (the reconciler's worklist) when its first job starts; the limits only matter once it waits.
  if running == 0 then redis.call('HSET', base .. 'limits', t, max_s .. '|' .. weight_s .. '|' .. account) end
  redis.call('SADD', base .. 'account:' .. account, job)
  redis.call('HSET', base .. 'job-account', job, account)
  -- The turn it took counts as one taken in the round: its pass moves on, and the virtual time moves with it (as admit
  -- moves it to the pass of the tenant it starts). A tenant alone thus stays level with the virtual time, and one that
  -- joins later goes turn about with it instead of behind every job it ran while nobody else waited.
  local weight = tonumber(weight_s) or 1
  if weight <= 0 then weight = 1 end
  local vt = tonumber(redis.call('GET', base .. 'vtime') or '0')
  local pass = tonumber(redis.call('HGET', base .. 'passes', t) or '0')
  if pass < vt then pass = vt end
  redis.call('SET', base .. 'vtime', tostring(pass))
  redis.call('HSET', base .. 'passes', t, tostring(pass + 1 / weight))
  return 1
end
`;
