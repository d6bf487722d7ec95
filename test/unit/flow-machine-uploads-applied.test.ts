// runFlow over in-memory fakes: an upload the upstream has not applied to the session's state yet holds the first message.
import { describe, expect, it } from 'vitest';
import { UPLOADS_APPLIED_MAX_WAIT_MS, UPLOADS_APPLIED_RECHECK_MS } from '../../src/flow/uploads-applied.js';
import { advanceClock, CDN, createFakeFlow, useFakeClock, type FakeFlow } from '../helpers/fake-flow.js';

useFakeClock();

const SOURCES = [{ url: 'https://media.example/a.jpg' }, { url: 'https://media.example/b.jpg' }];

/** The upload answers session_state_applied: false; state lists the files only after `listAfterReads` reads. */
function lateUploads(f: FakeFlow, listAfterReads: number): void {
  f.nemo.script('uploadUrls', (_token, sessionId, urls) =>
    urls.map((u) => ({ filename: u.split('/').pop()!, fileType: 'image', cdnUrl: `${CDN}/${sessionId}/${u.split('/').pop()}`, statePending: true as const })),
  );
  let reads = 0;
  const original = f.nemo.getState.bind(f.nemo);
  f.nemo.getState = async (token: string, sessionId: string) => {
    reads += 1;
    if (reads === listAfterReads) f.nemo.content(sessionId).video_infos.push({ filename: 'a.jpg' }, { filename: 'b.jpg' });
    return original(token, sessionId);
  };
}

describe('runFlow: uploads the upstream has not taken in yet', () => {
  it('waits (state read again every few seconds) until state lists every uploaded file, then sends the instruction', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { sources: SOURCES } });
    lateUploads(f, 3);

    const first = await f.run(jobId);
    expect(first).toEqual({ kind: 'wait', delayMs: UPLOADS_APPLIED_RECHECK_MS, step: 'generate', reason: 'waiting for the upstream to take in the uploaded files' });
    expect(f.nemo.count('runAgent')).toBe(0);
    expect((await f.record(jobId)).job.waiting).toMatchObject({ reason: 'upstream_uploads', message: 'waiting for the upstream to take in the uploaded files (0 of 2 listed so far)' });

    const rest = await f.drive(jobId);

    expect(rest.at(-1)).toEqual({ kind: 'finished' });
    const sendAt = f.nemo.calls.findIndex((c) => c.method === 'runAgent');
    // Three reads before the instruction: two found the files missing, the third listed them.
    expect(f.nemo.calls.slice(0, sendAt).filter((c) => c.method === 'getState')).toHaveLength(3);
    const job = (await f.record(jobId)).job;
    expect(job.status).toBe('succeeded');
    expect(job.waiting).toBeNull();
    expect((await f.flow(jobId)).uploads_pending_since).toBeUndefined();
  });

  it('sends anyway once it has waited UPLOADS_APPLIED_MAX_WAIT_MS (what it did before it waited at all)', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { sources: SOURCES } });
    lateUploads(f, Number.POSITIVE_INFINITY);

    expect(await f.run(jobId)).toMatchObject({ kind: 'wait', step: 'generate' });
    advanceClock(UPLOADS_APPLIED_MAX_WAIT_MS);
    const rest = await f.drive(jobId);

    expect(rest.at(-1)).toEqual({ kind: 'finished' });
    expect(f.nemo.count('runAgent')).toBe(1);
    expect((await f.record(jobId)).job.status).toBe('succeeded');
  });

  it('does not wait (nor read state more) when the upload did not say it was pending', async () => {
    const f = createFakeFlow();
    const jobId = await f.addJob({ job: { sources: SOURCES } });

    const results = await f.drive(jobId);

    expect(results.at(-1)).toEqual({ kind: 'finished' });
    expect(results.some((r) => r.kind === 'wait' && r.step === 'generate')).toBe(false);
    const sendAt = f.nemo.calls.findIndex((c) => c.method === 'runAgent');
    expect(f.nemo.calls.slice(0, sendAt).filter((c) => c.method === 'getState')).toHaveLength(1);
  });
});
