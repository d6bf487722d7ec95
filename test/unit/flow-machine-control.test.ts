// runFlow over in-memory fakes: a lost lock, cancels and aborts, and the render's failures, duplicates and deadline.
import { describe, expect, it } from 'vitest';
import { MAX_RENDER_WAIT_MS } from '../../src/flow/steps/render-poll.js';
import { renderIdFor } from '../../src/flow/steps/render-submit.js';
import type { FlowState } from '../../src/flow/state.js';
import { MAX_STEP_RETRIES } from '../../src/flow/upstream-errors.js';
import { jobErrorSchema } from '../../src/jobs/schemas.js';
import { NemoError } from '../../src/nemo/errors.js';
import { StorageError } from '../../src/storage/errors.js';
import { outputKey } from '../../src/storage/keys.js';
import { createFakeFlow, draftWith, fakeOutputs, renderStatus, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';

useFakeClock();

const FENCE = { lockKey: 'test:flow:job:lock', token: 'bullmq-token-1' };
const SESSION = { task_id: 'task_r', session_id: 'sess_r' };

/** A job whose render was submitted (and acknowledged) `ageMs` ago; the draft is in the session. */
async function renderingJob(f: FakeFlow, opts: { tenant?: string; ageMs?: number } = {}): Promise<string> {
  const jobId = await f.addJob({ job: { status: 'running', stage: 'render' }, ...(opts.tenant ? { tenant: opts.tenant } : {}) });
  const at = Date.now() - (opts.ageMs ?? 0);
  f.nemo.setDraft(SESSION.session_id, draftWith(2));
  const render: FlowState['render'] = {
    id: renderIdFor(jobId, 1),
    attempt: 1,
    attempted: true,
    submitted: true,
    submitted_at: new Date(at).toISOString(),
    polls: 0,
    samples: [{ at, progress: 0 }],
    timeline: 'Timeline (1 track): 1. Video (2 segments, 4.0s)',
    draft_duration_ms: 4_000,
  };
  f.flows.put(jobId, { ...(await f.flow(jobId)), step: 'render_poll', session: SESSION, uploaded: true, next_message: 1, render });
  return jobId;
}

/** A job about to submit its render. */
async function submittingJob(f: FakeFlow): Promise<string> {
  const jobId = await f.addJob({ job: { status: 'running' } });
  f.nemo.setDraft(SESSION.session_id, draftWith(2));
  f.flows.put(jobId, { ...(await f.flow(jobId)), step: 'render_submit', session: SESSION, uploaded: true, next_message: 1 });
  return jobId;
}

const duplicate = () => new NemoError('duplicate_render', 'render_submit', 'render_submit: HTTP 409: id exists', { httpStatus: 409 });
const notFound = () => new NemoError('not_found', 'render_poll', 'render_poll: HTTP 404', { httpStatus: 404 });

describe('runFlow: a lost lock (another worker took the job over)', () => {
  it('stops at the fenced mark of a message: {kind: lost}, the message is not sent, nothing after it is written', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.flows.loseLockWhen((_state, opts) => opts.durable === true);

    expect(await f.run(jobId, { fence: FENCE })).toEqual({ kind: 'lost' });

    expect(f.journal.at(-1)).toBe('flow:lost:generate');
    expect(f.nemo.count('runAgent')).toBe(0);
    // The mark was the run's first commit: the start, the session and the known state were to go with it, so nothing
    // of this run is stored and the successor starts the job from the beginning.
    const flow = await f.flow(jobId);
    expect([flow.step, flow.session, flow.inflight, flow.usage.messages_sent]).toEqual(['auth', null, null, 0]);
    expect(f.flows.saves).toEqual([]);
    expect((await f.record(jobId)).job.status).toBe('queued');
  });

  it('stops at the first commit after creating a session, before anything is paid or the record names it (the successor works in its own)', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.flows.loseLockWhen((state) => state.session !== null);

    expect(await f.run(jobId, { fence: FENCE })).toEqual({ kind: 'lost' });

    // The session's id is written with the first message's mark: that commit is refused, so nothing is sent.
    expect(f.journal.slice(-3)).toEqual(['nemo:createSession', 'nemo:getState', 'flow:lost:generate']);
    expect(f.nemo.count('runAgent')).toBe(0);
    expect((await f.flow(jobId)).session).toBeNull();
    expect((await f.record(jobId)).job.upstream.session_id).toBeNull();
  });

  it('does not fail the job when the lock is lost on the way to failing it', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'failed', error: 'encoder crashed' }));
    f.flows.loseLockWhen();

    expect(await f.run(jobId, { fence: FENCE })).toEqual({ kind: 'lost' });

    expect(f.journal.slice(-2)).toEqual(['nemo:getRender', 'flow:lost:render_poll']);
    expect((await f.record(jobId)).job.status).toBe('running');
    expect(f.nemo.count('cancelRender')).toBe(0);
  });

  it('writes every checkpoint through the fence while the lock holds', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const results = await f.drive(jobId, { fence: FENCE });
    expect(results.at(-1)).toEqual({ kind: 'finished' });
    // Each message's mark (the first one with the start, the last one with the render), its waits, the end: all
    // through the fence.
    expect(f.flows.saves.length).toBeGreaterThanOrEqual(3);
    expect(f.flows.saves.every((s) => s.fenced)).toBe(true);
  });
});

