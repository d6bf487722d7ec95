// How a job waits for credits: a delayed wake-up while the gate is shut, failing UPSTREAM_OUT_OF_CREDITS after the max wait.
import { AppError } from '../core/errors.js';
import { outOfCreditsAdvice } from './claim-links.js';
import { spendsTenantAccount, wait, type StepContext, type StepOutcome } from './context.js';
import type { Step } from './state.js';

/**
 * The credits pause's re-check (CreditsGate.gate): the balance read with the job's token, and kept as the account's
 * latest (a job failing out of credits then reports the empty balance it saw, not the older cached one).
 */
export function balanceCheck(ctx: StepContext, token: string): () => Promise<number> {
  return async () => {
    const balance = await ctx.deps.nemo.getCredits(token);
    await ctx.deps.balance.note(balance);
    return balance.available;
  };
}

/** The shortest wake-up, so a wait that is almost over does not become a busy loop. */
const MIN_WAIT_MS = 50;

/**
 * Records when this job first found the upstream out of credits (and tells the caller, once, on job.waiting: the
 * upstream's advice, with the registration link for an anonymous account) and answers a wait of `delayMs` (capped so
 * the job wakes up exactly when its patience ends); once CREDITS_MAX_WAIT_MS has passed it throws instead.
 */
export async function creditsWait(ctx: StepContext, step: Step, delayMs: number, now = Date.now()): Promise<StepOutcome> {
  const { flow, deps } = ctx;
  const first = flow.credits_wait_since === null;
  const since = flow.credits_wait_since ? Date.parse(flow.credits_wait_since) : now;
  flow.credits_wait_since = new Date(since).toISOString();
  const left = since + deps.settings.creditsMaxWaitMs - now;
  const advice = outOfCreditsAdvice({
    anonymous: !deps.tokens.isStatic,
    claimUrl: await deps.claims.current(),
    tenantAccount: spendsTenantAccount(deps),
  });
  if (left <= 0) {
    throw new AppError(
      'UPSTREAM_OUT_OF_CREDITS',
      `the upstream account is ${advice}; no credits came back within ${Math.round(deps.settings.creditsMaxWaitMs / 1000)} s, ` +
        'so the job was given up: submit it again once the account has credits',
    );
  }
  if (first) {
    await deps.lifecycle.update(ctx.jobId, (job) => {
      job.waiting = { reason: 'upstream_credits', message: `waiting for credits: the upstream account is ${advice}`, since: flow.credits_wait_since! };
    });
  }
  return wait(step, Math.max(MIN_WAIT_MS, Math.min(delayMs, left)), 'upstream out of credits; waiting for the balance');
}

/** The gate opened (or a credit-spending call went through): the job is no longer waiting for credits. */
export function creditsAvailable(ctx: StepContext): void {
  ctx.flow.credits_wait_since = null;
}
