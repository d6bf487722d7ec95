// Step finish: record the result, the usage and the job.succeeded event in one write; delivery is queued by the hook.
import { finished, type StepContext, type StepOutcome } from '../context.js';
import { creditsAfter } from '../usage.js';

export async function finishStep(ctx: StepContext): Promise<StepOutcome> {
  const { flow, deps } = ctx;
  const result = flow.result!;
  const after = await creditsAfter(deps.balance, flow);
  await deps.lifecycle.succeed(ctx.jobId, result, (job) => {
    job.usage = { ...job.usage, ...flow.usage, credits_after: after };
  });
  return finished;
}
