// NemoVideo simulator over real HTTP: drafts follow free-text and compiled wishes, and the ignore_aspect_once fault.
import { describe, expect, it } from 'vitest';
import { adkEvents, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

const compiled = (instruction: string, lines: string[]) =>
  `${instruction}\n\nOutput requirements (follow them exactly):\n${lines.map((l) => `- ${l}`).join('\n')}`;
const corrective = (lines: string[]) =>
  `Please correct the video so that it matches these requirements exactly:\n${lines.map((l) => `- ${l}`).join('\n')}`;

async function draftOf(token: string, sessionId: string) {
  return (await getState(suite.base, token, sessionId)).json.data.state.draft!;
}

const tracks = (d: { t: { tt: number }[] }) => d.t.map((t) => t.tt);

function seedanceArgs(raw: string): Record<string, unknown> | undefined {
  const part = adkEvents(raw)
    .flatMap((e) => e.content?.parts ?? [])
    .find((p) => p.functionCall?.name === 'generate_video_with_seedance');
  return (part?.functionCall as { args?: Record<string, unknown> } | undefined)?.args;
}

describe('sim: drafts follow the wishes', () => {
  it('a compiled first message wins over a misleading instruction (quoted style, other length and ratio)', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const text = compiled('a 30 second horizontal city promo with "lo-fi" music', [
      'Aspect ratio: 9:16, 1080x1920 pixels (vertical).',
      'Length: 15 seconds long.',
      'Music: no music.',
      'Title: show the title "Urban Dreams" at the start.',
      'Transitions: no transitions (hard cuts).',
    ]);
    await runSse(suite.base, token, sessionId, text);
    const d = await draftOf(token, sessionId);
    expect(d.m).toMatchObject({ width: 1080, height: 1920 });
    expect(d.d).toBe(15_000);
    expect(tracks(d)).toEqual([0, 7]);
    expect(d.t[1]!.sg[0]).toMatchObject({ text: 'Urban Dreams' });
  });

  it('4:5 at 720p, fractional lengths and a free style with volume', async () => {
    const { token, sessionId } = await newSession(suite.base);
    const text = compiled('make a reel of the shop', [
      'Aspect ratio: 4:5, 720x900 pixels (vertical).',
      'Length: 7.5 seconds long.',
      'Music: background music, style "lo-fi", at 35% volume.',
      'Transitions: crossfade.',
    ]);
    const s = await runSse(suite.base, token, sessionId, text);
    expect(seedanceArgs(s.text)).toMatchObject({ aspect_ratio: '4:5' });
    const d = await draftOf(token, sessionId);
    expect(d.m).toMatchObject({ width: 720, height: 900 });
    expect(d.d).toBe(7500);
    expect(tracks(d)).toEqual([0, 1]);
    expect(d.t[1]!.sg[0]).toMatchObject({ style: 'lo-fi', volume: 0.35 });
    expect(d.t[0]!.sg[0]!.transition).toEqual({ type: 'crossfade', d: 500 });
  });

  it('free text: ratio + 720p, explicit pixels, "no music", "without transitions", and the "… now" trap', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a 12 second video with upbeat music and crossfade transitions');
    let d = await draftOf(token, sessionId);
    expect(d.m).toMatchObject({ width: 1920, height: 1080 });
    expect(tracks(d)).toEqual([0, 1]);
    expect(d.t[0]!.sg[0]!.transition).toEqual({ type: 'crossfade', d: 500 });

    await runSse(suite.base, token, sessionId, 'change it to 4:5 in 720p');
    expect((await draftOf(token, sessionId)).m).toMatchObject({ width: 720, height: 900 });
    await runSse(suite.base, token, sessionId, 'change the canvas to 1080x1350; it is 720x900 now.');
    expect((await draftOf(token, sessionId)).m).toMatchObject({ width: 1080, height: 1350 });
    await runSse(suite.base, token, sessionId, 'change it so there is no music, and without transitions please');
    d = await draftOf(token, sessionId);
    expect(tracks(d)).toEqual([0]);
    expect(d.t[0]!.sg[0]!.transition).toBeUndefined();
    // "without music and with a title": the removal stops at "and with", the title is added.
    await runSse(suite.base, token, sessionId, 'keep it without music and with a title "Hello" at the start');
    d = await draftOf(token, sessionId);
    expect(tracks(d)).toEqual([0, 7]);
    expect(d.t[1]!.sg[0]!.text).toBe('Hello');
    // The old free-text forms still work.
    await runSse(suite.base, token, sessionId, 'add lo-fi background music at 35%');
    await runSse(suite.base, token, sessionId, 'title "Urban Dreams" for the first 3 seconds');
    d = await draftOf(token, sessionId);
    expect(tracks(d)).toEqual([0, 1, 7]);
    expect(d.t[1]!.sg[0]).toMatchObject({ style: 'lo-fi', volume: 0.35 });
    expect(d.t[2]!.sg[0]).toMatchObject({ text: 'Urban Dreams', d: 3000 });
    expect(d.d).toBe(12_000);
  });
});

