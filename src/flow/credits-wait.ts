// How a job waits for credits: a delayed wake-up while the gate is shut, failing UPSTREAM_OUT_OF_CREDITS after the max wait.
import { AppError } from '../errors.js';
import { wait, type StepContext, type StepOutcome } from './context.js';
import type { Step } from './state.js';

/** The shortest wake-up, so a wait that is almost over does not become a busy loop. */
const MIN_WAIT_MS = 50;

/**
 * Records when this job first found the upstream out of credits and answers a wait of `delayMs` (capped so the
 * job wakes up exactly when its patience ends); once CREDITS_MAX_WAIT_MS has passed it throws instead.
 */
export function creditsWait(ctx: StepContext, step: Step, delayMs: number, now = Date.now()): StepOutcome {
  const { flow, deps } = ctx;
  const since = flow.credits_wait_since ? Date.parse(flow.credits_wait_since) : now;
  flow.credits_wait_since = new Date(since).toISOString();
  const left = since + deps.settings.creditsMaxWaitMs - now;
  if (left <= 0) {
    throw new AppError(
      'UPSTREAM_OUT_OF_CREDITS',
      `the upstream account has no credits left (2001) and did not get any back within ${Math.round(
        deps.settings.creditsMaxWaitMs / 1000,
      )} s; add credits (or set NEMO_TOKEN to a funded key) and submit the job again`,
    );
  }
  return wait(step, Math.max(MIN_WAIT_MS, Math.min(delayMs, left)), 'upstream out of credits; waiting for the balance');
}

/** The gate opened (or a credit-spending call went through): the job is no longer waiting for credits. */
export function creditsAvailable(ctx: StepContext): void {
  ctx.flow.credits_wait_since = null;
}
