// What a finished message leaves on the job: the agent's texts, a note of what changed in the draft, timeline and usage.
import { describeDraftChange } from '../video/changes.js';
import { timelineOf } from '../video/timeline.js';
import type { StepContext } from './context.js';
import { draftOf } from './known-state.js';
import type { KnownState } from './state.js';
import { usageOf } from './usage.js';

/**
 * Ends message `index`: the state after it becomes the known state, the job records what the agent said and what the
 * relay saw change (for a silent edit that note is the only word the caller gets), and the next message is due.
 */
export async function recordMessageOutcome(
  ctx: StepContext,
  index: number,
  outcome: { texts: string[]; after: KnownState; note?: string },
): Promise<void> {
  const { flow, deps, jobId } = ctx;
  const before = draftOf(flow.known);
  const afterDraft = draftOf(outcome.after);
  const seen = describeDraftChange(before, afterDraft);
  const summary = outcome.note ? `${seen}; ${outcome.note}` : seen;
  const timeline = timelineOf(afterDraft);
  flow.known = outcome.after;
  flow.inflight = null;
  flow.reconcile = null;
  flow.next_message = index + 1;
  await deps.lifecycle.update(jobId, (job) => {
    job.messages.push(...outcome.texts);
    job.changes.push({ message: index + 1, from_agent_text: outcome.texts.length > 0, summary, answers: outcome.texts.length });
    if (timeline) job.timeline = timeline;
    job.usage = usageOf(flow, job.usage);
  });
}

/**
 * A message that ends the job unfinished (its stream timed out, or state never showed it take effect): what the agent
 * said before its stream broke off still goes on the job, written with the failure.
 */
export async function keepAgentTexts(ctx: StepContext, texts: readonly string[] | undefined): Promise<void> {
  if (!texts || texts.length === 0) return;
  await ctx.deps.lifecycle.update(ctx.jobId, (job) => {
    job.messages.push(...texts);
  });
}
