// NemoVideo simulator over real HTTP: full-draft stateDeltas on tool results (both casings) and the per-session run record.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { events, getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

type Ev = Record<string, unknown> & { content?: { role: string; parts: Record<string, unknown>[] } };

/** The state deltas of the tool-result events (role "user" with a functionResponse), in either casing. */
function resultDeltas(raw: string, casing: 'camel' | 'snake') {
  const actionsKey = 'actions';
  const deltaKey = casing === 'camel' ? 'stateDelta' : 'state_delta';
  const responseKey = casing === 'camel' ? 'functionResponse' : 'function_response';
  return (events(raw) as Ev[])
    .filter((e) => e.content?.role === 'user' && e.content.parts.some((p) => p[responseKey]))
    .map((e) => ({
      tool: (e.content!.parts.find((p) => p[responseKey])![responseKey] as { name: string }).name,
      delta: (e[actionsKey] as Record<string, Record<string, unknown>>)[deltaKey]!,
    }));
}

describe('sim stateDelta: every draft-changing tool result carries the full new draft', () => {
  for (const casing of ['camel', 'snake'] as const) {
    it(`generation (two stages) and a silent edit, ${casing}Case`, async () => {
      suite.sim.setScenario({ eventCasing: casing, silentEdits: 'always' });
      const { token, sessionId } = await newSession(suite.base);
      const gen = await runSse(suite.base, token, sessionId, 'make a 12 second video with lo-fi music and a title "Night Shift"');
      const g = resultDeltas(gen.text, casing);
      expect(g.map((x) => x.tool)).toEqual(['generate_video_with_seedance', 'edit_multitrack']);
      // Stage 1: the raw video draft and the new generated clip.
      expect(g[0]!.delta.draft).toMatchObject({ d: 12_000, t: [{ tt: 0 }] });
      expect(g[0]!.delta.generated_media).toEqual([expect.objectContaining({ type: 'video' })]);
      // Stage 2: the whole draft again (video + BGM + title), and the generated music added to the media list.
      expect((g[1]!.delta.draft as { t: { tt: number }[] }).t.map((t) => t.tt)).toEqual([0, 1, 7]);
      expect(g[1]!.delta.generated_media).toHaveLength(2);
      expect(g[1]!.delta.draft).toEqual((await getState(suite.base, token, sessionId)).json.data.state.draft);

      const edit = await runSse(suite.base, token, sessionId, 'remove the music');
      const textParts = (events(edit.text) as Ev[]).flatMap((ev) => ev.content?.parts ?? []).filter((p) => p.text !== undefined);
      expect(textParts).toEqual([]);
      const e = resultDeltas(edit.text, casing);
      expect(e).toHaveLength(1);
      const state = (await getState(suite.base, token, sessionId)).json.data.state;
      expect(e[0]!.delta.draft).toEqual(state.draft);
      expect((e[0]!.delta.draft as { t: { tt: number }[] }).t.map((t) => t.tt)).toEqual([0, 7]);
      // No new media in an edit that only removes a track: generated_media is left out.
      expect(e[0]!.delta.generated_media).toBeUndefined();
    });
  }

  it('with splitArtifactEvents the delta rides on the content-less actions event', async () => {
    suite.sim.setScenario({ splitArtifactEvents: true });
    const { token, sessionId } = await newSession(suite.base);
    const gen = await runSse(suite.base, token, sessionId, 'make a 10s video');
    const withDelta = (events(gen.text) as Ev[]).filter((e) => Object.keys((e.actions as { stateDelta?: object } | undefined)?.stateDelta ?? {}).length > 0);
    expect(withDelta).toHaveLength(1);
    expect(withDelta[0]!.content).toBeUndefined();
    expect((withDelta[0]!.actions as { stateDelta: { draft: unknown } }).stateDelta.draft).toEqual(
      (await getState(suite.base, token, sessionId)).json.data.state.draft,
    );
  });
});

describe('sim run record: concurrent /run_sse streams per session', () => {
  it('sequential runs stay at 1; an overlapping second stream is counted; order is kept', async () => {
    const { token, sessionId } = await newSession(suite.base);
    await runSse(suite.base, token, sessionId, 'make a 10s video');
    await runSse(suite.base, token, sessionId, 'add calm music');
    expect(suite.sim.session(sessionId)!.maxConcurrentRuns).toBe(1);

    suite.sim.setScenario({ editMs: 600_000 }); // 0.6 s real per edit: the first stream is surely still open
    const first = runSse(suite.base, token, sessionId, 'add a title "One"');
    await waitFor(() => suite.sim.session(sessionId)!.runs.length === 3, { what: 'the first stream to open' });
    const second = runSse(suite.base, token, sessionId, 'add a title "Two"');
    await Promise.all([first, second]);
    const view = suite.sim.session(sessionId)!;
    expect(view.maxConcurrentRuns).toBe(2);
    expect(view.messages).toEqual(['make a 10s video', 'add calm music', 'add a title "One"', 'add a title "Two"']);
    expect(view.runs.map((r) => [r.message, r.kind])).toEqual([
      ['make a 10s video', 'generation'],
      ['add calm music', 'edit'],
      ['add a title "One"', 'edit'],
      ['add a title "Two"', 'edit'],
    ]);
    for (const r of view.runs) expect(r.closedAt).toBeGreaterThanOrEqual(r.openedAt);
    expect(view.runs[3]!.openedAt).toBeLessThan(view.runs[2]!.closedAt!);
    // The agent still worked one message at a time: the later title won.
    expect(view.state.draft!.t.find((t) => t.tt === 7)!.sg[0]!.text).toBe('Two');
  });

  it('a refused call (2001) is no run; a dropped stream closes its run', async () => {
    const { token, sessionId } = await newSession(suite.base);
    suite.sim.setCredits(0, token);
    expect((await runSse(suite.base, token, sessionId, 'make a video')).status).toBe(403);
    expect(suite.sim.session(sessionId)!.runs).toEqual([]);
    suite.sim.setCredits(10_000, token);
    suite.sim.injectFault({ kind: 'stream_drop' });
    const dropped = await runSse(suite.base, token, sessionId, 'make a video');
    expect(dropped.error).toBeDefined();
    await waitFor(() => suite.sim.session(sessionId)!.runs[0]!.closedAt !== null, { what: 'the dropped run to close' });
    expect(suite.sim.session(sessionId)!.maxConcurrentRuns).toBe(1);
  });
});
