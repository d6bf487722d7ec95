// The create-job use case: the caller's own uploaded files handed over to the new job, under an optional Idempotency-Key.
import { randomUUID } from 'node:crypto';
import { fingerprint, type Idempotency } from '../jobs/idempotency.js';
import type { CreateJobBody, JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import { releaseIfEnded } from '../uploads/release-hook.js';
import type { StagedUploads, UploadRecord, UploadRef } from '../uploads/staged-uploads.js';
import type { JobCommands } from './job-commands.js';

export interface CreateJobDeps {
  commands: Pick<JobCommands, 'create'>;
  store: JobStore;
  uploads: StagedUploads;
  idempotency: Idempotency;
}

export interface CreateJobInput {
  tenant: string;
  body: CreateJobBody;
  /** Files staged by this very request (multipart); they are already among body.sources. */
  ownFiles: UploadRecord[];
  idempotencyKey: string | null;
  /** The W3C traceparent the job's worker spans continue (null when tracing is off). */
  trace?: string | null;
}

/** The request's identity for Idempotency-Key: its own files by content (their upload ids are new on every try). */
function requestFingerprint(body: CreateJobBody, own: UploadRecord[]): string {
  const byId = new Map(own.map((s) => [s.id, s]));
  const sources = body.sources.map((s) => {
    const file = 'upload_id' in s ? byId.get(s.upload_id) : undefined;
    return file ? { file_sha256: file.sha256, filename: file.filename } : s;
  });
  return fingerprint({ ...body, sources });
}

export class CreateJob {
  constructor(private readonly deps: CreateJobDeps) {}

  /**
   * Creates the job once. The request's own files end up owned by the new job, or removed (a replay, or a failure
   * before the job existed): the caller never has to clean up after a call that returned or threw.
   */
  async execute(input: CreateJobInput): Promise<{ record: JobRecord; replayed: boolean }> {
    const { uploads, idempotency, store, commands } = this.deps;
    const { tenant, body, ownFiles, idempotencyKey } = input;
    const claimant = `request:${randomUUID()}`;
    const refs: UploadRef[] = body.sources.flatMap((s, i) =>
      'upload_id' in s ? [{ field: `sources.${i}.upload_id`, id: s.upload_id }] : [],
    );
    let created = false;
    try {
      // Claimed before the job exists, so no other job ending meanwhile can delete an upload this one needs.
      await uploads.claim(tenant, refs, claimant);
      const create = async (): Promise<JobRecord> => {
        const idem = idempotencyKey ? idempotency.redisKeyOf(tenant, idempotencyKey) : null;
        const record = await commands.create(tenant, body, { trace: input.trace ?? null, idem });
        created = true;
        await uploads.handOver(refs, claimant, record.job.id);
        await releaseIfEnded(uploads, store, record.job.id, refs.map((r) => r.id));
        return record;
      };
      const load = (jobId: string) => store.getForTenant(tenant, jobId);
      const result = idempotencyKey
        ? await idempotency.run(tenant, idempotencyKey, requestFingerprint(body, ownFiles), create, load, (r) => r.job.id)
        : { record: await create(), replayed: false };
      if (result.replayed) {
        // A replay: this request's files were staged for nothing.
        await uploads.handOver(refs, claimant, null);
        await removeStaged(uploads, ownFiles);
      }
      return result;
    } catch (err) {
      if (!created) {
        await uploads.handOver(refs, claimant, null).catch(() => {});
        await removeStaged(uploads, ownFiles).catch(() => {});
      }
      throw err;
    }
  }
}

async function removeStaged(uploads: StagedUploads, staged: UploadRecord[]): Promise<void> {
  await Promise.all(staged.map((s) => uploads.remove(s.id)));
}
