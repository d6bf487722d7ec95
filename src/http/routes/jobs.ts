// /v1/jobs: create, read, list, cancel and revise jobs, all scoped to the caller's tenant.
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CreateJob } from '../../domain/create-job.js';
import type { ReviseJob } from '../../domain/revise-job.js';
import type { JobCommands } from '../../domain/job-commands.js';
import { AppError } from '../../core/errors.js';
import { idempotencyKeyOf } from '../idempotency-header.js';
import type { Job, JobRecord, JobStatus } from '../../jobs/schemas.js';
import { discardRestOfBody, multipartOptions, readJobRequest, removeAll } from '../../uploads/multipart-intake.js';
import type { StagedUploads, UploadRecord } from '../../uploads/staged-uploads.js';
import { described, errorResponses, idParams } from '../schemas/common.js';
import { withinStoreDeadline } from '../store-deadline.js';
import { createJobBody, idempotencyHeaders, jobPage, jobResponse, listQuery, revisionBody } from '../schemas/jobs.js';

/** Reads the tenant's jobs (the job store). */
export interface JobReader {
  getForTenant(tenant: string, id: string): Promise<JobRecord | null>;
  list(tenant: string, opts: { status?: JobStatus; limit: number; cursor?: string }): Promise<{ records: JobRecord[]; nextCursor: string | null }>;
}

export interface JobRouteDeps {
  reader: JobReader;
  commands: Pick<JobCommands, 'cancel'>;
  createJob: Pick<CreateJob, 'execute'>;
  reviseJob: Pick<ReviseJob, 'execute'>;
  /** Where multipart file parts are staged. */
  uploads: StagedUploads;
  uploadMaxBytes: number;
  /** Erases a finished job of the tenant now (DELETE /v1/jobs/{id}). */
  remove: (tenant: string, jobId: string) => Promise<void>;
  /** About how many jobs start before a queued one (fair admission); absent: not shown. */
  positionOf?: (jobId: string, tenant: string) => Promise<number | null>;
  /** The traceparent of the request being handled, for the job's worker spans to continue (null when tracing is off). */
  currentTrace?: () => string | null;
  /** A succeeded job with a stored output gets a fresh signed result.url on every read (computed, never stored). */
  presentResult?: (job: Job) => Promise<Job>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Files a multipart create staged; removed after the response unless the new job took them over. */
    ownFiles?: UploadRecord[];
  }
}

/** Appends the request's own files to the JSON's sources; anything malformed is left for the schema to name. */
function withFileSources(raw: unknown, staged: UploadRecord[]): unknown {
  if (staged.length === 0 || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const body = raw as Record<string, unknown>;
  const files = staged.map((s) => ({ upload_id: s.id }));
  if (body.sources === undefined) return { ...body, sources: files };
  return Array.isArray(body.sources) ? { ...body, sources: [...(body.sources as unknown[]), ...files] } : raw;
}

/** A queued job says where it stands in the fair queue (computed on read, never stored). */
async function withPosition(deps: JobRouteDeps, job: Job, tenant: string): Promise<Job> {
  if (job.status !== 'queued' || !deps.positionOf) return job;
  return { ...job, queue_position: await deps.positionOf(job.id, tenant) };
}

/** The stored link was minted when the job finished; a read hands out one valid for the full OUTPUT_URL_TTL_MS again. */
async function withFreshLink(deps: JobRouteDeps, job: Job): Promise<Job> {
  return job.status === 'succeeded' && deps.presentResult ? deps.presentResult(job) : job;
}

export async function findJob(reader: JobReader, tenant: string, id: string): Promise<JobRecord> {
  const record = await reader.getForTenant(tenant, id);
  if (!record) throw new AppError('JOB_NOT_FOUND', `job ${id} not found`);
  return record;
}

/** POST /v1/jobs, JSON or multipart (a `job` field and file parts staged like POST /v1/uploads). */
function createJobRoute(deps: JobRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    await app.register(multipart, multipartOptions(deps.uploadMaxBytes));

    app.post(
      '/v1/jobs',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'createJob',
          summary: 'Create a video job (JSON, or multipart with a `job` field and file parts)',
          description:
            'Referenced upload ids must exist and belong to the caller (404 UPLOAD_NOT_FOUND naming `sources.N.upload_id`). ' +
            'Multipart files are staged like POST /v1/uploads (same type and size checks) and removed again if the request fails.',
          headers: idempotencyHeaders,
          body: createJobBody,
          response: {
            202: described('job accepted', jobResponse),
            200: described('idempotent replay (header Idempotent-Replayed: true): the job the first request with this Idempotency-Key created', jobResponse),
            ...errorResponses(400, 401, 404, 409, 413, 415, 422, 429, 431, 503),
          },
        },
        config: { bodyTypes: 'application/json or multipart/form-data' },
        // Multipart: stage the file parts and hand the `job` field (with the files appended as sources) to validation.
        preValidation: async (request) => {
          if (!request.isMultipart()) return;
          try {
            const { job, staged } = await readJobRequest(request, deps.uploads);
            request.ownFiles = staged;
            (request as { body: unknown }).body = withFileSources(job, staged);
          } catch (err) {
            discardRestOfBody(request);
            throw err;
          }
        },
        // Why callback style: most requests own no files, and an async hook costs a promise per request.
        onResponse: (request, _reply, done) => {
          if (!request.ownFiles?.length) return done();
          removeAll(deps.uploads, request.ownFiles).then(
            () => done(),
            () => done(),
          );
        },
      },
      async (request, reply) => {
        const key = idempotencyKeyOf(request);
        const ownFiles = request.ownFiles ?? [];
        // From here the use case owns the files: it hands them to the job or removes them.
        request.ownFiles = undefined;
        const result = await withinStoreDeadline(
          deps.createJob.execute({
            tenant: request.tenant,
            body: request.body,
            ownFiles,
            idempotencyKey: key,
            trace: deps.currentTrace?.() ?? null,
          }),
        );
        if (!result.replayed) {
          // The job as stored, byte for byte (test/integration/create-job-claim.test.ts checks it against the schema's
          // encoding): built from the validated body by typed code, so a second pass through the response schema
          // would only cost time. A string with a JSON content type skips the serializer (the type provider types the
          // payload as the schema's object, hence the cast).
          if (result.jobJson) return reply.status(202).type('application/json; charset=utf-8').send(result.jobJson as unknown as Job);
          return reply.status(202).send(result.record.job);
        }
        return reply.status(200).header('idempotent-replayed', 'true').send(await withFreshLink(deps, result.record.job));
      },
    );
  };
}

