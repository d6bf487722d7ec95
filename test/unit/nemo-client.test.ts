// NemoClient REST calls against a real local server: envelopes, headers, the §1 error table, render poll shapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NemoError } from '../../src/nemo/errors.js';
import { caught, json, makeClient, SKILL, startServer, TOKEN, type TestServer } from './nemo-test-server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv.close();
});

describe('envelopes and normalisation', () => {
  it('unwraps {code,data} and {success,data}', async () => {
    const client = makeClient(srv.url);
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { available: 25000, frozen: 40, total: 25040 } }));
    expect(await client.getCredits(TOKEN)).toEqual({ available: 25000, frozen: 40, total: 25040 });
    srv.handle((_q, res) => json(res, 200, { success: true, data: { id: 'render_1', status: 'pending', progress: 5 } }));
    const st = await client.submitRender(TOKEN, { id: 'render_1', sessionId: 's1', draft: { t: [] }, output: { format: 'mp4', quality: 'high' } });
    expect(st).toEqual({ id: 'render_1', status: 'pending', progress: 5, url: null, error: null, durationMs: null, sizeBytes: null, renderMs: null });
    expect(JSON.parse(srv.requests.at(-1)!.body.toString())).toEqual({
      id: 'render_1', sessionId: 's1', draft: { t: [] }, output: { format: 'mp4', quality: 'high' },
    });
  });

  it('normalises both render poll shapes (§2.8 a and b)', async () => {
    const client = makeClient(srv.url);
    const url = 'https://static1.nemovideo.ai/render-result/render_x.mp4';
    srv.handle((_q, res) =>
      json(res, 200, { success: true, data: { id: 'render_x', status: 'completed', progress: 100, outputUrl: url, createdAt: 1, completedAt: 2 } }),
    );
    expect(await client.getRender(TOKEN, 'render_x')).toEqual({
      id: 'render_x', status: 'completed', progress: 100, url, error: null, durationMs: null, sizeBytes: null, renderMs: 1,
    });
    srv.handle((_q, res) =>
      json(res, 200, { taskId: 'render_x', status: 'completed', progress: 100, output: { url, duration: 30.5, size: 15728640 } }),
    );
    expect(await client.getRender(TOKEN, 'render_x')).toEqual({
      id: 'render_x', status: 'completed', progress: 100, url, error: null, durationMs: 30500, sizeBytes: 15728640, renderMs: null,
    });
    srv.handle((_q, res) => json(res, 200, { success: true, data: { id: 'render_x', status: 'failed', progress: 40, error: 'invalid draft' } }));
    expect(await client.getRender(TOKEN, 'render_x')).toMatchObject({ status: 'failed', error: 'invalid draft', url: null });
    expect(srv.requests.at(-1)!.url).toBe('/api/render/proxy/lambda/render_x');
  });

  it('parses state, keeps a 19-digit numeric session id exact and accepts uploaded_files[].url', async () => {
    const client = makeClient(srv.url);
    srv.handle((_q, res) =>
      json(res, 200, '{"code":0,"data":{"session_id":5529798706024415232,"task_id":"task_1","state":{"draft":{"t":[{"tt":0,"sg":[{"d":1}]}],"d":1},"video_infos":[]}}}'),
    );
    const state = await client.getState(TOKEN, '5529798706024415232');
    expect(state.sessionId).toBe('5529798706024415232');
    expect(state.taskId).toBe('task_1');
    expect(state.draft?.t?.[0]?.sg).toHaveLength(1);
    expect(state.raw.state).toBeTruthy();
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { uploaded_files: [{ url: 'https://cdn.example/a%20b.jpg' }] } }));
    expect(await client.uploadUrls(TOKEN, 's1', ['https://example.com/a.jpg'])).toEqual([
      { filename: 'a b.jpg', fileType: 'image', cdnUrl: 'https://cdn.example/a%20b.jpg' },
    ]);
    expect(JSON.parse(srv.requests.at(-1)!.body.toString())).toEqual({ urls: ['https://example.com/a.jpg'], source_type: 'url' });
    // §6.9: an upload the upstream has not applied to the session's state yet says so; only an explicit false counts.
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { files: [{ filename: 'a.jpg', cdn_url: 'https://c/a.jpg' }], session_state_applied: false } }));
    expect(await client.uploadUrls(TOKEN, 's1', ['https://example.com/a.jpg'])).toEqual([
      { filename: 'a.jpg', fileType: 'image', cdnUrl: 'https://c/a.jpg', statePending: true },
    ]);
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { files: [{ filename: 'a.jpg', cdn_url: 'https://c/a.jpg' }], session_state_applied: 'no' } }));
    expect((await client.uploadUrls(TOKEN, 's1', ['https://example.com/a.jpg']))[0]).not.toHaveProperty('statePending');
  });
});

