// Safe readers of an upstream draft (§2.6 short keys) shared by the conformance checks, the change summary and the timeline.
import type { Draft } from '../nemo/schemas.js';

/*
 * The draft comes from an upstream we do not control and may not have gone through draftSchema, so every reader
 * works on `unknown` and answers "unknown" (null / empty) for any shape it does not expect instead of throwing.
 */

export const TRACK_VIDEO = 0;
export const TRACK_BGM = 1;
export const TRACK_TITLE = 7;

export interface Canvas {
  width: number;
  height: number;
}

/** One track as the readers see it: `type` is `tt` when it is a finite number, `segments` is `sg` when it is an array. */
export interface TrackView {
  type: number | null;
  segments: unknown[];
}

export function asRecord(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A finite number, or null: numeric strings count as unknown because the upstream's numbers are numbers (§2.6). */
export function finiteNumber(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  return value === 0 ? 0 : value; // -0 would read back from JSON as 0 and make a stored copy differ from a fresh one
}

const positive = (value: unknown): number | null => {
  const n = finiteNumber(value);
  return n !== null && n > 0 ? n : null;
};

/** `m.width` × `m.height` when both are positive numbers. */
export function readCanvas(draft: Draft | null | undefined): Canvas | null {
  const m = asRecord(asRecord(draft)?.m);
  const width = positive(m?.width);
  const height = positive(m?.height);
  return width !== null && height !== null ? { width, height } : null;
}

/** The draft's own `d` (ms); 0 is the upstream's placeholder for "not laid out yet", so it counts as unknown. */
export function readDurationMs(draft: Draft | null | undefined): number | null {
  return positive(asRecord(draft)?.d);
}

/** Every object entry of `t`, in order; entries that are not objects are skipped. */
export function readTracks(draft: Draft | null | undefined): TrackView[] {
  const t = asRecord(draft)?.t;
  if (!Array.isArray(t)) return [];
  const out: TrackView[] = [];
  for (const entry of t) {
    const track = asRecord(entry);
    if (!track) continue;
    out.push({ type: finiteNumber(track.tt), segments: Array.isArray(track.sg) ? track.sg : [] });
  }
  return out;
}

/** "Such a track exists" in the spec: a track of that type with a non-empty `sg`. */
export function hasFilledTrack(tracks: TrackView[], type: number): boolean {
  return tracks.some((t) => t.type === type && t.segments.length > 0);
}

const TEXT_KEYS = ['text', 'title', 'content'] as const;

/**
 * The text a segment carries. The segment fields are unknown [A], so this is liberal: `text`, `title` or `content`,
 * as a string or one object level deeper (e.g. `{text: {content: "…"}}`).
 */
export function segmentText(segment: unknown, depth = 0): string | null {
  const seg = asRecord(segment);
  if (!seg) return null;
  for (const key of TEXT_KEYS) {
    const value = seg[key];
    if (typeof value === 'string' && value.trim() !== '') return value;
  }
  if (depth > 0) return null;
  for (const key of TEXT_KEYS) {
    const nested = segmentText(seg[key], depth + 1);
    if (nested !== null) return nested;
  }
  return null;
}

/** The readable texts of every filled title track's segments, in draft order. */
export function titleTexts(tracks: TrackView[]): string[] {
  const out: string[] = [];
  for (const track of tracks) {
    if (track.type !== TRACK_TITLE) continue;
    for (const seg of track.segments) {
      const text = segmentText(seg);
      if (text !== null) out.push(text);
    }
  }
  return out;
}

/** The last path part of a URL or sandbox path (`/mnt/userdata/…/clip.mp4` → `clip.mp4`), or null when there is none. */
export function fileNameOf(src: unknown): string | null {
  if (typeof src !== 'string') return null;
  const clean = src.split(/[?#]/)[0] ?? '';
  const last = clean.split('/').pop() ?? '';
  if (last === '') return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // a stray % is not worth losing the name over
  }
}

const TRACK_NAMES: Record<number, string> = { [TRACK_VIDEO]: 'Video', [TRACK_BGM]: 'BGM', [TRACK_TITLE]: 'Title' };

/** "Video", "BGM", "Title", else "Track type N" ("Track type ?" when `tt` is unknown). */
export function trackName(type: number | null): string {
  if (type === null) return 'Track type ?';
  return TRACK_NAMES[type] ?? `Track type ${type}`;
}
