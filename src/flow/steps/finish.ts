// Step finish: record the result and the job.succeeded event in one write; delivery is queued by the lifecycle hook.
import { finished, type StepContext, type StepOutcome } from '../context.js';

export async function finishStep(ctx: StepContext): Promise<StepOutcome> {
  const result = ctx.flow.result!;
  await ctx.deps.lifecycle.succeed(ctx.jobId, result);
  return finished;
}
