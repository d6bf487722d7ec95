// Jobs sharing one upstream session take turns: a FIFO queue per group, and the group's session and uploads once made.
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';

const uploadedSchema = z.object({ filename: z.string(), fileType: z.string(), cdnUrl: z.string() });
export const sharedSessionSchema = z.object({
  task_id: z.string(),
  session_id: z.string(),
  uploads: z.array(uploadedSchema),
});
export type SharedSession = z.infer<typeof sharedSessionSchema>;

/** KEYS: queue. ARGV: jobId. Joins the queue when not in it yet; answers 1 when the job is now at its head. */
const TURN = luaScript(`
if not redis.call('LPOS', KEYS[1], ARGV[1]) then redis.call('RPUSH', KEYS[1], ARGV[1]) end
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then return 1 end
return 0`);

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

  /** Queues a job in creation order (at creation; taking a turn also joins, so a lost join heals itself). */
  async join(groupId: string, jobId: string): Promise<void> {
    await runScript(this.redis, TURN, 1, this.keys.sessionGroupQueue(groupId), jobId);
  }

  /** True when it is this job's turn on the group's session. */
  async turn(groupId: string, jobId: string): Promise<boolean> {
    return Number(await runScript(this.redis, TURN, 1, this.keys.sessionGroupQueue(groupId), jobId)) === 1;
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

  /** The session the group's jobs continue (made by its first job, or the parent's for revisions). */
  async publish(groupId: string, session: SharedSession): Promise<void> {
    await this.redis.set(this.keys.sessionGroup(groupId), JSON.stringify(session));
  }

  /** The upstream lost the session (1002): the next turn makes a new one instead of inheriting the lost one. */
  async forget(groupId: string, sessionId: string): Promise<void> {
    await runScript(this.redis, FORGET, 1, this.keys.sessionGroup(groupId), sessionId);
  }
}