export function jobRoutes(deps: JobRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    // In a context of its own: the multipart parser serves the create only, so every other route here refuses a
    // multipart body with 415 as it refuses any type but JSON (cancel and DELETE took one and acted on it).
    await app.register(createJobRoute(deps));

    app.get(
      '/v1/jobs/:id',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'getJob',
          summary: 'Get a job',
          params: idParams,
          response: { 200: described('the job', jobResponse), ...errorResponses(401, 404, 429, 431, 503) },
        },
      },
      async (request) => withFreshLink(deps, await withPosition(deps, (await findJob(deps.reader, request.tenant, request.params.id)).job, request.tenant)),
    );

    app.get(
      '/v1/jobs',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'listJobs',
          summary: 'List the tenant’s jobs, newest first (cursor pagination, stable under concurrent inserts)',
          querystring: listQuery,
          response: { 200: described('a page of jobs', jobPage), ...errorResponses(400, 401, 429, 431, 503) },
        },
      },
      async (request) => {
        const page = await deps.reader.list(request.tenant, request.query);
        const data = await Promise.all(page.records.map(async (r) => withFreshLink(deps, await withPosition(deps, r.job, request.tenant))));
        return { data, next_cursor: page.nextCursor };
      },
    );

    app.delete(
      '/v1/jobs/:id',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'deleteJob',
          summary: 'Erase a finished job now: its record, events, delivery log and stored output',
          description:
            'Jobs are erased by themselves when their retention ends (JOB_RETENTION_MS, or the tenant’s retention_ms); ' +
            'this erases one earlier. A job that has not ended answers 409 JOB_NOT_FINISHED: cancel it first.',
          params: idParams,
          response: { 204: z.undefined().describe('erased'), ...errorResponses(401, 404, 409, 429, 431, 503) },
        },
      },
      async (request, reply) => {
        await deps.remove(request.tenant, request.params.id);
        return reply.status(204).send();
      },
    );

    app.post(
      '/v1/jobs/:id/cancel',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'cancelJob',
          summary: 'Cancel a job',
          description:
            'Stops the upstream work where the upstream allows (render cancel); a finished job answers 409 JOB_FINISHED. ' +
            'A job a worker holds is answered once the worker has ended it (status canceled), or after 3 s as it stands then (it ends later).',
          params: idParams,
          response: { 200: described('the job', jobResponse), ...errorResponses(401, 404, 409, 429, 431, 503) },
        },
      },
      async (request) => (await withinStoreDeadline(deps.commands.cancel(request.tenant, request.params.id))).job,
    );

    app.post(
      '/v1/jobs/:id/revisions',
      {
        schema: {
          tags: ['jobs'],
          operationId: 'reviseJob',
          summary: "Continue a succeeded job's upstream session with a new instruction and render again",
          description:
            'The parent must have succeeded (409 PARENT_NOT_SUCCEEDED otherwise); a revision of a revision continues the same session. ' +
            'Idempotency-Key works as on POST /v1/jobs, with keys of its own: the same key and body for the same parent replays the first revision.',
          headers: idempotencyHeaders,
          params: idParams,
          body: revisionBody,
          response: {
            202: described('the new job, with parent_id', jobResponse),
            200: described('idempotent replay (header Idempotent-Replayed: true): the revision the first request with this Idempotency-Key created', jobResponse),
            ...errorResponses(400, 401, 404, 409, 422, 429, 431, 503),
          },
        },
      },
      async (request, reply) => {
        const result = await withinStoreDeadline(
          deps.reviseJob.execute({
            tenant: request.tenant,
            parentId: request.params.id,
            body: request.body,
            idempotencyKey: idempotencyKeyOf(request),
            trace: deps.currentTrace?.() ?? null,
          }),
        );
        if (!result.replayed) return reply.status(202).send(result.record.job);
        return reply.status(200).header('idempotent-replayed', 'true').send(await withFreshLink(deps, result.record.job));
      },
    );
  };
}
