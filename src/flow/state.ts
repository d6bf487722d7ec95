// The flow checkpoint: where a job is in the NemoVideo flow, stored in Redis after every step so any worker can resume it.
import { z } from 'zod';
import { jobResultSchema } from '../jobs/schemas.js';
import { conformanceReportSchema } from '../video/conformance.js';
import { waitForReplicas, type RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { RedisSettings } from '../redis/settings.js';

export const STEPS = ['auth', 'session', 'upload', 'generate', 'reconcile', 'check', 'render_submit', 'render_poll', 'mirror', 'finish'] as const;
export type Step = (typeof STEPS)[number];

const uploadedFileSchema = z.object({
  filename: z.string(),
  fileType: z.string(),
  cdnUrl: z.string(),
});

export const knownStateSchema = z.object({
  draft: z.unknown().nullable(),
  generated_media: z.unknown().nullable(),
  video_infos: z.number().int(),
});
export type KnownState = z.infer<typeof knownStateSchema>;

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
      /** What the agent said before its stream broke off: the job's messages once state shows the outcome. */
      texts: z.array(z.string()).optional(),
      /**
       * The stream closed cleanly after these tool calls, with no text and no tool result (protocol §3: "only tool
       * calls"): the agent ended its turn, so a state that stays as it was means the edit changed nothing, not a loss.
       */
      closed_after_calls: z.array(z.string()).optional(),
    })
    .nullable(),
  reconcile: z
    .object({
      reads: z.number().int(),
      unchanged: z.number().int(),
      last_fingerprint: z.string().nullable(),
      /** Reads in a row that found the same changed state (a checkpoint written before this field reads as 0). */
      stable: z.number().int().default(0),
    })
    .nullable(),
  render: z
    .object({
      id: z.string(),
      attempt: z.number().int(),
      /** Set before the submit request goes out: on resume, look the id up before submitting again. */
      attempted: z.boolean(),
      /**
       * The upstream refused this id as taken: if a lookup then finds no render of ours under it, the next id is used
       * (a step retried after the lookup failed does not submit the refused id again).
       */
      duplicate_refused: z.boolean().optional(),
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
  /**
   * Consecutive upstream refusals (1001) of the tokens the current step was given. Counted apart from `retries`: a
   * token expiring during a run of transient failures is not "the upstream kept refusing fresh tokens".
   */
  token_refusals: z.number().int().min(0).default(0),
  session_resets: z.number().int().min(0),
  /** The upstream account the job's session was created under (null before one, or in checkpoints older than this). */
  account: z.string().nullable().default(null),
  /** First time this job found the upstream out of credits; it fails once it has waited too long. */
  credits_wait_since: z.string().nullable(),
  /** First of an unbroken run of 429s; the job fails UPSTREAM_RATE_LIMITED once it lasts too long. */
  rate_limited_since: z.string().nullable().default(null),
  /**
   * What the session's state is known to hold after the last message: read from state, or the previous state with the
   * agent stream's stateDelta applied (ADK applies exactly those values to the session state). It gives the
   * "before" of the next message without another state read; null means "read it".
   */
  known: knownStateSchema.nullable().default(null),
  /** The draft compared with the output wishes after the last message (null until checked). */
  checks: conformanceReportSchema.nullable().default(null),
  /** The one corrective message of conformance "correct" was added. */
  corrected: z.boolean().default(false),
  /** Calls this job made to the upstream, messages it sent and renders it submitted (job.usage). */
  usage: z
    .object({ upstream_calls: z.number().int(), messages_sent: z.number().int(), renders: z.number().int() })
    .default({ upstream_calls: 0, messages_sent: 0, renders: 0 }),
  /** Jobs that share one upstream session one at a time (a batch, or a job and its revisions); null when alone. */
  group: z.string().nullable().default(null),
  /**
   * The run that marked the last message sent: from then on a render may be submitted. That run submits without a
   * commit of its own; any later run (after a crash) looks the render id up before submitting.
   */
  render_premark: z.string().nullable().default(null),
  /**
   * Render ids the job may have used in sessions the upstream has since lost. A new session's renders take the ids
   * after them: an id used in the lost session would answer "duplicate", and adopting that render would deliver a
   * video of the lost session's draft under the new session's checks.
   */
  render_ids_before: z.number().int().min(0).default(0),
  /**
   * The upload answered that the session's state does not list its files yet (session_state_applied: false): since
   * when the first message has waited for state to list them (absent: nothing to wait for). The agent works from what
   * state lists, so a message sent earlier would make a video without them. Absent on nearly every job.
   */
  uploads_pending_since: z.string().optional(),
  /** When the job's last job.progress event was written (ms): the throttle holds across runs and workers. */
  progress_event_at: z.number().nullable().default(null),
  /**
   * The shared session was handed over with the previous job's message still in flight: before this job's first
   * message, state is read until that message's work has settled (flow/settle.ts).
   */
  settle: z
    .object({
      fingerprint_before: z.string().nullable(),
      second_stage: z.boolean().default(false),
      reads: z.number().int(),
      last_fingerprint: z.string().nullable(),
      /** Reads in a row of one changed state. */
      stable: z.number().int().default(0),
    })
    .optional(),
});
export type FlowState = z.infer<typeof flowStateSchema>;

