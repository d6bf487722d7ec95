// "What each message changed": the parts of the summary, their order, the cap, and robustness to odd drafts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Draft } from '../../src/nemo/schemas.js';
import { describeDraftChange, MAX_SUMMARY_CHARS, NO_CHANGE } from '../../src/video/changes.js';

const video = (n: number, ms = 10000) => ({ tt: 0, sg: Array.from({ length: n }, (_, i) => ({ src: `clip${i}.mp4`, start: i * (ms / n), d: ms / n })) });
const bgm = (style = 'lo-fi') => ({ tt: 1, sg: [{ kind: 'audio', src: 'bgm.mp3', start: 0, d: 10000, style }] });
const title = (text?: string) => ({ tt: 7, sg: [text === undefined ? { kind: 'text', start: 0, d: 3000 } : { kind: 'text', text, start: 0, d: 3000 }] });
const mk = (t: unknown[], d = 10000, width = 1920, height = 1080) => ({ t, d, m: { width, height, title: 'x', rev: 1 } }) as Draft;

describe('describeDraftChange', () => {
  it('sees no change between equal drafts, missing drafts or a bumped revision', () => {
    expect(describeDraftChange(null, null)).toBe(NO_CHANGE);
    expect(describeDraftChange(mk([video(3)]), mk([video(3)]))).toBe(NO_CHANGE);
    const bumped = mk([video(3)]);
    (bumped.m as Record<string, unknown>).rev = 2;
    expect(describeDraftChange(mk([video(3)]), bumped)).toBe(NO_CHANGE);
    expect(describeDraftChange({ t: [], d: 0 }, null)).toBe(NO_CHANGE);
  });

  it('names a first timeline with its tracks and length', () => {
    expect(describeDraftChange(null, mk([video(3), bgm(), title('Hi')], 15000))).toBe('new timeline (3 tracks, 15.0 s)');
    expect(describeDraftChange({ t: [] }, mk([video(1)]))).toBe('new timeline (1 track, 10.0 s)');
    expect(describeDraftChange(null, { t: [video(1)] })).toBe('new timeline (1 track)');
  });

  it('says when every track is gone', () => {
    expect(describeDraftChange(mk([video(3)]), { t: [] })).toBe('timeline cleared');
  });

  it('names added and removed tracks by type', () => {
    expect(describeDraftChange(mk([video(3)]), mk([video(3), bgm()]))).toBe('added BGM track');
    expect(describeDraftChange(mk([video(3), title('Hi')]), mk([video(3)]))).toBe('removed Title track');
    expect(describeDraftChange(mk([video(3)]), mk([video(3), { tt: 4, sg: [] }, { tt: 4, sg: [] }]))).toBe('added 2 Track type 4 tracks');
  });

  it('names changes of length and canvas', () => {
    expect(describeDraftChange(mk([video(3)], 10000), mk([video(3)], 15000))).toBe('duration 10.0 s → 15.0 s');
    // Rescaled segments are part of the new length, not a separate edit.
    expect(describeDraftChange(mk([video(3, 10000)], 10000), mk([video(3, 15000)], 15000))).toBe('duration 10.0 s → 15.0 s');
    expect(describeDraftChange({ t: [video(3)] }, mk([video(3)], 15000))).toBe('duration unknown → 15.0 s, canvas unknown → 1920x1080');
    expect(describeDraftChange(mk([video(3)]), mk([video(3)], 10000, 1080, 1920))).toBe('canvas 1920x1080 → 1080x1920');
    expect(describeDraftChange(mk([video(3)]), { ...mk([video(3)]), m: {} })).toBe('canvas 1920x1080 → unknown');
    expect(describeDraftChange(mk([video(3)], 15000), mk([video(3)], 15020))).toBe(NO_CHANGE);
  });

  it('says music set / removed when the BGM track was filled or emptied', () => {
    const empty = { tt: 1, sg: [] };
    expect(describeDraftChange(mk([video(3), empty]), mk([video(3), bgm()]))).toBe('music set, BGM track: 0 segments → 1 segment');
    expect(describeDraftChange(mk([video(3), bgm()]), mk([video(3), empty]))).toBe('music removed, BGM track: 1 segment → 0 segments');
  });

  it('says what happened to the title', () => {
    expect(describeDraftChange(mk([video(3)]), mk([video(3), title('Urban Dreams')]))).toBe('added Title track, title set to "Urban Dreams"');
    expect(describeDraftChange(mk([video(3), title('Urban Dream')]), mk([video(3), title('Urban Dreams')]))).toBe('title changed to "Urban Dreams"');
    expect(describeDraftChange(mk([video(3), { tt: 7, sg: [] }]), mk([video(3), title()]))).toBe('title set, Title track: 0 segments → 1 segment');
    expect(describeDraftChange(mk([video(3), title('Hi')]), mk([video(3), { tt: 7, sg: [] }]))).toBe('title removed, Title track: 1 segment → 0 segments');
    expect(describeDraftChange(mk([video(3), title('Hi')]), mk([video(3)]))).toBe('removed Title track');
    expect(describeDraftChange(mk([video(3)]), mk([video(3), title('Say "hi"')]))).toBe(`added Title track, title set to "Say 'hi'"`);
  });

  it('counts segments per track type', () => {
    expect(describeDraftChange(mk([video(3)]), mk([video(5)]))).toBe('Video track: 3 segments → 5 segments');
    expect(describeDraftChange(mk([video(2), video(1)]), mk([video(2), video(2)]))).toBe('Video tracks: 3 segments → 4 segments');
  });

  it('says which track was edited when only the content changed', () => {
    expect(describeDraftChange(mk([video(3), bgm('lo-fi')]), mk([video(3), bgm('jazz')]))).toBe('BGM track: segments edited');
  });

  it('keeps one deterministic order: added, removed, duration, canvas, music, title, segments', () => {
    const before = mk([video(3), { tt: 1, sg: [] }, title('Old')], 10000, 1920, 1080);
    const after = mk([video(5), bgm(), { tt: 9, sg: [{}] }], 15000, 1080, 1920);
    expect(describeDraftChange(before, after)).toBe(
      'added Track type 9 track, removed Title track, duration 10.0 s → 15.0 s, canvas 1920x1080 → 1080x1920, music set, Video track: 3 segments → 5 segments, BGM track: 0 segments → 1 segment',
    );
    // Track order inside the draft does not matter.
    expect(describeDraftChange(before, mk([{ tt: 9, sg: [{}] }, bgm(), video(5)], 15000, 1080, 1920))).toBe(describeDraftChange(before, after));
  });

  it('cuts a long summary at the cap with an ellipsis and clips long titles', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ tt: 100 + i, sg: [{}] }));
    const summary = describeDraftChange(mk([video(1)]), mk([video(1), ...many]));
    expect(summary.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    expect(summary.startsWith('added Track type 100 track, added Track type 101 track')).toBe(true);
    expect(summary.endsWith(', …')).toBe(true);
    const long = describeDraftChange(mk([video(1)]), mk([video(1), title('x'.repeat(500))]));
    expect(long).toBe(`added Title track, title set to "${'x'.repeat(59)}…"`);
    expect(describeDraftChange(mk([video(1)]), mk([video(1), title('Urban\nDreams')]))).toBe('added Title track, title set to "Urban Dreams"');
  });

  it('never throws on odd shapes, stays under the cap, and sees no change from a draft to itself', () => {
    const trackArb = fc.record(
      { tt: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.string(), fc.constant(null)), sg: fc.oneof(fc.array(fc.anything(), { maxLength: 4 }), fc.string()) },
      { requiredKeys: [] },
    );
    const draftArb = fc.oneof(
      fc.record(
        {
          t: fc.oneof(fc.array(fc.oneof(trackArb, fc.anything()), { maxLength: 50 }), fc.anything()),
          d: fc.oneof(fc.integer({ min: -10, max: 400_000 }), fc.anything()),
          m: fc.oneof(fc.record({ width: fc.anything(), height: fc.anything() }), fc.anything()),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(draftArb, draftArb, (a, b) => {
        const summary = describeDraftChange(a as Draft, b as Draft);
        expect(typeof summary).toBe('string');
        expect(summary.length).toBeGreaterThan(0);
        expect(summary.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
        expect(describeDraftChange(a as Draft, structuredClone(a) as Draft)).toBe(NO_CHANGE);
      }),
      { numRuns: 300 },
    );
  });
});
