// NemoVideo simulator: every fault kind, over real HTTP, plus work that outlives a dropped client.
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEFAULT_RETRY_AFTER_MS } from '../../src/nemo/errors.js';
import { waitFor } from '../helpers/wait.js';
import { makeClient } from '../unit/nemo-test-server.js';
import { SKILL_HEADERS, adkEvents, call, events, getState, newSession, runSse, simSuite, uploadFiles, uploadUrls } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

const credits = async (token: string) =>
  (await call<{ data: { available: number; frozen: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token })).json.data;

describe('sim faults: gateway and envelope', () => {
  it('token_expired kills the token for good; the same client id then gets a fresh token for the same user', async () => {
    const { token, sessionId, clientId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'token_expired', endpoint: 'state' });
    const first = await getState(suite.base, token, sessionId);
    expect(first.status).toBe(401);
    expect(first.json).toMatchObject({ code: 1001, message: 'token invalid or expired' });
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).json).toMatchObject({ code: 1001 });
    const again = await call<{ data: { token: string } }>(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': clientId } });
    expect(again.json.data.token).not.toBe(token);
    expect((await getState(suite.base, again.json.data.token, sessionId)).json.code).toBe(0);
    expect(suite.sim.log.entries().find((e) => e.endpoint === 'state')!.fault).toBe('token_expired');
  });

  it('session_lost: 1002 on REST, the 404 detail on run_sse; the session is gone', async () => {
    const a = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'session_lost', endpoint: 'state' });
    expect(await getState(suite.base, a.token, a.sessionId)).toMatchObject({ status: 404, json: { code: 1002 } });
    expect(suite.sim.session(a.sessionId)).toBeUndefined();
    const b = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'session_lost', sessionId: b.sessionId });
    const s = await runSse(suite.base, b.token, b.sessionId, 'make a video');
    expect(s.status).toBe(404);
    expect(JSON.parse(s.text)).toEqual({ detail: `Session not found: ${b.sessionId}` });
  });

  it('rate_limited honours after/times and sets Retry-After', async () => {
    const { token } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', after: 1, times: 2, retryAfterSec: 7 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(suite.base, 'GET', '/api/credits/balance/simple', { token });
      statuses.push(r.status);
      if (r.status === 429) {
        expect(r.headers['retry-after']).toBe('7');
        expect(r.json).toMatchObject({ code: 429 });
      }
    }
    expect(statuses).toEqual([200, 429, 429, 200]);
  });

  it('rate_limited can give Retry-After as an HTTP-date; the client waits until then', async () => {
    const { token } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: 90, retryAfterForm: 'date' });
    const r = await call(suite.base, 'GET', '/api/credits/balance/simple', { token });
    expect(r.status).toBe(429);
    const at = Date.parse(String(r.headers['retry-after']));
    expect(at - Date.now()).toBeGreaterThan(85_000);
    expect(at - Date.now()).toBeLessThanOrEqual(90_000);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: 90, retryAfterForm: 'date' });
    const err = (await makeClient(suite.base).getCredits(token).catch((e: unknown) => e)) as { kind: string; retryAfterMs: number };
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBeGreaterThan(85_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(90_000);
    expect(() => suite.sim.injectFault({ kind: 'server_error', retryAfterForm: 'date' })).toThrow(/rate_limited only/);
  });

  it('rate_limited can come without Retry-After, and as the envelope code 429 on HTTP 200; the client reads both as a 429 of 30 s', async () => {
    const { token } = await newSession(suite.base);
    const client = makeClient(suite.base);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: null });
    const bare = await call(suite.base, 'GET', '/api/credits/balance/simple', { token });
    expect([bare.status, bare.headers['retry-after']]).toEqual([429, undefined]);
    suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: null });
    await expect(client.getCredits(token)).rejects.toMatchObject({ kind: 'rate_limited', retryAfterMs: DEFAULT_RETRY_AFTER_MS });

    suite.sim.setScenario({ httpLikeCodes: 'body' });
    try {
      suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: null });
      const inBody = await call(suite.base, 'GET', '/api/credits/balance/simple', { token });
      expect(inBody.status).toBe(200);
      expect(inBody.json).toMatchObject({ code: 429 });
      suite.sim.injectFault({ kind: 'rate_limited', endpoint: 'credits', retryAfterSec: null });
      await expect(client.getCredits(token)).rejects.toMatchObject({ kind: 'rate_limited', retryAfterMs: DEFAULT_RETRY_AFTER_MS });
    } finally {
      suite.sim.setScenario({ httpLikeCodes: 'status' });
    }
  });

  it('server_error answers an HTML page, then truncated JSON', async () => {
    const { token } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'server_error', endpoint: 'credits', status: 503, times: 2 });
    const bodies = [await call(suite.base, 'GET', '/api/credits/balance/simple', { token }), await call(suite.base, 'GET', '/api/credits/balance/simple', { token })];
    expect(bodies.map((b) => b.status)).toEqual([503, 503]);
    expect(bodies.filter((b) => b.text.includes('<html>'))).toHaveLength(1);
    const truncated = bodies.find((b) => !b.text.includes('<html>'))!;
    expect(truncated.json).toBeUndefined();
    expect(truncated.headers['content-type']).toMatch(/application\/json/);
  });

  it('network_drop destroys the socket without an answer', async () => {
    suite.sim.injectFault({ kind: 'network_drop', endpoint: 'anonymous_token' });
    await expect(call(suite.base, 'POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'x' } })).rejects.toThrow();
    expect(suite.sim.log.entries()[0]).toMatchObject({ endpoint: 'anonymous_token', status: 0, fault: 'network_drop', clientId: 'x' });
  });

  it('slow delays the answer', async () => {
    const { token } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'slow', endpoint: 'credits', delayMs: 150 });
    const t0 = Date.now();
    expect((await call(suite.base, 'GET', '/api/credits/balance/simple', { token })).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('no_credits: 2001 and a zero balance; natural exhaustion also ends at 0', async () => {
    const a = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'no_credits' });
    expect(await runSse(suite.base, a.token, a.sessionId, 'make a video')).toMatchObject({ status: 403 });
    expect(await credits(a.token)).toMatchObject({ available: 0 });
    expect(suite.sim.log.entries().find((e) => e.endpoint === 'run_sse')).toMatchObject({ message: 'make a video', status: 403, fault: 'no_credits' });
    suite.sim.setScenario({ anonCredits: 150, errorHttpStatus: 'always200', errorMessageKey: 'msg' });
    const b = await newSession(suite.base);
    await runSse(suite.base, b.token, b.sessionId, 'make a video');
    await runSse(suite.base, b.token, b.sessionId, 'add music');
    const out = await runSse(suite.base, b.token, b.sessionId, 'add a title');
    expect(out.status).toBe(200);
    expect(JSON.parse(out.text)).toMatchObject({ code: 2001, msg: 'insufficient credits' });
    expect(await credits(b.token)).toEqual({ available: 0, frozen: 0, total: 0 });
  });

  it('unsupported_file and file_too_large on upload', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'unsupported_file' });
    expect((await uploadUrls(suite.base, token, sessionId, ['https://example.com/a.jpg'])).json.code).toBe(4001);
    suite.sim.injectFault({ kind: 'file_too_large' });
    const res = await uploadFiles(suite.base, token, sessionId, [['a.mp4', Buffer.alloc(2048)]]);
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ code: 4002 });
    expect(suite.sim.session(sessionId)!.state.video_infos).toHaveLength(0);
  });
});

