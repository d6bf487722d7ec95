// NemoVideo simulator over real HTTP: HEIC refusal by bytes and the upload record, per-user credits, claim tokens.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HEIC } from '../helpers/multipart.js';
import { call, newSession, runSse, simSuite, uploadFiles, uploadUrls } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

const asset = (name: string) => readFileSync(new URL(`../../assets/samples/${name}`, import.meta.url));
const JPEG = asset('sample-1-mug.jpg');
const PNG = asset('sample-3-bottle.png');
const WEBP = asset('sample-4-headphones.webp');

/** An AVIF still: ISO-BMFF like HEIC, with mif1 among its brands, but not HEIC. */
const AVIF = (() => {
  const box = Buffer.alloc(28);
  box.writeUInt32BE(28, 0);
  box.write('ftypavif', 4, 'latin1');
  box.write('avifmif1miaf', 16, 'latin1');
  return Buffer.concat([box, Buffer.alloc(300, 1)]);
})();

const upload = (token: string, sessionId: string, files: [string, Buffer][]) => uploadFiles(suite.base, token, sessionId, files);

const balance = async (token: string) =>
  (await call<{ data: { available: number; frozen: number; total: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token })).json.data;

describe('sim uploads: HEIC/HEIF refused by its bytes, every file recorded', () => {
  it('HEIC bytes are 4001 whatever the name; JPEG/PNG/WEBP/AVIF pass; the session records what came in', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const heic = await upload(token, sessionId, [['IMG_0001.jpg', HEIC]]);
    expect(heic.status).toBe(415);
    expect(heic.json).toMatchObject({ code: 4001, message: expect.stringContaining('HEIC/HEIF') });
    // One HEIC spoils the whole batch: nothing of it is stored.
    const mixed = await upload(token, sessionId, [['a.jpg', JPEG], ['b.heic', HEIC]]);
    expect(mixed.json.code).toBe(4001);
    expect(suite.sim.session(sessionId)!.state.video_infos).toHaveLength(0);

    const ok = await upload(token, sessionId, [['mug.jpg', JPEG], ['bottle.png', PNG], ['phones.webp', WEBP], ['still.jpg', AVIF]]);
    expect(ok.json.code).toBe(0);
    expect(ok.json.data!.files.map((f) => f.filename)).toEqual(['mug.jpg', 'bottle.png', 'phones.webp', 'still.jpg']);
    expect((await uploadUrls(suite.base, token, sessionId, ['https://example.com/photos/IMG_0002.HEIC'])).json.code).toBe(4001);
    expect((await uploadUrls(suite.base, token, sessionId, ['https://example.com/img.heif?x=1'])).json.code).toBe(4001);
    expect((await uploadUrls(suite.base, token, sessionId, ['https://example.com/clip.mp4'])).json.code).toBe(0);

    const uploads = suite.sim.session(sessionId)!.uploads;
    expect(uploads).toEqual([
      { filename: 'IMG_0001.jpg', bytes: HEIC.length, sniffed: 'heic', source: 'file', accepted: false, code: 4001 },
      { filename: 'a.jpg', bytes: JPEG.length, sniffed: 'jpeg', source: 'file', accepted: false, code: 0 },
      { filename: 'b.heic', bytes: HEIC.length, sniffed: 'heic', source: 'file', accepted: false, code: 4001 },
      { filename: 'mug.jpg', bytes: JPEG.length, sniffed: 'jpeg', source: 'file', accepted: true, code: 0 },
      { filename: 'bottle.png', bytes: PNG.length, sniffed: 'png', source: 'file', accepted: true, code: 0 },
      { filename: 'phones.webp', bytes: WEBP.length, sniffed: 'webp', source: 'file', accepted: true, code: 0 },
      { filename: 'still.jpg', bytes: AVIF.length, sniffed: 'avif', source: 'file', accepted: true, code: 0 },
      { filename: 'IMG_0002.HEIC', bytes: null, sniffed: 'unknown', source: 'url', accepted: false, code: 4001 },
      { filename: 'img.heif', bytes: null, sniffed: 'unknown', source: 'url', accepted: false, code: 4001 },
      { filename: 'clip.mp4', bytes: null, sniffed: 'unknown', source: 'url', accepted: true, code: 0 },
    ]);
    // What a relay test asserts: only JPEG/PNG/WEBP bytes reached the upstream as files.
    expect(uploads.filter((u) => u.source === 'file' && u.accepted).map((u) => u.sniffed)).toEqual(['jpeg', 'png', 'webp', 'avif']);
    expect(suite.sim.log.count('upload', { sessionId })).toBe(6);
  });
});

