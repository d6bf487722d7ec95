// Render proxy refusals from the simulator in both status dialects (4xx, or HTTP 200 with errorHttpStatus always200) give NemoClient the same kinds.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { SimScenario } from '../../src/sim/index.js';
import { waitFor } from '../helpers/wait.js';
import { caught, makeClient } from '../unit/nemo-test-server.js';
import { SKILL_HEADERS, call, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

const DIALECTS: { name: string; scenario: Partial<SimScenario>; status: (wire: number) => number }[] = [
  { name: 'statuses (default)', scenario: {}, status: (wire) => wire },
  // §6.1: whether the proxy's {success:false,error} comes with a non-200 status is unknown.
  { name: 'always HTTP 200', scenario: { errorHttpStatus: 'always200', httpLikeCodes: 'body' }, status: () => 200 },
];

async function withDraft() {
  const s = await newSession(suite.base);
  await runSse(suite.base, s.token, s.sessionId, 'make a video');
  return { ...s, draft: (await getState(suite.base, s.token, s.sessionId)).json.data.state.draft };
}

describe.each(DIALECTS)('render proxy refusals, $name', ({ scenario, status }) => {
  const submit = (token: string, sessionId: string, draft: unknown, id = `r_${Math.random().toString(36).slice(2)}`) =>
    makeClient(suite.base).submitRender(token, { id, sessionId, draft, output: { format: 'mp4', quality: 'high' } });

  it('session not found on submit (lost, or never there) → session_missing', async () => {
    suite.sim.setScenario(scenario);
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'session_lost', endpoint: 'render_submit' });
    expect(await caught(() => submit(token, sessionId, draft))).toMatchObject({ kind: 'session_missing', httpStatus: status(404) });
    const other = await withDraft();
    expect(await caught(() => submit(other.token, '7777777777777777777', other.draft))).toMatchObject({
      kind: 'session_missing',
      httpStatus: status(404),
    });
  });

  it('export blocked (the fault, and an anonymous call without X-Skill-*) → export_blocked', async () => {
    suite.sim.setScenario(scenario);
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'export_blocked' });
    const err = await caught(() => submit(token, sessionId, draft));
    expect(err).toMatchObject({ kind: 'export_blocked', httpStatus: status(402) });
    expect(err.message).toMatch(/free plan export blocked/);
    const bare = await request(`${suite.base}/api/render/proxy/lambda`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'bare', sessionId, draft }),
    });
    expect(bare.statusCode).toBe(status(402));
    expect(await bare.body.json()).toMatchObject({ success: false, error: expect.stringMatching(/export blocked/) });
  });

  it('insufficient credits on export → no_credits (what 2001 is, §1)', async () => {
    suite.sim.setScenario(scenario);
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'no_credits', endpoint: 'render_submit' });
    expect(await caught(() => submit(token, sessionId, draft))).toMatchObject({ kind: 'no_credits', httpStatus: status(403) });
  });

  it('a duplicate id → duplicate_render', async () => {
    suite.sim.setScenario(scenario);
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'render_duplicate_id' });
    expect(await caught(() => submit(token, sessionId, draft, 'dup_1'))).toMatchObject({ kind: 'duplicate_render', httpStatus: status(409) });
  });

  it('an unknown render on poll and cancel → not_found; the download refuses it the same way', async () => {
    suite.sim.setScenario(scenario);
    const { token } = await newSession(suite.base);
    const client = makeClient(suite.base);
    expect(await caught(() => client.getRender(token, 'nope'))).toMatchObject({ kind: 'not_found', httpStatus: status(404) });
    expect(await caught(() => client.cancelRender(token, 'nope'))).toMatchObject({ kind: 'not_found', httpStatus: status(404) });
    const dl = await call(suite.base, 'GET', '/api/render/proxy/nope/download', { token });
    expect(dl).toMatchObject({ status: status(404), json: { success: false, error: 'render not found' } });
  });

  it('a bad request and a cancel too late stay rejected; a completed render still polls and cancels as before', async () => {
    suite.sim.setScenario(scenario);
    const { token, sessionId, draft } = await withDraft();
    const client = makeClient(suite.base);
    const bad = await caught(() => client.submitRender(token, { id: 'res', sessionId, draft, output: { format: 'mp4', quality: 'high', resolution: '4k' } }));
    expect(bad).toMatchObject({ kind: 'rejected', httpStatus: status(400) });
    await submit(token, sessionId, draft, 'fine');
    await waitFor(async () => (await client.getRender(token, 'fine')).status === 'completed');
    expect(await caught(() => client.cancelRender(token, 'fine'))).toMatchObject({ kind: 'rejected', httpStatus: status(409) });
    const dl = await request(`${suite.base}/api/render/proxy/fine/download`, { headers: { ...SKILL_HEADERS, authorization: `Bearer ${token}` } });
    expect(dl.statusCode).toBe(200);
    expect(Buffer.from(await dl.body.arrayBuffer()).subarray(4, 8).toString('latin1')).toBe('ftyp');
  });
});
