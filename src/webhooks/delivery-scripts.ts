// Lua for the queued delivery path: one script notes an event, one reads what a delivery needs, one settles it.
import { z } from 'zod';
import { EVENT_TYPES, eventSchema, TERMINAL_EVENTS, type EventType, type JobEvent, type WebhookStatus } from '../jobs/schemas.js';
import { WEBHOOK_ATTEMPTS_FIELD, WEBHOOK_STATUS_FIELD } from '../jobs/webhook-state.js';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { TickBatcher } from '../redis/tick-batch.js';

/** What follows the job's own webhook in the layout JobStore writes: parent_id and three timestamps, then the end. */
const WEBHOOK_TAIL = String.raw`,"parent_id":[^,]*,"created_at":"[^"]*","started_at":[^,]*,"finished_at":[^,}]*}}$`;
/** How far from a record's end the job's webhook is looked for first (the URL is part of it). */
const MARK_TAIL_BYTES = 1024;

/** last_find(s, needle, from): where the last plain `needle` at or after `from` starts, nil when there is none. */
const LAST_FIND_FN = `
local function last_find(s, needle, from)
  local at
  while true do
    local p = string.find(s, needle, from, true)
    if not p then return at end
    at, from = p, p + #needle
  end
end
`;

/**
 * mark_webhook sets the job's webhook status (and adds to its attempts) in the job's delivery ledger, the hash every
 * delivery script already holds, instead of in the job record: rewriting a record of tens of KB on every settle was
 * most of a settle's Redis time, and its version bump sent the flow worker's compare-and-set round again. JobStore
 * shows the ledger's pair in place of the record's whenever the ledger has a status (jobs/webhook-state.ts).
 * A job with no status in its ledger yet (stored before this layout, or nothing delivered so far) starts from the pair
 * in its record, read once here: the last '"webhook":' of the record (looked for near the end first, records are
 * tens of KB), in the layout JobStore writes, else the decoded record. Returns 1 changed, 0 nothing to change (no
 * record, no webhook, current status not in only_from).
 */
const MARK_WEBHOOK_FN = `${LAST_FIND_FN}
local function stored_webhook(key)
  local rec = redis.call('GET', key)
  if not rec then return nil end
  local at = nil
  if #rec > ${MARK_TAIL_BYTES} then at = last_find(rec, '"webhook":', #rec - ${MARK_TAIL_BYTES}) end
  if not at then at = last_find(rec, '"webhook":', 1) end
  if at then
    if string.find(rec, '^"webhook":null${WEBHOOK_TAIL}', at) then return nil end
    local cur, n = string.match(rec,
      '^"webhook":{"url":"[^"]*","events":%[[^%]]*%],"status":"(%a+)","attempts":(%d+)}${WEBHOOK_TAIL}', at)
    if cur then return cur, tonumber(n) end
  end
  local ok, doc = pcall(cjson.decode, rec)
  if not ok or type(doc) ~= 'table' or type(doc.job) ~= 'table' or type(doc.job.webhook) ~= 'table' then return nil end
  return tostring(doc.job.webhook.status), tonumber(doc.job.webhook.attempts) or 0
end
local function ledger_of(ledger)
  local all = redis.call('HGETALL', ledger)
  local fields = {}
  for i = 1, #all, 2 do fields[all[i]] = all[i + 1] end
  return fields
end
-- fields: the ledger as read (ledger_of); the change goes into it and, as field/value pairs, into writes, which the
-- caller stores with one HSET (flush) together with its own ledger changes.
local function mark_webhook(fields, record, status, add, only_from, writes)
  local cur, n = fields['${WEBHOOK_STATUS_FIELD}'], tonumber(fields['${WEBHOOK_ATTEMPTS_FIELD}'] or '0')
  -- A ledger outliving its record (the record's retention TTL ran out first) is erased by the retention sweeper with
  -- the job's other keys; what is written to it meanwhile is never read, so the record's existence is not checked.
  if not cur then
    cur, n = stored_webhook(record)
    if not cur then return 0 end
  end
  if only_from ~= '' and not string.find(',' .. only_from .. ',', ',' .. cur .. ',', 1, true) then return 0 end
  if cur == status and add == 0 then return 0 end
  fields['${WEBHOOK_STATUS_FIELD}'], fields['${WEBHOOK_ATTEMPTS_FIELD}'] = status, tostring(n + add)
  writes[#writes + 1] = '${WEBHOOK_STATUS_FIELD}'
  writes[#writes + 1] = status
  writes[#writes + 1] = '${WEBHOOK_ATTEMPTS_FIELD}'
  writes[#writes + 1] = n + add
  return 1
end
local function flush(ledger, writes)
  if #writes > 0 then redis.call('HSET', ledger, unpack(writes)) end
end
`;

