// A run's writes: few commits (each before a call that must not repeat), changes kept across a conflict, waits slept inline.
import { describe, expect, it } from 'vitest';
import { JobRun } from '../../src/flow/job-run.js';
import type { JobRecord } from '../../src/jobs/schemas.js';
import { advanceClock, agentResult, completedRender, createFakeFlow, renderStatus, useFakeClock } from '../helpers/fake-flow.js';
import { renderIdFor } from '../../src/flow/steps/render-submit.js';
import { NemoError } from '../../src/nemo/errors.js';

useFakeClock();

const commitsIn = (journal: string[]) => journal.filter((e) => e.startsWith('flow:save:'));

describe('JobRun: what a run writes', () => {
  it('writes a three-message job in four commits: each mark (the first with the start, the last with the render), the end', async () => {
    const f = createFakeFlow({ settings: { inlineWaitMaxMs: 2_000 } });
    const jobId = await f.addJob({ job: { followups: ['Add calm music', 'Add the title "Beach"'] } });
    // Answers that carry the state after them (the simulator's and ADK's stateDelta): no state read after a message.
    f.nemo.always('runAgent', (_token, sessionId, text) => {
      f.nemo.agentEdits(sessionId);
      return agentResult({ texts: [`done: ${text.slice(0, 40)}`], stateDelta: { draft: f.nemo.content(sessionId).draft } });
    });
    // Renders have been finishing at once: the first poll comes right after the submit, in the same run.
    await f.deps.renderStats.record(10);
    f.nemo.script('getRender', completedRender(renderIdFor(jobId, 1)));

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    // Every commit comes before the call it protects: the marks before each run_sse; the last mark also covers the
    // render (it names this run as the one that may submit it), so the submit needs no commit of its own.
    const sends = f.journal.flatMap((e, i) => (e === 'nemo:runAgent' ? [f.journal[i - 1]] : []));
    expect(sends).toEqual(['flow:save:generate', 'flow:save:generate', 'flow:save:generate']);
    const lastCommitBeforeSubmit = f.journal.slice(0, f.journal.indexOf('nemo:submitRender')).findLast((e) => e.startsWith('flow:save:'));
    expect(lastCommitBeforeSubmit).toBe('flow:save:generate');
    expect(commitsIn(f.journal)).toHaveLength(4);
    expect(f.flows.saves.filter((s) => s.durable)).toHaveLength(3);
    // The first commit carries the start: no write at all before the session exists.
    expect(f.journal.indexOf('store:job.started')).toBeGreaterThan(f.journal.indexOf('nemo:createSession'));
    expect((await f.record(jobId)).job).toMatchObject({ status: 'succeeded', messages_sent: ['Make a short clip of the beach', 'Add calm music', 'Add the title "Beach"'] });
  });

  it('adds one commit per message whose answer carries no stateDelta: its texts, written before the state read', async () => {
    const f = createFakeFlow({ settings: { inlineWaitMaxMs: 2_000 } });
    const jobId = await f.addJob({ job: { followups: ['Add calm music', 'Add the title "Beach"'] } });
    await f.deps.renderStats.record(10);
    f.nemo.script('getRender', completedRender(renderIdFor(jobId, 1)));
    expect(await f.run(jobId)).toEqual({ kind: 'finished' });
    expect(commitsIn(f.journal)).toHaveLength(7);
    expect(f.flows.saves.filter((s) => s.durable)).toHaveLength(3);
  });

  it('never submits a render twice when the worker dies right after submitting it: the next run looks it up', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const renderId = renderIdFor(jobId, 1);
    f.nemo.script('getRender', renderStatus({ id: renderId, progress: 30 }), completedRender(renderId));
    // Redis goes away right after the submit: the commit of its wait fails and the run dies (as a killed worker would).
    const commit = f.store.commit.bind(f.store);
    f.store.commit = async (spec) => {
      if (f.nemo.count('submitRender') === 1 && f.nemo.count('getRender') === 0) throw new Error('Connection is closed.');
      return commit(spec);
    };
    await expect(f.run(jobId)).rejects.toThrow('Connection is closed.');
    expect((await f.flow(jobId)).render).toBeNull(); // what is stored: the last message's mark, naming the dead run
    f.store.commit = commit;

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.count('submitRender')).toBe(1);
    expect(f.nemo.callsOf('getRender').map((c) => c.step)).toEqual(['render_submit', 'render_poll']);
    expect((await f.record(jobId)).job).toMatchObject({ status: 'succeeded', usage: { renders: 1 } });
  });

  it('writes a second render id down before submitting it, so a run after a crash polls that one', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const [first, second] = [renderIdFor(jobId, 1), renderIdFor(jobId, 2)];
    // The first id is refused as a duplicate that does not exist (not ours): the job moves on to its second id.
    f.nemo.failWhen('submitRender', (c) => (c.args[1] as { id: string }).id === first, () => new NemoError('duplicate_render', 'render_submit', 'HTTP 409: id exists', { httpStatus: 409 }));
    f.nemo.failWhen('getRender', (c) => c.args[1] === first, () => new NemoError('not_found', 'render_poll', 'HTTP 404', { httpStatus: 404 }), 10);
    f.nemo.script('getRender', renderStatus({ id: second, progress: 30 }), completedRender(second));
    const commit = f.store.commit.bind(f.store);
    f.store.commit = async (spec) => {
      if (f.nemo.count('submitRender') === 2) throw new Error('Connection is closed.');
      return commit(spec);
    };
    await expect(f.run(jobId)).rejects.toThrow('Connection is closed.');
    expect((await f.flow(jobId)).render).toMatchObject({ id: second, attempted: true, submitted: false });
    f.store.commit = commit;

    expect((await f.drive(jobId)).at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id)).toEqual([first, second]);
    expect((await f.record(jobId)).job.upstream.render_id).toBe(second);
  });

  it('sleeps a short wait in the worker and hands a long one back to the queue, its checkpoint written', async () => {
    const short = createFakeFlow({ settings: { inlineWaitMaxMs: 2_000 } });
    const quick = await short.addJob();
    await short.deps.renderStats.record(10);
    short.nemo.script('getRender', renderStatus({ id: renderIdFor(quick, 1), progress: 40 }), completedRender(renderIdFor(quick, 1)));
    expect(await short.run(quick)).toEqual({ kind: 'finished' });
    expect(short.nemo.count('getRender')).toBe(2);

    const long = createFakeFlow({ settings: { inlineWaitMaxMs: 0 } });
    const slow = await long.addJob();
    const first = await long.run(slow);
    expect(first).toMatchObject({ kind: 'wait', step: 'render_poll' });
    expect((await long.flow(slow)).render?.submitted).toBe(true);
  });

  it('keeps its staged changes when a cancel changed the record meanwhile, and sees the cancel', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const opened = await JobRun.open({ store: f.store as never, commits: f.deps.commits }, jobId);
    if (opened.kind !== 'open') throw new Error('not opened');
    const { run } = opened;
    run.stageStart();
    await run.lifecycle.progress(jobId, 'generate', 40, (job) => {
      job.messages_sent.push('hello');
    });
    // The API flags the job between the worker's read and its write.
    await f.requestCancel(jobId);

    const written: JobRecord = await run.commit();

    expect(written.cancel_requested).toBe(true);
    expect(written.job).toMatchObject({ status: 'running', progress: 40, messages_sent: ['hello'] });
    expect((await f.record(jobId)).job.messages_sent).toEqual(['hello']);
    expect(f.afterEvents.map((e) => e.type)).toEqual(['job.started']);
  });

  it('writes what a change set when it was made, not what its inputs hold by the time of the commit', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const opened = await JobRun.open({ store: f.store as never, commits: f.deps.commits }, jobId);
    if (opened.kind !== 'open') throw new Error('not opened');
    const { run } = opened;
    const state = { since: '2030-01-01T00:00:00.000Z' as string | null };
    await run.lifecycle.update(jobId, (job) => {
      job.waiting = { reason: 'upstream_rate_limit', message: 'waiting', since: state.since! };
    });
    state.since = null; // the next step went through and cleared it
    await f.requestCancel(jobId); // and the commit meets a conflict, so it is retried over the stored record
    const written = await run.commit();
    expect(written.job.waiting).toEqual({ reason: 'upstream_rate_limit', message: 'waiting', since: '2030-01-01T00:00:00.000Z' });
    expect((await f.record(jobId)).job.waiting?.since).toBe('2030-01-01T00:00:00.000Z');
  });

  it('leaves a job another writer has ended as it is, and sees that it ended', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const opened = await JobRun.open({ store: f.store as never, commits: f.deps.commits }, jobId);
    if (opened.kind !== 'open') throw new Error('not opened');
    const { run } = opened;
    run.stageStart();
    // Canceled by the API before this run wrote anything (it had not started).
    await f.deps.lifecycle.cancel(jobId);
    await run.commit();
    expect(run.record.job.status).toBe('canceled');
    expect((await f.record(jobId)).job.status).toBe('canceled');
    expect((await f.store.events(jobId)).map((e) => e.type)).toEqual(['job.canceled']);
  });

  it('throttles job.progress across runs: the last event time travels in the checkpoint', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const open = async () => {
      const opened = await JobRun.open({ store: f.store as never, commits: f.deps.commits }, jobId);
      if (opened.kind !== 'open') throw new Error('not opened');
      return opened.run;
    };
    const first = await open();
    first.stageStart();
    await first.commit();
    await first.lifecycle.progress(jobId, 'generate', 20);
    await first.commit();
    // A new run a moment later (another worker, say): not due yet, however far its progress moved.
    advanceClock(100);
    const second = await open();
    await second.lifecycle.progress(jobId, 'render', 60);
    expect(second.progressDue).toBe(false);
    await second.commit();
    advanceClock(500);
    await second.lifecycle.progress(jobId, 'render', 70);
    expect(second.progressDue).toBe(true);
    await second.commit();
    expect((await f.store.events(jobId)).map((e) => e.type)).toEqual(['job.started', 'job.progress', 'job.progress']);
  });

  it('tells the caller the job started before it failed, even when it fails before its first commit', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const opened = await JobRun.open({ store: f.store as never, commits: f.deps.commits }, jobId);
    if (opened.kind !== 'open') throw new Error('not opened');
    opened.run.stageStart();
    await opened.run.lifecycle.fail(jobId, { code: 'INTERNAL', message: 'boom', retryable: false });
    expect((await f.store.events(jobId)).map((e) => e.type)).toEqual(['job.started', 'job.failed']);
  });
});