describe('runFlow: cancel and abort', () => {
  it('cancels the upstream render (submitted) and the job', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    await f.requestCancel(jobId);

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    expect(f.nemo.callsOf('cancelRender').map((c) => [c.token, c.args[1]])).toEqual([['nmv_usr_anon1', renderIdFor(jobId, 1)]]);
    expect(f.nemo.count('getRender')).toBe(0);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('canceled');
    expect(job.error).toEqual({ code: 'CANCELED', message: 'canceled by the caller', retryable: false });
    expect(f.afterEvents.map((e) => e.type)).toEqual(['job.canceled']);
  });

  it('cancels a job with no render without any upstream call, even before it started', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    await f.requestCancel(jobId);

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    expect(f.nemo.calls).toEqual([]);
    expect((await f.record(jobId)).job.status).toBe('canceled');
    expect((await f.store.events(jobId)).map((e) => e.type)).toEqual(['job.canceled']); // never started
  });

  it('still cancels the job when the upstream refuses to cancel the render', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    f.nemo.script('cancelRender', new NemoError('transient', 'render_cancel', 'render_cancel: HTTP 502', { httpStatus: 502 }));
    await f.requestCancel(jobId);

    await f.run(jobId);

    expect((await f.record(jobId)).job.status).toBe('canceled');
  });

  it('cancels mid-stream: the step is cut off, the checkpoint saved (message marked sent), the job canceled', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const controller = new AbortController();
    f.nemo.script('runAgent', async () => {
      await f.requestCancel(jobId);
      controller.abort(new Error('canceled'));
      throw new DOMException('This operation was aborted', 'AbortError');
    });

    expect(await f.run(jobId, { signal: controller.signal })).toEqual({ kind: 'finished' });

    expect((await f.record(jobId)).job.status).toBe('canceled');
    expect((await f.flow(jobId)).inflight?.index).toBe(0); // sent: never to be sent again
    expect(f.visited()).not.toContain('reconcile');
    expect(f.nemo.count('cancelRender')).toBe(0);
    // The step cut off by the cancel is counted (nemo_relay_flow_step_duration_seconds) as aborted, not as an error.
    expect(f.steps.at(-1)).toEqual({ step: 'generate', outcome: 'aborted' });
  });

  it('hands the job back (wait 0) on an abort without a cancel, before running anything', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    const controller = new AbortController();
    controller.abort(new Error('worker shutting down'));

    expect(await f.run(jobId, { signal: controller.signal })).toEqual({
      kind: 'wait',
      delayMs: 0,
      step: 'render_poll',
      reason: 'aborted without a cancel',
    });
    expect(f.nemo.calls).toEqual([]);
    expect((await f.record(jobId)).job.status).toBe('running');
  });

  it('hands back a job whose upload a shutdown cuts off: the upload gets the run’s signal and the run ends at once', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { sources: [{ url: 'https://media.example/a.mp4' }] } });
    const controller = new AbortController();
    f.nemo.script('uploadUrls', async (_token: unknown, _session: unknown, urls: string[], opts?: { signal?: AbortSignal }) => {
      // A slow upload: ends when its caller gives up, or (not given the run's signal) a second later, and the run goes on.
      await new Promise<void>((resolve, reject) => {
        const later = setTimeout(resolve, 1_000);
        opts?.signal?.addEventListener('abort', () => (clearTimeout(later), reject(opts.signal!.reason as Error)), { once: true });
      });
      return urls.map((u) => ({ filename: 'a.mp4', fileType: 'video', cdnUrl: u }));
    });
    setTimeout(() => controller.abort(new Error('worker shutting down')), 50);
    const started = Date.now();

    expect(await f.run(jobId, { signal: controller.signal })).toEqual({ kind: 'wait', delayMs: 0, step: 'upload', reason: 'aborted without a cancel' });
    expect(Date.now() - started).toBeLessThan(800);
    expect(f.steps.at(-1)).toEqual({ step: 'upload', outcome: 'aborted' });
    expect((await f.flow(jobId)).uploaded).toBe(false);
  });

  it('hands back a job aborted mid-stream by a shutdown; the next run reconciles instead of re-sending', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    const controller = new AbortController();
    f.nemo.script('runAgent', async (_t, sessionId) => {
      f.nemo.agentEdits(sessionId);
      controller.abort(new Error('worker shutting down'));
      throw new DOMException('This operation was aborted', 'AbortError');
    });

    expect(await f.run(jobId, { signal: controller.signal })).toEqual({ kind: 'wait', delayMs: 0, step: 'generate', reason: 'aborted without a cancel' });
    expect((await f.flow(jobId)).inflight?.index).toBe(0);

    const results = await f.drive(jobId);
    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.count('runAgent')).toBe(1);
    expect(f.visited()).toContain('reconcile');
  });

  it('canceling a job of a tenant with its own upstream account cancels its render with that account’s token', async () => {
    // machine.ts calls cancelUpstreamWork(deps, …) with the service's deps, not the run's stepDeps, so the cancel
    // goes out with the default account's token (and uncounted); the upstream would refuse it and the render runs on.
    const f = createFakeFlow();
    f.tenantAccounts.set('globex', f.makeAccount('tenant-globex', { tokenPrefix: 'nmv_usr_globex' }));
    const jobId = await renderingJob(f, { tenant: 'globex' });
    await f.requestCancel(jobId);

    await f.run(jobId);

    expect((await f.record(jobId)).job.status).toBe('canceled');
    expect(f.nemo.callsOf('cancelRender').map((c) => c.token)).toEqual(['nmv_usr_globex1']);
  });

  it('fails a job of a tenant with its own account, and cancels its render, with that account’s token', async () => {
    // The failure path goes through the run's own deps (contrast with the cancel path above).
    const f = createFakeFlow();
    f.tenantAccounts.set('globex', f.makeAccount('tenant-globex', { tokenPrefix: 'nmv_usr_globex' }));
    const jobId = await renderingJob(f, { tenant: 'globex', ageMs: MAX_RENDER_WAIT_MS + 1 });
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'processing', progress: 10 }));

    await f.run(jobId);

    expect(f.accountLookups).toEqual(['globex']);
    expect(f.nemo.calls.map((c) => `${c.method}:${c.token}`)).toEqual(['getRender:nmv_usr_globex1', 'cancelRender:nmv_usr_globex1']);
  });
});

