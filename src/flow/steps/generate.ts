// Step generate: send the next message to /run_sse, once; a message marked sent is never sent again (protocol §3).
import { AppError } from '../../core/errors.js';
import { NemoError } from '../../nemo/errors.js';
import type { AgentRunResult } from '../../nemo/sse.js';
import { next, type StepContext, type StepOutcome } from '../context.js';
import { balanceCheck, creditsAvailable, creditsWait } from '../credits-wait.js';
import { applyDelta, knownFingerprint, knownStateOf } from '../known-state.js';
import { keepAgentTexts, recordMessageOutcome } from '../message-outcome.js';
import { messageProgress } from '../progress.js';
import { awaitSettledSession } from '../settle.js';
import { awaitUploadsApplied } from '../uploads-applied.js';

/**
 * Refusals before the stream that prove the agent never saw the message: an answer other than an event stream, or
 * no connection at all (refused, unresolvable, unreachable: nothing was sent; run-agent.ts marks only those
 * before_stream). A 504 does not: the gateway gave up waiting, so the agent may be running it (and charging for it)
 * right now.
 */
function refusedBeforeRunning(err: unknown): err is NemoError {
  return err instanceof NemoError && err.phase === 'before_stream' && err.httpStatus !== 504;
}

/**
 * Message `index` did not reach the agent (refused before it ran, or never sent): not in flight, not counted, and not
 * among the texts the job says the agent was sent (a job that then fails shows only what the agent really got).
 */
async function unsend(ctx: StepContext, index: number): Promise<void> {
  ctx.flow.inflight = null;
  ctx.flow.usage.messages_sent -= 1;
  await ctx.deps.lifecycle.update(ctx.jobId, (job) => {
    if (job.messages_sent.length > index) job.messages_sent.length = index;
  });
}

/** The message was sent and may have been charged: retrying the job could be charged again. */
export function sentMessageTimeout(index: number, detail: string, cause?: unknown): AppError {
  return new AppError(
    'UPSTREAM_TIMEOUT',
    `the agent did not finish message ${index + 1}: ${detail}. The message was sent and may have been charged; ` +
      'submitting the job again may be charged again',
    { cause, retryable: false },
  );
}

