// The structured timeline of a draft: kinds, segment fields, labels, caps, and odd shapes that must not throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Draft } from '../../src/nemo/schemas.js';
import { MAX_LABEL_CHARS, MAX_SEGMENTS_PER_TRACK, MAX_TRACKS, timelineOf, timelineSchema } from '../../src/video/timeline.js';

describe('timelineOf', () => {
  it('is null without a draft', () => {
    expect(timelineOf(null)).toBeNull();
    expect(timelineOf('draft' as unknown as Draft)).toBeNull();
    expect(timelineOf([] as unknown as Draft)).toBeNull();
  });

  it('lays out a simulator-shaped draft', () => {
    const draft = {
      t: [
        { tt: 0, d: 10000, sg: [{ id: 'v1', kind: 'video', src: 'https://cdn.example/u/clip%201.mp4?sig=abc', start: 0, d: 6000 }, { id: 'v2', kind: 'image', src: '/mnt/userdata/s1/photo.jpg', start: 6000, d: 4000 }] },
        { tt: 1, d: 10000, sg: [{ id: 'a1', kind: 'audio', src: 'https://cdn.example/bgm_1.mp3', start: 0, d: 10000, style: 'lo-fi', volume: 0.3 }] },
        { tt: 7, d: 3000, sg: [{ id: 't1', kind: 'text', text: 'Urban Dreams', start: 0, d: 3000 }] },
      ],
      d: 10000,
      m: { title: 'Urban Dreams', width: 1080, height: 1920, fps: 30 },
    } as Draft;
    expect(timelineOf(draft)).toEqual({
      duration_ms: 10000,
      width: 1080,
      height: 1920,
      tracks: [
        {
          kind: 'video',
          type: 0,
          segments: [
            { start_ms: 0, duration_ms: 6000, label: 'clip 1.mp4' },
            { start_ms: 6000, duration_ms: 4000, label: 'photo.jpg' },
          ],
        },
        { kind: 'audio', type: 1, segments: [{ start_ms: 0, duration_ms: 10000, label: 'bgm_1.mp3' }] },
        { kind: 'text', type: 7, segments: [{ start_ms: 0, duration_ms: 3000, label: 'Urban Dreams' }] },
      ],
    });
  });

  it('labels a segment by its text, else the file name of src, else its kind, else null', () => {
    const labels = (sg: unknown[]) => timelineOf({ t: [{ tt: 4, sg }] } as Draft)?.tracks[0]?.segments.map((s) => s.label);
    expect(labels([{ text: 'Hi', title: 'T', src: 'a.mp4', kind: 'k' }, { title: 'T', src: 'a.mp4' }, { content: { text: 'deep' } }])).toEqual(['Hi', 'T', 'deep']);
    expect(labels([{ src: 'a.mp4', kind: 'video' }, { src: 'https://x/', kind: 'video' }, { kind: 'generated' }, {}, 'junk', null, { text: '  ' }])).toEqual([
      'a.mp4',
      'video',
      'generated',
      null,
      null,
      null,
      null,
    ]);
    expect(labels([{ text: 'x'.repeat(1000) }])?.[0]).toHaveLength(MAX_LABEL_CHARS);
  });

  it('maps track types to kinds and keeps unknown ones as other', () => {
    const draft = { t: [{ tt: 0 }, { tt: 1 }, { tt: 7 }, { tt: 3 }, { tt: '0' }, {}, 'junk', null] } as unknown as Draft;
    expect(timelineOf(draft)?.tracks.map((t) => [t.kind, t.type, t.segments.length])).toEqual([
      ['video', 0, 0],
      ['audio', 1, 0],
      ['text', 7, 0],
      ['other', 3, 0],
      ['other', null, 0],
      ['other', null, 0],
    ]);
  });

  it('reads only numbers as times and sizes', () => {
    const draft = { t: [{ tt: 0, sg: [{ start: '0', d: Number.POSITIVE_INFINITY }, { start: -1, d: -0 }] }], d: '10000', m: { width: '1920', height: 1080 } } as unknown as Draft;
    expect(timelineOf(draft)).toEqual({
      duration_ms: null,
      width: null,
      height: null,
      tracks: [{ kind: 'video', type: 0, segments: [{ start_ms: null, duration_ms: null, label: null }, { start_ms: -1, duration_ms: 0, label: null }] }],
    });
    expect(Object.is(timelineOf(draft)?.tracks[0]?.segments[1]?.duration_ms, 0)).toBe(true);
  });

  it('caps tracks and segments so a huge draft stays small', () => {
    const sg = Array.from({ length: MAX_SEGMENTS_PER_TRACK + 50 }, (_, i) => ({ start: i, d: 1 }));
    const draft = { t: Array.from({ length: MAX_TRACKS + 5 }, (_, i) => ({ tt: i, sg })) } as Draft;
    const timeline = timelineOf(draft);
    expect(timeline?.tracks).toHaveLength(MAX_TRACKS);
    expect(timeline?.tracks.map((t) => t.type)).toEqual(Array.from({ length: MAX_TRACKS }, (_, i) => i));
    for (const t of timeline?.tracks ?? []) expect(t.segments).toHaveLength(MAX_SEGMENTS_PER_TRACK);
    expect(timeline?.tracks[0]?.segments.at(-1)?.start_ms).toBe(MAX_SEGMENTS_PER_TRACK - 1);
    expect(timelineSchema.safeParse(timeline).success).toBe(true);
  });

  it('always fits its schema and survives JSON, whatever the draft looks like', () => {
    const segArb = fc.oneof(
      fc.record({ start: fc.anything(), d: fc.anything(), text: fc.anything(), src: fc.anything(), kind: fc.anything() }, { requiredKeys: [] }),
      fc.anything(),
    );
    const draftArb = fc.oneof(
      fc.record(
        {
          t: fc.oneof(fc.array(fc.record({ tt: fc.anything(), sg: fc.oneof(fc.array(segArb, { maxLength: 5 }), fc.anything()) }, { requiredKeys: [] }), { maxLength: 25 }), fc.anything()),
          d: fc.anything(),
          m: fc.anything(),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(draftArb, (draft) => {
        const timeline = timelineOf(draft as Draft);
        if (timeline === null) return;
        expect(timelineSchema.parse(timeline)).toEqual(timeline);
        expect(JSON.parse(JSON.stringify(timeline))).toEqual(timeline);
      }),
      { numRuns: 300 },
    );
  });
});