describe('runFlow: the render', () => {
  it('fails RENDER_FAILED when the upstream render failed, with nothing left to cancel', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'failed', error: 'encoder crashed' }));

    expect(await f.run(jobId)).toEqual({ kind: 'finished' });

    expect((await f.record(jobId)).job.error).toEqual({ code: 'RENDER_FAILED', message: 'the upstream render failed: encoder crashed', retryable: false });
    expect(f.nemo.count('cancelRender')).toBe(0);
  });

  it('fails RENDER_FAILED when a render is reported complete without an output URL', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'completed', progress: 100 }));

    await f.run(jobId);

    expect((await f.record(jobId)).job.error?.message).toBe('the upstream reported the render complete without an output URL');
  });

  it('fails UPSTREAM_TIMEOUT and cancels the upstream render after MAX_RENDER_WAIT_MS', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f, { ageMs: MAX_RENDER_WAIT_MS + 1 });
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'processing', progress: 99 }));

    await f.run(jobId);

    expect((await f.record(jobId)).job.error).toEqual({ code: 'UPSTREAM_TIMEOUT', message: 'the render did not finish within 30 minutes', retryable: true });
    expect(f.nemo.callsOf('cancelRender').map((c) => c.args[1])).toEqual([renderIdFor(jobId, 1)]);
  });

  it('retries a poll that finds no render (404) with backoff, never submitting again', async () => {
    const f = createFakeFlow();
    const jobId = await renderingJob(f);
    f.nemo.script('getRender', notFound(), notFound());

    const results = await f.drive(jobId);

    expect(results.map((r) => r.kind === 'wait' && r.step)).toEqual(['render_poll', 'render_poll', false]);
    expect(f.nemo.count('submitRender')).toBe(0);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('takes a duplicate id as its own render when the lookup finds it: one submit, the same id', async () => {
    const f = createFakeFlow();
    const jobId = await submittingJob(f);
    const first = renderIdFor(jobId, 1);
    f.nemo.script('submitRender', duplicate());
    f.nemo.script('getRender', renderStatus({ id: first, status: 'processing', progress: 20 }));

    const result = await f.run(jobId);

    expect(result).toMatchObject({ kind: 'wait', step: 'render_poll', reason: 'render running' });
    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id)).toEqual([first]);
    expect(f.nemo.callsOf('getRender').map((c) => c.args[1])).toEqual([first]);
    expect((await f.record(jobId)).job.upstream.render_id).toBe(first);
  });

  it('submits under a second id when the duplicate is not its own', async () => {
    const f = createFakeFlow();
    const jobId = await submittingJob(f);
    f.nemo.script('submitRender', duplicate());
    f.nemo.script('getRender', notFound());

    const results = await f.drive(jobId);

    const second = renderIdFor(jobId, 2);
    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id)).toEqual([renderIdFor(jobId, 1), second]);
    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.upstream.render_id).toBe(second);
    expect(job.result?.url).toContain(second);
    // The refused submit made no render.
    expect(job.usage.renders).toBe(1);
  });

  it('does not submit a refused id again when its lookup failed (the token expired) and the step was retried', async () => {
    const f = createFakeFlow();
    const jobId = await submittingJob(f);
    f.nemo.script('submitRender', duplicate());
    const expired = new NemoError('auth', 'render_poll', 'render_poll: HTTP 401 code 1001: token expired', { httpStatus: 401, upstreamCode: 1001 });
    f.nemo.script('getRender', expired, notFound());

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const [first, second] = [renderIdFor(jobId, 1), renderIdFor(jobId, 2)];
    expect(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id)).toEqual([first, second]);
    const job = (await f.record(jobId)).job;
    expect(job.upstream.render_id).toBe(second);
    expect(job.usage.renders).toBe(1);
  });

  it('never uses a third id: duplicates on both are retried until UPSTREAM_ERROR', async () => {
    const f = createFakeFlow();
    const jobId = await submittingJob(f);
    f.nemo.always('submitRender', duplicate());
    f.nemo.always('getRender', notFound());

    const results = await f.drive(jobId);

    const ids = new Set(f.nemo.callsOf('submitRender').map((c) => (c.args[1] as { id: string }).id));
    expect(ids).toEqual(new Set([renderIdFor(jobId, 1), renderIdFor(jobId, 2)]));
    expect(results.filter((r) => r.kind === 'wait')).toHaveLength(MAX_STEP_RETRIES);
    expect((await f.record(jobId)).job.error).toMatchObject({ code: 'UPSTREAM_ERROR', retryable: true });
    // Every submit was refused: no render was made.
    expect((await f.record(jobId)).job.usage.renders).toBe(0);
  });

  it('counts one render when a submit that failed (5xx) made nothing and the next one went through', async () => {
    const f = createFakeFlow();
    const jobId = await submittingJob(f);
    f.nemo.script('submitRender', new NemoError('transient', 'render_submit', 'render_submit: HTTP 502', { httpStatus: 502 }));
    f.nemo.script('getRender', notFound());

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.count('submitRender')).toBe(2);
    expect((await f.record(jobId)).job.usage.renders).toBe(1);
  });

  it('a job that failed after submitting a render shows the render in usage.renders', async () => {
    // flow.usage.renders is copied to job.usage only by the finish step: a failed render reads "renders: 0".
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(jobId, 1), status: 'failed', error: 'encoder crashed' }));

    await f.drive(jobId);

    expect((await f.record(jobId)).job.error?.code).toBe('RENDER_FAILED');
    expect((await f.flow(jobId)).usage.renders).toBe(1);
    expect((await f.record(jobId)).job.usage.renders).toBe(1);
  });
});

