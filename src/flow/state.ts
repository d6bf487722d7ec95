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
    .object({
      index: z.number().int(),
      sent_at: z.string(),
      fingerprint_before: z.string().nullable(),
      /** The error the agent stream ended with, if any: the job error when state shows the message did nothing. */
      agent_error: z.string().nullable().default(null),
    })
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

/** Proof that the caller still holds the job: BullMQ's lock key and the token it was given with the job. */
export interface Fence {
  lockKey: string;
  token: string;
}

/** A worker whose lock expired (it looked dead) must stop: another worker owns the job and its checkpoint now. */
export class LockLostError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId}: the worker lost its lock; another worker has taken the job over`);
    this.name = 'LockLostError';
  }
}

/** SET the checkpoint only while the lock still holds our token (one atomic script: no gap between check and write). */
const FENCED_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0`;

export class FlowStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async load(jobId: string): Promise<FlowState | null> {
    const raw = await this.redis.get(this.keys.jobFlow(jobId));
    return raw === null ? null : flowStateSchema.parse(JSON.parse(raw));
  }

  /**
   * With a fence, the write happens only while the caller still holds the job's lock; otherwise LockLostError.
   * That keeps a worker that stalled (and was taken over) from overwriting the new owner's checkpoint, e.g.
   * clearing an `inflight` mark and so letting a message be sent twice.
   */
  async save(jobId: string, state: FlowState, fence?: Fence): Promise<void> {
    const json = JSON.stringify(state);
    if (!fence) {
      await this.redis.set(this.keys.jobFlow(jobId), json);
      return;
    }
    const ok = await this.redis.eval(FENCED_SET, 2, fence.lockKey, this.keys.jobFlow(jobId), fence.token, json);
    if (ok !== 1) throw new LockLostError(jobId);
  }
}