describe('sim faults: render', () => {
  async function withDraft() {
    const s = await newSession(suite.base);
    await runSse(suite.base, s.token, s.sessionId, 'make a video');
    return { ...s, draft: (await getState(suite.base, s.token, s.sessionId)).json.data.state.draft };
  }

  it('export_blocked, and the natural 402 for anonymous calls without X-Skill-* headers', async () => {
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'export_blocked' });
    const blocked = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'x1', sessionId, draft } });
    expect(blocked.status).toBe(402);
    expect(blocked.json).toMatchObject({ success: false, error: expect.stringMatching(/^free plan export blocked/) });
    const res = await request(`${suite.base}/api/render/proxy/lambda`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x2', sessionId, draft }),
    });
    expect(res.statusCode).toBe(402);
    await res.body.dump();
  });

  it('render_failed and render_duplicate_id', async () => {
    const { token, sessionId, draft } = await withDraft();
    suite.sim.injectFault({ kind: 'render_duplicate_id' });
    const dup = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'brand_new', sessionId, draft } });
    expect(dup).toMatchObject({ status: 409, json: { success: false, error: 'render id brand_new already exists' } });
    suite.sim.injectFault({ kind: 'render_failed' });
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'doomed', sessionId, draft } });
    const done = await waitFor(async () => {
      const r = await call<{ data: { status: string; error?: string } }>(suite.base, 'GET', '/api/render/proxy/lambda/doomed', { token });
      return r.json.data.status === 'failed' ? r.json.data : undefined;
    });
    expect(done.error).toMatch(/render failed/);
  });
});

