// draftOf parses each known state's draft once and shares it; known states that differ never share a draft.
import { describe, expect, it } from 'vitest';
import { applyDelta, draftOf } from '../../src/flow/known-state.js';
import type { KnownState } from '../../src/flow/state.js';

const known = (draft: unknown): KnownState => ({ draft, generated_media: null, video_infos: 0 });

describe('draftOf', () => {
  it('parses a known state once: the same state gives the same draft object', () => {
    const state = known({ t: [{ tt: 0, sg: [] }], d: 5000 });
    const first = draftOf(state);
    expect(first).toMatchObject({ d: 5000 });
    expect(draftOf(state)).toBe(first);
  });

  it('parses the next state apart, and reads a draft kept as a JSON string', () => {
    const before = known({ t: [], d: 1000 });
    const after = applyDelta(before, { draft: JSON.stringify({ t: [], d: 2000 }) })!;
    expect(draftOf(before)).toMatchObject({ d: 1000 });
    expect(draftOf(after)).toMatchObject({ d: 2000 });
    expect(draftOf(after)).not.toBe(draftOf(before));
  });

  it('answers null for no state, no draft, broken JSON or something that is not a draft, and keeps that answer', () => {
    expect(draftOf(null)).toBeNull();
    expect(draftOf(known(null))).toBeNull();
    expect(draftOf(known('{not json'))).toBeNull();
    const odd = known({ t: 'not tracks' });
    expect(draftOf(odd)).toBeNull();
    expect(draftOf(odd)).toBeNull();
  });
});
