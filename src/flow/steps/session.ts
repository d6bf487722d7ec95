// Step session: one upstream session (task) per job; jobs of a group (batch, revisions) take turns on a shared one.
import { next, wait, type StepContext, type StepOutcome } from '../context.js';
import { groupSourcesError } from '../group-sources.js';

/** A job waiting for its turn is woken when the one before it ends; this is only the safety net. */
export const TURN_RECHECK_MS = 30_000;

export async function sessionStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, lifecycle, groups } = ctx.deps;
  const { flow, jobId } = ctx;
  if (flow.group) {
    if (!(await groups.turn(flow.group, jobId))) {
      await lifecycle.update(jobId, (job) => {
        job.waiting ??= {
          reason: 'session_turn',
          message: 'waiting for the jobs before it on the same upstream session (a batch, or revisions of one job) to finish',
          since: new Date().toISOString(),
        };
      });
      return wait('session', TURN_RECHECK_MS, 'waiting for its turn on the shared session');
    }
    const shared = await groups.session(flow.group);
    if (shared?.sources_failed && ctx.record.job.batch_id) throw groupSourcesError(shared.sources_failed);
    if (shared) {
      // Continue where the group's previous job left the session: its draft, its uploaded files.
      if (flow.session?.session_id !== shared.session_id) flow.known = null;
      flow.session = { task_id: shared.task_id, session_id: shared.session_id };
      flow.account = ctx.deps.accountId ?? null;
      flow.uploads = shared.uploads;
      flow.uploaded = true;
      // The mark stays on the group's session until this job has seen the work settle (flow/settle.ts): a kill before
      // this job's next commit finds it again, and a cancel while settling leaves it for the next job.
      if (shared.unsettled) flow.settle ??= { ...shared.unsettled, reads: 0, last_fingerprint: null, stable: 0 };
    }
  }
  if (!flow.session) {
    const created = await nemo.createSession(token, { language: ctx.record.job.language });
    flow.session = { task_id: created.taskId, session_id: created.sessionId };
    flow.account = ctx.deps.accountId ?? null;
    ctx.log.info({ sessionId: created.sessionId }, 'upstream session created');
    // Written with the next commit (the first message's mark, or the upload's): a crash before it costs one more free
    // session, and a worker that stalled and was taken over fails that commit (fenced) instead of overwriting the
    // session its successor created and works in.
  }
  const { task_id, session_id } = flow.session;
  await lifecycle.progress(jobId, 'upload', 5, (job) => {
    job.upstream.task_id = task_id;
    job.upstream.session_id = session_id;
    job.waiting = null;
  });
  return next('upload');
}
