// Which events of a job are to be delivered, and the per-attempt delivery log (GET /v1/jobs/{id}/deliveries).
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { eventSchema, type EventType, type JobEvent, type JobRecord } from '../jobs/schemas.js';
import type { Keys } from '../redis/keys.js';

export const DELIVERY_STATES = ['pending', 'delivered', 'exhausted', 'stopped'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export const deliveryAttemptSchema = z.object({
  event_id: z.string(),
  type: z.string(),
  attempt: z.number().int(),
  status_code: z.number().int().nullable(),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
  at: z.string(),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** Each job keeps at most this many attempt records; the oldest are dropped. */
export const MAX_ATTEMPT_RECORDS = 500;

export function wantsEvent(record: JobRecord, type: EventType): boolean {
  return Boolean(record.job.webhook && record.job.webhook.events.includes(type));
}

export class DeliveryLedger {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Claims an event for delivery; true only for the first caller (so an event is queued once). */
  async claim(jobId: string, seq: number): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.jobWebhookPending(jobId), String(seq), 'pending')) === 1;
  }

  async setState(jobId: string, seq: number, state: DeliveryState): Promise<void> {
    await this.redis.hset(this.keys.jobWebhookPending(jobId), String(seq), state);
  }

  async states(jobId: string): Promise<Map<number, DeliveryState>> {
    const raw = await this.redis.hgetall(this.keys.jobWebhookPending(jobId));
    return new Map(Object.entries(raw).map(([seq, state]) => [Number(seq), z.enum(DELIVERY_STATES).parse(state)]));
  }

  /** Deliveries keep per-job order: an event waits while an earlier one of the same job is still pending. */
  async earlierPending(jobId: string, seq: number): Promise<boolean> {
    for (const [other, state] of await this.states(jobId)) if (other < seq && state === 'pending') return true;
    return false;
  }

  async event(jobId: string, seq: number): Promise<JobEvent | null> {
    const raw = await this.redis.lindex(this.keys.jobEvents(jobId), seq - 1);
    return raw === null ? null : eventSchema.parse(JSON.parse(raw));
  }

  async recordAttempt(jobId: string, attempt: DeliveryAttempt): Promise<void> {
    const key = this.keys.jobDeliveries(jobId);
    await this.redis.multi().rpush(key, JSON.stringify(attempt)).ltrim(key, -MAX_ATTEMPT_RECORDS, -1).exec();
  }

  async attempts(jobId: string): Promise<DeliveryAttempt[]> {
    const raw = await this.redis.lrange(this.keys.jobDeliveries(jobId), 0, -1);
    return raw.map((line) => deliveryAttemptSchema.parse(JSON.parse(line)));
  }
}
