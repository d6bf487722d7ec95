// Step generate: send the next message to /run_sse, once; a message marked sent is never sent again (protocol §3).
import { AppError } from '../../errors.js';
import { stateFingerprint } from '../../nemo/draft.js';
import { NemoError } from '../../nemo/errors.js';
import { next, type StepContext, type StepOutcome } from '../context.js';
import { messageProgress } from '../progress.js';

export async function generateStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  // Resumed with a message marked sent but never confirmed: its outcome is learned from state, not by re-sending.
  if (flow.inflight) return next('reconcile');
  if (flow.next_message >= flow.messages.length) return next('render_submit');

  const index = flow.next_message;
  const sessionId = flow.session!.session_id;
  const before = stateFingerprint(await deps.nemo.getState(token, sessionId));
  flow.inflight = { index, sent_at: new Date().toISOString(), fingerprint_before: before };
  flow.reconcile = null;
  await ctx.checkpoint();
  await deps.lifecycle.progress(jobId, 'generate', messageProgress(index, flow.messages.length));
  log.info({ message: index, of: flow.messages.length }, 'sending message to the agent');

  let result;
  try {
    result = await deps.nemo.runAgent(token, sessionId, flow.messages[index]!, {
      signal: ctx.signal,
      idleMs: deps.config.NEMO_SSE_IDLE_MS,
      maxMs: deps.config.NEMO_SSE_MAX_MS,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (err instanceof NemoError && err.phase === 'before_stream' && err.httpStatus !== undefined) {
      // The upstream answered with an error before running the agent: nothing happened, so it may be sent again.
      flow.inflight = null;
      throw err;
    }
    if (err instanceof NemoError && err.kind === 'timeout') {
      throw new AppError('UPSTREAM_TIMEOUT', `the agent did not finish message ${index + 1}: ${err.message}`, {
        cause: err,
      });
    }
    // The stream broke off (or it is unknown whether the request arrived): the agent may still be working.
    log.warn({ err: String(err), message: index }, 'agent stream broke off; reconciling from state');
    return next('reconcile');
  }

  if (result.error && result.texts.length === 0 && result.toolResults.length === 0) {
    // An error with no work done: check state once, so a reply lost to the error is not mistaken for failure.
    log.warn({ message: index, error: result.error.message }, 'agent answered with an error; reconciling');
    return next('reconcile');
  }
  if (result.texts.length > 0) {
    await deps.lifecycle.update(jobId, (job) => {
      job.messages.push(...result.texts);
    });
  }
  if (result.silent) log.info({ message: index, tools: result.toolCalls }, 'silent edit: the timeline is read from state');
  flow.inflight = null;
  flow.next_message = index + 1;
  return next('generate');
}