/**
 * The type of a stored event, read off the head JobStore writes (`{"id":…,"seq":…,"type":"…"`) without decoding the
 * job it carries; an event in any other layout is decoded. Then claim_unseen: every event after the ledger's `seen`
 * mark up to `upto` whose type the job wants is claimed (HSETNX, unless the job's deliveries were stopped), and if any
 * claim is new, the job's webhook status becomes pending (from none or delivered only: a new event does not hide a
 * failing or given-up one). Returns the wanted seqs found (claimed now or before), lowest first, and whether a stop
 * was set. `seen` itself is raised by the caller once it has queued them (markSeen), so a crash in between leaves
 * them unseen and the next call finds them again.
 */
const CLAIM_UNSEEN_FN = `${MARK_WEBHOOK_FN}
local function event_type(ev)
  local t = string.match(ev, '^{"id":"[^"]*","seq":%d+,"type":"([a-z.]+)"')
  if t then return t end
  return cjson.decode(ev).type
end
local function claim_unseen(ledger, events, record, upto, wanted_csv, fields, no_mark)
  local seen = tonumber(fields['seen'] or '0')
  if fields['stop'] then return {}, true, 0 end
  local wanted, found, fresh = {}, {}, false
  for t in string.gmatch(wanted_csv, '[^,]+') do wanted[t] = true end
  if upto > seen then
    local list = redis.call('LRANGE', events, seen, upto - 1)
    for i, ev in ipairs(list) do
      if wanted[event_type(ev)] then
        local s = seen + i
        if redis.call('HSETNX', ledger, s, 'pending') == 1 then
          fresh = true
          fields[tostring(s)] = 'pending'
        end
        found[#found + 1] = s
      end
    end
  end
  local mark = 0
  if fresh and not no_mark then
    local writes = {}
    mark = mark_webhook(fields, record, 'pending', 0, 'none,delivered', writes)
    flush(ledger, writes)
  end
  return found, false, mark, fresh
end
`;

/**
 * KEYS: ledger, events, record. ARGV: seq of a new event the job wants, the job's wanted types (comma-separated).
 * onEvent in one call: the event is claimed, and with it any wanted event before it that was never seen (appended by
 * another process at the same moment, or before a crash), so a later event is never claimed while an earlier wanted
 * one is not. Events the job does not want cost nothing when they are appended: the next wanted one (or the sweep
 * at the job's end) looks past them here. Returns {stopped 1/0, mark, seqs to queue…}.
 */
const NOTE_EVENT = luaScript(`${CLAIM_UNSEEN_FN}
local fields = ledger_of(KEYS[1])
local found, stopped, mark = claim_unseen(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), ARGV[2], fields)
if stopped then
  if tonumber(ARGV[1]) > tonumber(fields['seen'] or '0') then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
  return {1, 0}
end
local out = {0, mark}
for _, s in ipairs(found) do out[#out + 1] = s end
return out
`);

/**
 * KEYS: ledger, events, record[, tenant webhook secrets]. ARGV: seq of a new event the job wants, its wanted types.
 * NOTE_EVENT for an event its writer (a flow worker) means to send at once: when it is the only one to send and no
 * earlier event is still pending, it is claimed and the tenant's secrets are read along, so the
 * attempt needs nothing else but its settling (the status goes straight from what it was to the attempt's outcome).
 * Otherwise it is NOTE_EVENT. Returns {stopped 1/0, mark, 1, secrets|false} to send now, or {stopped, mark, 0, seqs…}.
 */