describe('sim: ignore_aspect_once', () => {
  const VERTICAL = compiled('a city timelapse', ['Aspect ratio: 9:16, 1080x1920 pixels (vertical).', 'Length: 15 seconds long.']);

  it('the next generation renders 1920x1080 whatever was asked; the corrective message fixes it', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'ignore_aspect_once' });
    const s = await runSse(suite.base, token, sessionId, VERTICAL);
    // The tool call still says what was asked: the model agreed, then rendered something else.
    expect(seedanceArgs(s.text)).toMatchObject({ aspect_ratio: '9:16', duration: 15 });
    const wrong = await draftOf(token, sessionId);
    expect(wrong.m).toMatchObject({ width: 1920, height: 1080 });
    expect(wrong.d).toBe(15_000);
    expect(suite.sim.log.entries().find((e) => e.endpoint === 'run_sse')!.fault).toBe('ignore_aspect_once');
    expect(suite.sim.faults()).toEqual([]);

    await runSse(suite.base, token, sessionId, corrective(['Aspect ratio must be 9:16, 1080x1920 pixels (vertical); it is 1920x1080 now.']));
    const fixed = await draftOf(token, sessionId);
    expect(fixed.m).toMatchObject({ width: 1080, height: 1920 });
    expect(fixed.d).toBe(15_000);

    // One-shot: the next session's generation is right.
    const b = await newSession(suite.base);
    await runSse(suite.base, b.token, b.sessionId, VERTICAL);
    expect((await draftOf(b.token, b.sessionId)).m).toMatchObject({ width: 1080, height: 1920 });
  });

  it('a 16:9 wish gets 1080x1920; `after` counts generations only; sessionId targets one session', async () => {
    const a = await newSession(suite.base);
    const b = await newSession(suite.base);
    suite.sim.injectFault({ kind: 'ignore_aspect_once', sessionId: a.sessionId, after: 1 });
    await runSse(suite.base, b.token, b.sessionId, 'make a 16:9 video');
    expect((await draftOf(b.token, b.sessionId)).m).toMatchObject({ width: 1920, height: 1080 });
    await runSse(suite.base, a.token, a.sessionId, 'make a 16:9 video');
    expect((await draftOf(a.token, a.sessionId)).m).toMatchObject({ width: 1920, height: 1080 });
    // An edit and a question do not use up the fault…
    await runSse(suite.base, a.token, a.sessionId, 'add calm music');
    await runSse(suite.base, a.token, a.sessionId, 'what is on the timeline?');
    expect(suite.sim.faults()).toHaveLength(1);
    // …the second generation gets it.
    await runSse(suite.base, a.token, a.sessionId, 'make a new horizontal 16:9 video');
    expect((await draftOf(a.token, a.sessionId)).m).toMatchObject({ width: 1080, height: 1920 });
    expect(suite.sim.faults()).toEqual([]);
    await runSse(suite.base, a.token, a.sessionId, 'change it to 16:9, 1920x1080 pixels');
    expect((await draftOf(a.token, a.sessionId)).m).toMatchObject({ width: 1920, height: 1080 });
  });
});
