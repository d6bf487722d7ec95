// Step auth: wait while the upstream is out of credits, then make sure a token exists (acquired once, shared by all workers).
import { next, type StepContext, type StepOutcome } from '../context.js';
import { creditsAvailable, creditsWait } from '../credits-wait.js';

export async function authStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { credits, nemo, lifecycle } = ctx.deps;
  // New starts pause here while the upstream is out of credits (2001), instead of each failing on its own.
  const delay = await credits.gate(async () => (await nemo.getCredits(token)).available);
  if (delay !== null) return creditsWait(ctx, 'auth', delay);
  creditsAvailable(ctx);
  await lifecycle.progress(ctx.jobId, 'session', 2);
  return next('session');
}