export async function generateStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  // Resumed with a message marked sent but never confirmed: its outcome is learned from state, not by re-sending.
  if (flow.inflight) return next('reconcile');
  if (flow.next_message >= flow.messages.length) return next('check');

  // Every message costs credits: while the upstream is out of them, wait with the other jobs instead of sending.
  const delay = await deps.credits.gate(balanceCheck(ctx, token));
  if (delay !== null) return await creditsWait(ctx, 'generate', delay);

  const index = flow.next_message;
  const text = flow.messages[index]!;
  const sessionId = flow.session!.session_id;
  // A shared session handed over mid-message by a canceled job: its work lands first, then this job's "before" is read.
  const unsettled = await awaitSettledSession(ctx, token);
  if (unsettled) return unsettled;
  // The state before the message: known from the previous message's stream, else read once (a new session).
  flow.known ??= knownStateOf(await deps.nemo.getState(token, sessionId));
  const notYet = await awaitUploadsApplied(ctx);
  if (notYet) return notYet;
  // What the agent is told, on the job before it is sent (by index: a resend after a refusal does not repeat it).
  await deps.lifecycle.progress(jobId, 'generate', messageProgress(index, flow.messages.length), (job) => {
    job.messages_sent[index] = text;
    job.waiting = null;
  });
  // Mark, then send at once: a crash between the two loses the message (reconcile finds nothing and the job fails)
  // rather than paying twice, so nothing else may sit in that window.
  flow.inflight = { index, sent_at: new Date().toISOString(), fingerprint_before: knownFingerprint(flow.known), agent_error: null };
  flow.reconcile = null;
  flow.usage.messages_sent += 1;
  // The last message's mark also says a render may follow: this run then submits it without another commit.
  const premark = flow.render_premark;
  if (index === flow.messages.length - 1) flow.render_premark = ctx.runId;
  try {
    await ctx.checkpoint({ durable: true });
  } catch (err) {
    // The mark may not be stored (a Redis error: a pipelined batch cut off by a failover), and the message has not
    // gone out: it is not in flight. The failure handler saves the flow as it is now, which must not claim a send.
    await unsend(ctx, index);
    flow.render_premark = premark;
    throw err;
  }
  // A cancel (or shutdown) that came while the mark was written, or while the state was read before it: nothing has
  // gone out, so nothing is counted, and no later job on a shared session waits for this message to land. From here
  // to the request's dispatch there is no await: an abort after this check finds the message on its way.
  if (ctx.signal.aborted) {
    await unsend(ctx, index);
    flow.render_premark = premark;
    throw ctx.signal.reason ?? new Error('aborted before the message was sent');
  }
  log.info({ message: index, of: flow.messages.length }, 'sending message to the agent');

  let result: AgentRunResult;
  try {
    result = await deps.nemo.runAgent(token, sessionId, text, {
      signal: ctx.signal,
      idleMs: deps.settings.sseIdleMs,
      maxMs: deps.settings.sseMaxMs,
    });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    if (refusedBeforeRunning(err)) {
      // The upstream answered with an error before running the agent: nothing happened, so it may be sent again.
      await unsend(ctx, index);
      throw err;
    }
    const said = err instanceof NemoError ? err.agentTexts : [];
    if (err instanceof NemoError && err.kind === 'timeout') {
      await keepAgentTexts(ctx, said);
      throw sentMessageTimeout(index, err.message, err);
    }
    // The stream broke off (or it is unknown whether the request arrived): the agent may still be working. What it
    // said before the break is kept for the job's messages, recorded when state shows the outcome.
    if (said.length > 0) flow.inflight.texts = said;
    log.warn({ err: String(err), message: index, texts: said.length }, 'agent stream broke off; reconciling from state');
    return next('reconcile');
  }
  creditsAvailable(ctx);

  if (result.texts.length === 0) {
    const toolsDone = result.toolResults.length > 0 && result.error === null;
    if (!toolsDone) {
      // No answer and no finished tool: an error, or a stream that closed empty. What happened is read from state.
      flow.inflight.agent_error = result.error ? result.error.message : null;
      if (!result.error && result.toolCalls.length > 0) flow.inflight.closed_after_calls = result.toolCalls;
      log.warn({ message: index, error: result.error?.message ?? null, calls: result.toolCalls }, 'agent stream ended without an answer; reconciling');
      // The agent's own error (or its clean close) is known only from this stream: written now, so a crash before
      // reconcile's first commit still ends the job as it would have (UPSTREAM_AGENT_ERROR after two reads, or the
      // edit taken as changing nothing), not as a lost answer after many.
      if (result.error || flow.inflight.closed_after_calls) await ctx.checkpoint();
      return next('reconcile');
    }
    log.info({ message: index, tools: result.toolResults }, 'silent edit: what changed is read from the state');
  } else if (result.error) {
    log.warn({ message: index, error: result.error.message }, 'agent answered, then reported an error');
  }
  // The state after the message: the stream's stateDelta applied to the state before it, or one read (no delta, or a
  // tool result that came without its state: the delta alone would miss that change and stale the next "before").
  const fromDelta = result.deltaIncomplete ? null : applyDelta(flow.known, result.stateDelta);
  const after = fromDelta ?? (await readStateAfterAnswer(ctx, token, sessionId, result.texts));
  await recordMessageOutcome(ctx, index, { texts: result.texts, after });
  return next('generate');
}

/**
 * The state read after a whole answer. Should the read fail, or the worker die during it, the step resumes as a
 * reconcile of the message, which knows the answer only from the in-flight mark: the texts are written there first
 * (one commit, only on this path: a stream with a stateDelta needs no read), or the job would say the agent said nothing.
 */
async function readStateAfterAnswer(ctx: StepContext, token: string, sessionId: string, texts: string[]) {
  if (texts.length > 0 && ctx.flow.inflight) {
    ctx.flow.inflight.texts = texts;
    await ctx.checkpoint();
  }
  return knownStateOf(await ctx.deps.nemo.getState(token, sessionId));
}
