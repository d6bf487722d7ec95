// A shared session handed over with a canceled job's message still in flight: the next job lets that work settle first.
import type { Logger } from '../observability/logger.js';
import { wait, type FlowDeps, type StepContext, type StepOutcome } from './context.js';
import { knownFingerprint, knownStateOf } from './known-state.js';
import type { FlowState } from './state.js';

/**
 * Called when a job of a group is canceled: the upstream agent goes on with a message it was sent (protocol §3), so
 * the next job on the session must not read its "before" or send while that work still lands, or its own changes
 * would carry the canceled job's. Never throws: without the mark the next job behaves as before.
 */
export async function handOverUnsettled(deps: Pick<FlowDeps, 'groups'>, flow: FlowState, log: Logger): Promise<void> {
  if (!flow.group || !flow.inflight || !flow.session) return;
  try {
    const shared = await deps.groups.session(flow.group);
    if (shared?.session_id !== flow.session.session_id) return;
    await deps.groups.publish(flow.group, { ...shared, unsettled: { fingerprint_before: flow.inflight.fingerprint_before } });
  } catch (err) {
    log.warn({ err: String(err) }, 'could not mark the shared session as still at work; the next job may see this one’s message land');
  }
}

/**
 * Before the first message of a job that took such a session over: state is read every RECONCILE_INTERVAL_MS until
 * the canceled message's change shows and holds for two reads (or, unchanged, for RECONCILE_MAX_UNCHANGED reads);
 * that state is then this job's "before". Null when there is nothing to wait for (any more).
 */
export async function awaitSettledSession(ctx: StepContext, token: string): Promise<StepOutcome | null> {
  const { flow, deps, log } = ctx;
  const settle = flow.settle;
  if (!settle) return null;
  const state = knownStateOf(await deps.nemo.getState(token, flow.session!.session_id));
  const fingerprint = knownFingerprint(state);
  settle.reads += 1;
  const changed = fingerprint !== settle.fingerprint_before;
  if ((changed && fingerprint === settle.last_fingerprint) || settle.reads >= deps.settings.reconcileMaxUnchanged) {
    log.info({ reads: settle.reads, changed }, 'the shared session has settled after the previous job’s cancel');
    delete flow.settle;
    flow.known = state;
    return null;
  }
  settle.last_fingerprint = fingerprint;
  return wait(
    'generate',
    deps.settings.reconcileIntervalMs,
    changed ? 'the canceled job before it is still changing the shared session' : 'waiting for the canceled job before it to land on the shared session',
  );
}
