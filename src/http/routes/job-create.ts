// POST /v1/jobs: JSON or multipart (files become sources after the JSON ones), upload ownership claims, Idempotency-Key.
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fingerprint, parseIdempotencyKey, type Idempotency } from '../../jobs/idempotency.js';
import { createJobBodySchema, type CreateJobBody, type JobRecord } from '../../jobs/schemas.js';
import { discardRestOfBody, readJobRequest, removeAll } from '../../uploads/multipart-intake.js';
import { releaseIfEnded } from '../../uploads/release-hook.js';
import type { StagedUploads, UploadRecord, UploadRef } from '../../uploads/staged-uploads.js';
import type { ApiDeps } from '../deps.js';
import { parseWith } from '../validation.js';

export interface CreateDeps {
  api: ApiDeps;
  uploads: StagedUploads;
  idempotency: Idempotency;
}

/** Appends the request's own files to the JSON's sources; anything malformed is left for the schema to name. */
function withFileSources(raw: unknown, staged: UploadRecord[]): unknown {
  if (staged.length === 0 || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const body = raw as Record<string, unknown>;
  const files = staged.map((s) => ({ upload_id: s.id }));
  if (body.sources === undefined) return { ...body, sources: files };
  return Array.isArray(body.sources) ? { ...body, sources: [...(body.sources as unknown[]), ...files] } : raw;
}

/** The request's identity for Idempotency-Key: its own files by content (their upload ids are new on every try). */
function requestFingerprint(body: CreateJobBody, staged: UploadRecord[]): string {
  const own = new Map(staged.map((s) => [s.id, s]));
  const sources = body.sources.map((s) => {
    const file = 'upload_id' in s ? own.get(s.upload_id) : undefined;
    return file ? { file_sha256: file.sha256, filename: file.filename } : s;
  });
  return fingerprint({ ...body, sources });
}

export async function createJob(deps: CreateDeps, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { api, uploads, idempotency } = deps;
  const tenant = request.tenant;
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  let raw: unknown = request.body;
  let staged: UploadRecord[] = [];
  if (request.isMultipart()) {
    try {
      ({ job: raw, staged } = await readJobRequest(request, uploads));
    } catch (err) {
      discardRestOfBody(request);
      throw err;
    }
  }

  const claimant = `request:${randomUUID()}`;
  let refs: UploadRef[] = [];
  let created = false;
  try {
    const body = parseWith(createJobBodySchema, withFileSources(raw, staged));
    refs = body.sources.flatMap((s, i) => ('upload_id' in s ? [{ field: `sources.${i}.upload_id`, id: s.upload_id }] : []));
    // Claimed before the job exists, so no other job ending meanwhile can delete an upload this one needs.
    await uploads.claim(tenant, refs, claimant);
    const create = async (): Promise<JobRecord> => {
      const record = await api.jobs.create(tenant, body);
      created = true;
      await uploads.handOver(refs, claimant, record.job.id);
      await releaseIfEnded(uploads, api.store, record.job.id, refs.map((r) => r.id));
      return record;
    };
    const load = (jobId: string) => api.store.getForTenant(tenant, jobId);
    const result = key
      ? await idempotency.run(tenant, key, requestFingerprint(body, staged), create, load)
      : { record: await create(), replayed: false };
    if (!result.replayed) return reply.status(202).send(result.record.job);
    // A replay: this request's files were staged for nothing.
    await uploads.handOver(refs, claimant, null);
    await removeAll(uploads, staged);
    return reply.status(200).header('idempotent-replayed', 'true').send(result.record.job);
  } catch (err) {
    if (!created) {
      await uploads.handOver(refs, claimant, null).catch(() => {});
      await removeAll(uploads, staged).catch(() => {});
    }
    throw err;
  }
}
