// A shared session handed over unsettled: the mark survives a kill and a cancel, and waits for the second stage too.
import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/flow/context.js';
import { knownFingerprint, knownStateOf } from '../../src/flow/known-state.js';
import { awaitSettledSession, handOverUnsettled } from '../../src/flow/settle.js';
import { initialFlowState, type FlowState } from '../../src/flow/state.js';
import { sessionStep } from '../../src/flow/steps/session.js';
import type { Job } from '../../src/jobs/schemas.js';
import type { Draft } from '../../src/nemo/schemas.js';
import { createLogger } from '../../src/observability/logger.js';
import { draftWith, TEST_SETTINGS } from '../helpers/fake-flow/fixtures.js';
import { FakeGroups } from '../helpers/fake-flow/services.js';

const GROUP = 'grp_1';
const SESSION = { task_id: 'task_1', session_id: 'ses_1' };
const OUTPUT = { format: 'mp4', quality: 'high', resolution: '1080p', music: 'auto' } as Job['output'];
const log = createLogger('silent');

const withMusic = (draft: Draft): Draft => ({ ...draft, t: [...(draft.t ?? []), { tt: 1, sg: [{ id: 'bgm', d: 2_000, src: 'https://cdn.invalid/bgm.mp3' }] }] });
const known = (draft: Draft | null) => knownStateOf({ sessionId: SESSION.session_id, taskId: null, draft, raw: { session_id: SESSION.session_id } } as never);
const fingerprintOf = (draft: Draft | null) => knownFingerprint(known(draft));

/** A step context over fake groups and an upstream whose state reads answer `drafts` in turn (the last one repeats). */
function contextFor(flow: FlowState, groups: FakeGroups, drafts: (Draft | null)[] = []) {
  let reads = 0;
  const nemo = {
    getState: async (_token: string, sessionId: string) => {
      const draft = drafts[Math.min(reads++, drafts.length - 1)] ?? null;
      return { sessionId, taskId: null, draft, raw: { session_id: sessionId } };
    },
  };
  const lifecycle = { progress: async () => {}, update: async () => {} };
  const deps = { groups, nemo, lifecycle, settings: { ...TEST_SETTINGS, reconcileMaxUnchanged: 10 }, accountId: null };
  const ctx = { flow, deps, jobId: 'job_b', log, record: { job: { language: 'en', output: OUTPUT } } } as unknown as StepContext;
  return { ctx, reads: () => reads };
}

const groupFlow = (): FlowState => initialFlowState(['title "After"'], { group: GROUP });

async function unsettledGroup(secondStage = false) {
  const groups = new FakeGroups();
  const before = fingerprintOf(draftWith(1));
  await groups.publish(GROUP, { ...SESSION, uploads: [], unsettled: { fingerprint_before: before, second_stage: secondStage } });
  return groups;
}

/** Reads until the session settles; the wait reasons on the way. */
async function settle(ctx: StepContext): Promise<string[]> {
  const reasons: string[] = [];
  for (let i = 0; i < 20; i++) {
    const outcome = await awaitSettledSession(ctx, 'tok');
    if (!outcome) return reasons;
    reasons.push(outcome.kind === 'wait' ? outcome.reason : outcome.kind);
  }
  throw new Error('never settled');
}

describe('a shared session handed over with a canceled message in flight', () => {
  it('keeps the mark on the group’s session until the job that took it has seen the work settle, so a kill before its next commit finds it again', async () => {
    const groups = await unsettledGroup();
    const first = groupFlow();
    await sessionStep(contextFor(first, groups).ctx, 'tok');
    expect(first.settle).toMatchObject({ reads: 0 });
    expect((await groups.session(GROUP))?.unsettled).toBeDefined();
    // Killed before any commit: the run resumes from the job's first checkpoint, without `settle`.
    const resumed = groupFlow();
    await sessionStep(contextFor(resumed, groups).ctx, 'tok');
    expect(resumed.settle?.fingerprint_before).toBe(first.settle?.fingerprint_before);
    // Settled: two reads of the landed change; the mark leaves the group's session and the state is the job's "before".
    const { ctx, reads } = contextFor(resumed, groups, [draftWith(1), draftWith(3), draftWith(3)]);
    expect(await settle(ctx)).toEqual([
      'waiting for the canceled job before it to land on the shared session',
      'the canceled job before it is still changing the shared session',
    ]);
    expect(reads()).toBe(3);
    expect(resumed.settle).toBeUndefined();
    expect(knownFingerprint(resumed.known!)).toBe(fingerprintOf(draftWith(3)));
    expect(await groups.session(GROUP)).toEqual({ ...SESSION, uploads: [] });
  });

  it('leaves the mark for the next job when the job that took it is canceled while still settling', async () => {
    const groups = await unsettledGroup();
    const flow = groupFlow();
    await sessionStep(contextFor(flow, groups).ctx, 'tok');
    const { ctx } = contextFor(flow, groups, [draftWith(1)]);
    expect(await awaitSettledSession(ctx, 'tok')).toMatchObject({ kind: 'wait' });
    await handOverUnsettled({ groups } as never, flow, OUTPUT, log);
    const next = groupFlow();
    await sessionStep(contextFor(next, groups).ctx, 'tok');
    expect(next.settle?.fingerprint_before).toBe(fingerprintOf(draftWith(1)));
  });

  it('hands over its own message’s mark when canceled with it in flight, saying whether a second stage may follow', async () => {
    const groups = await unsettledGroup();
    const flow: FlowState = { ...groupFlow(), session: SESSION, known: known(draftWith(2)) };
    flow.inflight = { index: 0, fingerprint_before: knownFingerprint(flow.known!) } as FlowState['inflight'];
    await handOverUnsettled({ groups } as never, flow, OUTPUT, log);
    expect((await groups.session(GROUP))?.unsettled).toEqual({ fingerprint_before: knownFingerprint(flow.known!), second_stage: true });
    // No room for a second stage: no music and no title asked for.
    await handOverUnsettled({ groups } as never, flow, { ...OUTPUT, music: 'none' }, log);
    expect((await groups.session(GROUP))?.unsettled?.second_stage).toBe(false);
  });

  it('does not take generation’s raw video alone as settled when a second stage may follow: it waits for the music', async () => {
    const groups = await unsettledGroup(true);
    const flow = groupFlow();
    await sessionStep(contextFor(flow, groups).ctx, 'tok');
    const raw = draftWith(3);
    const { ctx, reads } = contextFor(flow, groups, [raw, raw, raw, withMusic(raw), withMusic(raw)]);
    const SECOND_STAGE = 'the canceled job before it has its raw video; waiting for the music and title of the second stage';
    expect(await settle(ctx)).toEqual([SECOND_STAGE, SECOND_STAGE, SECOND_STAGE, 'the canceled job before it is still changing the shared session']);
    expect(reads()).toBe(5);
    expect(knownFingerprint(flow.known!)).toBe(fingerprintOf(withMusic(raw)));
  });

  it('takes the raw video after four steady reads when no music comes', async () => {
    const groups = await unsettledGroup(true);
    const flow = groupFlow();
    await sessionStep(contextFor(flow, groups).ctx, 'tok');
    const raw = draftWith(3);
    const { ctx, reads } = contextFor(flow, groups, [raw]);
    await settle(ctx);
    expect(reads()).toBe(5);
    expect(knownFingerprint(flow.known!)).toBe(fingerprintOf(raw));
  });
});
