// Before the first message: wait while the upstream says it has not yet listed the uploaded files in the session's state.
import { wait, type StepContext, type StepOutcome } from './context.js';

/** How often state is read again while the upstream takes the uploaded files in. */
export const UPLOADS_APPLIED_RECHECK_MS = 2_000;
/** How long the first message waits for them; then it goes out anyway (what was sent before this wait existed). */
export const UPLOADS_APPLIED_MAX_WAIT_MS = 120_000;

/**
 * The upload answered `session_state_applied: false` (§6.9: a URL upload may finish later) and the state just read
 * lists fewer files than were uploaded: the agent works from what state lists, so a message sent now would make a
 * video without the caller's files. Answers a wait (state is read again on the next run), or null to send now.
 */
export async function awaitUploadsApplied(ctx: StepContext, now = Date.now()): Promise<StepOutcome | null> {
  const { flow, log } = ctx;
  const since = flow.uploads_pending_since;
  if (since === undefined) return null;
  const listed = flow.known?.video_infos ?? 0;
  const waitedMs = now - Date.parse(since);
  if (listed >= flow.uploads.length || !(waitedMs < UPLOADS_APPLIED_MAX_WAIT_MS)) {
    if (listed < flow.uploads.length) {
      log.warn({ listed, uploaded: flow.uploads.length, waitedMs }, "the upstream's state still lists fewer files than were uploaded; sending the first message anyway");
    }
    delete flow.uploads_pending_since;
    return null;
  }
  flow.known = null;
  await ctx.deps.lifecycle.update(ctx.jobId, (job) => {
    job.waiting ??= {
      reason: 'upstream_uploads',
      message: `waiting for the upstream to take in the uploaded files (${listed} of ${flow.uploads.length} listed so far)`,
      since,
    };
  });
  return wait('generate', UPLOADS_APPLIED_RECHECK_MS, 'waiting for the upstream to take in the uploaded files');
}
