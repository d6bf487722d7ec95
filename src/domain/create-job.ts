// The create-job use case: the caller's own uploaded files handed over to the new job, under an optional Idempotency-Key.
import { AppError } from '../core/errors.js';
import { fingerprint, type Idempotency, type KeyClaim } from '../jobs/idempotency.js';
import type { CreateJobBody, JobRecord } from '../jobs/schemas.js';
import type { JobStore } from '../jobs/store.js';
import { releaseIfEnded } from '../uploads/release-hook.js';
import type { StagedUploads, UploadRecord, UploadRef } from '../uploads/staged-uploads.js';
import { requestClaimant } from '../uploads/staged-uploads.js';
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
  if (own.length === 0) return fingerprint(body); // the same text as below, without copying the body
  const byId = new Map(own.map((s) => [s.id, s]));
  const sources = body.sources.map((s) => {
    const file = 'upload_id' in s ? byId.get(s.upload_id) : undefined;
    return file ? { file_sha256: file.sha256, filename: file.filename } : s;
  });
  return fingerprint({ ...body, sources });
}

export interface CreateJobResult {
  record: JobRecord;
  replayed: boolean;
  /** A new job: record.job as stored (JSON), so the answer is those bytes instead of a second serialization. */
  jobJson?: string;
}

export class CreateJob {
  constructor(private readonly deps: CreateJobDeps) {}

  /**
   * Creates the job once. The request's own files end up owned by the new job, or removed (a replay, or a failure
   * before the job existed): the caller never has to clean up after a call that returned or threw. With a key, the
   * key is taken in the job's own write (JobCommands.create with a claim): one script, no separate claim or `done` write.
   */
  async execute(input: CreateJobInput): Promise<CreateJobResult> {
    const { uploads, idempotency, store, commands } = this.deps;
    const { tenant, body, ownFiles, idempotencyKey } = input;
    const refs: UploadRef[] = body.sources.flatMap((s, i) =>
      'upload_id' in s ? [{ field: `sources.${i}.upload_id`, id: s.upload_id }] : [],
    );
    const claimant = refs.length > 0 ? requestClaimant() : '';
    // Set once the record is stored: from then on the job exists even if its queue add fails (the sweeper starts it).
    let stored: JobRecord | null = null;
    let jobJson: string | undefined;
    const onStored = (record: JobRecord, json: string) => {
      stored = record;
      jobJson = json;
    };
    try {
      const load = (jobId: string) => store.getForTenant(tenant, jobId);
      const fp = idempotencyKey ? requestFingerprint(body, ownFiles) : '';
      // Claimed before the job exists, so no other job ending meanwhile can delete an upload this one needs.
      // Why: most creates name no upload; claim would return at once, so its promise and two callbacks are skipped.
      const refused =
        refs.length === 0
          ? null
          : await uploads.claim(tenant, refs, claimant).then(
              () => null,
              (err: unknown) => err,
            );
      // The key's first job may have ended and used its uploads up: a retry of that request still gets that job.
      const earlier = refused !== null && idempotencyKey && isUploadNotFound(refused) ? await idempotency.replayOf(tenant, idempotencyKey, fp, load) : null;
      if (refused !== null && earlier === null) throw refused;
      const create = (claim: KeyClaim | null) => commands.create(tenant, body, { trace: input.trace ?? null, claim, onStored });
      const result = earlier
        ? { record: earlier, replayed: true }
        : idempotencyKey
          ? await idempotency.runClaimed(tenant, idempotencyKey, fp, create, load)
          : { record: await create(null), replayed: false };
      if (result.replayed) {
        // A replay: this request's files were staged for nothing.
        await uploads.handOver(refs, claimant, null);
        await removeStaged(uploads, ownFiles);
        return result;
      }
      // Why: with no uploads both calls return at once; skipping them saves two awaited promises per create.
      if (refs.length > 0) {
        await uploads.handOver(refs, claimant, result.record.job.id);
        await releaseIfEnded(uploads, store, result.record.job.id, refs.map((r) => r.id));
      }
      return { ...result, jobJson };
    } catch (err) {
      const job = (stored as JobRecord | null)?.job.id ?? null;
      // A stored job keeps its files (its start is the sweeper's now); anything else staged for it goes.
      await uploads.handOver(refs, claimant, job).catch(() => {});
      if (!job) await removeStaged(uploads, ownFiles).catch(() => {});
      throw err;
    }
  }
}

function isUploadNotFound(err: unknown): boolean {
  return err instanceof AppError && err.code === 'UPLOAD_NOT_FOUND';
}

async function removeStaged(uploads: StagedUploads, staged: UploadRecord[]): Promise<void> {
  await Promise.all(staged.map((s) => uploads.remove(s.id)));
}