describe('runFlow: copying the output (mirror)', () => {
  async function mirroredJob() {
    const storage = fakeOutputs();
    const f = createFakeFlow({ outputs: storage.outputs });
    const jobId = await renderingJob(f);
    storage.objects.set(outputKey('acme', jobId), { sizeBytes: 77, sha256: 'cd'.repeat(32) });
    return { f, jobId, storage };
  }

  it('goes from a completed render to mirror, then to finish with the stored copy as the result', async () => {
    const { f, jobId, storage } = await mirroredJob();

    expect(await f.drive(jobId)).toEqual([{ kind: 'finished' }]);

    expect(f.visited()).toEqual(['render_poll', 'mirror', 'finish']);
    expect(storage.links).toEqual([jobId]);
    expect((await f.record(jobId)).job.result).toMatchObject({ size_bytes: 77, sha256: 'cd'.repeat(32), stored_at: expect.any(String) });
  });

  it('retries a storage failure that may pass, on the mirror step only', async () => {
    const { f, jobId, storage } = await mirroredJob();
    storage.headErrors.push(new StorageError('STORAGE_FAILED', 'disk busy'));

    const results = await f.drive(jobId);

    expect(results[0]).toMatchObject({ kind: 'wait', step: 'mirror', reason: 'disk busy' });
    expect(f.nemo.count('getRender')).toBe(1);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('fails with the storage error’s own code, leaving the finished render alone', async () => {
    const { f, jobId, storage } = await mirroredJob();
    storage.headErrors.push(new StorageError('STORAGE_KEY_INVALID', 'bad key'));

    expect(await f.drive(jobId)).toEqual([{ kind: 'finished' }]);

    expect((await f.record(jobId)).job.error).toMatchObject({ code: 'STORAGE_KEY_INVALID', retryable: false });
    expect((await f.record(jobId)).job.error!.message).toMatch(/^bad key\. The video was rendered/);
    expect(f.nemo.count('cancelRender')).toBe(0);
  });

  it('says while it backs off why the job waits and what it cost; failing at last, it is not retryable (the render is paid)', async () => {
    const { f, jobId, storage } = await mirroredJob();
    for (let i = 0; i <= MAX_STEP_RETRIES; i++) storage.headErrors.push(new StorageError('OUTPUT_FETCH_FAILED', 'the output URL answered 502', { retryable: true }));

    expect(await f.run(jobId)).toMatchObject({ kind: 'wait', step: 'mirror' });
    const waiting = (await f.record(jobId)).job;
    expect(waiting.waiting).toMatchObject({ reason: 'upstream_retry', message: `the output URL answered 502; try 2 of ${MAX_STEP_RETRIES + 1} in ${waiting.waiting!.message.match(/in (\d+) s$/)![1]} s` });
    // Usage so far (the render poll), not the zeroes a running job's record held until it ended.
    expect(waiting.usage.upstream_calls).toBe(1);

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.error).toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: false });
    expect(job.error!.message).toContain(`The video was rendered (render ${renderIdFor(jobId, 1)}, its credits spent), so submitting the job again pays for it again`);
    expect(job.error!.message).toContain("the upstream's own link, while it lasts: ");
  });

  it('a storage outage: the caller reads no path or bucket while it waits or at the end, and still learns the render is paid and where the video is', async () => {
    const { f, jobId, storage } = await mirroredJob();
    const detail = 'writing the output to /srv/nemo/outputs/acme failed (ENOSPC)';
    for (let i = 0; i <= MAX_STEP_RETRIES; i++) storage.headErrors.push(new StorageError('STORAGE_FAILED', detail));

    expect(await f.run(jobId)).toMatchObject({ kind: 'wait', step: 'mirror' });
    const waiting = (await f.record(jobId)).job.waiting!;
    expect(waiting.message).toMatch(/^the service's output storage could not be used \(the operator's logs say why\); try 2 of/);

    expect((await f.drive(jobId)).at(-1)).toEqual({ kind: 'finished' });
    const job = (await f.record(jobId)).job;
    expect(job.error).toMatchObject({ code: 'STORAGE_FAILED', retryable: false });
    expect(job.error!.message).not.toMatch(/srv|ENOSPC|retry later/);
    expect(job.error!.message).toMatch(/^the service's output storage could not be used \(the operator's logs say why\)\. The video was rendered \(render /);
    expect(job.error!.message).toContain("the upstream's own link, while it lasts: ");
  });
});

