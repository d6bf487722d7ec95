// zod schemas of the public Job, its Event and the create-job body (contract §4); the HTTP layer and OpenAPI share them.
import { z } from 'zod';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export const TERMINAL_STATUSES = ['succeeded', 'failed', 'canceled'] as const;
export const JOB_STAGES = ['queued', 'auth', 'session', 'upload', 'generate', 'reconcile', 'render', 'deliver', 'done'] as const;
export const EVENT_TYPES = ['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled'] as const;
export const TERMINAL_EVENTS = ['job.succeeded', 'job.failed', 'job.canceled'] as const;
export const WEBHOOK_STATUSES = ['none', 'pending', 'delivered', 'failing', 'exhausted'] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];
export type JobStage = (typeof JOB_STAGES)[number];
export type EventType = (typeof EVENT_TYPES)[number];

export const MAX_METADATA_BYTES = 4096;

const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
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

export const outputSchema = z.strictObject({
  format: z.enum(['mp4']).default('mp4'),
  quality: z.enum(['low', 'medium', 'high']).default('high'),
  resolution: z.enum(['480p', '720p', '1080p', '4k']).default('1080p'),
  aspect_ratio: z.enum(['16:9', '9:16', '1:1', '4:5', '4:3', '3:4', '21:9']).optional(),
});
export type Output = z.infer<typeof outputSchema>;

export const webhookRequestSchema = z.strictObject({
  url: httpUrl,
  events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length).optional(),
});

export const metadataSchema = z
  .record(z.string().max(256), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes as JSON`);

export const createJobBodySchema = z.strictObject({
  instruction: text(4000),
  followups: z.array(text(4000)).max(10, 'at most 10 follow-ups').default([]),
  sources: z.array(sourceSchema).max(50, 'at most 50 sources').default([]),
  output: outputSchema.default({ format: 'mp4', quality: 'high', resolution: '1080p' }),
  language: z
    .string()
    .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en or zh-CN')
    .default('en'),
  webhook: webhookRequestSchema.optional(),
  metadata: metadataSchema.default({}),
});
export type CreateJobBody = z.infer<typeof createJobBodySchema>;

export const revisionBodySchema = z.strictObject({ instruction: text(4000) });

export const jobErrorSchema = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });
export type JobError = z.infer<typeof jobErrorSchema>;

export const jobResultSchema = z.object({
  url: z.string(),
  timeline: z.string(),
  duration_ms: z.number().nullable(),
  size_bytes: z.number().nullable(),
});
export type JobResult = z.infer<typeof jobResultSchema>;

export const jobSchema = z.object({
  id: z.string(),
  status: z.enum(JOB_STATUSES),
  stage: z.enum(JOB_STAGES),
  progress: z.number().int().min(0).max(100),
  instruction: z.string(),
  followups: z.array(z.string()),
  sources: z.array(sourceSchema),
  output: outputSchema,
  language: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  messages: z.array(z.string()),
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

/** What Redis holds for a job: the public Job plus who owns it and a version for compare-and-set. */
export const jobRecordSchema = z.object({
  v: z.number().int(),
  tenant: z.string(),
  cancel_requested: z.boolean().default(false),
  /** The W3C traceparent of the request that created the job: the worker's spans join that trace. */
  trace: z.string().nullable().default(null),
  job: jobSchema,
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

export const eventSchema = z.object({
  id: z.string(),
  seq: z.number().int().min(1),
  type: z.enum(EVENT_TYPES),
  at: z.string(),
  data: jobSchema,
});
export type JobEvent = z.infer<typeof eventSchema>;

export function isTerminal(status: JobStatus): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