describe('headers', () => {
  it('sends X-Skill-* on every call, Bearer everywhere except anonymous-token, X-Client-Id there', async () => {
    const calls: string[] = [];
    const client = makeClient(srv.url, { onCall: (endpoint, outcome) => calls.push(`${endpoint}:${outcome}`) });
    srv.handle((req, res) => {
      const u = req.url ?? '';
      if (u.includes('anonymous-token')) return json(res, 200, { code: 0, data: { token: TOKEN, user_id: 'anon_1', expires_at: '2030-01-01T00:00:00Z', credits: 100 } });
      if (u.includes('with-session')) return json(res, 200, { code: 0, data: { task_id: 'task_1', session_id: '5529798706024415232' } });
      if (u.includes('claim-token')) return json(res, 200, { code: 0, data: { claim_token: 'clm_abc', expires_in: 604800 } });
      if (u.includes('credits')) return json(res, 200, { code: 0, data: { available: 1, frozen: 0, total: 1 } });
      if (u.includes('upload-video')) return json(res, 200, { code: 0, data: { files: [{ filename: 'v.mp4', file_type: 'video', cdn_url: 'https://c/v.mp4', duration: 3 }] } });
      if (u.includes('/state/')) return json(res, 200, { code: 0, data: { session_id: 's', state: {} } });
      return json(res, 200, { success: true, data: { id: 'r', status: 'processing', progress: 10 } });
    });
    const from = srv.requests.length;
    expect(await client.anonymousToken('client-1')).toEqual({ token: TOKEN, userId: 'anon_1', expiresAt: '2030-01-01T00:00:00Z', credits: 100 });
    expect(await client.createSession(TOKEN, { language: 'en' })).toEqual({ taskId: 'task_1', sessionId: '5529798706024415232' });
    expect(await client.claimToken(TOKEN, 'task_1', 's')).toEqual({ claimToken: 'clm_abc', expiresIn: 604800 });
    await client.getCredits(TOKEN);
    expect(await client.uploadUrls(TOKEN, 's', ['https://x/v.mp4'])).toEqual([{ filename: 'v.mp4', fileType: 'video', cdnUrl: 'https://c/v.mp4', durationS: 3 }]);
    await client.getState(TOKEN, 's');
    await client.submitRender(TOKEN, { id: 'r', sessionId: 's', draft: {}, output: { format: 'mp4', quality: 'high' } });
    await client.getRender(TOKEN, 'r');
    await client.cancelRender(TOKEN, 'r');
    const reqs = srv.requests.slice(from);
    expect(reqs).toHaveLength(9);
    for (const r of reqs) {
      expect(r.headers['x-skill-source']).toBe(SKILL.source);
      expect(r.headers['x-skill-version']).toBe(SKILL.version);
      expect(r.headers['x-skill-platform']).toBe(SKILL.platform);
      if (r.url === '/api/auth/anonymous-token') {
        expect(r.headers.authorization).toBeUndefined();
        expect(r.headers['x-client-id']).toBe('client-1');
      } else {
        expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      }
    }
    expect(reqs.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /api/auth/anonymous-token',
      'POST /api/tasks/me/with-session/nemo_agent',
      'POST /api/auth/claim-token',
      'GET /api/credits/balance/simple',
      'POST /api/upload-video/nemo_agent/me/s',
      'GET /api/state/nemo_agent/me/s/latest',
      'POST /api/render/proxy/lambda',
      'GET /api/render/proxy/lambda/r',
      'POST /api/render/proxy/lambda/r/cancel',
    ]);
    expect(JSON.parse(reqs[1]!.body.toString())).toEqual({ task_name: 'project', language: 'en' });
    expect(JSON.parse(reqs[2]!.body.toString())).toEqual({ task_id: 'task_1', session_id: 's' });
    expect(calls).toEqual([
      'anonymous_token:ok', 'create_session:ok', 'claim_token:ok', 'credits:ok', 'upload:ok', 'state:ok',
      'render_submit:ok', 'render_poll:ok', 'render_cancel:ok',
    ]);
  });
});

