// Lays job.timeline out for drawing: each segment's start and length on one time axis, with round-number ticks.
import type { Timeline, TimelineTrack } from './types.js';

export interface LaidSegment {
  startMs: number;
  durationMs: number;
  label: string;
}

export interface LaidTrack {
  kind: TimelineTrack['kind'];
  name: string;
  segments: LaidSegment[];
}

export interface TimelineLayout {
  totalMs: number;
  tracks: LaidTrack[];
  ticksMs: number[];
}

const KIND_NAMES: Record<TimelineTrack['kind'], string> = { video: 'Video', audio: 'Audio', text: 'Text', other: 'Other' };
const TICK_STEPS_MS = [100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];

/** A step giving at most ~8 ticks over the axis. */
function tickStep(totalMs: number): number {
  for (const step of TICK_STEPS_MS) if (totalMs / step <= 8) return step;
  return TICK_STEPS_MS[TICK_STEPS_MS.length - 1]!;
}

/**
 * The draft may not say where a segment starts or how long it lasts (null): a segment without a start follows the
 * one before it, and one without a length runs to the end of the timeline (or gets one second when that is unknown).
 */
export function layoutTimeline(timeline: Timeline): TimelineLayout {
  const counts = new Map<string, number>();
  const tracks: LaidTrack[] = timeline.tracks.map((track) => {
    const base = KIND_NAMES[track.kind] ?? 'Other';
    const n = (counts.get(base) ?? 0) + 1;
    counts.set(base, n);
    let cursor = 0;
    const segments = track.segments.map((s, i) => {
      const startMs = s.start_ms !== null && s.start_ms >= 0 ? s.start_ms : cursor;
      const fallback = timeline.duration_ms !== null && timeline.duration_ms > startMs ? timeline.duration_ms - startMs : 1000;
      const durationMs = s.duration_ms !== null && s.duration_ms > 0 ? s.duration_ms : fallback;
      cursor = startMs + durationMs;
      return { startMs, durationMs, label: s.label ?? `${base.toLowerCase()} segment ${i + 1}` };
    });
    return { kind: track.kind, name: n === 1 ? base : `${base} ${n}`, segments };
  });
  // Rename the first of a kind "Video 1" when a second one exists, so the names never repeat.
  for (const t of tracks) if ((counts.get(t.name) ?? 0) > 1) t.name = `${t.name} 1`;
  const segmentsEnd = Math.max(0, ...tracks.flatMap((t) => t.segments.map((s) => s.startMs + s.durationMs)));
  const totalMs = Math.max(timeline.duration_ms ?? 0, segmentsEnd, 1);
  const step = tickStep(totalMs);
  const ticksMs: number[] = [];
  for (let t = 0; t <= totalMs + 1e-6; t += step) ticksMs.push(t);
  return { totalMs, tracks, ticksMs };
}
