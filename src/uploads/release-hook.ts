// The lifecycle hook that frees a job's staged uploads when it ends (succeeded, failed or canceled).
import type { JobStore } from '../jobs/store.js';
import { isTerminal, TERMINAL_EVENTS, type EventType, type JobRecord } from '../jobs/schemas.js';
import type { Logger } from '../observability/logger.js';
import { activeTraceFields } from '../tracing/spans.js';
import type { StagedUploads } from './staged-uploads.js';

/** Never throws: a leftover file is the sweeper's to remove, and must not fail the job's own transition. */
export function uploadReleaseHook(uploads: StagedUploads, store: JobStore, logger: Logger) {
  return async (jobId: string, type: EventType, known?: JobRecord): Promise<void> => {
    if (!(TERMINAL_EVENTS as readonly string[]).includes(type)) return;
    try {
      const record = known ?? (await store.get(jobId));
      const ids = (record?.job.sources ?? []).flatMap((s) => ('upload_id' in s ? [s.upload_id] : []));
      const removed = await uploads.releaseForJob(jobId, ids);
      // Run inside the job's run (or the cancel request): its lines carry the job's trace_id like the job's own log.
      if (removed.length > 0) logger.debug({ jobId, ...activeTraceFields(), removed }, 'staged uploads removed after the job ended');
    } catch (err) {
      logger.warn({ jobId, ...activeTraceFields(), err: String(err) }, 'could not release staged uploads; the sweeper will');
    }
  };
}

/** After a create request handed its claim to the new job: a job that already ended released nothing, so release now. */
export async function releaseIfEnded(uploads: StagedUploads, store: JobStore, jobId: string, uploadIds: string[]): Promise<void> {
  if (uploadIds.length === 0) return;
  const record = await store.get(jobId);
  if (record && isTerminal(record.job.status)) await uploads.releaseForJob(jobId, uploadIds);
}
