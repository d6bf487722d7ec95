// The protocol page's other variants (§2.2, §2.4, §3) the simulator can produce on request: uploaded_files[].url,
// create-session user_id, a forced FastAPI 422 on /run_sse, and ADK and typed events mixed in one stream.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { call, events, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';
import { makeClient } from '../unit/nemo-test-server.js';

const suite = simSuite();
const RUN = { idleMs: 5_000, maxMs: 10_000 };
/** Music and a title: a two-stage generation (two tool calls, two results) ending in text. */
const GENERATE = 'make a 10-second video of a city at dusk with lo-fi music and the title "Night Owls"';

type Raw = Record<string, unknown>;

const uploadPath = (sessionId: string) => `/api/upload-video/nemo_agent/me/${sessionId}`;

describe('sim uploadShape (§2.4)', () => {
  it("'uploaded_files' answers data.uploaded_files[] with url and no cdn_url; NemoClient's uploads read it", async () => {
    const { token, sessionId } = await newSession(suite.base);
    const byDefault = await call<{ data: Raw }>(suite.base, 'POST', uploadPath(sessionId), { token, body: { urls: ['https://example.com/a.mp4'] } });
    expect(Object.keys(byDefault.json.data).sort()).toEqual(['files', 'session_state_applied']);
    expect((byDefault.json.data.files as Raw[])[0]).toHaveProperty('cdn_url');

    suite.sim.setScenario({ uploadShape: 'uploaded_files' });
    const raw = await call<{ code: number; data: Raw }>(suite.base, 'POST', uploadPath(sessionId), { token, body: { urls: ['https://example.com/b.mp4'] } });
    expect(raw.json.code).toBe(0);
    expect(raw.json.data).not.toHaveProperty('files');
    const entry = (raw.json.data.uploaded_files as Raw[])[0]!;
    expect(entry).toMatchObject({ filename: 'b.mp4', file_type: 'video', url: expect.stringContaining('/cdn/') });
    expect(entry).not.toHaveProperty('cdn_url');

    const client = makeClient(suite.base);
    const byUrl = await client.uploadUrls(token, sessionId, ['https://example.com/c.png']);
    expect(byUrl).toEqual([expect.objectContaining({ filename: 'c.png', fileType: 'image', cdnUrl: expect.stringMatching(/\/cdn\/.+\/c\.png$/) })]);
    const bytes = Buffer.from('not really a video, judged by its name');
    const byFile = await client.uploadFiles(token, sessionId, [
      { filename: 'clip.mp4', contentType: 'video/mp4', size: bytes.length, open: () => Readable.from([bytes]) },
    ]);
    expect(byFile).toEqual([expect.objectContaining({ filename: 'clip.mp4', fileType: 'video', cdnUrl: expect.stringMatching(/\/cdn\/.+\/clip\.mp4$/) })]);
    const stored = suite.sim.session(sessionId)!.state.video_infos.map((v) => v.cdn_url);
    expect(stored).toEqual(expect.arrayContaining([byUrl[0]!.cdnUrl, byFile[0]!.cdnUrl]));
  });
});

describe('sim urlUploadApplyMs (§6.9)', () => {
  it('answers a URL upload at once with session_state_applied false, and lists its files in state only after the lag', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.setScenario({ urlUploadApplyMs: Math.round(400 / suite.sim.timeScale) }); // 400 ms real
    const client = makeClient(suite.base);
    const files = await client.uploadUrls(token, sessionId, ['https://example.com/late.jpg']);
    expect(files).toEqual([expect.objectContaining({ filename: 'late.jpg', statePending: true })]);
    expect(suite.sim.session(sessionId)!.state.video_infos).toEqual([]);
    // A multipart upload is not delayed (only URL uploads may be asynchronous).
    const bytes = Buffer.from('a file part');
    const sent = await client.uploadFiles(token, sessionId, [{ filename: 'now.png', contentType: 'image/png', size: bytes.length, open: () => Readable.from([bytes]) }]);
    expect(sent[0]).not.toHaveProperty('statePending');
    expect(suite.sim.session(sessionId)!.state.video_infos.map((v) => v.filename)).toEqual(['now.png']);
    await new Promise((r) => setTimeout(r, 600));
    expect(suite.sim.session(sessionId)!.state.video_infos.map((v) => v.filename)).toEqual(['now.png', 'late.jpg']);
  });
});

describe('sim sessionUserId (§2.2)', () => {
  it("adds the token's user_id to the create-session data only when set", async () => {
    const clientId = `client-${Math.random().toString(36).slice(2)}`;
    const tok = await call<{ data: { token: string; user_id: string } }>(suite.base, 'POST', '/api/auth/anonymous-token', {
      headers: { 'x-client-id': clientId },
    });
    const { token, user_id: userId } = tok.json.data;
    const create = () => call<{ data: Raw }>(suite.base, 'POST', '/api/tasks/me/with-session/nemo_agent', { token, body: { task_name: 'project', language: 'en' } });
    expect((await create()).json.data).not.toHaveProperty('user_id');

    suite.sim.setScenario({ sessionUserId: true });
    const data = (await create()).json.data;
    expect(data).toMatchObject({ user_id: userId, task_id: expect.any(String), session_id: expect.stringMatching(/^\d{19}$/) });
    expect(userId).toMatch(/^anon_/);
    const viaClient = await makeClient(suite.base).createSession(token, { language: 'en' });
    expect(viaClient.sessionId).toMatch(/^\d{19}$/);
  });
});

