// Summarises what one agent message changed in the draft, in a short deterministic line for `job.changes`.
import { canonicalJson } from '../core/canonical-json.js';
import type { Draft } from '../nemo/schemas.js';
import { inlineText } from './compile.js';
import {
  hasFilledTrack,
  readCanvas,
  readDurationMs,
  readTracks,
  titleTexts,
  trackName,
  TRACK_BGM,
  TRACK_TITLE,
  type Canvas,
  type TrackView,
} from './draft-read.js';

export const NO_CHANGE = 'no visible change to the timeline';
/** The summary goes on the job record once per message, so it stays one short line. */
export const MAX_SUMMARY_CHARS = 300;
const MAX_TITLE_CHARS = 60;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const seconds = (ms: number | null) => (ms === null ? 'unknown' : `${(ms / 1000).toFixed(1)} s`);
const canvasText = (c: Canvas | null) => (c === null ? 'unknown' : `${c.width}x${c.height}`);

/** A draft's title text can be anything the agent wrote; it is clipped so one part cannot fill the summary. */
const titleText = (text: string) => inlineText(text, MAX_TITLE_CHARS);

/** Tracks grouped by type: the summary speaks of "the Video track", not of track 3. */
function byType(tracks: TrackView[]): Map<number | null, TrackView[]> {
  const groups = new Map<number | null, TrackView[]>();
  for (const t of tracks) {
    const group = groups.get(t.type);
    if (group) group.push(t);
    else groups.set(t.type, [t]);
  }
  return groups;
}

/** Types in ascending order and unknown (`null`) last, so the parts always come out in the same order. */
function sortedTypes(...maps: Map<number | null, unknown>[]): (number | null)[] {
  const all = new Set<number | null>();
  for (const m of maps) for (const k of m.keys()) all.add(k);
  return [...all].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
}

const segmentCount = (tracks: TrackView[]) => tracks.reduce((n, t) => n + t.segments.length, 0);

/** Joins parts with ", " up to the cap; a cut summary ends with "…". */
function joinCapped(parts: string[]): string {
  let out = '';
  for (const part of parts) {
    const next = out === '' ? part : `${out}, ${part}`;
    if (next.length > MAX_SUMMARY_CHARS - 1) return out === '' ? `${part.slice(0, MAX_SUMMARY_CHARS - 1)}…` : `${out}, …`;
    out = next;
  }
  return out;
}

/** e.g. "added BGM track, duration 10.0 s → 15.0 s, title set to \"Urban Dreams\"", or NO_CHANGE. */
export function describeDraftChange(before: Draft | null, after: Draft | null): string {
  const a = readTracks(before);
  const b = readTracks(after);
  if (a.length === 0 && b.length > 0) {
    const ms = readDurationMs(after);
    return `new timeline (${plural(b.length, 'track')}${ms === null ? '' : `, ${seconds(ms)}`})`;
  }
  if (a.length > 0 && b.length === 0) return 'timeline cleared';

  const groupsA = byType(a);
  const groupsB = byType(b);
  const types = sortedTypes(groupsA, groupsB);
  const count = (g: Map<number | null, TrackView[]>, type: number | null) => g.get(type)?.length ?? 0;
  const parts: string[] = [];

  for (const type of types) {
    const n = count(groupsB, type) - count(groupsA, type);
    if (n > 0) parts.push(n === 1 ? `added ${trackName(type)} track` : `added ${n} ${trackName(type)} tracks`);
  }
  for (const type of types) {
    const n = count(groupsA, type) - count(groupsB, type);
    if (n > 0) parts.push(n === 1 ? `removed ${trackName(type)} track` : `removed ${n} ${trackName(type)} tracks`);
  }

  const msA = readDurationMs(before);
  const msB = readDurationMs(after);
  // Compared as shown: a 20 ms nudge is not worth a "15.0 s → 15.0 s".
  if (seconds(msA) !== seconds(msB)) parts.push(`duration ${seconds(msA)} → ${seconds(msB)}`);
  const canvasA = canvasText(readCanvas(before));
  const canvasB = canvasText(readCanvas(after));
  if (canvasA !== canvasB) parts.push(`canvas ${canvasA} → ${canvasB}`);

  // An added or removed BGM track already says it; "music set" is for a track that was filled or emptied.
  const sameBgmCount = count(groupsA, TRACK_BGM) === count(groupsB, TRACK_BGM);
  const musicA = hasFilledTrack(a, TRACK_BGM);
  const musicB = hasFilledTrack(b, TRACK_BGM);
  if (sameBgmCount && !musicA && musicB) parts.push('music set');
  if (sameBgmCount && musicA && !musicB) parts.push('music removed');

  const title = titleChange(a, b, count(groupsA, TRACK_TITLE) === count(groupsB, TRACK_TITLE));
  if (title !== null) parts.push(title);

  for (const type of types) {
    const ta = groupsA.get(type) ?? [];
    const tb = groupsB.get(type) ?? [];
    if (ta.length === 0 || ta.length !== tb.length) continue; // the added/removed part covers it
    const na = segmentCount(ta);
    const nb = segmentCount(tb);
    if (na !== nb) parts.push(`${trackName(type)} track${ta.length > 1 ? 's' : ''}: ${plural(na, 'segment')} → ${plural(nb, 'segment')}`);
  }

  if (parts.length === 0) {
    // Same shape, different content (a clip swapped, a style changed): say where rather than "no change".
    for (const type of types) {
      const sa = (groupsA.get(type) ?? []).map((t) => t.segments);
      const sb = (groupsB.get(type) ?? []).map((t) => t.segments);
      if (canonicalJson(sa) !== canonicalJson(sb)) parts.push(`${trackName(type)} track${sa.length > 1 ? 's' : ''}: segments edited`);
    }
  }
  return parts.length === 0 ? NO_CHANGE : joinCapped(parts);
}

function titleChange(a: TrackView[], b: TrackView[], sameTrackCount: boolean): string | null {
  const hadTitle = hasFilledTrack(a, TRACK_TITLE);
  const hasTitle = hasFilledTrack(b, TRACK_TITLE);
  const textA = titleTexts(a)[0] ?? null;
  const textB = titleTexts(b)[0] ?? null;
  if (!hadTitle && hasTitle) {
    if (textB !== null) return `title set to "${titleText(textB)}"`;
    return sameTrackCount ? 'title set' : null;
  }
  if (hadTitle && !hasTitle) return sameTrackCount ? 'title removed' : null;
  if (hadTitle && hasTitle && textB !== null && textA !== textB) return `title changed to "${titleText(textB)}"`;
  return null;
}