describe('sim faults: the agent stream', () => {
  it('stream_drop: the client sees the socket die, the work still lands in state', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'stream_drop', sessionId });
    const s = await runSse(suite.base, token, sessionId, 'make a 15s video with music');
    expect(s.error).toBeDefined();
    expect(adkEvents(s.text)).toHaveLength(1);
    const draft = await waitFor(async () => {
      const st = await getState(suite.base, token, sessionId);
      return st.json.data.state.draft?.t.length === 2 ? st.json.data.state.draft : undefined;
    });
    expect(draft.d).toBe(15_000);
    await waitFor(() => !suite.sim.session(sessionId)!.busy);
    expect(await credits(token)).toMatchObject({ available: 9900, frozen: 0 });
    expect(suite.sim.log.count('run_sse', { sessionId })).toBe(1);
  });

  it('a client that hangs up on its own does not stop the work either', async () => {
    suite.sim.setScenario({ generateMs: 500_000 }); // 0.5 s real, so the checks below run before it lands
    const { token, sessionId } = await newSession(suite.base);
    const ac = new AbortController();
    const res = await request(`${suite.base}/run_sse`, {
      method: 'POST',
      signal: ac.signal,
      headers: { ...SKILL_HEADERS, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text: 'make a video' }] } }),
    });
    for await (const _chunk of res.body) break;
    ac.abort();
    expect(suite.sim.session(sessionId)!.state.draft).toBeNull();
    expect((await credits(token)).frozen).toBe(100);
    await waitFor(() => suite.sim.session(sessionId)!.state.draft !== null);
  });

  it('stream_error writes old ADK\'s invalid JSON line and changes nothing', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a video');
    const before = (await getState(suite.base, token, sessionId)).json.data.state.draft;
    suite.sim.injectFault({ kind: 'stream_error' });
    const s = await runSse(suite.base, token, sessionId, 'add music');
    expect(s.error).toBeUndefined();
    expect(s.text.endsWith('data: {"error": "Tool "edit_multitrack" failed: boom"}\n\n')).toBe(true);
    expect((await getState(suite.base, token, sessionId)).json.data.state.draft).toEqual(before);
    await waitFor(() => !suite.sim.session(sessionId)!.busy);
    expect(await credits(token)).toMatchObject({ available: 9900, frozen: 0 });
  });

  it('stream_error_json and agent_error_event', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a video');
    suite.sim.injectFault({ kind: 'stream_error_json' });
    const j = await runSse(suite.base, token, sessionId, 'add music');
    expect(events(j.text).at(-1)).toEqual({ error: 'Tool "edit_multitrack" failed: boom' });
    suite.sim.injectFault({ kind: 'agent_error_event' });
    const e = adkEvents((await runSse(suite.base, token, sessionId, 'add music')).text);
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({ errorCode: 'MALFORMED_FUNCTION_CALL' });
    expect(e[0]!.content).toBeUndefined();
    expect(suite.sim.session(sessionId)!.state.draft!.t).toHaveLength(1);
  });

  it('heartbeats_only: nothing but keep-alives until the client leaves; nothing changes', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'heartbeats_only' });
    const ac = new AbortController();
    const res = await request(`${suite.base}/run_sse`, {
      method: 'POST',
      signal: ac.signal,
      headers: { ...SKILL_HEADERS, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text: 'make a video' }] } }),
    });
    let text = '';
    for await (const chunk of res.body) {
      text += Buffer.from(chunk as Uint8Array).toString();
      if (text.split('\n\n').length > 5) break;
    }
    ac.abort();
    expect(adkEvents(text)).toHaveLength(0);
    await waitFor(() => !suite.sim.session(sessionId)!.busy);
    expect(suite.sim.session(sessionId)!.state.draft).toBeNull();
    expect(await credits(token)).toMatchObject({ available: 10_000, frozen: 0 });
  });
});