describe('sim credits: one balance per user', () => {
  const A = 'nmv_usr_static_token_alpha_0000001';
  const B = 'nmv_usr_static_token_bravo_0000001'; // same last 8 characters as A on purpose

  it('two static tokens: one runs out (2001, nothing consumed), the other keeps working', async () => {
    suite.sim.setScenario({ staticTokens: [A, B], staticCredits: 150 });
    expect(await balance(A)).toEqual({ available: 150, frozen: 0, total: 150 });
    const a = await call<{ data: { session_id: string } }>(suite.base, 'POST', '/api/tasks/me/with-session/nemo_agent', { token: A, body: { task_name: 'a' } });
    const b = await call<{ data: { session_id: string } }>(suite.base, 'POST', '/api/tasks/me/with-session/nemo_agent', { token: B, body: { task_name: 'b' } });
    const sa = a.json.data.session_id;
    const sb = b.json.data.session_id;
    expect((await runSse(suite.base, A, sa, 'make a video')).status).toBe(200);
    expect(await balance(A)).toEqual({ available: 50, frozen: 0, total: 50 });
    const refused = await runSse(suite.base, A, sa, 'make another video');
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toMatchObject({ code: 2001 });
    expect(await balance(A)).toEqual({ available: 50, frozen: 0, total: 50 });
    expect(suite.sim.session(sa)!.messages).toEqual(['make a video']);
    expect((await runSse(suite.base, B, sb, 'make a video')).status).toBe(200);
    expect(await balance(B)).toEqual({ available: 50, frozen: 0, total: 50 });
    // An edit (50) still fits A's balance.
    expect((await runSse(suite.base, A, sa, 'add calm music')).status).toBe(200);
    expect(await balance(A)).toMatchObject({ available: 0 });
    expect(await balance(B)).toMatchObject({ available: 50 });
  });

  it('setCredits and POST /_sim/credits target one token; without a token every user, unused static ones too', async () => {
    const C = 'nmv_usr_static_token_charlie_00001';
    suite.sim.setScenario({ staticTokens: [A, B, C] });
    const x = await newSession(suite.base, 'client-x');
    const y = await newSession(suite.base, 'client-y');
    expect(suite.sim.setCredits(0, x.token)).toBe(true);
    expect(await balance(x.token)).toMatchObject({ available: 0 });
    expect(await balance(y.token)).toMatchObject({ available: 10_000 });
    expect((await runSse(suite.base, x.token, x.sessionId, 'make a video')).status).toBe(403);
    expect((await runSse(suite.base, y.token, y.sessionId, 'make a video')).status).toBe(200);

    expect((await call(suite.base, 'POST', '/_sim/credits', { body: { available: 7, token: A } })).json).toEqual({ ok: true });
    expect(await balance(A)).toMatchObject({ available: 7 });
    expect(await balance(B)).toMatchObject({ available: 10_000 });
    expect((await call(suite.base, 'POST', '/_sim/credits', { body: { available: 7, token: 'nmv_usr_nobody' } })).status).toBe(404);
    expect(suite.sim.setCredits(1, 'nmv_usr_nobody')).toBe(false);

    await call(suite.base, 'POST', '/_sim/credits', { body: { available: 42 } });
    for (const t of [x.token, y.token, A, B, C]) expect(await balance(t)).toMatchObject({ available: 42 });
  });
});

describe('sim claim token (protocol §2.3)', () => {
  it('works for an anonymous user with no credits left, is reusable, per session, and logged', async () => {
    const { token, sessionId, taskId } = await newSession(suite.base);
    suite.sim.setCredits(0, token);
    expect((await runSse(suite.base, token, sessionId, 'make a video')).status).toBe(403);
    const body = { task_id: taskId, session_id: sessionId };
    const c1 = await call<{ code: number; data: { claim_token: string; expires_in: number } }>(suite.base, 'POST', '/api/auth/claim-token', { token, body });
    expect(c1.status).toBe(200);
    expect(c1.json.code).toBe(0);
    expect(c1.json.data.claim_token).toMatch(/^clm_[A-Za-z0-9]{32}$/);
    expect(c1.json.data.expires_in).toBeGreaterThan(604_790);
    expect(c1.json.data.expires_in).toBeLessThanOrEqual(604_800);
    const c2 = await call<{ data: { claim_token: string } }>(suite.base, 'POST', '/api/auth/claim-token', { token, body });
    expect(c2.json.data.claim_token).toBe(c1.json.data.claim_token);
    expect(suite.sim.session(sessionId)!.claimToken).toBe(c1.json.data.claim_token);

    const other = await newSession(suite.base);
    const c3 = await call<{ data: { claim_token: string } }>(suite.base, 'POST', '/api/auth/claim-token', {
      token: other.token,
      body: { task_id: other.taskId, session_id: other.sessionId },
    });
    expect(c3.json.data.claim_token).not.toBe(c1.json.data.claim_token);
    expect((await call(suite.base, 'POST', '/api/auth/claim-token', { token: other.token, body })).json).toMatchObject({ code: 1002 });
    expect((await call(suite.base, 'POST', '/api/auth/claim-token', { token, body: { session_id: sessionId } })).status).toBe(400);
    expect((await call(suite.base, 'POST', '/api/auth/claim-token', { body })).json).toMatchObject({ code: 1001 });

    const entries = suite.sim.log.entries().filter((e) => e.endpoint === 'claim_token');
    expect(entries.map((e) => [e.status, e.sessionId])).toEqual([
      [200, sessionId],
      [200, sessionId],
      [200, other.sessionId],
      [404, sessionId],
      [400, sessionId],
      [401, sessionId],
    ]);
    expect(entries[0]!.skillHeaders).toEqual({ source: 'nemo-relay', version: '0.1.0', platform: 'unknown' });
    expect(JSON.stringify(suite.sim.log.entries())).not.toContain(c1.json.data.claim_token);
  });
});