const NOTE_FOR_DELIVERY = luaScript(`${CLAIM_UNSEEN_FN}
local seq = tonumber(ARGV[1])
local fields = ledger_of(KEYS[1])
local seen = tonumber(fields['seen'] or '0')
local found, stopped, fresh
if ARGV[3] == '1' and not fields['stop'] then
  -- The caller knows no earlier event can be wanted (it wants only how a job ends, and this is the end): no scan.
  fresh = redis.call('HSETNX', KEYS[1], ARGV[1], 'pending') == 1
  if fresh then fields[ARGV[1]] = 'pending' end
  found, stopped = {seq}, false
else
  local _
  found, stopped, _, fresh = claim_unseen(KEYS[1], KEYS[2], KEYS[3], seq, ARGV[2], fields, true)
end
if stopped then
  if seq > seen then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
  return {1, 0}
end
local earlier = false
for field, state in pairs(fields) do
  local s = tonumber(field)
  if s and s < seq and state == 'pending' then earlier = true end
end
if not earlier and #found == 1 and found[1] == seq then
  -- 'seen' stays: it only shortens the next scan, and this event, claimed, is never claimed again.
  local secrets = false
  if KEYS[4] then secrets = redis.call('GET', KEYS[4]) end
  return {0, 0, 1, secrets}
end
local mark = 0
if fresh then
  local writes = {}
  mark = mark_webhook(fields, KEYS[3], 'pending', 0, 'none,delivered', writes)
  flush(KEYS[1], writes)
end
local out = {0, mark, 0}
for _, s in ipairs(found) do out[#out + 1] = s end
return out
`);

/**
 * KEYS: ledger, events, record. ARGV: the job's wanted types. For a job that has ended (EventEnqueuer.ensureQueued):
 * claims what was never seen, as NOTE_EVENT does up to the last event. Returns {event count, seen, mark, pending seqs…}:
 * every event still pending, to be queued again (an add whose id BullMQ still holds is a no-op).
 */
const SWEEP_EVENTS = luaScript(`${CLAIM_UNSEEN_FN}
local count = redis.call('LLEN', KEYS[2])
local fields = ledger_of(KEYS[1])
local seen = tonumber(fields['seen'] or '0')
local _, stopped, mark = claim_unseen(KEYS[1], KEYS[2], KEYS[3], count, ARGV[1], fields)
local out = {count, seen, mark}
if stopped then return out end
local pending = {}
for field, state in pairs(fields) do
  local s = tonumber(field)
  if s and state == 'pending' then pending[#pending + 1] = s end
end
table.sort(pending)
for _, s in ipairs(pending) do out[#out + 1] = s end
return out
`);

/** How much of a record's start the read script answers: the head JobStore writes (tenant ≤ 64 chars, traceparent). */
const RECORD_HEAD_BYTES = 256;
/** How much of a record's end it looks in for the job's webhook (its URL and the three timestamps after it). */
const RECORD_TAIL_BYTES = 1024;

/**
 * KEYS: record, events, ledger[, tenant webhook secrets]. ARGV: seq, redeliver ('1'/'0').
 * Everything a delivery reads, in one round trip. Unless it is a redelivery: the event's ledger state and the lowest
 * earlier seq still pending (0 if none), and nothing else when the event is not pending or is held back.
 * Returns {record head|nil, event|nil, state|nil, blockedBy, secrets|nil, webhook tail|nil}; the head is the whole
 * record when the tail is nil.
 */
const READ_ONE_FN = `${LAST_FIND_FN}
local function read_one(k_record, k_events, k_ledger, k_secrets, seq, redeliver)
  local state = false
  local blocked = 0
  if redeliver ~= '1' then
    local all = redis.call('HGETALL', k_ledger)
    for i = 1, #all, 2 do
      local s = tonumber(all[i])
      if s == seq then state = all[i + 1]
      elseif s and s < seq and all[i + 1] == 'pending' and (blocked == 0 or s < blocked) then blocked = s end
    end
    -- Held back behind an event of a job that is gone: nothing to wait for (the caller ends on the missing record).
    if blocked ~= 0 and redis.call('EXISTS', k_record) == 0 then blocked = 0 end
    if state ~= 'pending' or blocked ~= 0 then return {false, false, state, blocked, false} end
  end
  -- Not the whole record (tens of KB once the agent's messages are in) but its head (tenant, trace) and the job's
  -- webhook: JobStore writes that near the end, so the last '"webhook":' of the tail window is the job's own. A record
  -- where it is not in the window (a very long URL, another layout) is answered whole, tail false.
  -- A record that fits the first window is read in that one call.
  local head = redis.call('GETRANGE', k_record, 0, ${RECORD_TAIL_BYTES * 2 - 1})
  if head == '' then return {false, false, state, 0, false, false} end
  local tail = head
  if #head == ${RECORD_TAIL_BYTES * 2} then tail = redis.call('GETRANGE', k_record, -${RECORD_TAIL_BYTES}, -1) end
  head = string.sub(head, 1, ${RECORD_HEAD_BYTES})
  local at = last_find(tail, '"webhook":', 1)
  if at then tail = string.sub(tail, at) else head, tail = redis.call('GET', k_record), false end
  local event = redis.call('LINDEX', k_events, seq - 1)
  local secrets = false
  if k_secrets then secrets = redis.call('GET', k_secrets) end
  return {head, event, state, 0, secrets, tail}
end
`;
const READ_DELIVERY = luaScript(`${READ_ONE_FN}
return read_one(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]), ARGV[2])
`);

