// NemoVideo simulator over real HTTP: the video the caller asked for (requirement blocks, scripted misses, corrections, render limits).
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { adkEvents, call, getState, newSession, runSse, simSuite, uploadUrls } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

const block = (instruction: string, lines: string[]) => `${instruction}\n\nOutput requirements (follow them exactly):\n${lines.map((l) => `- ${l}`).join('\n')}`;
const corrective = (lines: string[]) =>
  `Please correct the video so that it matches these requirements exactly:\n${lines.map((l) => `- ${l}`).join('\n')}`;

const URBAN = block('turn these images into a 30-second promo video with upbeat music and crossfade transitions', [
  'Aspect ratio: 9:16, 1080x1920 pixels (vertical).',
  'Length: 15 seconds long.',
  'Music: no music.',
  'Title: show the title "Urban Dreams" at the start.',
  'Transitions: no transitions (hard cuts).',
]);

type Args = Record<string, unknown>;
const toolCalls = (raw: string) =>
  adkEvents(raw)
    .flatMap((e) => e.content?.parts ?? [])
    .filter((p) => p.functionCall)
    .map((p) => p.functionCall as { name: string; args: Args });

async function draftOf(token: string, sessionId: string) {
  const st = await getState(suite.base, token, sessionId);
  return { draft: st.json.data.state.draft!, canvas: st.json.data.state.canvas_config };
}

async function balance(token: string): Promise<number> {
  return (await call<{ data: { available: number } }>(suite.base, 'GET', '/api/credits/balance/simple', { token })).json.data.available;
}

