// The simulator's render poll shape `remotion` (protocol §4: getRenderProgress passed through) and NemoClient reading it.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { waitFor } from '../helpers/wait.js';
import { makeClient } from '../unit/nemo-test-server.js';
import { call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

type Raw = { success: boolean; data: Record<string, unknown> & { overallProgress: number; done: boolean; outputFile: string | null } };

async function withDraft() {
  const s = await newSession(suite.base);
  await runSse(suite.base, s.token, s.sessionId, 'make a 10s video');
  return { ...s, draft: (await getState(suite.base, s.token, s.sessionId)).json.data.state.draft };
}

describe('sim: render poll shape remotion', () => {
  it('answers submit and poll with the raw progress object (no status, no id) until done with an outputFile', async () => {
    // 3 s real: room to see it running, and pending for its first 300 ms, so the submit's answer is pending on a busy machine too
    suite.sim.setScenario({ renderShape: 'remotion', renderMs: 3_000_000 });
    const { token, sessionId, draft } = await withDraft();
    const client = makeClient(suite.base);
    const sub = await call<Raw>(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'rr_1', sessionId, draft } });
    expect(sub.json).toMatchObject({ success: true, data: { overallProgress: 0.05, done: false, outputFile: null, errors: [], fatalErrorEncountered: false } });
    expect(sub.json.data.status).toBeUndefined();
    expect(sub.json.data.id).toBeUndefined();
    const running = await waitFor(async () => {
      const r = await call<Raw>(suite.base, 'GET', '/api/render/proxy/lambda/rr_1', { token });
      return r.json.data.overallProgress > 0.2 && !r.json.data.done ? r.json.data : undefined;
    });
    expect(running).toMatchObject({ outputFile: null, fatalErrorEncountered: false, costs: { currency: 'USD' } });
    const mid = await client.getRender(token, 'rr_1');
    expect(mid).toMatchObject({ id: 'rr_1', url: null, error: null });
    expect(['processing', 'completed']).toContain(mid.status);

    const done = await waitFor(async () => {
      const st = await client.getRender(token, 'rr_1');
      return st.status === 'completed' ? st : undefined;
    }, { what: 'render rr_1' });
    expect(done).toMatchObject({ id: 'rr_1', progress: 100, url: `${suite.base}/render-result/rr_1.mp4`, error: null });
    expect(done.renderMs).toBe(3000);
    const raw = await call<Raw>(suite.base, 'GET', '/api/render/proxy/lambda/rr_1', { token });
    expect(raw.json.data).toMatchObject({ overallProgress: 1, done: true, outputFile: done.url, outputSizeInBytes: done.sizeBytes });
    const mp4 = await request(done.url!);
    const bytes = Buffer.from(await mp4.body.arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(bytes.length).toBe(done.sizeBytes);
  });

  it('a failing render is fatalErrorEncountered with its message in errors[0]; the client reads it as failed', async () => {
    suite.sim.setScenario({ renderShape: 'remotion' });
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'render_failed' });
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'rr_bad', sessionId, draft } });
    const client = makeClient(suite.base);
    const failed = await waitFor(async () => {
      const st = await client.getRender(token, 'rr_bad');
      return st.status === 'failed' ? st : undefined;
    }, { what: 'render rr_bad' });
    expect(failed).toMatchObject({ url: null, error: 'render failed: Lambda function timed out' });
    const raw = await call<Raw>(suite.base, 'GET', '/api/render/proxy/lambda/rr_bad', { token });
    expect(raw.json.data).toMatchObject({
      done: false,
      outputFile: null,
      fatalErrorEncountered: true,
      errors: [{ message: 'render failed: Lambda function timed out', isFatal: true, willRetry: false }],
    });
  });
});