/** The six answers read_one gives per delivery (a shorter answer is padded with false). */
const READ_WIDTH = 6;

/**
 * KEYS: each delivery's keys in turn (record, events, ledger[, secrets]). ARGV: per delivery its key count, seq and
 * redeliver flag. READ_DELIVERY for several deliveries of one shard (one cluster slot) in one call: READ_WIDTH answers each.
 */
const READ_DELIVERIES = luaScript(`${READ_ONE_FN}
local out, k = {}, 1
for i = 1, #ARGV, 3 do
  local n = tonumber(ARGV[i])
  local secrets = nil
  if n == 4 then secrets = KEYS[k + 3] end
  local r = read_one(KEYS[k], KEYS[k + 1], KEYS[k + 2], secrets, tonumber(ARGV[i + 1]), ARGV[i + 2])
  local base = #out
  for j = 1, ${READ_WIDTH} do
    local v = r[j]
    if v == nil then v = false end
    out[base + j] = v
  end
  k = k + n
end
return out
`);

/**
 * KEYS: record, ledger, attempt log. ARGV: seq, attemptJson, maxRecords, action, redeliver ('1'/'0'), stopReason,
 * retryAt (ms; failing: when the retry is due).
 * Settles one attempt in one call: the attempt logged (the log trimmed to maxRecords), the ledger moved on and the
 * job's webhook status/attempts set, by action:
 * - delivered: the event delivered; status exhausted if any event was given up on, else pending while any waits;
 * - exhausted: the event given up on (a redelivery leaves the ledger alone); status exhausted;
 * - stop: the job's deliveries stopped (410 or refused target): every pending event stopped; status exhausted;
 * - failing: a retry follows; status failing. Unless it would come due after the job's retention ends (retryAt past
 *   the record's expiry): then as exhausted, the answer's status exhausted (the retry is not queued).
 * A job erased while the attempt was out (retention, DELETE) gets nothing written back: status erased. Once the job has
 * ended, log and ledger take the record's expiry (they mostly appear after the end, when the ending commit set it).
 * Returns {next pending seq after this one (0 if none; 0 for stop and failing), mark (as mark_webhook), status}.
 */
