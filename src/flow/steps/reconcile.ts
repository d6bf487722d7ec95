// Step reconcile: after a broken or empty stream, learn what the message did by reading state on a schedule (protocol §3).
import { AppError } from '../../core/errors.js';
import { next, wait, type StepContext, type StepOutcome } from '../context.js';
import { knownFingerprint, knownStateOf } from '../known-state.js';
import { looksLikeFirstStageOnly, SECOND_STAGE_STEADY_READS } from '../second-stage.js';
import { keepAgentTexts, recordMessageOutcome } from '../message-outcome.js';
import { sentMessageTimeout } from './generate.js';

/** The stream ended with an explicit error, so the agent has stopped: fewer unchanged reads prove it did nothing. */
const UNCHANGED_READS_AFTER_AGENT_ERROR = 2;

/**
 * The stream closed cleanly after tool calls alone: an edit tool's work (10–30 s upstream) shows within these reads,
 * or it changed nothing. A generation tool (100–300 s) gets the full RECONCILE_MAX_UNCHANGED, and nothing after
 * that is a lost answer as before (rendering the draft as it was would deliver something never generated).
 */
const UNCHANGED_READS_AFTER_CLEAN_CLOSE = 3;
const GENERATION_TOOL = /generate_video|seedance/i;

type InFlight = NonNullable<StepContext['flow']['inflight']>;

/** Edit tools only, the stream closed cleanly: an unchanged state is the edit's whole effect. */
const editsClosedCleanly = (inflight: InFlight): boolean =>
  !inflight.agent_error && !!inflight.closed_after_calls && !inflight.closed_after_calls.some((name) => GENERATION_TOOL.test(name));

/** What an edit that closed cleanly without changing the state did, in its change note. */
const cleanCloseNote = (inflight: InFlight): string => `the agent ended its turn after ${inflight.closed_after_calls!.join(', ')} without changing the draft`;

function unchangedLimit(inflight: InFlight, max: number): number {
  if (inflight.agent_error) return Math.min(UNCHANGED_READS_AFTER_AGENT_ERROR, max);
  if (editsClosedCleanly(inflight)) return Math.min(UNCHANGED_READS_AFTER_CLEAN_CLOSE, max);
  return max;
}

export async function reconcileStep(ctx: StepContext, token: string): Promise<StepOutcome> {
  const { flow, deps, jobId, log } = ctx;
  const inflight = flow.inflight;
  if (!inflight) return next('generate');
  await deps.lifecycle.progress(jobId, 'reconcile');

  const state = knownStateOf(await deps.nemo.getState(token, flow.session!.session_id));
  const fingerprint = knownFingerprint(state);
  const rc = flow.reconcile ?? { reads: 0, unchanged: 0, last_fingerprint: null, stable: 0 };
  rc.reads += 1;
  const changed = fingerprint !== inflight.fingerprint_before;

  rc.stable = changed && rc.last_fingerprint === fingerprint ? rc.stable + 1 : 0;
  // Generation's raw video alone, steady for a while, is usually the backend still composing the music and title of
  // its second stage (protocol §3): rendering it now would deliver a video without them. It is taken as the outcome
  // only after a few steady reads, and the job says what it waits for meanwhile.
  const secondStageReads = Math.min(SECOND_STAGE_STEADY_READS, deps.settings.reconcileMaxUnchanged);
  if (rc.stable > 0 && rc.stable < secondStageReads && looksLikeFirstStageOnly(flow.known, state, ctx.record.job.output)) {
    rc.last_fingerprint = fingerprint;
    flow.reconcile = rc;
    return wait('reconcile', deps.settings.reconcileIntervalMs, 'raw video only so far; waiting for the music and title of the second stage');
  }
  // Changed, and the same on two reads in a row: the agent has finished with this message.
  if (rc.stable > 0) {
    log.info({ message: inflight.index, reads: rc.reads }, 'reconciled: the message took effect');
    // The agent's words after the break were lost with the stream (those before it were kept); the change note says
    // what it did.
    await recordMessageOutcome(ctx, inflight.index, { texts: inflight.texts ?? [], after: state });
    return next('generate');
  }
  if (!changed) rc.unchanged += 1;
  const agentError = inflight.agent_error;
  if (rc.unchanged >= unchangedLimit(inflight, deps.settings.reconcileMaxUnchanged)) {
    // The one correction of conformance "correct" did nothing (the agent failed on it, or its answer was lost): the
    // draft is what it was, and it is rendered and reported as it is (its checks say what is still wrong), not lost.
    if (flow.corrected && inflight.index === flow.messages.length - 1) {
      const why = agentError
        ? `the agent failed on it (${agentError})`
        : editsClosedCleanly(inflight)
          ? cleanCloseNote(inflight)
          : 'its answer was lost and the state did not change';
      log.warn({ message: inflight.index, reads: rc.reads }, `the correction did not take effect: ${why}; rendering the draft as it is`);
      await recordMessageOutcome(ctx, inflight.index, { texts: inflight.texts ?? [], after: state, note: `the correction did not take effect: ${why}` });
      return next('generate');
    }
    if (editsClosedCleanly(inflight)) {
      // The agent ended its turn normally (the stream closed cleanly): an edit that found nothing to change.
      log.info({ message: inflight.index, reads: rc.reads, calls: inflight.closed_after_calls }, 'reconciled: the agent closed its turn without changing the state');
      await recordMessageOutcome(ctx, inflight.index, {
        texts: inflight.texts ?? [],
        after: state,
        note: cleanCloseNote(inflight),
      });
      return next('generate');
    }
    const notResent = 'it was not sent again because the upstream charges for every send';
    await keepAgentTexts(ctx, inflight.texts);
    // Written with the failure in one commit: a worker killed before the job is failed must not add them again.
    delete inflight.texts;
    if (agentError) {
      throw new AppError(
        'UPSTREAM_AGENT_ERROR',
        `the agent failed on message ${inflight.index + 1}: ${agentError}; the session state did not change, and ${notResent}`,
      );
    }
    throw sentMessageTimeout(
      inflight.index,
      `its answer was lost and the session state did not change after ${rc.reads} reads; ${notResent}`,
    );
  }
  rc.last_fingerprint = fingerprint;
  flow.reconcile = rc;
  return wait('reconcile', deps.settings.reconcileIntervalMs, changed ? 'state changed; confirming' : 'state unchanged');
}
