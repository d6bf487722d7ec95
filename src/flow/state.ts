// The flow checkpoint: where a job is in the NemoVideo flow, stored in Redis after every step so any worker can resume it.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { jobResultSchema } from '../jobs/schemas.js';
import type { Keys } from '../redis/keys.js';

export const STEPS = ['auth', 'session', 'upload', 'generate', 'reconcile', 'render_submit', 'render_poll', 'finish'] as const;
export type Step = (typeof STEPS)[number];

const uploadedFileSchema = z.object({
  filename: z.string(),
  fileType: z.string(),
  cdnUrl: z.string(),
});

export const flowStateSchema = z.object({
  step: z.enum(STEPS),
  session: z.object({ task_id: z.string(), session_id: z.string() }).nullable(),
  uploaded: z.boolean(),
  uploads: z.array(uploadedFileSchema),
  /** The texts sent to /run_sse, in order: the instruction (with output hints) then each follow-up. */
  messages: z.array(z.string()),
  next_message: z.number().int().min(0),
  /** Written BEFORE a message is sent; non-null on resume means "sent, outcome unknown": reconcile, never re-send. */
  inflight: z
    .object({ index: z.number().int(), sent_at: z.string(), fingerprint_before: z.string().nullable() })
    .nullable(),
  reconcile: z
    .object({ reads: z.number().int(), unchanged: z.number().int(), last_fingerprint: z.string().nullable() })
    .nullable(),
  render: z
    .object({
      id: z.string(),
      attempt: z.number().int(),
      /** Set before the submit request goes out: on resume, look the id up before submitting again. */
      attempted: z.boolean(),
      submitted: z.boolean(),
      submitted_at: z.string().nullable(),
      polls: z.number().int(),
      samples: z.array(z.object({ at: z.number(), progress: z.number() })),
      timeline: z.string(),
      draft_duration_ms: z.number().nullable(),
    })
    .nullable(),
  result: jobResultSchema.nullable(),
  /** Consecutive failures of the current step that were retried (transient upstream errors). */
  retries: z.number().int().min(0),
  session_resets: z.number().int().min(0),
  /** First time this job found the upstream out of credits; it fails once it has waited too long. */
  credits_wait_since: z.string().nullable(),
});
export type FlowState = z.infer<typeof flowStateSchema>;

export function initialFlowState(messages: string[], inherited?: { task_id: string; session_id: string }): FlowState {
  return {
    step: inherited ? 'generate' : 'auth',
    session: inherited ?? null,
    uploaded: inherited !== undefined,
    uploads: [],
    messages,
    next_message: 0,
    inflight: null,
    reconcile: null,
    render: null,
    result: null,
    retries: 0,
    session_resets: 0,
    credits_wait_since: null,
  };
}

export class FlowStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async load(jobId: string): Promise<FlowState | null> {
    const raw = await this.redis.get(this.keys.jobFlow(jobId));
    return raw === null ? null : flowStateSchema.parse(JSON.parse(raw));
  }

  async save(jobId: string, state: FlowState): Promise<void> {
    await this.redis.set(this.keys.jobFlow(jobId), JSON.stringify(state));
  }
}