describe('runFlow: errors that are nobody’s decision', () => {
  it('saves the checkpoint and throws an unexpected error, for the queue to retry the run', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('createSession', new TypeError('undefined is not a function'));

    await expect(f.run(jobId)).rejects.toThrow('undefined is not a function');

    expect(f.steps.at(-1)).toEqual({ step: 'session', outcome: 'error' });
    expect(f.journal.at(-1)).toBe('flow:save:session');
    expect((await f.record(jobId)).job.status).toBe('running');
  });

  it('a store error while recording a credits wait is thrown for a retry, not written as a code-less job error', async () => {
    // handleFailure's out_of_credits branch casts whatever creditsWait throws to AppError: a Redis error from its
    // job.waiting write becomes job.error {code: undefined, retryable: undefined}, which jobErrorSchema rejects, so the
    // stored record no longer parses (JobStore.get would throw for it from then on).
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('runAgent', () => {
      f.store.failNextUpdate(new Error('redis down')); // the job.waiting write of the credits wait
      throw new NemoError('no_credits', 'run_sse', 'code 2001', { httpStatus: 200, upstreamCode: 2001, phase: 'before_stream' });
    });

    const outcome = await f.run(jobId).then(
      () => 'returned',
      (err: Error) => err.message,
    );

    const job = (await f.record(jobId)).job;
    expect(jobErrorSchema.nullable().safeParse(JSON.parse(JSON.stringify(job.error ?? null))).success).toBe(true);
    expect([outcome, job.status]).toEqual(['redis down', 'running']);
  });
});
