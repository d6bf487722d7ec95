// runFlow over in-memory fakes: job.usage.credits_after on every end (succeeded, failed, canceled), and what it costs.
import { describe, expect, it } from 'vitest';
import { renderIdFor } from '../../src/flow/steps/render-submit.js';
import type { FlowState } from '../../src/flow/state.js';
import { NemoError } from '../../src/nemo/errors.js';
import { parseData } from '../../src/nemo/http.js';
import { renderWireSchema } from '../../src/nemo/render-status.js';
import { createFakeFlow, draftWith, renderStatus, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';

useFakeClock();

const SESSION = { task_id: 'task_u', session_id: 'sess_u' };

/** A job whose three messages were sent and whose render is out (so it has been charged); the balance read at its start. */
async function chargedJob(f: FakeFlow): Promise<string> {
  const jobId = await f.addJob({ job: { status: 'running', stage: 'render' } });
  f.nemo.setDraft(SESSION.session_id, draftWith(2));
  await f.balance.get(); // credits_before, as the job's start read it
  f.balance.reads.length = 0;
  const render: FlowState['render'] = {
    id: renderIdFor(jobId, 1),
    attempt: 1,
    attempted: true,
    submitted: true,
    submitted_at: new Date().toISOString(),
    polls: 0,
    samples: [{ at: Date.now(), progress: 0 }],
    timeline: 'Timeline (1 track): 1. Video (2 segments, 4.0s)',
    draft_duration_ms: 4_000,
  };
  const flow = await f.flow(jobId);
  f.flows.put(jobId, { ...flow, step: 'render_poll', session: SESSION, uploaded: true, next_message: 3, render, usage: { upstream_calls: 9, messages_sent: 3, renders: 1 } });
  return jobId;
}

describe('job.usage.credits_after', () => {
  it('a failed job that was charged reads the balance it left (one read, counted in its calls)', async () => {
    const f = createFakeFlow();
    const jobId = await chargedJob(f);
    f.balance.available = 870;
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'failed', error: 'encoder crashed' }));

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('failed');
    expect(f.balance.reads).toHaveLength(1);
    // 9 before, the render poll, the balance read.
    expect(job.usage).toMatchObject({ messages_sent: 3, renders: 1, upstream_calls: 11, credits_after: 870 });
  });

  it('a canceled job is given the cached balance: no read of the upstream holds its cancel up', async () => {
    const f = createFakeFlow();
    const jobId = await chargedJob(f);
    f.balance.available = 905; // what a read would say now: it must not be made
    await f.requestCancel(jobId);

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('canceled');
    expect(job.usage).toMatchObject({ messages_sent: 3, renders: 1, credits_after: 1000 });
    expect(f.balance.reads).toHaveLength(0);
  });

  it('a job failing because the upstream keeps erring is given the cached balance, without asking again', async () => {
    const f = createFakeFlow();
    const jobId = await chargedJob(f);
    f.balance.available = 1; // what a read would say now: it must not be made
    f.nemo.always('getRender', new NemoError('transient', 'render_poll', 'render_poll: HTTP 502', { httpStatus: 502 }));

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.error?.code).toBe('UPSTREAM_ERROR');
    expect(f.balance.reads).toHaveLength(0);
    expect(job.usage.credits_after).toBe(1000);
  });

  it('is null, without a read, when nothing is cached for a job that failed before anything was charged', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { status: 'running' } });
    f.balance.cacheExpired = true;
    f.nemo.always('createSession', new NemoError('transient', 'create_session', 'create_session: HTTP 502', { httpStatus: 502 }));

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('failed');
    expect(job.usage).toMatchObject({ messages_sent: 0, renders: 0, credits_after: null });
    // The start's read (credits_before) only.
    expect(f.balance.reads).toHaveLength(1);
  });

  it('counts renders, not tries: a submit refused outright (its session gone) made nothing and is not counted', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('submitRender', new NemoError('session_missing', 'render_submit', 'render_submit: HTTP 404: Session not found', { httpStatus: 404 }));

    expect((await f.drive(jobId)).at(-1)).toEqual({ kind: 'finished' });

    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { sessionId: string }).sessionId)).toEqual(['sess_1', 'sess_2']);
    // It read 2: the refused submit was counted too.
    expect(job.usage.renders).toBe(1);
  });

  it('a submit answered 2xx in a shape the client does not know may have started a render: counted, and canceled when the job fails', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    let unknownShape: unknown;
    try {
      parseData('render_submit', renderWireSchema, { id: 'render_x', status: 1 });
    } catch (err) {
      unknownShape = err;
    }
    expect(unknownShape).toBeInstanceOf(NemoError);
    f.nemo.script('submitRender', unknownShape as NemoError);

    expect((await f.drive(jobId)).at(-1)).toEqual({ kind: 'finished' });

    const job = (await f.record(jobId)).job;
    expect(job.error?.code).toBe('UPSTREAM_REJECTED');
    expect(job.usage.renders).toBe(1);
    expect(f.nemo.count('cancelRender')).toBe(1);
  });
});

