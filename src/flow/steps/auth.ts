// Step auth: wait while the upstream is out of credits, then make sure a token exists (acquired once, shared by all workers).
import { next, wait, type StepContext, type StepOutcome } from '../context.js';

export async function authStep(ctx: StepContext): Promise<StepOutcome> {
  const { credits, nemo, tokens, lifecycle } = ctx.deps;
  const delay = await credits.gate(async () => (await nemo.getCredits(await tokens.get())).available);
  if (delay !== null) return wait('auth', delay, 'upstream out of credits; new work paused');
  ctx.flow.credits_wait_since = null;
  await tokens.get();
  await lifecycle.progress(ctx.jobId, 'session', 2);
  return next('session');
}
