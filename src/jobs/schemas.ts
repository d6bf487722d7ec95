// zod schemas of the public Job, its Event and the create-job body (contract §4); the HTTP layer and OpenAPI share them.
import { z } from 'zod';
import { checkSchema } from '../video/conformance.js';
import { conformanceChoiceSchema, conformanceSchema, outputChangesSchema, outputSchema } from '../video/output.js';
import { timelineSchema } from '../video/timeline.js';
import { nestsDeeperThan } from '../core/json-nesting.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'canceled'] as const;
export const JOB_STAGES = ['queued', 'auth', 'session', 'upload', 'generate', 'reconcile', 'render', 'deliver', 'done'] as const;
export const EVENT_TYPES = ['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled', 'batch.succeeded', 'batch.failed'] as const;
export const TERMINAL_EVENTS = ['job.succeeded', 'job.failed', 'job.canceled'] as const;
/** A batch's end is announced on the event stream of the item that ended it, after that item's own terminal event. */
export const BATCH_EVENTS = ['batch.succeeded', 'batch.failed'] as const;
export const WEBHOOK_STATUSES = ['none', 'pending', 'delivered', 'failing', 'exhausted'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export type JobStatus = (typeof JOB_STATUSES)[number];
export type JobStage = (typeof JOB_STAGES)[number];
export type EventType = (typeof EVENT_TYPES)[number];

export const MAX_METADATA_BYTES = 4096;

export const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  // A URL parser drops tabs and line breaks silently, so the address stored and shown would not be the one used.
  // eslint-disable-next-line no-control-regex
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters (tab, CR, LF)')
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http or https URL');

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const sourceSchema = z.union([
  z.strictObject({ url: httpUrl }),
  z.strictObject({ upload_id: z.string().regex(/^upl_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an upload id (upl_…)') }),
]);
export type Source = z.infer<typeof sourceSchema>;

/**
 * A source as a request gives it: a URL with a user and password is refused, as HEIC sources and webhook URLs refuse
 * it (the job record, its events and webhooks repeat its sources as given). Stored records are read with
 * sourceSchema: a job accepted before this stays readable.
 */
const requestSourceSchema = z.union([
  z.strictObject({
    url: httpUrl.refine((v) => {
      // Checks go on after a failed one: an unparsable URL is httpUrl's to name, not a throw here.
      const u = URL.parse(v);
      return u === null || (u.username === '' && u.password === '');
    }, 'must not contain credentials (user:password@); a presigned link carries its access in the query'),
  }),
  sourceSchema.options[1],
]);

export { outputSchema, type Output } from '../video/output.js';

export const webhookRequestSchema = z.strictObject({
  url: httpUrl,
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).optional(),
});

/**
 * Every level of nesting takes at least two bytes of JSON (its brackets), so metadata nested deeper than half the byte
 * limit is over it, and is refused before JSON.stringify measures it: thousands of levels overflow its stack (a 500).
 */
export const metadataSchema = z
  .record(z.string().max(256), z.unknown())
  .refine(
    (m) => !nestsDeeperThan(m, MAX_METADATA_BYTES / 2) && Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES,
    `must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
  );

export const languageSchema = z
  .string()
  .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en or zh-CN')
  .default('en');

export const createJobBodySchema = z.strictObject({
  instruction: text(4000),
  followups: z.array(text(4000)).max(10, 'at most 10 follow-ups').default([]),
  sources: z.array(requestSourceSchema).max(50, 'at most 50 sources').default([]),
  output: outputSchema.prefault({}),
  conformance: conformanceSchema,
  language: languageSchema,
  webhook: webhookRequestSchema.optional(),
  metadata: metadataSchema.default({}),
});
export type CreateJobBody = z.infer<typeof createJobBodySchema>;

export const revisionBodySchema = z.strictObject({
  instruction: text(4000),
  output: outputChangesSchema
    .optional()
    .describe(
      'The wishes to change, over the parent job’s output: each one given replaces the parent’s, the others stand (null drops one); the parent’s output as it is when absent. They go with the instruction as binding requirements and are checked, so an instruction that contradicts a standing wish (e.g. "make it square" on a 16:9 parent) must come with the changed wish here: {"aspect_ratio": "1:1"}.',
    ),
  conformance: conformanceChoiceSchema.optional().describe('The parent job’s setting when absent.'),
});
export type RevisionBody = z.infer<typeof revisionBodySchema>;

export const jobErrorSchema = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });
export type JobError = z.infer<typeof jobErrorSchema>;

export const jobResultSchema = z.object({
  url: z
    .string()
    .describe('the video: when outputs are stored, a signed link to GET /v1/jobs/{id}/output that needs no key (fresh on every read of the job); with STORAGE_URL=none, the upstream’s URL'),
  timeline: z.string(),
  duration_ms: z.number().nullable(),
  size_bytes: z.number().nullable().describe('bytes of the video (of the stored copy, exactly, when stored)'),
  checks: z.array(checkSchema).default([]).describe('The result compared with the output wishes, one check per wish.'),
  conformant: z.boolean().nullable().default(null).describe('false when some check failed, true when none failed and some passed, null when nothing could be checked.'),
  upstream_url: z.string().nullable().default(null).describe('the URL the upstream rendered the video to (it expires); url is the lasting copy when outputs are stored'),
  sha256: z.string().nullable().default(null).describe('lowercase hex sha256 of the stored video; null when outputs are not stored (STORAGE_URL=none)'),
  stored_at: z.string().nullable().default(null).describe('when the video was copied into the service’s storage; null when it was not'),
});
export type JobResult = z.infer<typeof jobResultSchema>;

export const changeSchema = z.object({
  message: z.number().int().min(1).describe('1-based index into messages_sent'),
  from_agent_text: z.boolean().describe('whether the agent answered that message with text (false: a silent edit)'),
  summary: z.string().describe('what the relay saw change in the draft, e.g. "added BGM track, duration 10.0 s → 15.0 s"'),
  answers: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('how many of `messages` the agent answered this message with: the changes in order take that many of messages each, so the two read as one conversation (absent on jobs recorded before it was kept)'),
});
export type Change = z.infer<typeof changeSchema>;

export const usageSchema = z.object({
  messages_sent: z.number().int().describe('messages sent to the agent (each may cost credits)'),
  renders: z.number().int().describe('renders submitted upstream and accepted (a submit the upstream refused, or that made nothing, is not counted)'),
  upstream_calls: z.number().int().describe('calls this job made to the upstream API'),
  credits_before: z.number().nullable().describe('the account balance as last read before the job started; null when unknown'),
  credits_after: z.number().nullable().describe('the account balance as read (at most 10 s earlier) when the job finished; null when unknown'),
});
export type Usage = z.infer<typeof usageSchema>;
export const EMPTY_USAGE: Usage = Object.freeze({ messages_sent: 0, renders: 0, upstream_calls: 0, credits_before: null, credits_after: null });

export const waitingSchema = z.object({
  reason: z.enum(['upstream_credits', 'upstream_rate_limit', 'upstream_retry', 'upstream_uploads', 'session_turn', 'admission']),
  message: z.string(),
  since: z.string(),
});
export type Waiting = z.infer<typeof waitingSchema>;

export const jobSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  stage: z.enum(JOB_STAGES),
  progress: z.number().int().min(0).max(100),
  instruction: z.string(),
  followups: z.array(z.string()),
  sources: z.array(sourceSchema),
  output: outputSchema,
  conformance: conformanceSchema,
  language: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  messages: z.array(z.string()).describe('what the upstream agent said, in order, unchanged'),
  messages_sent: z.array(z.string()).default([]).describe('the exact texts the agent was sent, in order (the compiled first message, follow-ups, a correction)'),
  changes: z.array(changeSchema).default([]).describe('after every message, what the relay saw change in the draft'),
  timeline: timelineSchema.nullable().default(null).describe('the latest draft as tracks of segments on a time axis'),
  usage: usageSchema.default(EMPTY_USAGE),
  waiting: waitingSchema.nullable().default(null).describe('why a running job is waiting, when it is (credits, rate limit, a failed call retried after a backoff, its turn on a shared session)'),
  batch_id: z.string().nullable().default(null),
  queue_position: z
    .number()
    .int()
    .nullable()
    .default(null)
    .describe('while queued: about how many jobs (of every tenant, fairly interleaved) start before this one, 1 = next, 0 = its turn came and it starts when a worker takes it; null otherwise'),
  result: jobResultSchema.nullable(),
  error: jobErrorSchema.nullable(),
  upstream: z.object({
    task_id: z.string().nullable(),
    session_id: z.string().nullable(),
    render_id: z.string().nullable(),
  }),
  webhook: z
    .object({
      url: z.string(),
      events: z.array(z.enum(EVENT_TYPES)),
      status: z.enum(WEBHOOK_STATUSES),
      attempts: z.number().int(),
    })
    .nullable(),
  parent_id: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});
export type Job = z.infer<typeof jobSchema>;

/**
 * Output values older service versions accepted: a stored job keeps parsing after the upgrade (the upstream renders at
 * most 1080p, so 4k jobs were rendered at 1080p anyway). Only stored records go through this, never requests.
 */
function upgradeStoredRecord(value: unknown): unknown {
  const job = (value as { job?: { output?: unknown } } | null)?.job;
  const stored = job?.output;
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return value;
  const output = { ...(stored as Record<string, unknown>) };
  if (output.resolution === '4k') output.resolution = '1080p';
  if (output.resolution === '480p') output.resolution = '720p';
  if (typeof output.aspect_ratio === 'string' && !['16:9', '9:16', '1:1', '4:5'].includes(output.aspect_ratio)) delete output.aspect_ratio;
  return { ...(value as object), job: { ...job, output } };
}

/** What Redis holds for a job: the public Job plus who owns it and a version for compare-and-set. */
export const jobRecordSchema = z.preprocess(upgradeStoredRecord, z.object({
  v: z.number().int(),
  tenant: z.string(),
  cancel_requested: z.boolean().default(false),
  /** Why, when not the caller's own cancel (the operator deleted the tenant): the canceled job's error message. */
  cancel_reason: z.string().optional(),
  /** The W3C traceparent of the request that created the job: the worker's spans join that trace. */
  trace: z.string().nullable().default(null),
  /** The group whose shared upstream session the job takes a turn on (a batch, or a job and its revisions). */
  group: z.string().nullable().default(null),
  /** The Redis key of the Idempotency-Key entry that created the job, erased with it. */
  idem: z.string().nullable().default(null),
  job: jobSchema,
}));
export type JobRecord = z.infer<typeof jobRecordSchema>;

export const BATCH_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

export const batchItemSchema = z.strictObject({
  instruction: text(4000),
  output: outputSchema.prefault({}),
  metadata: metadataSchema.default({}),
});

export const createBatchBodySchema = z.strictObject({
  sources: z.array(requestSourceSchema).max(50, 'at most 50 sources').default([]),
  items: z.array(batchItemSchema).min(1, 'at least 1 item').max(20, 'at most 20 items'),
  conformance: conformanceSchema,
  language: languageSchema,
  webhook: webhookRequestSchema.optional(),
  metadata: metadataSchema.default({}).describe('Echoed on the batch and its batch.* events; each item job carries its own item metadata (link them by batch_id).'),
});
export type CreateBatchBody = z.infer<typeof createBatchBodySchema>;

export const batchSchema = z.object({
  id: z.string(),
  status: z.enum(BATCH_STATUSES).describe('queued until an item starts; succeeded when every item did; failed when any failed; canceled when canceled with none failed'),
  items: z.array(z.string()).describe('the item jobs, in the order they run on the shared session'),
  counts: z.object({ queued: z.number().int(), running: z.number().int(), succeeded: z.number().int(), failed: z.number().int(), canceled: z.number().int() }),
  sources: z.array(sourceSchema),
  conformance: conformanceSchema,
  language: z.string(),
  webhook: z.object({ url: z.string(), events: z.array(z.enum(EVENT_TYPES)) }).nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  finished_at: z.string().nullable(),
});
export type Batch = z.infer<typeof batchSchema>;

export const eventSchema = z.object({
  id: z.string(),
  seq: z.number().int().min(1),
  type: z.enum(EVENT_TYPES),
  at: z.string(),
  data: z.union([jobSchema, batchSchema]).describe('the Job (job.* events) or the Batch (batch.* events)'),
});
export type JobEvent = z.infer<typeof eventSchema>;

/** The Job of a job.* event (null for a batch.* event, whose data is the Batch). */
export function eventJob(event: Pick<JobEvent, 'data'>): Job | null {
  return 'stage' in event.data ? (event.data as Job) : null;
}

export function isTerminal(status: JobStatus): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
