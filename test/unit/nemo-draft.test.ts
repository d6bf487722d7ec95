// Draft helpers (§2.6): exportability, timeline summary, duration, sandbox path rewriting, state fingerprints.
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';
import {
  draftDurationMs,
  isExportable,
  rewriteSandboxPaths,
  stateFingerprint,
  storedFilesOf,
  summariseTimeline,
  type Draft,
} from '../../src/nemo/draft.js';
import type { SessionState } from '../../src/nemo/schemas.js';

const seg = (d: number, src?: string) => (src ? { d, src } : { d });
const promo: Draft = {
  t: [
    { tt: 0, sg: [seg(6000), seg(6000), seg(6000), seg(6000), seg(6000)] },
    { tt: 1, sg: [seg(30000)] },
    { tt: 7, sg: [seg(3000)] },
  ],
  d: 30000,
  m: { title: 'Urban Dreams', width: 1920, height: 1080 },
};

describe('isExportable', () => {
  it('needs a track with a non-empty sg', () => {
    expect(isExportable(promo)).toBe(true);
    expect(isExportable(null)).toBe(false);
    expect(isExportable({})).toBe(false);
    expect(isExportable({ t: [] })).toBe(false);
    expect(isExportable({ t: [{ tt: 0, sg: [] }, { tt: 1 }] })).toBe(false);
    expect(isExportable({ t: [{ tt: 0, sg: [] }, { tt: 7, sg: [{}] }] })).toBe(true);
  });
});

describe('summariseTimeline', () => {
  it('names tracks and sums segment durations', () => {
    expect(summariseTimeline(promo)).toBe(
      'Timeline (3 tracks): 1. Video (5 segments, 30.0s) 2. BGM (1 segment, 30.0s) 3. Title (1 segment, 3.0s)',
    );
  });

  it('falls back to the track d, then the draft d, and names unknown track types', () => {
    const draft: Draft = { t: [{ tt: 3, sg: [{}, {}], d: 4500 }, { tt: 0, sg: [{ src: 'x' }] }], d: 12000 };
    expect(summariseTimeline(draft)).toBe('Timeline (2 tracks): 1. Track type 3 (2 segments, 4.5s) 2. Video (1 segment, 12.0s)');
    expect(summariseTimeline({ t: [{ tt: 1, sg: [] }] })).toBe('Timeline (1 track): 1. BGM (0 segments)');
  });

  it('says empty when there are no tracks', () => {
    expect(summariseTimeline(null)).toBe('Timeline (empty)');
    expect(summariseTimeline({ t: [] })).toBe('Timeline (empty)');
  });
});

describe('draftDurationMs', () => {
  it('prefers the draft d, else the longest track', () => {
    expect(draftDurationMs(promo)).toBe(30000);
    expect(draftDurationMs({ t: [{ tt: 0, sg: [seg(1000), seg(2500)] }, { tt: 1, d: 3000 }] })).toBe(3500);
    expect(draftDurationMs({ t: [{ tt: 0, sg: [{}] }] })).toBeNull();
    expect(draftDurationMs(null)).toBeNull();
  });
});

describe('rewriteSandboxPaths', () => {
  it('replaces /mnt/userdata paths anywhere by the cdn_url of the same file name, without mutating the input', () => {
    const draft: Draft = {
      t: [
        { tt: 0, sg: [{ d: 1000, src: '/mnt/userdata/u1/uploads/a.mp4', nested: { thumbs: ['/mnt/userdata/x/b%20c.jpg'] } }] },
        { tt: 1, sg: [{ d: 2000, src: '/mnt/userdata/u1/music/missing.mp3' }] },
      ],
      m: { cover: '/mnt/userdata/u1/s3key-stored.png', note: 'not /mnt/userdata/ at the start' },
    };
    const before = JSON.stringify(draft);
    const { draft: out, unresolved } = rewriteSandboxPaths(draft, [
      { filename: 'a.mp4', cdnUrl: 'https://cdn/1/a.mp4' },
      { filename: 'b c.jpg', cdnUrl: 'https://cdn/2/b-c.jpg' },
      { filename: 'original.png', cdnUrl: 'https://cdn/3/s3key-stored.png' },
    ]);
    expect(JSON.stringify(draft)).toBe(before);
    expect(out.t?.[0]?.sg?.[0]).toEqual({ d: 1000, src: 'https://cdn/1/a.mp4', nested: { thumbs: ['https://cdn/2/b-c.jpg'] } });
    expect(out.t?.[1]?.sg?.[0]).toEqual({ d: 2000, src: '/mnt/userdata/u1/music/missing.mp3' });
    expect(out.m).toEqual({ cover: 'https://cdn/3/s3key-stored.png', note: 'not /mnt/userdata/ at the start' });
    expect(unresolved).toEqual(['/mnt/userdata/u1/music/missing.mp3']);
  });
});

describe('storedFilesOf', () => {
  it('names each file of state.video_infos by its s3_key file name, skipping entries without both fields', () => {
    const state: SessionState = {
      sessionId: 's',
      taskId: null,
      draft: null,
      raw: {
        state: {
          video_infos: [
            { filename: 'photo.jpg', s3_key: 'userdata/s/9f2c1a.jpg', cdn_url: 'https://cdn/s/photo.jpg' },
            { filename: 'no-key.png', cdn_url: 'https://cdn/s/no-key.png' },
            'not an object',
          ],
        },
      },
    };
    expect(storedFilesOf(state)).toEqual([{ filename: '9f2c1a.jpg', cdnUrl: 'https://cdn/s/photo.jpg' }]);
    expect(storedFilesOf({ ...state, raw: {} })).toEqual([]);
  });
});

describe('stateFingerprint', () => {
  const state = (inner: Record<string, unknown>): SessionState => ({ sessionId: 's', taskId: null, draft: null, raw: { session_id: 's', state: inner } });

  it('ignores key order and unrelated fields, changes with draft, generated_media or video_infos count', () => {
    const a = stateFingerprint(state({ draft: { t: [{ tt: 0, sg: [1] }], d: 5 }, video_infos: [{}], canvas_config: { w: 1 } }));
    const b = stateFingerprint(state({ canvas_config: { w: 2 }, video_infos: [{ other: true }], draft: { d: 5, t: [{ sg: [1], tt: 0 }] } }));
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(stateFingerprint(state({ draft: { t: [{ tt: 0, sg: [1, 2] }], d: 5 }, video_infos: [{}] }))).not.toBe(a);
    expect(stateFingerprint(state({ draft: { t: [{ tt: 0, sg: [1] }], d: 5 }, video_infos: [{}, {}] }))).not.toBe(a);
    expect(stateFingerprint(state({ draft: { t: [{ tt: 0, sg: [1] }], d: 5 }, video_infos: [{}], generated_media: [{ url: 'u' }] }))).not.toBe(a);
  });

  it('canonicalJson sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
  });
});
