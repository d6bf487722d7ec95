// /v1/jobs: create, read, list, cancel and revise jobs, all scoped to the caller's tenant.
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { Idempotency } from '../../jobs/idempotency.js';
import { JOB_STATUSES, revisionBodySchema } from '../../jobs/schemas.js';
import { multipartOptions } from '../../uploads/multipart-intake.js';
import { StagedUploads } from '../../uploads/staged-uploads.js';
import type { ApiDeps } from '../deps.js';
import { parseWith } from '../validation.js';
import { createJob } from './job-create.js';

const idParams = z.object({ id: z.string().max(64) });
/** Shared with the OpenAPI document. */
export const listQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^job_[0-9A-Z]{26}$/, 'must be a next_cursor value').optional(),
});

export function jobRoutes(deps: ApiDeps) {
  const { config, redis, keys } = deps;
  const uploads = new StagedUploads({ redis, keys, dir: config.UPLOAD_DIR, maxBytes: config.UPLOAD_MAX_BYTES });
  const idempotency = new Idempotency(redis, keys);
  return async (app: FastifyInstance) => {
    await app.register(multipart, multipartOptions(config.UPLOAD_MAX_BYTES));

    app.post('/v1/jobs', (request, reply) => createJob({ api: deps, uploads, idempotency }, request, reply));

    app.get('/v1/jobs/:id', async (request) => {
      const { id } = parseWith(idParams, request.params, 'path');
      return (await findJob(deps, request.tenant, id)).job;
    });

    app.get('/v1/jobs', async (request) => {
      const query = parseWith(listQuerySchema, request.query, 'query');
      const page = await deps.store.list(request.tenant, query);
      return { data: page.records.map((r) => r.job), next_cursor: page.nextCursor };
    });

    app.post('/v1/jobs/:id/cancel', async (request) => {
      const { id } = parseWith(idParams, request.params, 'path');
      const record = await deps.jobs.cancel(request.tenant, id);
      return record.job;
    });

    app.post('/v1/jobs/:id/revisions', async (request, reply) => {
      const { id } = parseWith(idParams, request.params, 'path');
      const body = parseWith(revisionBodySchema, request.body);
      const record = await deps.jobs.revise(request.tenant, id, body.instruction);
      return reply.status(202).send(record.job);
    });
  };
}

export async function findJob(deps: ApiDeps, tenant: string, id: string) {
  const record = await deps.store.getForTenant(tenant, id);
  if (!record) throw new AppError('JOB_NOT_FOUND', `job ${id} not found`);
  return record;
}
