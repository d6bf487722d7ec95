// Step auth: wait while the upstream is out of credits, then note the balance the job starts from (job.usage).
import { next, type StepContext, type StepOutcome } from '../context.js';
import { balanceCheck, creditsAvailable, creditsWait } from '../credits-wait.js';

export async function authStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { credits, lifecycle, balance } = ctx.deps;
  const { flow } = ctx;
  // New starts pause here while the upstream is out of credits (2001), instead of each failing on its own.
  const delay = await credits.gate(balanceCheck(ctx, token));
  if (delay !== null) return await creditsWait(ctx, 'auth', delay);
  creditsAvailable(ctx);
  // The balance as last read (shared by every job of the account for a few seconds, so a burst costs one call).
  const before = await balance
    .get({ local: true, onUpstreamCall: () => void (flow.usage.upstream_calls += 1) })
    .then((b) => b.available)
    .catch(() => null);
  await lifecycle.progress(ctx.jobId, 'session', 2, (job) => {
    job.usage = { ...job.usage, ...flow.usage, credits_before: before };
    job.waiting = null;
  });
  return next('session');
}
