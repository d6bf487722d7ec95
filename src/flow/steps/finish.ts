// Step finish: record the result, the usage and the job.succeeded event in one write; delivery is queued by the hook.
import { finished, type StepContext, type StepOutcome } from '../context.js';

export async function finishStep(ctx: StepContext): Promise<StepOutcome> {
  const { flow, deps } = ctx;
  const result = flow.result!;
  // The balance after the render: a read no older than the render's end (a burst of finishing jobs shares one).
  const renderedAt = flow.render?.samples.at(-1)?.at ?? Date.now();
  const after = await deps.balance
    .get({ notBefore: renderedAt, onUpstreamCall: () => void (flow.usage.upstream_calls += 1) })
    .then((b) => b.available)
    .catch(() => null);
  await deps.lifecycle.succeed(ctx.jobId, result, (job) => {
    job.usage = { ...job.usage, ...flow.usage, credits_after: after };
  });
  return finished;
}
