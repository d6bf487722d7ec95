// Step finish: record the result, the usage and the job.succeeded event in one write; delivery is queued by the hook.
import { finished, type StepContext, type StepOutcome } from '../context.js';

export async function finishStep(ctx: StepContext): Promise<StepOutcome> {
  const { flow, deps } = ctx;
  const result = flow.result!;
  // The balance as last read, at most CREDITS_CACHE_MS old: every job of the account finishing in that window shares
  // one read, so a job costs no upstream call of its own for it (a read per job would add one to every job).
  const after = await deps.balance
    .get({ local: true, onUpstreamCall: () => void (flow.usage.upstream_calls += 1) })
    .then((b) => b.available)
    .catch(() => null);
  await deps.lifecycle.succeed(ctx.jobId, result, (job) => {
    job.usage = { ...job.usage, ...flow.usage, credits_after: after };
  });
  return finished;
}