describe('sim: the video the caller asked for', () => {
  it('follows every line of the requirement block over what the free text suggests', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await uploadUrls(suite.base, token, sessionId, ['https://example.com/a.jpg', 'https://example.com/b.jpg']);
    const s = await runSse(suite.base, token, sessionId, URBAN);
    const calls = toolCalls(s.text);
    expect(calls.map((c) => c.name)).toEqual(['generate_video_with_seedance', 'edit_multitrack']);
    expect(calls[0]!.args).toMatchObject({ duration: 15, aspect_ratio: '9:16' });
    const { draft, canvas } = await draftOf(token, sessionId);
    expect(draft.m).toMatchObject({ width: 1080, height: 1920 });
    expect(canvas).toEqual({ width: 1080, height: 1920 });
    expect(draft.d).toBe(15_000);
    // No BGM despite "upbeat music" in the instruction; a title; hard cuts despite "crossfade transitions".
    expect(draft.t.map((t) => t.tt)).toEqual([0, 7]);
    expect(draft.t[1]!.sg[0]).toMatchObject({ text: 'Urban Dreams', start: 0 });
    expect(draft.t[0]!.sg).toHaveLength(2);
    for (const sg of draft.t[0]!.sg) expect(sg.transition).toBeUndefined();
  });

  it('renders 720p 4:5 canvases, fractional lengths, styled music at a volume and worded transitions', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await uploadUrls(suite.base, token, sessionId, ['https://example.com/a.jpg']);
    const s = await runSse(
      suite.base,
      token,
      sessionId,
      block('make a product reel', [
        'Aspect ratio: 4:5, 720x900 pixels (vertical).',
        'Length: 7.5 seconds long.',
        'Music: background music, style "dreamy synthwave", at 35% volume.',
        'Transitions: quick zooms.',
      ]),
    );
    expect(toolCalls(s.text)[0]!.args).toMatchObject({ aspect_ratio: '4:5' });
    const { draft } = await draftOf(token, sessionId);
    expect(draft.m).toMatchObject({ width: 720, height: 900 });
    expect(draft.d).toBe(7500);
    expect(draft.t.map((t) => t.tt)).toEqual([0, 1]);
    expect(draft.t[1]!.sg[0]).toMatchObject({ style: 'dreamy synthwave', volume: 0.35, d: 7500 });
    expect(draft.t[0]!.sg[0]!.transition).toEqual({ type: 'quick zooms', d: 500 });
  });

  it('gets the wishes wrong when told to, then fixes them all with one corrective edit', async () => {
    suite.sim.setScenario({ missRequirements: ['aspect_ratio', 'resolution', 'duration', 'music', 'title'] });
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, URBAN);
    const before = (await draftOf(token, sessionId)).draft;
    // Each value is outside the spec's tolerance: ratio off by far more than 1 %, short side < 1080, length off by > 10 %.
    expect(before.m).toMatchObject({ width: 960, height: 540 });
    expect(before.d).toBe(10_000);
    expect(before.t.map((t) => t.tt)).toEqual([0, 1]);

    const fix = await runSse(
      suite.base,
      token,
      sessionId,
      corrective([
        'Aspect ratio must be 9:16, 1080x1920 pixels (vertical); it is 960x540 now.',
        'Resolution must be at least 1080p; the canvas is 960x540 now.',
        'Length must be 15 seconds long; it is 10 seconds now.',
        'There must be no music; remove the background music track.',
        'Show the title "Urban Dreams" at the start; there is no title track now.',
      ]),
    );
    // An edit of the timeline, charged as one, not a second generation.
    expect(toolCalls(fix.text).map((c) => c.name)).toEqual(['edit_multitrack']);
    expect(await balance(token)).toBe(10_000 - 100 - 50);
    const after = (await draftOf(token, sessionId)).draft;
    expect(after.m).toMatchObject({ width: 1080, height: 1920, rev: Number(before.m.rev) + 1 });
    expect(after.d).toBe(15_000);
    expect(after.t.map((t) => t.tt)).toEqual([0, 7]);
    expect(after.t[1]!.sg[0]!.text).toBe('Urban Dreams');
    expect(adkEvents(fix.text).at(-1)!.content!.parts[0]!.text).toMatch(/^Done! I .*removed the bgm track.*added the title "Urban Dreams"/);
  });

  it('leaves missed wishes as they are on a corrective message with fixOnCorrection off', async () => {
    suite.sim.setScenario({ missRequirements: ['duration', 'title'], fixOnCorrection: false });
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, URBAN);
    const before = (await draftOf(token, sessionId)).draft;
    expect(before.d).toBe(10_000);
    expect(before.m).toMatchObject({ width: 1080, height: 1920 });
    await runSse(
      suite.base,
      token,
      sessionId,
      corrective(['Length must be 15 seconds long; it is 10 seconds now.', 'Show the title "Urban Dreams" at the start; there is no title track now.']),
    );
    const after = (await draftOf(token, sessionId)).draft;
    expect(after.d).toBe(10_000);
    expect(after.t.some((t) => t.tt === 7)).toBe(false);
    expect(after.m.rev).toBe(Number(before.m.rev) + 1);
    expect(suite.sim.session(sessionId)!.messages).toHaveLength(2);
  });

  it('scales a plain generation below 1080p when resolution is missed, and a corrective line scales it back up', async () => {
    suite.sim.setScenario({ missRequirements: ['resolution'] });
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a square 12 second video');
    expect((await draftOf(token, sessionId)).draft.m).toMatchObject({ width: 540, height: 540 });
    await runSse(suite.base, token, sessionId, corrective(['Resolution must be at least 1080p; the canvas is 540x540 now.']));
    expect((await draftOf(token, sessionId)).draft.m).toMatchObject({ width: 1080, height: 1080 });
  });

  it('refuses renders above 1080p and records the output each submit asked for', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a 10s video');
    const { draft } = await draftOf(token, sessionId);
    for (const resolution of ['4k', '2160p', '1440p']) {
      const r = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: `r_${resolution}`, sessionId, draft, output: { format: 'mp4', resolution } } });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        success: false,
        error: `invalid request: output.resolution "${resolution}" is not available: the renderer renders at most 1080p (1080x1920)`,
      });
    }
    const output = { format: 'mp4', quality: 'medium', resolution: '720p' };
    const ok = await call(suite.base, 'POST', '/api/render/proxy/lambda', { token, body: { id: 'r_720', sessionId, draft, output } });
    expect(ok.json).toEqual({ success: true, data: { id: 'r_720', status: 'pending', progress: 5 } });
    suite.sim.completeRendersNow();
    await waitFor(async () => {
      const p = await call<{ data: { status: string } }>(suite.base, 'GET', '/api/render/proxy/lambda/r_720', { token });
      return p.json.data.status === 'completed';
    });
    const submits = suite.sim.log.entries().filter((e) => e.endpoint === 'render_submit');
    expect(submits.map((e) => [e.status, e.renderOutput?.resolution])).toEqual([
      [400, '4k'],
      [400, '2160p'],
      [400, '1440p'],
      [200, '720p'],
    ]);
    expect(submits[3]!.renderOutput).toEqual(output);
  });

  it('takes the new knobs through the control route and refuses unknown requirement names', async () => {
    const set = await call<{ scenario: { missRequirements: string[]; fixOnCorrection: boolean } }>(suite.base, 'POST', '/_sim/scenario', {
      body: { missRequirements: ['title'], fixOnCorrection: false },
    });
    expect(set.json.scenario).toMatchObject({ missRequirements: ['title'], fixOnCorrection: false });
    const bad = await call(suite.base, 'POST', '/_sim/scenario', { body: { missRequirements: ['fps'] } });
    expect(bad.status).toBe(400);
    expect(suite.sim.scenario().missRequirements).toEqual(['title']);
    suite.sim.reset();
    expect(suite.sim.scenario()).toMatchObject({ missRequirements: [], fixOnCorrection: true });
  });
});
