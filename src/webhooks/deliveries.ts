// Which events of a job are to be delivered (the ledger), and the per-attempt delivery log (GET /v1/jobs/{id}/deliveries).
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { eventSchema, type EventType, type JobEvent, type JobRecord } from '../jobs/schemas.js';
import type { Keys } from '../redis/keys.js';
import { luaScript, runScript } from '../redis/scripts.js';
import { DeliveryScripts } from './delivery-scripts.js';

/**
 * pending: to be sent (or being retried); delivered: a 2xx came back; exhausted: the retry schedule ran out;
 * stopped: the job's deliveries were stopped (410 Gone, or the target was refused by the SSRF policy).
 */
export const DELIVERY_STATES = ['pending', 'delivered', 'exhausted', 'stopped'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** How much of a receiver's answer each attempt record keeps: enough to see why it refused, small enough to keep 500. */
export const RESPONSE_EXCERPT_CHARS = 500;

export const deliveryAttemptSchema = z.object({
  event_id: z.string(),
  type: z.string(),
  attempt: z.number().int(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
  at: z.string(),
  response_excerpt: z
    .string()
    .default('')
    .describe(`the start of what the receiver answered, as text (at most ${RESPONSE_EXCERPT_CHARS} characters; empty when it answered no body or could not be reached)`),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** Each job keeps at most this many attempt records; the oldest are dropped. */
export const MAX_ATTEMPT_RECORDS = 500;

/**
 * The ledger is one hash per job: numeric fields are event seqs → DeliveryState; two more fields:
 * STOP_FIELD (why automatic delivery ended for the whole job) and SEEN_FIELD (highest seq onEvent has looked at).
 */
const STOP_FIELD = 'stop';
const SEEN_FIELD = 'seen';

/** Claim = HSETNX unless the job's deliveries were stopped. Returns 1 claimed, 0 already claimed, -1 stopped. */
const CLAIM_SCRIPT = luaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
return redis.call('HSETNX', KEYS[1], ARGV[1], 'pending')`);

/** Stops the job: records the reason and turns every pending event into 'stopped', atomically. */
const STOP_SCRIPT = luaScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i]) and all[i + 1] == 'pending' then redis.call('HSET', KEYS[1], all[i], 'stopped') end
end
return 1`);

/** Raises SEEN_FIELD to ARGV[2] and returns its previous value (0 when absent). */
const SEEN_SCRIPT = luaScript(`
local prev = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > prev then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return prev`);

export function wantsEvent(record: JobRecord, type: EventType): boolean {
  return Boolean(record.job.webhook && record.job.webhook.events.includes(type));
}

/** The lowest pending seq among those `where` accepts: what holds a later event back, or the next one to wake. */
export function lowestPending(states: Map<number, DeliveryState>, where: (seq: number) => boolean): number | null {
  let lowest: number | null = null;
  for (const [seq, state] of states) if (state === 'pending' && where(seq) && (lowest === null || seq < lowest)) lowest = seq;
  return lowest;
}

export type ClaimResult = 'claimed' | 'exists' | 'stopped';

export class DeliveryLedger {
  /** The one-call scripts of the queued path (note an event, read a delivery, settle it) on the same keys. */
  readonly scripts: DeliveryScripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = new DeliveryScripts(redis, keys);
  }

  /** Claims an event for delivery; 'claimed' only for the first caller, 'stopped' once the job's deliveries ended. */
  async claim(jobId: string, seq: number): Promise<ClaimResult> {
    const result = Number(await runScript(this.redis, CLAIM_SCRIPT, 1, this.keys.jobWebhookPending(jobId), String(seq), STOP_FIELD));
    return result === 1 ? 'claimed' : result === 0 ? 'exists' : 'stopped';
  }

  async setState(jobId: string, seq: number, state: DeliveryState): Promise<void> {
    await this.redis.hset(this.keys.jobWebhookPending(jobId), String(seq), state);
  }

  /** Ends automatic delivery for the whole job: pending events become 'stopped' and later events are never claimed. */
  async stop(jobId: string, reason: string): Promise<void> {
    await runScript(this.redis, STOP_SCRIPT, 1, this.keys.jobWebhookPending(jobId), STOP_FIELD, reason);
  }

  async stopReason(jobId: string): Promise<string | null> {
    return this.redis.hget(this.keys.jobWebhookPending(jobId), STOP_FIELD);
  }

  /** Records that onEvent has looked at events up to `seq`; returns the previous mark, so callers can see a gap. */
  async markSeen(jobId: string, seq: number): Promise<number> {
    return Number(await runScript(this.redis, SEEN_SCRIPT, 1, this.keys.jobWebhookPending(jobId), SEEN_FIELD, String(seq)));
  }

  async seen(jobId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.jobWebhookPending(jobId), SEEN_FIELD)) ?? 0);
  }

  async states(jobId: string): Promise<Map<number, DeliveryState>> {
    const raw = await this.redis.hgetall(this.keys.jobWebhookPending(jobId));
    const entries = Object.entries(raw).filter(([field]) => /^\d+$/.test(field));
    return new Map(entries.map(([seq, state]) => [Number(seq), z.enum(DELIVERY_STATES).parse(state)]));
  }

  async event(jobId: string, seq: number): Promise<JobEvent | null> {
    const raw = await this.redis.lindex(this.keys.jobEvents(jobId), seq - 1);
    return raw === null ? null : eventSchema.parse(JSON.parse(raw));
  }

  /**
   * Notes a manual redelivery's queue id, so erasing the job finds it (its id carries a time: it cannot be named from
   * the job alone). Kept as long as the job's record (`expiresAtMs`; a job is redelivered only once it has ended).
   */
  async noteRedelivery(jobId: string, queueId: string, expiresAtMs: number): Promise<void> {
    const key = this.keys.jobRedeliveries(jobId);
    await this.redis.multi().sadd(key, queueId).pexpireat(key, expiresAtMs).exec();
  }

  async attempts(jobId: string): Promise<DeliveryAttempt[]> {
    const raw = await this.redis.lrange(this.keys.jobDeliveries(jobId), 0, -1);
    return raw.map((line) => deliveryAttemptSchema.parse(JSON.parse(line)));
  }
}