type Row = [label: string, call: 'credits' | 'state' | 'submit' | 'poll' | 'anon', status: number, body: unknown, kind: string];
const ROWS: Row[] = [
  ['HTTP 200 with code 1001', 'credits', 200, { code: 1001, message: 'token expired' }, 'auth'],
  ['code 1010', 'credits', 200, { code: 1010, message: 'x' }, 'auth'],
  ['code 1011 as a string', 'credits', 200, { code: '1011', message: 'x' }, 'auth'],
  ['HTTP 401', 'credits', 401, { detail: 'unauthorized' }, 'auth'],
  ['code 1002', 'state', 200, { code: 1002, msg: 'session not found' }, 'session_missing'],
  ['HTTP 404 Session not found', 'state', 404, { detail: 'Session not found: 552979' }, 'session_missing'],
  ['HTTP 404 session not found on render submit', 'submit', 404, { success: false, error: 'session not found' }, 'session_missing'],
  ['code 2001', 'credits', 200, { code: 2001, message: 'no credits' }, 'no_credits'],
  ['HTTP 402', 'submit', 402, { success: false, error: 'free plan export blocked' }, 'export_blocked'],
  ['code 4001', 'state', 200, { code: 4001, message: 'unsupported' }, 'unsupported_media'],
  ['code 4002', 'state', 200, { code: 4002, message: 'too big' }, 'media_too_large'],
  ['HTTP 413 HTML', 'state', 413, '<html>413 Request Entity Too Large</html>', 'media_too_large'],
  ['code 429', 'credits', 200, { code: 429, message: 'slow down' }, 'rate_limited'],
  ['HTTP 408', 'credits', 408, { message: 'timeout' }, 'transient'],
  ['HTTP 503 HTML', 'credits', 503, '<html><body>Service Unavailable</body></html>', 'transient'],
  ['HTTP 500 broken JSON', 'credits', 500, '{"code": 500, "message": ', 'transient'],
  ['HTTP 200 not JSON', 'credits', 200, '<html>maintenance</html>', 'transient'],
  ['HTTP 409 on render submit', 'submit', 409, { success: false, error: 'conflict' }, 'duplicate_render'],
  ['duplicate id text with HTTP 200', 'submit', 200, { success: false, error: 'Render id already exists' }, 'duplicate_render'],
  ['HTTP 404 on render poll', 'poll', 404, { success: false, error: 'gone' }, 'not_found'],
  ['HTTP 400 missing client id', 'anon', 400, { code: 400, message: 'X-Client-Id header required' }, 'rejected'],
  ['HTTP 422 FastAPI detail', 'state', 422, { detail: [{ loc: ['body', 'language'], msg: 'field required', type: 'missing' }] }, 'rejected'],
  ['success:false with HTTP 200', 'submit', 200, { success: false, error: 'invalid draft' }, 'rejected'],
  ['plain 404 on state', 'state', 404, { detail: 'Not Found' }, 'rejected'],
  ['code 0 with the wrong shape', 'credits', 200, { code: 0, data: { balance: 'lots' } }, 'rejected'],
];