const SETTLE_ONE_FN = `${MARK_WEBHOOK_FN}
local function settle_one(k_record, k_ledger, k_log, seq_text, attempt_json, max_records, action, redeliver, stop_reason, retry_at)
  -- -2: no record. Retention is absolute: no delivery log or ledger outlives the job. -1: not ended, no expiry yet.
  local expires_at = redis.call('PEXPIRETIME', k_record)
  if expires_at == -2 then return {0, 0, 'erased'} end
  -- A retry that would come due after the job's retention ends would find it erased: the event is given up now
  -- (exhausted, and the job's later events woken), instead of a queued retry outliving the job.
  if action == 'failing' and expires_at > 0 and tonumber(retry_at) >= expires_at then action = 'exhausted' end
  local seq = tonumber(seq_text)
  if redis.call('RPUSH', k_log, attempt_json) > tonumber(max_records) then redis.call('LTRIM', k_log, -tonumber(max_records), -1) end
  -- The ledger is read once (the status pair alone when that is all it takes) and written once. Lua is slow here next to
  -- Redis' own commands (a table of four fields costs about what a command does), so the common paths read the reply as
  -- it comes instead of building a table of it.
  local status, nextSeq = 'failing', 0
  local cur, n = nil, 0
  local mine = nil
  if action == 'failing' then
    local pair = redis.call('HMGET', k_ledger, '${WEBHOOK_STATUS_FIELD}', '${WEBHOOK_ATTEMPTS_FIELD}')
    cur, n = pair[1], tonumber(pair[2] or '0')
  elseif action == 'stop' then
    status = 'exhausted'
    local all = redis.call('HGETALL', k_ledger)
    local writes = {'stop', stop_reason}
    for i = 1, #all, 2 do
      local f, st = all[i], all[i + 1]
      if f == '${WEBHOOK_STATUS_FIELD}' then cur = st elseif f == '${WEBHOOK_ATTEMPTS_FIELD}' then n = tonumber(st)
      elseif tonumber(f) and st == 'pending' then writes[#writes + 1] = f; writes[#writes + 1] = 'stopped' end
    end
    redis.call('HSET', k_ledger, unpack(writes))
  else
    -- delivered, or exhausted: the event's own new state (a redelivery that runs out leaves the ledger alone).
    if action == 'delivered' then mine = 'delivered' elseif redeliver ~= '1' then mine = 'exhausted' end
    local all = redis.call('HGETALL', k_ledger)
    local given_up, waiting = false, false
    for i = 1, #all, 2 do
      local f, st = all[i], all[i + 1]
      if f == '${WEBHOOK_STATUS_FIELD}' then cur = st elseif f == '${WEBHOOK_ATTEMPTS_FIELD}' then n = tonumber(st) else
        local s = tonumber(f)
        if s then
          if s == seq and mine then st = mine end
          if st == 'exhausted' or st == 'stopped' then given_up = true end
          if st == 'pending' then
            waiting = true
            if s > seq and (nextSeq == 0 or s < nextSeq) then nextSeq = s end
          end
        end
      end
    end
    if action == 'exhausted' or given_up then status = 'exhausted' elseif waiting then status = 'pending' else status = 'delivered' end
  end
  -- mark_webhook's work, written out: going through it (a fields table, a writes table, unpack) cost 5-6 µs more per
  -- settle here (28.5 -> 34 µs on a 25 KB record). A settle always adds an attempt, so the pair always changes.
  if not cur then cur, n = stored_webhook(k_record) end
  local mark = 0
  if cur then
    mark = 1
    if mine then redis.call('HSET', k_ledger, seq_text, mine, '${WEBHOOK_STATUS_FIELD}', status, '${WEBHOOK_ATTEMPTS_FIELD}', (n or 0) + 1)
    else redis.call('HSET', k_ledger, '${WEBHOOK_STATUS_FIELD}', status, '${WEBHOOK_ATTEMPTS_FIELD}', (n or 0) + 1) end
  elseif mine then
    redis.call('HSET', k_ledger, seq_text, mine)
  end
  if expires_at > 0 then
    redis.call('PEXPIREAT', k_log, expires_at)
    redis.call('PEXPIREAT', k_ledger, expires_at)
  end
  return {nextSeq, mark, status}
end
`;
const SETTLE_DELIVERY = luaScript(`${SETTLE_ONE_FN}
return settle_one(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
`);

/**
 * KEYS: each settle's record, ledger and attempt log in turn. ARGV: each settle's seven arguments (as SETTLE_DELIVERY's).
 * SETTLE_DELIVERY for several attempts of one shard (one cluster slot) in one call: three answers each.
 */
const SETTLE_DELIVERIES = luaScript(`${SETTLE_ONE_FN}
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local a = i * 7
  local r = settle_one(KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
  out[i * 3 + 1], out[i * 3 + 2], out[i * 3 + 3] = r[1], r[2], r[3]
end
return out
`);

/** KEYS: ledger, record. ARGV: status, attempts to add, statuses it may replace (comma-separated, '' any). As mark_webhook. */
const SET_WEBHOOK_STATUS = luaScript(`${MARK_WEBHOOK_FN}
local pair = redis.call('HMGET', KEYS[1], '${WEBHOOK_STATUS_FIELD}', '${WEBHOOK_ATTEMPTS_FIELD}')
local writes = {}
local mark = mark_webhook({ ['${WEBHOOK_STATUS_FIELD}'] = pair[1] or nil, ['${WEBHOOK_ATTEMPTS_FIELD}'] = pair[2] or nil }, KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], writes)
flush(KEYS[1], writes)
return mark
`);

