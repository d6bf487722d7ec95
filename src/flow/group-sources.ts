// A batch's sources refused upstream: the group's later items fail with that answer instead of uploading them again.
import { AppError, callerMessage, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import { z } from 'zod';
import type { FlowDeps } from './context.js';
import type { FlowState } from './state.js';

export const sourcesFailedSchema = z.object({
  job_id: z.string(),
  code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});
export type SourcesFailed = z.infer<typeof sourcesFailedSchema>;

/**
 * Answers about the files themselves: a type or size the upstream refuses, a URL that cannot be fetched (ours or the
 * upstream's fetch). Not an account's refusal (auth, credits): that can be mended before the next item runs.
 */
const SOURCE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNSUPPORTED_MEDIA', 'MEDIA_TOO_LARGE', 'VALIDATION_FAILED', 'UPSTREAM_REJECTED']);

/**
 * Called when a job of a group fails for good in its upload step: the files are the group's (a batch uploads once for
 * all its items), so a refusal that is not retryable (a type or size the upstream refuses, a URL that cannot be
 * fetched) is the group's answer too. Written on the session the failed job made, before its turn passes on. A
 * retryable failure (an upstream outage) is not: the next item opens a session and uploads them itself. Never throws.
 */
export async function markGroupSourcesFailed(deps: Pick<FlowDeps, 'groups'>, flow: FlowState, jobId: string, error: AppError, log: Logger): Promise<void> {
  if (!flow.group || flow.step !== 'upload' || flow.uploaded || !flow.session || error.retryable || !SOURCE_CODES.has(error.code)) return;
  try {
    const sources_failed = { job_id: jobId, code: error.code, message: callerMessage(error) };
    await deps.groups.publish(flow.group, { ...flow.session, uploads: [], sources_failed });
  } catch (err) {
    log.warn({ err: String(err) }, 'could not record the refused sources on the group; its next job uploads them again');
  }
}

/**
 * The error a later item of the batch ends with: nothing is sent upstream for it. A revision (no batch_id) of an item
 * that succeeded is not one of them: it continues its parent's session (JobCommands.revise puts it back).
 */
export function groupSourcesError(failed: SourcesFailed): AppError {
  const message = `the sources this job shares with its batch were refused when ${failed.job_id} uploaded them, so it was not started: ${failed.message}`;
  return new AppError(failed.code, message, { retryable: false, callerSafe: true });
}
