// NemoVideo simulator: the happy path over real HTTP (token → session → upload → run_sse → state → render → MP4).
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { waitFor } from '../helpers/wait.js';
import { adkEvents, call, frames, getState, newSession, runSse, simSuite, uploadFiles, uploadUrls } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

type Poll = { success?: boolean; data?: { status: string; progress: number; outputUrl?: string; error?: string }; status?: string; output?: { url: string; duration: number; size: number } | null; error?: string };

async function pollUntilDone(token: string, id: string) {
  return waitFor(async () => {
    const r = await call<Poll>(suite.base, 'GET', `/api/render/proxy/lambda/${id}`, { token });
    const d = r.json.data ?? r.json;
    return d.status === 'completed' || d.status === 'failed' ? r.json : undefined;
  }, { what: `render ${id}` });
}

describe('sim: full flow', () => {
  it('generates a draft from the text, renders it in both shapes and serves a real MP4', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const up = await uploadUrls(suite.base, token, sessionId, ['https://example.com/a.jpg', 'https://example.com/b.png', 'https://example.com/c.mp4']);
    expect(up.json.code).toBe(0);
    expect(up.json.data.files.map((f) => f.file_type)).toEqual(['image', 'image', 'video']);
    expect(up.json.data.files[0]!.cdn_url).toBe(`${suite.base}/cdn/${sessionId}/a.jpg`);

    const s = await runSse(suite.base, token, sessionId, 'turn these images into a 30-second promo video with lo-fi music and text');
    expect(s.status).toBe(200);
    expect(s.contentType).toMatch(/^text\/event-stream/);
    expect(s.error).toBeUndefined();
    for (const f of frames(s.text)) expect(f.startsWith('data: ')).toBe(true);
    expect(s.text).not.toMatch(/^(event|id):/m);
    expect(s.text).toContain('data: {"type":"heartbeat"}\n\n');
    const evs = adkEvents(s.text);
    const calls = evs.flatMap((e) => e.content?.parts ?? []).filter((p) => p.functionCall).map((p) => p.functionCall!.name);
    expect(calls).toEqual(['generate_video_with_seedance', 'edit_multitrack']);
    expect(evs.at(-1)!.content!.parts[0]!.text).toMatch(/click Export/);

    const st = await getState(suite.base, token, sessionId);
    const draft = st.json.data.state.draft!;
    expect(draft.d).toBe(30_000);
    expect(draft.t.map((t) => t.tt)).toEqual([0, 1, 7]);
    expect(draft.t[0]!.sg).toHaveLength(3);
    expect(draft.t[1]!.sg[0]!.style).toBe('lo-fi');
    expect(st.json.data.state.video_infos).toHaveLength(3);

    const credits = await call<{ data: { available: number; frozen: number; total: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token });
    expect(credits.json.data).toEqual({ available: 9900, frozen: 0, total: 9900 });

    const sub = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'render_a', sessionId, draft } });
    expect(sub.json).toEqual({ success: true, data: { id: 'render_a', status: 'pending', progress: 5 } });
    const a = await pollUntilDone(token, 'render_a');
    expect(a.data!.status).toBe('completed');
    expect(a.data!.progress).toBe(100);
    const mp4 = await request(a.data!.outputUrl!);
    const bytes = Buffer.from(await mp4.body.arrayBuffer());
    expect(mp4.headers['content-type']).toBe('video/mp4');
    expect(Number(mp4.headers['content-length'])).toBe(bytes.length);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const head = await request(a.data!.outputUrl!, { method: 'HEAD' });
    await head.body.dump();
    expect(head.headers['content-length']).toBe(String(bytes.length));
    const dl = await request(`${suite.base}/api/render/proxy/render_a/download`, { headers: { authorization: `Bearer ${token}` } });
    expect(Buffer.from(await dl.body.arrayBuffer()).subarray(4, 8).toString('latin1')).toBe('ftyp');

    suite.sim.setScenario({ renderShape: 'b' });
    const subB = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'render_b', sessionId, draft } });
    // Shape b answers the submit as it answers a poll: the id as a top-level taskId.
    expect(subB.json).toMatchObject({ taskId: 'render_b', output: null });
    expect((subB.json as { success?: unknown }).success).toBeUndefined();
    const b = await pollUntilDone(token, 'render_b');
    expect(b.success).toBeUndefined();
    expect(b.status).toBe('completed');
    expect(b.output).toEqual({ url: `${suite.base}/render-result/render_b.mp4`, duration: 30, size: bytes.length });

    expect(suite.sim.log.count('run_sse', { sessionId })).toBe(1);
    expect(suite.sim.log.count('render_submit', { sessionId })).toBe(2);
    expect(suite.sim.log.count('render_submit', { renderId: 'render_a' })).toBe(1);
    const entry = suite.sim.log.entries().find((e) => e.endpoint === 'run_sse')!;
    expect(entry.message).toMatch(/30-second promo/);
    expect(entry.skillHeaders).toEqual({ source: 'nemo-relay', version: '0.1.0', platform: 'unknown' });
    expect(JSON.stringify(suite.sim.log.entries())).not.toContain(token);
  });

  it('refuses duplicate ids and a second concurrent export, and reports progress while rendering', async () => {
    suite.sim.setScenario({ renderMs: 2_000_000 }); // 2 s real: ample room to see `processing` and cancel it
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a 10s video');
    const draft = (await getState(suite.base, token, sessionId)).json.data.state.draft;
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'r1', sessionId, draft } });
    const again = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'r2', sessionId, draft } });
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ success: false, error: 'an export is already running for this session' });
    const processing = await waitFor(async () => {
      const r = await call<Poll>(suite.base, 'GET', '/api/render/proxy/lambda/r1', { token });
      return r.json.data!.status === 'processing' ? r.json.data : undefined;
    });
    expect(processing.progress).toBeGreaterThan(5);
    const cancel = await call<Poll>(suite.base, 'POST', '/api/render/proxy/lambda/r1/cancel', { token });
    expect(cancel.json.data).toMatchObject({ id: 'r1', status: 'failed', error: 'canceled' });
    const dup = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'r1', sessionId, draft } });
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual({ success: false, error: 'render id r1 already exists' });
    const missing = await call(suite.base, 'GET', '/api/render/proxy/lambda/nope', { token });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ success: false, error: 'render not found' });
    expect((await request(`${suite.base}/render-result/r1.mp4`)).statusCode).toBe(404);
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'r3', sessionId, draft } });
    suite.sim.completeRendersNow();
    const r3 = await call<Poll>(suite.base, 'GET', '/api/render/proxy/lambda/r3', { token });
    expect(r3.json.data).toMatchObject({ status: 'completed', progress: 100 });
  });

  it('fails renders of drafts that are empty or still hold sandbox paths', async () => {
    suite.sim.setScenario({ sandboxPaths: true });
    const { token, sessionId } = await newSession(suite.base);
    await uploadUrls(suite.base, token, sessionId, ['https://example.com/photo.jpg']);
    await runSse(suite.base, token, sessionId, 'create a vertical 9:16 slideshow with crossfade transitions');
    const draft = (await getState(suite.base, token, sessionId)).json.data.state.draft!;
    expect(draft.m).toMatchObject({ width: 1080, height: 1920 });
    expect(draft.t[0]!.sg[0]!.src).toBe(`/mnt/userdata/${sessionId}/photo.jpg`);
    expect(draft.t[0]!.sg[0]!.transition).toEqual({ type: 'crossfade', d: 500 });
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'sbx', sessionId, draft } });
    expect((await pollUntilDone(token, 'sbx')).data).toMatchObject({ status: 'failed', error: 'invalid draft' });
    // The client's fix: rewrite sandbox paths to the cdn_url before rendering.
    const fixed = JSON.parse(JSON.stringify(draft).replaceAll(`/mnt/userdata/${sessionId}/`, `${suite.base}/cdn/${sessionId}/`));
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'fixed', sessionId, draft: fixed } });
    expect((await pollUntilDone(token, 'fixed')).data!.status).toBe('completed');
    await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'empty', sessionId, draft: { t: [{ tt: 0, sg: [] }], d: 0 } } });
    expect((await pollUntilDone(token, 'empty')).data).toMatchObject({ status: 'failed', error: 'invalid draft' });
  });

  it('applies edits incrementally and answers questions for free', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a 20 seconds video');
    await runSse(suite.base, token, sessionId, 'add lo-fi background music at 35%');
    await runSse(suite.base, token, sessionId, 'title "Urban Dreams" for the first 3 seconds');
    const q = await runSse(suite.base, token, sessionId, 'what is on the timeline?');
    expect(adkEvents(q.text).at(-1)!.content!.parts[0]!.text).toMatch(/Timeline \(3 tracks/);
    const draft = (await getState(suite.base, token, sessionId)).json.data.state.draft!;
    expect(draft.t.map((t) => t.tt)).toEqual([0, 1, 7]);
    expect(draft.t[1]!.sg[0]).toMatchObject({ volume: 0.35, style: 'lo-fi', d: 20_000 });
    expect(draft.t[2]!.sg[0]).toMatchObject({ text: 'Urban Dreams', d: 3000 });
    const credits = await call<{ data: { available: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token });
    expect(credits.json.data.available).toBe(10_000 - 100 - 50 - 50);
    expect(suite.sim.session(sessionId)!.messages).toHaveLength(4);
  });

  it('streams multipart uploads and judges type by extension and size', async () => {
    suite.sim.setScenario({ uploadMaxBytes: 1000 });
    const { token, sessionId } = await newSession(suite.base);
    const send = (name: string, size: number) => uploadFiles(suite.base, token, sessionId, [[name, Buffer.alloc(size, 7)]]);
    const ok = await send('clip.MOV', 900);
    expect(ok.json.code).toBe(0);
    expect(ok.json.data!.files[0]!.file_type).toBe('video');
    expect(ok.json.data!.files[0]!.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(await send('notes.txt', 10)).toMatchObject({ status: 415, json: { code: 4001 } });
    expect(await send('big.mp4', 5000)).toMatchObject({ status: 413, json: { code: 4002 } });
    expect(suite.sim.session(sessionId)!.state.video_infos).toHaveLength(1);
    const badUrl = await uploadUrls(suite.base, token, sessionId, ['https://example.com/doc.pdf']);
    expect(badUrl.json.code).toBe(4001);
  });
});
