// A batch's sources refused for good: only answers about the files mark the group, and only the batch's items heed it.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import type { StepContext } from '../../src/flow/context.js';
import { markGroupSourcesFailed } from '../../src/flow/group-sources.js';
import { initialFlowState, type FlowState } from '../../src/flow/state.js';
import { sessionStep } from '../../src/flow/steps/session.js';
import { createLogger } from '../../src/observability/logger.js';
import { FakeGroups } from '../helpers/fake-flow/services.js';

const GROUP = 'grp_1';
const log = createLogger('silent');

/** The group's first item, failed in its upload step on the session it made. */
function uploadingFlow(): FlowState {
  return { ...initialFlowState(['a teaser'], { group: GROUP }), step: 'upload', session: { task_id: 'task_2', session_id: 'ses_2' } };
}

function sessionContext(flow: FlowState, groups: FakeGroups, job: { batch_id: string | null }) {
  const deps = { groups, lifecycle: { progress: async () => {}, update: async () => {} }, nemo: {}, accountId: null };
  return { flow, deps, jobId: 'job_later', log, record: { job: { language: 'en', ...job } } } as unknown as StepContext;
}

describe('sources refused for a batch', () => {
  it('marks the group only for answers about the files, not for an account’s refusal that can be mended', async () => {
    const marked = async (error: AppError) => {
      const groups = new FakeGroups();
      await markGroupSourcesFailed({ groups } as never, uploadingFlow(), 'job_first', error, log);
      return (await groups.session(GROUP))?.sources_failed?.code ?? null;
    };
    expect(await marked(new AppError('UNSUPPORTED_MEDIA', 'the upstream rejected a source file type (4001)'))).toBe('UNSUPPORTED_MEDIA');
    expect(await marked(new AppError('MEDIA_TOO_LARGE', 'too large'))).toBe('MEDIA_TOO_LARGE');
    expect(await marked(new AppError('UPSTREAM_REJECTED', 'source url answered 404'))).toBe('UPSTREAM_REJECTED');
    expect(await marked(new AppError('UPSTREAM_AUTH_FAILED', 'the tenant’s own upstream token was refused'))).toBeNull();
    expect(await marked(new AppError('UPSTREAM_OUT_OF_CREDITS', 'no credits'))).toBeNull();
    expect(await marked(new AppError('UPSTREAM_ERROR', 'outage'))).toBeNull();
  });

  it('fails the batch’s later items at once, but a revision of an item that succeeded runs on the session it finds', async () => {
    const groups = new FakeGroups();
    await groups.publish(GROUP, {
      task_id: 'task_1',
      session_id: 'ses_1',
      uploads: [],
      sources_failed: { job_id: 'job_first', code: 'UNSUPPORTED_MEDIA', message: 'the upstream rejected a source file type (4001)' },
    });
    const item = initialFlowState(['now square'], { group: GROUP });
    await expect(sessionStep(sessionContext(item, groups, { batch_id: 'bat_1' }), 'tok')).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA',
      message: expect.stringContaining('refused when job_first uploaded them'),
    });
    expect(item.session).toBeNull();
    const revision = initialFlowState(['warmer colours'], { group: GROUP });
    expect(await sessionStep(sessionContext(revision, groups, { batch_id: null }), 'tok')).toMatchObject({ kind: 'next', step: 'upload' });
    expect(revision.session).toEqual({ task_id: 'task_1', session_id: 'ses_1' });
  });
});