export function initialFlowState(
  messages: string[],
  opts: { inherited?: { task_id: string; session_id: string } | undefined; group?: string | null } = {},
): FlowState {
  const { inherited } = opts;
  return {
    // A job of a group starts like any other: its turn on the shared session is taken at the session step.
    step: inherited && !opts.group ? 'generate' : 'auth',
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
    token_refusals: 0,
    session_resets: 0,
    account: null,
    credits_wait_since: null,
    rate_limited_since: null,
    known: null,
    checks: null,
    corrected: false,
    usage: { upstream_calls: 0, messages_sent: 0, renders: 0 },
    group: opts.group ?? null,
    render_premark: null,
    render_ids_before: 0,
    progress_event_at: null,
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
const FENCED_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL') return 1 end return 0`;

export class FlowStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    /** Replicas a durable save waits for (REDIS_WAIT_REPLICAS; 0 on a single node), and for how long (REDIS_WAIT_TIMEOUT_MS). */
    private readonly durability: Pick<RedisSettings, 'waitReplicas' | 'waitTimeoutMs'> = { waitReplicas: 0, waitTimeoutMs: 100 },
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
  async save(jobId: string, state: FlowState, fence?: Fence, opts: { durable?: boolean } = {}): Promise<void> {
    const json = JSON.stringify(state);
    if (!fence) {
      // KEEPTTL: the last saves of an ended job must not undo its retention.
      await this.redis.set(this.keys.jobFlow(jobId), json, 'KEEPTTL');
    } else {
      const ok = await this.redis.eval(FENCED_SET, 2, fence.lockKey, this.keys.jobFlow(jobId), fence.token, json);
      if (ok !== 1) throw new LockLostError(jobId);
    }
    // Replication is asynchronous: a failover right after this write could lose the "message sent" mark and let the
    // message be sent twice. WAIT narrows that window to what the replicas have not acknowledged in waitTimeoutMs; on
    // a cluster it is routed (with a keyed no-op) to the master that took the write. A replica that does not answer in
    // time does not stop the job: availability first, and the window is documented (README "Running on Sentinel or Cluster").
    // WAIT never fails the save: the write is done, only its confirmation is missing (a WAIT cut off by the failover
    // itself is like one that timed out). A throw here would make the step retry with the mark already set in memory,
    // so the message would be reconciled as sent without ever having been sent.
    if (opts.durable && this.durability.waitReplicas > 0) {
      await waitForReplicas(this.redis, this.durability, this.keys.jobFlow(jobId)).catch(() => 0);
    }
  }
}