export interface NoteResult {
  /** The job's deliveries were stopped: nothing was claimed (and `seen` was raised). */
  stopped: boolean;
  /** The wanted seqs up to the new event (claimed now or before), lowest first: to be queued. */
  seqs: number[];
}

export interface SweepResult {
  /** How many events the job has: the caller raises `seen` to it once it has queued `pending`. */
  count: number;
  /** The `seen` mark before the call. */
  seen: number;
  pending: number[];
}

export type SettleAction = 'delivered' | 'exhausted' | 'stop' | 'failing';

export interface DeliveryRead {
  /** What a delivery needs of the job record, null when the job is gone or the read stopped early (not pending, held back). */
  record: DeliveryRecord | null;
  event: string | null;
  /** The event's ledger state (null for a redelivery, which does not look). */
  state: string | null;
  /** The lowest earlier seq still pending, 0 when none. */
  blockedBy: number;
  /** The raw webhook-secrets record of the tenant, when its key was given and exists. */
  secrets: string | null;
}

export interface SettleResult {
  /** The job's next pending event after this one, to wake at once; null when none. */
  next: number | null;
  /** erased: the job was erased while the attempt was out, and nothing was recorded. */
  status: 'pending' | 'delivered' | 'failing' | 'exhausted' | 'erased';
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : v instanceof Buffer ? v.toString('utf8') : null);

/** The scripts bound to one connection and key set; every key of a call is a key of the same job (one hash tag). */
export class DeliveryScripts {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async noteEvent(jobId: string, seq: number, wanted: readonly string[]): Promise<NoteResult> {
    const k = this.keys;
    const raw = (await runScript(this.redis, NOTE_EVENT, 3, k.jobWebhookPending(jobId), k.jobEvents(jobId), k.job(jobId), seq, wanted.join(','))) as number[];
    const [stopped, _mark, ...seqs] = raw.map(Number) as [number, number, ...number[]];
    return { stopped: stopped === 1, seqs };
  }

  /**
   * NOTE_FOR_DELIVERY: `now` when the event alone is to be sent at once (claimed, seen, with the tenant's raw secrets
   * when `secretsKey` shares the job's slot); otherwise what noteEvent answers, to be queued.
   */
  async noteForDelivery(
    jobId: string,
    seq: number,
    wanted: readonly string[],
    tenant: string,
    secretsKey: string | null,
  ): Promise<NoteResult & { now: boolean; secrets: string | null }> {
    const k = this.keys;
    const keys = [k.jobWebhookPending(jobId), k.jobEvents(jobId), k.job(jobId)];
    if (secretsKey && k.shardOfTenant(tenant) === k.shardOfId(jobId)) keys.push(secretsKey);
    // Wanting only how a job ends, its end is the first and only event it wants: nothing before it to look through.
    const onlyEnd = wanted.every((t) => (TERMINAL_EVENTS as readonly string[]).includes(t)) ? '1' : '0';
    const raw = (await runScript(this.redis, NOTE_FOR_DELIVERY, keys.length, ...keys, seq, wanted.join(','), onlyEnd)) as unknown[];
    const [stopped, now] = [Number(raw[0]), Number(raw[2] ?? 0)];
    if (now === 1) return { stopped: false, seqs: [seq], now: true, secrets: str(raw[3]) };
    return { stopped: stopped === 1, seqs: raw.slice(3).map(Number), now: false, secrets: null };
  }

  async sweep(jobId: string, wanted: readonly string[]): Promise<SweepResult> {
    const k = this.keys;
    const raw = (await runScript(this.redis, SWEEP_EVENTS, 3, k.jobWebhookPending(jobId), k.jobEvents(jobId), k.job(jobId), wanted.join(','))) as number[];
    const [count, seen, _mark, ...pending] = raw.map(Number) as [number, number, number, ...number[]];
    return { count, seen, pending };
  }

