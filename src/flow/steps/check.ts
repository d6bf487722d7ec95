// Step check: after the last message, read the draft and compare it with the output wishes; at most one correction.
import { checkDraft, correctiveMessage } from '../../video/conformance.js';
import { next, type StepContext, type StepOutcome } from '../context.js';
import { draftOf, knownStateOf } from '../known-state.js';

/**
 * One state read serves three purposes: the conformance checks, the timeline shown on the job, and the draft the
 * render submits (render_submit uses it instead of reading again).
 */
export async function checkStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, log } = ctx;
  const { job } = ctx.record;
  flow.known = knownStateOf(await deps.nemo.getState(token, flow.session!.session_id));
  const draft = draftOf(flow.known);
  const report = checkDraft(job.output, draft);
  if (job.conformance === 'correct' && report.conformant === false && !flow.corrected) {
    const correction = correctiveMessage(report.checks, job.output, draft);
    if (correction !== null) {
      // Exactly one: the corrected draft is checked again and reported as it is, conformant or not.
      flow.corrected = true;
      flow.messages.push(correction);
      log.info({ failed: report.checks.filter((c) => c.ok === false).map((c) => c.name) }, 'draft does not conform; sending one correction');
      return next('generate');
    }
  }
  flow.checks = report;
  if (report.conformant === false) {
    log.info({ failed: report.checks.filter((c) => c.ok === false).map((c) => c.name) }, 'draft does not conform; reported');
  }
  return next('render_submit');
}
