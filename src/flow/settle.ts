// A shared session handed over with a canceled job's message still in flight: the next job lets that work settle first.
import type { Job } from '../jobs/schemas.js';
import type { Logger } from '../observability/logger.js';
import { wait, type FlowDeps, type StepContext, type StepOutcome } from './context.js';
import { knownFingerprint, knownStateOf } from './known-state.js';
import { isRawVideoOnly, leavesRoomForSecondStage, SECOND_STAGE_STEADY_READS } from './second-stage.js';
import type { FlowState } from './state.js';

/**
 * Called when a job of a group is canceled: the upstream agent goes on with a message it was sent (protocol §3), so
 * the next job on the session must not read its "before" or send while that work still lands, or its own changes
 * would carry the canceled job's. Never throws: without the mark the next job behaves as before.
 */
export async function handOverUnsettled(deps: Pick<FlowDeps, 'groups'>, flow: FlowState, output: Job['output'], log: Logger): Promise<void> {
  // Canceled while still settling (no message of its own sent yet): the mark it found is still on the group's session.
  if (!flow.group || !flow.inflight || !flow.session) return;
  try {
    const shared = await deps.groups.session(flow.group);
    if (shared?.session_id !== flow.session.session_id) return;
    // flow.known is the state the message was sent on: raw video may be followed by a second stage only from there.
    const unsettled = { fingerprint_before: flow.inflight.fingerprint_before, second_stage: leavesRoomForSecondStage(flow.known, output) };
    await deps.groups.publish(flow.group, { ...shared, unsettled });
  } catch (err) {
    log.warn({ err: String(err) }, 'could not mark the shared session as still at work; the next job may see this one’s message land');
  }
}

/**
 * Before the first message of a job that took such a session over: state is read every RECONCILE_INTERVAL_MS until
 * the canceled message's change shows and holds for two reads (generation's raw video alone, when a second stage may
 * follow, for SECOND_STAGE_STEADY_READS), or, unchanged, for RECONCILE_MAX_UNCHANGED reads; that state is then this
 * job's "before", and the mark leaves the group's session. Null when there is nothing to wait for (any more).
 */
export async function awaitSettledSession(ctx: StepContext, token: string): Promise<StepOutcome | null> {
  const { flow, deps, log } = ctx;
  const settle = flow.settle;
  if (!settle) return null;
  const max = deps.settings.reconcileMaxUnchanged;
  const state = knownStateOf(await deps.nemo.getState(token, flow.session!.session_id));
  const fingerprint = knownFingerprint(state);
  settle.reads += 1;
  const changed = fingerprint !== settle.fingerprint_before;
  settle.stable = changed && fingerprint === settle.last_fingerprint ? settle.stable + 1 : 0;
  settle.last_fingerprint = fingerprint;
  const awaitingSecondStage = settle.second_stage && isRawVideoOnly(state) && settle.stable < Math.min(SECOND_STAGE_STEADY_READS, max);
  if ((settle.stable > 0 && !awaitingSecondStage) || settle.reads >= max) {
    log.info({ reads: settle.reads, changed }, 'the shared session has settled after the previous job’s cancel');
    await clearUnsettledMark(deps, flow);
    delete flow.settle;
    flow.known = state;
    return null;
  }
  const why = awaitingSecondStage
    ? 'the canceled job before it has its raw video; waiting for the music and title of the second stage'
    : changed
      ? 'the canceled job before it is still changing the shared session'
      : 'waiting for the canceled job before it to land on the shared session';
  return wait('generate', deps.settings.reconcileIntervalMs, why);
}

/** Only the job holding the group's turn writes its session, so the mark read here is the one this job waited on. */
async function clearUnsettledMark(deps: FlowDeps, flow: FlowState): Promise<void> {
  const shared = await deps.groups.session(flow.group!);
  if (shared?.session_id !== flow.session!.session_id || !shared.unsettled) return;
  const { unsettled: _settled, ...rest } = shared;
  await deps.groups.publish(flow.group!, rest);
}
