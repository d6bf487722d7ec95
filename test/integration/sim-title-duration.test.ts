// The README's CLI example against the simulator: a 20-second promo keeps its length when the follow-up gives the title 3 seconds.
import { describe, expect, it } from 'vitest';
import { getState, newSession, runSse, simSuite } from '../fixtures/sim/sim-client.js';

const suite = simSuite();

describe('sim: a title follow-up with a duration', () => {
  it.each([
    ['title "Autumn Sale" for 3 seconds', 20_000, { text: 'Autumn Sale', d: 3000 }],
    ['show the text for 2 s', 20_000, { d: 2000 }],
    ['make it 15 seconds long', 15_000, undefined],
  ] as const)('"a 20-second promo with music", then %s → the video is %d ms', async (followup, videoMs, title) => {
    const { token, sessionId } = await newSession(suite.base);
    expect((await runSse(suite.base, token, sessionId, 'a 20-second promo with music')).status).toBe(200);
    expect((await runSse(suite.base, token, sessionId, followup)).status).toBe(200);
    const draft = (await getState(suite.base, token, sessionId)).json.data.state.draft!;
    expect(draft.d).toBe(videoMs);
    if (title === undefined) return;
    const seg = draft.t.find((t) => t.tt === 7)!.sg[0]!;
    expect(seg).toMatchObject({ d: title.d, ...('text' in title ? { text: title.text } : {}) });
  });
});