describe('error mapping (§1 table)', () => {
  const invoke = (call: Row[1]) => {
    const client = makeClient(srv.url);
    const draft = { id: 'render_1', sessionId: 's', draft: {}, output: { format: 'mp4', quality: 'high' } };
    return {
      credits: () => client.getCredits(TOKEN),
      state: () => client.getState(TOKEN, 's'),
      submit: () => client.submitRender(TOKEN, draft),
      poll: () => client.getRender(TOKEN, 'render_1'),
      anon: () => client.anonymousToken('c'),
    }[call];
  };

  for (const [label, call, status, body, kind] of ROWS) {
    it(`${label} → ${kind}`, async () => {
      srv.handle((_q, res) => {
        res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      });
      const err = await caught(invoke(call));
      expect(err).toBeInstanceOf(NemoError);
      expect(err.kind).toBe(kind);
      // A shape mismatch is found after the HTTP exchange succeeded; it carries no status.
      expect(err.httpStatus).toBe(label === 'code 0 with the wrong shape' ? undefined : status);
      expect(err.phase).toBe('n/a');
    });
  }

  it('reads Retry-After as seconds, as an HTTP date, or defaults to 30 s', async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    for (const [header, min, max] of [['7', 7000, 7000], [at, 115_000, 121_000], [undefined, 30_000, 30_000]] as const) {
      srv.handle((_q, res) => json(res, 429, { message: 'rate limited' }, header ? { 'retry-after': header } : {}));
      const err = await caught(() => makeClient(srv.url).getCredits(TOKEN));
      expect(err.kind).toBe('rate_limited');
      expect(err.retryAfterMs).toBeGreaterThanOrEqual(min);
      expect(err.retryAfterMs).toBeLessThanOrEqual(max);
    }
  });

  it('takes the message from message, msg, error or detail, and joins detail arrays', async () => {
    const bodies = [
      [{ code: 7, message: 'from-message' }, 'from-message'],
      [{ code: 7, msg: 'from-msg' }, 'from-msg'],
      [{ success: false, error: 'from-error' }, 'from-error'],
      [{ detail: 'from-detail' }, 'from-detail'],
      [{ detail: [{ msg: 'first bad' }, { msg: 'second bad' }] }, 'first bad; second bad'],
    ] as const;
    for (const [body, text] of bodies) {
      srv.handle((_q, res) => json(res, 'detail' in body ? 400 : 200, body));
      const err = await caught(() => makeClient(srv.url).getCredits(TOKEN));
      expect(err.message).toContain(text);
    }
  });

  it('maps a reset connection and a refused connection to transient', async () => {
    srv.handle((req) => void req.socket.destroy(), { raw: true });
    const reset = await caught(() => makeClient(srv.url).getCredits(TOKEN));
    expect(reset).toMatchObject({ kind: 'transient', endpoint: 'credits' });
    const refused = await caught(() => makeClient('http://127.0.0.1:1').getCredits(TOKEN));
    expect(refused).toMatchObject({ kind: 'transient' });
  });

  it('never lets the token into an error message, even when the upstream echoes it', async () => {
    srv.handle((req, res) => json(res, 200, { code: 1001, message: `token ${req.headers.authorization} is invalid (${TOKEN})` }));
    const err = await caught(() => makeClient(srv.url).getCredits(TOKEN));
    expect(err.kind).toBe('auth');
    expect(err.message).not.toContain('TESTSECRET');
    expect(String(err.stack)).not.toContain('TESTSECRET');
    expect(JSON.stringify({ ...err })).not.toContain('TESTSECRET');
  });

  it('reports failures to onCall with their kind', async () => {
    const seen: string[] = [];
    srv.handle((_q, res) => json(res, 200, { code: 2001, message: 'broke' }));
    await caught(() => makeClient(srv.url, { onCall: (e, o) => seen.push(`${e}:${o}`) }).getCredits(TOKEN));
    expect(seen).toEqual(['credits:no_credits']);
  });
});