describe('sim fault run_sse_validation (§3)', () => {
  it('answers FastAPI 422 {detail:[{loc,msg,type}]} before any stream; nothing is recorded or charged; the next call streams', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'run_sse_validation' });
    const before = suite.sim.session(sessionId)!;
    const refused = await runSse(suite.base, token, sessionId, GENERATE);
    expect(refused.status).toBe(422);
    expect(refused.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(refused.text)).toEqual({ detail: [{ type: 'missing', loc: ['body', 'new_message'], msg: 'Field required' }] });
    const after = suite.sim.session(sessionId)!;
    expect([after.messages, after.runs]).toEqual([before.messages, before.runs]);
    const entry = suite.sim.log.entries().find((e) => e.endpoint === 'run_sse')!;
    expect(entry).toMatchObject({ status: 422, fault: 'run_sse_validation', sessionId });
    const credits = await call<{ data: { available: number; frozen: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token });
    expect(credits.json.data).toMatchObject({ available: suite.sim.scenario().anonCredits, frozen: 0 });

    suite.sim.injectFault({ kind: 'run_sse_validation', sessionId });
    await expect(makeClient(suite.base).runAgent(token, sessionId, GENERATE, RUN)).rejects.toThrow(/Field required/);
    const ok = await runSse(suite.base, token, sessionId, GENERATE);
    expect([ok.status, ok.contentType]).toEqual([200, 'text/event-stream; charset=utf-8']);
    expect(suite.sim.session(sessionId)!.runs).toHaveLength(1);
  });

  it('is pinned to run_sse: aimed at another endpoint it never fires', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'run_sse_validation', endpoint: 'state' });
    const state = await call(suite.base, 'GET', `/api/state/nemo_agent/me/${sessionId}/latest`, { token });
    expect([state.status, state.json.code]).toEqual([200, 0]);
    expect(suite.sim.faults()).toEqual([expect.objectContaining({ kind: 'run_sse_validation', times: 1 })]);
  });
});

/** The kinds of one stream's frames: 'adk:text', 'typed:tool_call', 'heartbeat'… (ADK events by their parts). */
function formsOf(raw: string): string[] {
  return events(raw).flatMap((e): string[] => {
    if (e.type === 'heartbeat') return ['heartbeat'];
    if (typeof e.type === 'string') return [`typed:${e.type}`];
    const parts = ((e.content as { parts?: Raw[] } | undefined)?.parts ?? []) as Raw[];
    return parts.map((p) => (p.functionResponse ? 'adk:tool_result' : p.functionCall ? 'adk:tool_call' : 'adk:text'));
  });
}

describe("sim eventStyle 'mixed' (§3)", () => {
  it('one stream carries text, tool calls and tool results in both forms, and heartbeats', async () => {
    suite.sim.setScenario({ eventStyle: 'mixed' });
    const { token, sessionId } = await newSession(suite.base);
    const forms = formsOf((await runSse(suite.base, token, sessionId, GENERATE)).text);
    for (const kind of ['text', 'tool_call', 'tool_result']) {
      expect(forms).toContain(`adk:${kind}`);
      expect(forms).toContain(`typed:${kind}`);
    }
    expect(forms).toContain('heartbeat');
    expect(forms.filter((f) => f !== 'heartbeat')).toEqual([
      'adk:text',
      'adk:tool_call',
      'adk:tool_result',
      'typed:tool_call',
      'typed:tool_result',
      'typed:text',
    ]);
  });

  it.each(['camel', 'snake'] as const)("%s: NemoClient reads a mixed stream as it reads the plain ADK one", async (eventCasing) => {
    const client = makeClient(suite.base);
    const summary = async (eventStyle: 'adk' | 'mixed') => {
      suite.sim.setScenario({ eventStyle, eventCasing });
      const { token, sessionId } = await newSession(suite.base);
      const runs = [];
      for (const text of [GENERATE, 'make it 9:16', 'what does it look like now?']) {
        const r = await client.runAgent(token, sessionId, text, RUN);
        expect(r.error).toBeNull();
        runs.push({ texts: r.texts, toolCalls: r.toolCalls, toolResults: r.toolResults, silent: r.silent });
      }
      return runs;
    };
    const plain = await summary('adk');
    expect(await summary('mixed')).toEqual(plain);
    expect(plain[0]!.toolCalls).toEqual(['generate_video_with_seedance', 'edit_multitrack']);
  });

  it('the schema takes mixed, and still refuses a style it does not know', () => {
    expect(() => suite.sim.setScenario({ eventStyle: 'mixed' })).not.toThrow();
    expect(() => suite.sim.setScenario({ eventStyle: 'both' as never })).toThrow();
  });
});