  /**
   * `secretsKey` (the tenant's webhook-secrets key) is read along only when the tenant's keys share the job's slot:
   * ids made for a tenant carry its shard, but one made before QUEUE_SHARDS changed may not, and then the caller
   * reads the secrets on its own (DeliveryRead.secrets stays null).
   */
  async read(jobId: string, seq: number, redeliver: boolean, tenant: string | null, secretsKey: string | null): Promise<DeliveryRead> {
    const keys = [this.keys.job(jobId), this.keys.jobEvents(jobId), this.keys.jobWebhookPending(jobId)];
    if (secretsKey && tenant !== null && this.keys.shardOfTenant(tenant) === this.keys.shardOfId(jobId)) keys.push(secretsKey);
    const raw = await this.reads.call(this.keys.shardOfId(jobId), { keys, seq, redeliver });
    const head = str(raw[0]);
    const tail = str(raw[5]);
    let record = head === null ? null : tail === null ? deliveryRecord(head) : deliveryRecordFrom(head, tail);
    if (record === undefined) {
      // The head or the tail is not in the layout JobStore writes (or the head is longer than the window): whole record.
      const whole = await this.redis.get(keys[0]!);
      record = whole === null ? null : deliveryRecord(whole);
    }
    return {
      record,
      event: str(raw[1]),
      state: str(raw[2]),
      blockedBy: Number(raw[3] ?? 0),
      secrets: str(raw[4]),
    };
  }

  /**
   * Sets the job's webhook status and adds to its attempts outside an attempt (a redelivery request sets pending);
   * `onlyFrom` limits which current statuses may be replaced. False when nothing changed (no record or no webhook).
   */
  async setWebhookStatus(jobId: string, status: WebhookStatus, addAttempts = 0, onlyFrom: readonly WebhookStatus[] = []): Promise<boolean> {
    const k = this.keys;
    const raw = await runScript(this.redis, SET_WEBHOOK_STATUS, 2, k.jobWebhookPending(jobId), k.job(jobId), status, addAttempts, onlyFrom.join(','));
    return Number(raw) === 1;
  }

  async settle(
    jobId: string,
    seq: number,
    input: { attemptJson: string; maxRecords: number; action: SettleAction; redeliver: boolean; stopReason?: string; retryAtMs?: number },
  ): Promise<SettleResult> {
    const k = this.keys;
    const raw = await this.settles.call(k.shardOfId(jobId), {
      keys: [k.job(jobId), k.jobWebhookPending(jobId), k.jobDeliveries(jobId)],
      args: [String(seq), input.attemptJson, String(input.maxRecords), input.action, input.redeliver ? '1' : '0', input.stopReason ?? '', String(input.retryAtMs ?? 0)],
    });
    const next = Number(raw[0]);
    return { next: next > 0 ? next : null, status: str(raw[2]) as SettleResult['status'] };
  }

  /** Reads made in the same turn of the event loop go to Redis as one script call per shard (READ_DELIVERIES). */
  private readonly reads = new TickBatcher<ReadCall, unknown[]>(
    async (_shard, c) => (await runScript(this.redis, READ_DELIVERY, c.keys.length, ...c.keys, c.seq, c.redeliver ? '1' : '0')) as unknown[],
    async (_shard, calls) => {
      const args = calls.flatMap((c) => [String(c.keys.length), String(c.seq), c.redeliver ? '1' : '0']);
      const keys = calls.flatMap((c) => c.keys);
      const raw = (await runScript(this.redis, READ_DELIVERIES, keys.length, ...keys, ...args)) as unknown[];
      return calls.map((_, i) => raw.slice(i * READ_WIDTH, (i + 1) * READ_WIDTH));
    },
    true,
  );

  /** Settles made in the same turn go as one script call per shard (SETTLE_DELIVERIES); a failed one fails them all. */
  private readonly settles = new TickBatcher<SettleCall, unknown[]>(
    async (_shard, c) => (await runScript(this.redis, SETTLE_DELIVERY, 3, ...c.keys, ...c.args)) as unknown[],
    async (_shard, calls) => {
      const keys = calls.flatMap((c) => c.keys);
      const raw = (await runScript(this.redis, SETTLE_DELIVERIES, keys.length, ...keys, ...calls.flatMap((c) => c.args))) as unknown[];
      return calls.map((_, i) => raw.slice(i * 3, i * 3 + 3));
    },
    false,
  );
}

interface ReadCall {
  keys: string[];
  seq: number;
  redeliver: boolean;
}

interface SettleCall {
  keys: [string, string, string];
  args: string[];
}

