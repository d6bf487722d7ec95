// runFlow over in-memory fakes: the happy path through every step, and resuming from every checkpoint.
import { describe, expect, it } from 'vitest';
import { knownFingerprint, knownStateOf } from '../../src/flow/known-state.js';
import { renderIdFor } from '../../src/flow/steps/render-submit.js';
import { STEPS, type FlowState, type Step } from '../../src/flow/state.js';
import { outputKey } from '../../src/storage/keys.js';
import {
  advanceClock,
  CDN,
  completedRender,
  createFakeFlow,
  draftWith,
  fakeOutputs,
  renderStatus,
  useFakeClock,
  type FakeFlow,
} from '../helpers/fake-flow.js';

useFakeClock();

describe('runFlow: the happy path', () => {
  it('runs every step in order and returns each render poll as a wait', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({
      job: { sources: [{ url: 'https://media.example/beach.mp4' }], followups: ['Add calm music', 'Add the title "Beach"'] },
    });
    const renderId = renderIdFor(jobId, 1);
    f.nemo.script('getRender', renderStatus({ id: renderId, status: 'processing', progress: 40 }), completedRender(renderId));

    const results = await f.drive(jobId);

    expect(results).toEqual([
      { kind: 'wait', delayMs: 2_000, step: 'render_poll', reason: 'render running' },
      { kind: 'wait', delayMs: 3_000, step: 'render_poll', reason: 'render processing at 40%' },
      { kind: 'finished' },
    ]);
    expect(f.visited()).toEqual([
      'auth',
      'session',
      'upload',
      'generate',
      'generate',
      'generate',
      'generate', // no message left: on to check
      'check',
      'render_submit',
      'render_poll',
      'render_poll',
      'finish',
    ]);
    expect(f.steps.every((s) => s.outcome === 'ok')).toBe(true);
    expect(f.nemo.calls.map((c) => `${c.step}:${c.method}`)).toEqual([
      'session:createSession',
      'upload:uploadUrls',
      'generate:getState', // the state before the first message (a new session)
      'generate:runAgent',
      'generate:getState', // no stateDelta: the state after it is read
      'generate:runAgent',
      'generate:getState',
      'generate:runAgent',
      'generate:getState',
      'check:getState',
      'render_submit:submitRender',
      'render_poll:getRender',
      'render_poll:getRender',
    ]);
    const job = await f.record(jobId);
    const [instruction, ...followups] = f.nemo.callsOf('runAgent').map((c) => c.args[2]);
    expect([instruction, ...followups]).toEqual(['Make a short clip of the beach', 'Add calm music', 'Add the title "Beach"']);
    expect(f.nemo.callsOf('uploadUrls')[0]!.args[2]).toEqual(['https://media.example/beach.mp4']);
    expect(f.nemo.callsOf('submitRender')[0]!.args[1]).toMatchObject({ id: renderId, sessionId: 'sess_1', output: { format: 'mp4', quality: 'high', resolution: '1080p' } });

    expect(job.job).toMatchObject({
      status: 'succeeded',
      stage: 'done',
      progress: 100,
      error: null,
      waiting: null,
      upstream: { task_id: 'task_1', session_id: 'sess_1', render_id: renderId },
      messages: ['done: Make a short clip of the beach', 'done: Add calm music', 'done: Add the title "Beach"'],
      messages_sent: ['Make a short clip of the beach', 'Add calm music', 'Add the title "Beach"'],
      result: {
        url: `${CDN}/renders/${renderId}.mp4`,
        upstream_url: `${CDN}/renders/${renderId}.mp4`,
        timeline: 'Timeline (2 tracks): 1. Video (3 segments, 6.0s) 2. BGM (1 segment, 2.0s)',
        duration_ms: 6_000,
        size_bytes: 123_456,
        checks: [{ name: 'resolution', wanted: '1080p', got: '1080p', ok: true }],
        conformant: true,
        sha256: null,
        stored_at: null,
      },
    });
    expect(job.job.changes.map((c) => [c.message, c.from_agent_text])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    // Each change says how many of the agent's messages answered its message: together, all of them, in order.
    expect(job.job.changes.every((c) => (c.answers ?? 0) > 0)).toBe(true);
    expect(job.job.changes.reduce((n, c) => n + c.answers!, 0)).toBe(job.job.messages.length);
    // 13 upstream requests plus the two balance reads (before and after), each a cache miss here.
    expect(f.balance.reads).toHaveLength(2);
    expect(job.job.usage).toEqual({ messages_sent: 3, renders: 1, upstream_calls: 15, credits_before: 1000, credits_after: 1000 });
    expect(job.job.usage.upstream_calls).toBe(f.nemo.calls.length + f.balance.reads.length);
    expect((await f.flow(jobId)).usage).toEqual({ upstream_calls: 15, messages_sent: 3, renders: 1 });

    // Progress events are throttled (the clock stood still until the first poll wait).
    expect((await f.store.events(jobId)).map((e) => e.type)).toEqual(['job.started', 'job.progress', 'job.progress', 'job.succeeded']);
    expect(f.afterEvents.map((e) => e.type)).toEqual(['job.started', 'job.progress', 'job.progress', 'job.succeeded']);
    expect(f.afterEvents.at(-1)!.status).toBe('succeeded');
    // The message is marked sent (a durable save) before each send; every save of this run was unfenced.
    expect(f.flows.saves.filter((s) => s.durable)).toHaveLength(3);
    const sends = f.journal.flatMap((e, i) => (e === 'nemo:runAgent' ? [f.journal[i - 1]] : []));
    expect(sends).toEqual(['flow:save:generate', 'flow:save:generate', 'flow:save:generate']);
    expect(f.accountLookups).toEqual(['acme', 'acme', 'acme']);
  });

  it('records how long the render took, so the next job aims its first poll at that', async () => {
    const f = createFakeFlow();
    const first = await f.addJob();
    f.nemo.script('getRender', renderStatus({ id: renderIdFor(first, 1), progress: 50 }));
    await f.drive(first);
    // Polled at 2 s (50 %) and seen done at 5 s: it most likely finished a little before, at 4.85 s.
    expect(await f.deps.renderStats.expectedMs()).toBe(4_850);

    const second = await f.addJob();
    const [wait] = await f.drive(second);
    expect(wait).toEqual({ kind: 'wait', delayMs: 3_880, step: 'render_poll', reason: 'render running' }); // 4.85 s × 0.8 (FIRST_POLL_FRACTION)
  });

  it("records the upstream's own render time when the poll answer has it (createdAt, completedAt)", async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    f.nemo.script('getRender', { ...completedRender(renderIdFor(jobId, 1)), renderMs: 1_234 });
    await f.drive(jobId);
    expect(await f.deps.renderStats.expectedMs()).toBe(1_234);
  });

  it('a render seen done only after a long outage does not raise the average its first poll was aimed at', async () => {
    const f = createFakeFlow();
    await f.deps.renderStats.record(2_000);
    const jobId = await f.addJob();
    // Run as BullMQ would, until the job parks for its first poll; then nobody polls for 80 s (no worker up).
    let result = await f.run(jobId);
    while (result.kind === 'wait' && result.step !== 'render_poll') {
      advanceClock(result.delayMs);
      result = await f.run(jobId);
    }
    expect(result).toMatchObject({ kind: 'wait', step: 'render_poll' });
    advanceClock(80_000);
    await f.drive(jobId);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
    expect(await f.deps.renderStats.expectedMs()).toBe(2_000);
  });

  it('streams staged files and converted HEIC URLs to the multipart upload, and removes the converted file', async () => {
    const f = createFakeFlow();
    const uploadId = 'upl_01JAAAAAAAAAAAAAAAAAAAAAAA';
    f.staged.set(uploadId, { uploadId, filename: 'logo.png', contentType: 'image/png', size: 4, open: () => undefined as never });
    const jobId = await f.addJob({
      job: { sources: [{ url: 'https://media.example/a.mp4' }, { url: 'https://media.example/photo.heic' }, { upload_id: uploadId }] },
    });
    await f.drive(jobId);

    expect(f.nemo.callsOf('uploadUrls')[0]!.args[2]).toEqual(['https://media.example/a.mp4']);
    const files = f.nemo.callsOf('uploadFiles')[0]!.args[2] as { filename: string }[];
    expect(files.map((x) => x.filename)).toEqual(['photo.jpg', 'logo.png']);
    expect(f.urlFetches).toEqual([{ url: 'https://media.example/photo.heic', field: 'sources.1.url', cleanedUp: true }]);
    expect((await f.flow(jobId)).uploads.map((u) => u.filename)).toEqual(['a.mp4', 'photo.jpg', 'logo.png']);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('uploads mixed sources in the caller’s order (a slideshow keeps its order): one call per run of one kind', async () => {
    const f = createFakeFlow();
    const [first, last] = ['upl_01JAAAAAAAAAAAAAAAAAAAAAA1', 'upl_01JAAAAAAAAAAAAAAAAAAAAAA2'];
    f.staged.set(first, { uploadId: first, filename: 'one.jpg', contentType: 'image/jpeg', size: 4, open: () => undefined as never });
    f.staged.set(last, { uploadId: last, filename: 'five.png', contentType: 'image/png', size: 4, open: () => undefined as never });
    const jobId = await f.addJob({
      job: {
        sources: [
          { upload_id: first },
          { url: 'https://media.example/two.jpg' },
          { url: 'https://media.example/three.webp' },
          { url: 'https://media.example/four.heic' },
          { upload_id: last },
        ],
      },
    });
    await f.drive(jobId);

    expect(f.nemo.calls.filter((c) => c.method === 'uploadUrls' || c.method === 'uploadFiles').map((c) => c.method)).toEqual([
      'uploadFiles',
      'uploadUrls',
      'uploadFiles',
    ]);
    expect((await f.flow(jobId)).uploads.map((u) => u.filename)).toEqual(['one.jpg', 'two.jpg', 'three.webp', 'four.jpg', 'five.png']);
    expect(f.urlFetches).toEqual([{ url: 'https://media.example/four.heic', field: 'sources.3.url', cleanedUp: true }]);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });
});

// ------------------------------------------------------------------------------------------------------------------
// Resume from every checkpoint
// ------------------------------------------------------------------------------------------------------------------

const SESSION = { task_id: 'task_r', session_id: 'sess_r' };
const UPLOADS = [{ filename: 'beach.mp4', fileType: 'video', cdnUrl: `${CDN}/sess_r/beach.mp4` }];
const DRAFT = draftWith(2);

/** A checkpoint as the previous worker left it just before running `step` (one message, one URL source). */
function checkpointAt(f: FakeFlow, step: Step, jobId: string): Partial<FlowState> {
  const now = Date.now();
  const renderId = renderIdFor(jobId, 1);
  const drafted = { draft: DRAFT, generated_media: null, video_infos: 0 };
  const render = {
    id: renderId,
    attempt: 1,
    attempted: true,
    submitted: true,
    submitted_at: new Date(now).toISOString(),
    polls: 0,
    samples: [{ at: now, progress: 0 }],
    timeline: 'Timeline (1 track): 1. Video (2 segments, 4.0s)',
    draft_duration_ms: 4_000,
  };
  const url = completedRender(renderId).url!;
  const result = { url, upstream_url: url, timeline: render.timeline, duration_ms: 4_000, size_bytes: 123_456, checks: [], conformant: null, sha256: null, stored_at: null };
  const started = { session: SESSION, uploaded: true, uploads: UPLOADS };
  const sent = { ...started, next_message: 1, known: drafted };
  switch (step) {
    case 'auth':
      return {};
    case 'session':
      return { step };
    case 'upload':
      return { step, session: SESSION };
    case 'generate':
      return { step, ...started };
    case 'reconcile': {
      // The message was sent and the stream broke: the draft it made is there, the state before it was empty.
      const before = knownStateOf({ sessionId: SESSION.session_id, taskId: null, draft: null, raw: { state: {} } });
      f.nemo.setDraft(SESSION.session_id, DRAFT);
      return { step, ...started, known: before, inflight: { index: 0, sent_at: new Date(now).toISOString(), fingerprint_before: knownFingerprint(before), agent_error: null } };
    }
    case 'check':
      return { step, ...sent };
    case 'render_submit':
      return { step, ...sent, checks: { checks: [], conformant: null } };
    case 'render_poll':
      return { step, ...sent, render };
    case 'mirror':
    case 'finish':
      return { step, ...sent, render, result };
  }
}

describe('runFlow: resuming from every checkpoint', () => {
  const before = (a: Step, b: Step) => STEPS.indexOf(a) <= STEPS.indexOf(b);

  it.each(STEPS.map((s) => [s]))('from %s: runs only what is left and succeeds', async (step) => {
    const storage = fakeOutputs();
    const f = createFakeFlow({ outputs: storage.outputs });
    const jobId = await f.addJob({ job: { sources: [{ url: 'https://media.example/beach.mp4' }], status: 'running', stage: 'auth' } });
    f.flows.put(jobId, { ...(await f.flow(jobId)), ...checkpointAt(f, step, jobId) });
    f.nemo.setDraft(SESSION.session_id, DRAFT);
    // The mirror step keeps a complete copy it finds (as after a crash right after the copy), so no byte is fetched.
    storage.objects.set(outputKey('acme', jobId), { sizeBytes: 99, sha256: 'ab'.repeat(32) });

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(f.visited()[0]).toBe(step);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(f.nemo.count('createSession')).toBe(before(step, 'session') ? 1 : 0);
    expect(f.nemo.count('uploadUrls')).toBe(before(step, 'upload') ? 1 : 0);
    // A message marked in flight (reconcile) is learned from state, never sent again.
    expect(f.nemo.count('runAgent')).toBe(before(step, 'generate') ? 1 : 0);
    expect(f.nemo.count('submitRender')).toBe(before(step, 'render_submit') ? 1 : 0);
    expect(job.result!.upstream_url).toBe(completedRender(renderIdFor(jobId, 1)).url);
    if (before(step, 'mirror')) {
      // With output storage the result points at the stored copy.
      expect(f.visited()).toContain('mirror');
      expect(job.result).toMatchObject({ url: `https://relay.example/v1/jobs/${jobId}/output?sig=test`, size_bytes: 99, sha256: 'ab'.repeat(32) });
    } else {
      expect(job.result!.url).toBe(job.result!.upstream_url);
    }
  });

  it('has a checkpoint fixture for every step (a new step must be added here)', () => {
    const f = createFakeFlow();
    for (const step of STEPS) expect(() => checkpointAt(f, step, 'job_01JAAAAAAAAAAAAAAAAAAAAAAA')).not.toThrow();
  });

  it('never re-sends a message marked in flight: generate hands it to reconcile, then sends the next one', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { followups: ['Now add music'], status: 'running' } });
    const before = knownStateOf({ sessionId: 'sess_r', taskId: null, draft: null, raw: { state: {} } });
    f.flows.put(jobId, {
      ...(await f.flow(jobId)),
      step: 'generate',
      session: SESSION,
      uploaded: true,
      known: before,
      inflight: { index: 0, sent_at: new Date().toISOString(), fingerprint_before: knownFingerprint(before), agent_error: null },
    });
    // The first message did its work (both stages: the video and its music) before the worker died.
    f.nemo.setDraft('sess_r', { ...DRAFT, t: [...DRAFT.t!, { tt: 1, sg: [{ id: 'bgm1', d: 4_000, src: `${CDN}/bgm.mp3` }] }] });

    const results = await f.drive(jobId);

    expect(results[0]).toEqual({ kind: 'wait', delayMs: 100, step: 'reconcile', reason: 'state changed; confirming' });
    expect(f.visited().slice(0, 4)).toEqual(['generate', 'reconcile', 'reconcile', 'generate']);
    expect(f.nemo.callsOf('runAgent').map((c) => c.args[2])).toEqual(['Now add music']);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.changes.map((c) => [c.message, c.from_agent_text])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it('looks a render up before submitting again when the last submit may have reached the upstream', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { status: 'running' } });
    const renderId = renderIdFor(jobId, 1);
    f.nemo.setDraft('sess_r', DRAFT);
    f.flows.put(jobId, {
      ...(await f.flow(jobId)),
      step: 'render_submit',
      session: SESSION,
      uploaded: true,
      next_message: 1,
      render: { id: renderId, attempt: 1, attempted: true, submitted: false, submitted_at: null, polls: 0, samples: [], timeline: 't', draft_duration_ms: null },
    });
    f.nemo.script('getRender', renderStatus({ id: renderId, status: 'processing', progress: 30 }));

    const results = await f.drive(jobId);

    expect(f.nemo.count('submitRender')).toBe(0);
    expect(f.nemo.callsOf('getRender').map((c) => `${c.step}:${c.args[1]}`)).toEqual([`render_submit:${renderId}`, `render_poll:${renderId}`]);
    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect((await f.record(jobId)).job.upstream.render_id).toBe(renderId);
  });

  it('fails INTERNAL when the checkpoint is gone, and does nothing for a job that is gone', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob();
    (f.flows as unknown as { stored: Map<string, string> }).stored.delete(jobId);
    expect(await f.run(jobId)).toEqual({ kind: 'finished' });
    expect((await f.record(jobId)).job.error).toEqual({ code: 'INTERNAL', message: 'the job lost its flow state', retryable: false });

    expect(await f.run('job_01JZZZZZZZZZZZZZZZZZZZZZZZ')).toEqual({ kind: 'finished' });
    expect(f.nemo.calls).toEqual([]);
  });

  it('only queues the deliveries of a job that has already ended', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { status: 'succeeded', stage: 'done' } });
    expect(await f.run(jobId)).toEqual({ kind: 'finished' });
    expect(f.deliveries).toEqual([jobId]);
    expect(f.steps).toEqual([]);
    expect(f.nemo.calls).toEqual([]);
  });
});
