// The structured timeline of a draft for `job.timeline`: canvas, length and each track's segments, capped in size.
import { z } from 'zod';
import type { Draft } from '../nemo/schemas.js';
import {
  asRecord,
  fileNameOf,
  finiteNumber,
  readCanvas,
  readDurationMs,
  readTracks,
  segmentText,
  TRACK_BGM,
  TRACK_TITLE,
  TRACK_VIDEO,
} from './draft-read.js';

/** A huge draft must not bloat the job record (it is rewritten on every step). */
export const MAX_TRACKS = 20;
export const MAX_SEGMENTS_PER_TRACK = 200;
export const MAX_LABEL_CHARS = 200;

export const TRACK_KINDS = ['video', 'audio', 'text', 'other'] as const;
export type TrackKind = (typeof TRACK_KINDS)[number];

export const timelineSegmentSchema = z.object({
  start_ms: z.number().nullable().describe('Where the segment starts on the timeline, ms; null when the draft does not say.'),
  duration_ms: z.number().nullable().describe('How long the segment lasts, ms; null when the draft does not say.'),
  label: z.string().nullable().describe('Its text, else the file name of its source, else its kind; null when none is readable.'),
});

export const timelineTrackSchema = z.object({
  kind: z.enum(TRACK_KINDS).describe('video (tt 0), audio (tt 1, background music), text (tt 7, title), other.'),
  type: z.number().nullable().describe('The upstream track type `tt`; null when it is not a number.'),
  segments: z.array(timelineSegmentSchema).max(MAX_SEGMENTS_PER_TRACK),
});

export const timelineSchema = z
  .object({
    duration_ms: z.number().nullable().describe('Length of the draft, ms; null when unknown.'),
    width: z.number().nullable().describe('Canvas width in pixels; null when unknown.'),
    height: z.number().nullable().describe('Canvas height in pixels; null when unknown.'),
    tracks: z.array(timelineTrackSchema).max(MAX_TRACKS),
  })
  .describe(`The latest draft's timeline (at most ${MAX_TRACKS} tracks of at most ${MAX_SEGMENTS_PER_TRACK} segments each).`);
export type Timeline = z.infer<typeof timelineSchema>;
export type TimelineTrack = z.infer<typeof timelineTrackSchema>;
export type TimelineSegment = z.infer<typeof timelineSegmentSchema>;

const KIND_OF: Record<number, TrackKind> = { [TRACK_VIDEO]: 'video', [TRACK_BGM]: 'audio', [TRACK_TITLE]: 'text' };

function clip(text: string | null): string | null {
  if (text === null) return null;
  const t = text.trim();
  if (t === '') return null;
  return t.length > MAX_LABEL_CHARS ? `${t.slice(0, MAX_LABEL_CHARS - 1)}…` : t;
}

function segmentOf(segment: unknown): TimelineSegment {
  const seg = asRecord(segment);
  const kind = typeof seg?.kind === 'string' ? seg.kind : null;
  return {
    start_ms: finiteNumber(seg?.start),
    duration_ms: finiteNumber(seg?.d),
    label: clip(segmentText(seg)) ?? clip(fileNameOf(seg?.src)) ?? clip(kind),
  };
}

/** The draft as tracks of segments, or null when there is no draft. */
export function timelineOf(draft: Draft | null): Timeline | null {
  if (asRecord(draft) === null) return null;
  const canvas = readCanvas(draft);
  return {
    duration_ms: readDurationMs(draft),
    width: canvas?.width ?? null,
    height: canvas?.height ?? null,
    tracks: readTracks(draft)
      .slice(0, MAX_TRACKS)
      .map((t) => ({
        kind: t.type === null ? 'other' : (KIND_OF[t.type] ?? 'other'),
        type: t.type,
        segments: t.segments.slice(0, MAX_SEGMENTS_PER_TRACK).map(segmentOf),
      })),
  };
}
