// What the admin API accepts for a tenant: creation and update bodies, the listing query (zod, shared by routes and use cases).
import { z } from 'zod';
import { newTenantIdSchema, tenantIdSchema, tenantLimitsShape } from './schemas.js';

const UPSTREAM_HINT = 'must be {"token": "…"} (its own NemoVideo token), {"anonymous": true} (its own anonymous account) or {"default": true}';

export const upstreamRequestSchema = z.union(
  [
    z.strictObject({ token: z.string().min(8).max(4096).regex(/^\S*$/, 'must not contain whitespace').describe('the tenant’s own NemoVideo token; stored encrypted, never answered') }),
    z.strictObject({ anonymous: z.literal(true) }),
    z.strictObject({ default: z.literal(true) }),
  ],
  { error: UPSTREAM_HINT },
);

const settings = {
  max_concurrent_jobs: tenantLimitsShape.max_concurrent_jobs.optional().describe('running jobs at once (null: only the service-wide MAX_RUNNING_JOBS)'),
  rate_limit_per_min: tenantLimitsShape.rate_limit_per_min
    .optional()
    .describe('POST /v1/jobs, /v1/batches and /v1/uploads per minute, shared by all API processes (null: not limited)'),
  retention_ms: tenantLimitsShape.retention_ms
    .optional()
    .describe('how long finished jobs (and a deleted tenant’s tombstone) are kept, at most ten years (null: JOB_RETENTION_MS)'),
  weight: tenantLimitsShape.weight
    .nullable()
    .optional()
    .describe('share of the workers when tenants compete, 0.001–1,000,000 (null: the default, 1)'),
  upstream: upstreamRequestSchema.optional().describe('whose NemoVideo account its jobs spend (default: the service’s)'),
};

export const createTenantBodySchema = z.strictObject({ id: newTenantIdSchema.describe('the tenant id, 1–64 of A-Z a-z 0-9 _ . - (not . or ..)'), ...settings });
export type CreateTenantBody = z.infer<typeof createTenantBodySchema>;

export const updateTenantBodySchema = z.strictObject(settings);
export type UpdateTenantBody = z.infer<typeof updateTenantBodySchema>;

export const tenantListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: tenantIdSchema.optional().describe('the next_cursor of the previous page'),
});
