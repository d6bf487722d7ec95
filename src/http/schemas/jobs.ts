// The job resources as the API documents them: the domain's zod schemas, named for the OpenAPI document.
import { z } from 'zod';
import { createJobBodySchema, eventSchema, JOB_STATUSES, jobSchema, revisionBodySchema } from '../../jobs/schemas.js';
import { IDEMPOTENCY_KEY_MAX } from '../../jobs/idempotency.js';
import { apiSchemas } from './registry.js';

export const jobResponse = apiSchemas.register('Job', jobSchema);
export const createJobBody = apiSchemas.register('CreateJob', createJobBodySchema);
export const revisionBody = apiSchemas.register('Revision', revisionBodySchema);
export const eventResponse = apiSchemas.register('Event', eventSchema);

export const jobPage = z.object({
  data: z.array(jobResponse),
  next_cursor: z.string().nullable().describe('pass as cursor to get the next page; null on the last page'),
});

export const listQuery = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .regex(/^job_[0-9A-Z]{26}$/, 'must be a next_cursor value')
    .optional()
    .describe('the next_cursor of the previous page'),
});

/** Loose: every other header passes through untouched (Fastify replaces request.headers with the parsed value). */
export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'Makes creation safe to retry: the same key with the same body within 24 h returns the first job (200, Idempotent-Replayed: true); ' +
        'with a different body 422 IDEMPOTENCY_KEY_REUSED; while the first request is still being processed a second one waits up to 5 s, ' +
        `then 409 IDEMPOTENCY_KEY_IN_USE. Scoped to the tenant. 1–${IDEMPOTENCY_KEY_MAX} printable ASCII characters.`,
    ),
});
