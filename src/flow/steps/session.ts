// Step session: one upstream session (task) per job; revisions inherit their parent's session instead.
import { next, type StepContext, type StepOutcome } from '../context.js';

export async function sessionStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { nemo, lifecycle } = ctx.deps;
  if (!ctx.flow.session) {
    const created = await nemo.createSession(token, { language: ctx.record.job.language });
    ctx.flow.session = { task_id: created.taskId, session_id: created.sessionId };
    ctx.log.info({ sessionId: created.sessionId }, 'upstream session created');
    // Checkpoint before the record shows it: a worker that stalled and was taken over fails here (fenced) instead of
    // overwriting the session its successor created and works in.
    await ctx.checkpoint();
  }
  const { task_id, session_id } = ctx.flow.session;
  await lifecycle.update(ctx.jobId, (job) => {
    job.upstream.task_id = task_id;
    job.upstream.session_id = session_id;
  });
  await lifecycle.progress(ctx.jobId, 'upload', 5);
  return next('upload');
}
