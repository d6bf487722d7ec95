// Jobs sharing one upstream session take turns: a FIFO queue per group, and the group's session and uploads once made.
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { sourcesFailedSchema } from './group-sources.js';

const uploadedSchema = z.object({ filename: z.string(), fileType: z.string(), cdnUrl: z.string() });
export const sharedSessionSchema = z.object({
  task_id: z.string(),
  session_id: z.string(),
  uploads: z.array(uploadedSchema),
  /**
   * The job before ended (canceled) with a message in flight: the agent may still be working on it (it goes on after
   * a disconnect, protocol §3), so the next job waits for the state to settle before it reads its "before" and sends.
   * Kept until that job has seen it settle (flow/settle.ts), so a kill or a cancel meanwhile leaves it for the next.
   */
  unsettled: z
    .object({
      fingerprint_before: z.string().nullable(),
      /** The canceled message may yet get generation's second stage (music, title): its raw video alone is not settled. */
      second_stage: z.boolean().default(false),
    })
    .optional(),
  /** The group's sources were refused upstream for good (flow/group-sources.ts): its later jobs end with that answer. */
  sources_failed: sourcesFailedSchema.optional(),
});
export type SharedSession = z.infer<typeof sharedSessionSchema>;

/**
 * How long a group's session is kept at least while its jobs are still to end, from the last time one of them joined,
 * took (or waited for) its turn or published: as CHECKED_TTL_MS (jobs/batch-store.ts), longer than any batch runs.
 * When its last job ends the session is given that job's retention instead (JobStore.commit), and it goes with it.
 */
export const GROUP_LIVE_MS = 7 * 24 * 3600_000;

/**
 * KEYS: queue, group. ARGV: jobId, keepUntilMs. Joins the queue when not in it yet and keeps the group's session at least
 * until keepUntilMs (GT: never shortened; one without expiry, left from before groups expired, is left as it is);
 * answers 1 when the job is now at its head.
 */
const TURN = luaScript(`
if not redis.call('LPOS', KEYS[1], ARGV[1]) then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('PEXPIREAT', KEYS[2], ARGV[2], 'GT')
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then return 1 end
return 0`);

/**
 * KEYS: group. ARGV: sessionJson, expireAtMs. Stores the group's session; it expires at expireAtMs or later (an expiry
 * it already has that is later is kept).
 */
const PUBLISH = luaScript(`
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
if ttl > 0 then redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT') else redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`);

/** KEYS: queue. ARGV: jobId. Leaves the queue; answers the new head (to wake it), or false. */
const LEAVE = luaScript(`
local head = redis.call('LINDEX', KEYS[1], 0)
redis.call('LREM', KEYS[1], 0, ARGV[1])
local next = redis.call('LINDEX', KEYS[1], 0)
if next and next ~= head then return next end
return false`);

/** KEYS: group. ARGV: sessionId. Forgets the group's session only if it is still the lost one. */
const FORGET = luaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, rec = pcall(cjson.decode, raw)
if ok and type(rec) == 'table' and rec['session_id'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

export class SessionGroups {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  /**
   * Queues a job in creation order (at creation; taking a turn also joins, so a lost join heals itself). Both keep the
   * group's session (when there is one yet) for GROUP_LIVE_MS more: a job still to run must not lose it.
   */
  async join(groupId: string, jobId: string): Promise<void> {
    await this.takeTurn(groupId, jobId);
  }

  /** True when it is this job's turn on the group's session. */
  async turn(groupId: string, jobId: string): Promise<boolean> {
    return (await this.takeTurn(groupId, jobId)) === 1;
  }

  private async takeTurn(groupId: string, jobId: string): Promise<number> {
    const { keys } = this;
    return Number(await runScript(this.redis, TURN, 2, keys.sessionGroupQueue(groupId), keys.sessionGroup(groupId), jobId, Date.now() + GROUP_LIVE_MS));
  }

  /** Leaves the queue (the job ended); answers the job whose turn it is now, to wake it. */
  async leave(groupId: string, jobId: string): Promise<string | null> {
    const next = await runScript(this.redis, LEAVE, 1, this.keys.sessionGroupQueue(groupId), jobId);
    return typeof next === 'string' ? next : null;
  }

  async session(groupId: string): Promise<SharedSession | null> {
    const raw = await this.redis.get(this.keys.sessionGroup(groupId));
    return raw === null ? null : sharedSessionSchema.parse(JSON.parse(raw));
  }

  /**
   * The session the group's jobs continue (made by its first job, or the parent's for revisions). It is kept until
   * `expireAtMs` at least (default: GROUP_LIVE_MS from now, for a job of the group that is running): a revision opening
   * its parent's group passes the parent's own expiry, and the revision's join then keeps it while it runs. The end of
   * the group's last job gives it that job's retention (JobStore.commit).
   */
  async publish(groupId: string, session: SharedSession, expireAtMs = Date.now() + GROUP_LIVE_MS): Promise<void> {
    await runScript(this.redis, PUBLISH, 1, this.keys.sessionGroup(groupId), JSON.stringify(session), Math.round(expireAtMs));
  }

  /** The upstream lost the session (1002): the next turn makes a new one instead of inheriting the lost one. */
  async forget(groupId: string, sessionId: string): Promise<void> {
    await runScript(this.redis, FORGET, 1, this.keys.sessionGroup(groupId), sessionId);
  }
}
