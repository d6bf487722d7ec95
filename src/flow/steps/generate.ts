// Step generate: send the next message to /run_sse, once; a message marked sent is never sent again (protocol §3).
import { AppError } from '../../errors.js';
import { stateFingerprint } from '../../nemo/draft.js';
import { NemoError } from '../../nemo/errors.js';
import type { AgentRunResult } from '../../nemo/sse.js';
import { next, type StepContext, type StepOutcome } from '../context.js';
import { creditsAvailable, creditsWait } from '../credits-wait.js';
import { messageProgress } from '../progress.js';

/**
 * Refusals before the stream that prove the agent never saw the message. A 504 does not: the gateway gave up
 * waiting, so the agent may be running it (and charging for it) right now.
 */
function refusedBeforeRunning(err: unknown): err is NemoError {
  return err instanceof NemoError && err.phase === 'before_stream' && err.httpStatus !== undefined && err.httpStatus !== 504;
}

export async function generateStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  // Resumed with a message marked sent but never confirmed: its outcome is learned from state, not by re-sending.
  if (flow.inflight) return next('reconcile');
  if (flow.next_message >= flow.messages.length) return next('render_submit');

  // Every message costs credits: while the upstream is out of them, wait with the other jobs instead of sending.
  const delay = await deps.credits.gate(async () => (await deps.nemo.getCredits(token)).available);
  if (delay !== null) return creditsWait(ctx, 'generate', delay);

  const index = flow.next_message;
  const sessionId = flow.session!.session_id;
  await deps.lifecycle.progress(jobId, 'generate', messageProgress(index, flow.messages.length));
  const before = stateFingerprint(await deps.nemo.getState(token, sessionId));
  // Mark, then send at once: a crash between the two loses the message (reconcile finds nothing and the job fails)
  // rather than paying twice, so nothing else may sit in that window.
  flow.inflight = { index, sent_at: new Date().toISOString(), fingerprint_before: before, agent_error: null };
  flow.reconcile = null;
  await ctx.checkpoint();
  log.info({ message: index, of: flow.messages.length }, 'sending message to the agent');

  let result: AgentRunResult;
  try {
    result = await deps.nemo.runAgent(token, sessionId, flow.messages[index]!, {
      signal: ctx.signal,
      idleMs: deps.settings.sseIdleMs,
      maxMs: deps.settings.sseMaxMs,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (refusedBeforeRunning(err)) {
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
  creditsAvailable(ctx);

  if (result.texts.length === 0) {
    const toolsDone = result.toolResults.length > 0 && result.error === null;
    if (!toolsDone) {
      // No answer and no finished tool: an error, or a stream that closed empty. What happened is read from state.
      flow.inflight.agent_error = result.error ? result.error.message : null;
      log.warn({ message: index, error: result.error?.message ?? null }, 'agent stream ended without an answer; reconciling');
      return next('reconcile');
    }
    // A silent edit (§3: about 30% of edits end with tool calls only): the result is what state shows now.
    const changed = stateFingerprint(await deps.nemo.getState(token, sessionId)) !== before;
    log.info({ message: index, tools: result.toolResults, changed }, 'silent edit: read the timeline from state');
  } else {
    if (result.error) log.warn({ message: index, error: result.error.message }, 'agent answered, then reported an error');
    await deps.lifecycle.update(jobId, (job) => {
      job.messages.push(...result.texts);
    });
  }
  flow.inflight = null;
  flow.next_message = index + 1;
  return next('generate');
}