/** The few record fields a delivery needs; the rest of the (possibly large) record is not validated again here. */
export const deliveryRecordSchema = z.object({
  tenant: z.string(),
  trace: z.string().nullable().default(null),
  job: z.object({ webhook: z.object({ url: z.string() }).nullable() }),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;

const JSON_STRING = String.raw`"(?:[^"\\]|\\.)*"`;
/** The head JobStore writes every record with: {"v":…,"tenant":…,"cancel_requested":…,"trace":…, */
const RECORD_HEAD = new RegExp(String.raw`^\{"v":\d+,"tenant":(${JSON_STRING}),"cancel_requested":(?:true|false),"trace":(null|${JSON_STRING}),`);
/** The job's own webhook: the record's last `"webhook":`, followed only by parent_id and the three timestamps. */
const RECORD_WEBHOOK = new RegExp(
  String.raw`"webhook":(?:null|\{"url":(${JSON_STRING}),"events":\[[^\]]*\],"status":"[a-z]+","attempts":\d+\}),` +
    String.raw`"parent_id":(?:null|"[^"\\]*"),"created_at":"[^"\\]*","started_at":(?:null|"[^"\\]*"),"finished_at":(?:null|"[^"\\]*")\}\}$`,
  'y',
);

/**
 * The fields a delivery needs from a raw job record. A record (tens of KB once the agent's messages and the timeline
 * are in) is not decoded whole for three strings: they are cut out of the layout JobStore writes and validated; a
 * record in any other layout is parsed in full.
 */
export function deliveryRecord(raw: string): DeliveryRecord {
  const at = raw.lastIndexOf('"webhook":');
  return (at >= 0 ? deliveryRecordFrom(raw, raw, at) : undefined) ?? deliveryRecordSchema.parse(JSON.parse(raw));
}

/**
 * The same fields from a record's head (its first bytes, or all of it) and its tail from the job's own `"webhook":`
 * (at `at`) to the end, as the read script cuts them. Undefined when either is not in the layout JobStore writes.
 */
export function deliveryRecordFrom(head: string, tail: string, at = 0): DeliveryRecord | undefined {
  const start = RECORD_HEAD.exec(head);
  if (!start) return undefined;
  RECORD_WEBHOOK.lastIndex = at;
  const end = RECORD_WEBHOOK.exec(tail);
  if (!end) return undefined;
  const text = (json: string | undefined) => (json === undefined || json === 'null' ? null : (JSON.parse(json) as unknown));
  return deliveryRecordSchema.parse({ tenant: text(start[1]), trace: text(start[2]), job: { webhook: end[1] === undefined ? null : { url: text(end[1]) } } });
}

export interface DeliveryEvent {
  id: string;
  type: EventType;
  /** When the event was written (ISO): its stored result link was minted then. */
  at: string;
  /** The Standard Webhooks body: `{type, timestamp, data}`. */
  body: string;
}

/** The envelope of a stored event as JobStore writes it (CAS and APPEND scripts): id, seq, type, at, then data. */
const EVENT_HEAD = /^\{"id":"([A-Za-z0-9_-]+)","seq":(\d+),"type":"([a-z.]+)","at":"([0-9T:.Z+-]+)","data":/;
const eventHeadSchema = z.object({ id: z.string().min(1), seq: z.number().int().min(1), type: z.enum(EVENT_TYPES), at: z.string() });

/**
 * The delivery body of a stored event. The event's data (the job, often the largest part) is taken over as the JSON
 * it was stored as, which is what JSON.stringify of its parsed form gives, without decoding and re-encoding it; the
 * envelope fields are checked. A stored event in another shape is parsed in full, as before.
 */
export function deliveryEvent(raw: string): DeliveryEvent {
  const head = EVENT_HEAD.exec(raw);
  if (head && raw.endsWith('}')) {
    const { id, type, at } = eventHeadSchema.parse({ id: head[1], seq: Number(head[2]), type: head[3], at: head[4] });
    return { id, type, at, body: `{"type":"${type}","timestamp":"${at}","data":${raw.slice(head[0].length, -1)}}` };
  }
  return webhookEvent(eventSchema.parse(JSON.parse(raw)));
}

/** A parsed event as it is sent: the Standard Webhooks body `{type, timestamp, data}`. */
export function webhookEvent(event: Pick<JobEvent, 'id' | 'type' | 'at' | 'data'>): DeliveryEvent {
  return { id: event.id, type: event.type, at: event.at, body: JSON.stringify({ type: event.type, timestamp: event.at, data: event.data }) };
}
