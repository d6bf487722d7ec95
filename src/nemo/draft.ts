// Draft helpers (§2.6): exportability, a one-line timeline summary, duration, sandbox-path rewriting, state fingerprints.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { draftSchema, type Draft, type SessionState, type Track } from './schemas.js';

export type { Draft } from './schemas.js';

function tracks(draft: Draft | null): Track[] {
  return Array.isArray(draft?.t) ? draft.t : [];
}

/** Exportable once some track has a non-empty `sg` (§2.6). */
export function isExportable(draft: Draft | null): boolean {
  return tracks(draft).some((t) => Array.isArray(t.sg) && t.sg.length > 0);
}

const TRACK_NAMES: Record<number, string> = { 0: 'Video', 1: 'BGM', 7: 'Title' };

function segmentDurationSum(track: Track): number | null {
  let sum = 0;
  let any = false;
  for (const s of track.sg ?? []) {
    const d = s && typeof s === 'object' ? (s as Record<string, unknown>).d : undefined;
    if (typeof d === 'number' && Number.isFinite(d) && d > 0) {
      sum += d;
      any = true;
    }
  }
  return any ? sum : null;
}

/** Segment `d` sums, else the track's `d`, else the draft's `d` (ms). */
function trackDurationMs(track: Track, draft: Draft | null): number | null {
  const fromSegments = segmentDurationSum(track);
  if (fromSegments !== null) return fromSegments;
  if (typeof track.d === 'number' && track.d > 0) return track.d;
  if (typeof draft?.d === 'number' && draft.d > 0) return draft.d;
  return null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** e.g. "Timeline (3 tracks): 1. Video (5 segments, 30.0s) 2. BGM (1 segment, 30.0s) 3. Title (1 segment, 3.0s)". */
export function summariseTimeline(draft: Draft | null): string {
  const list = tracks(draft);
  if (list.length === 0) return 'Timeline (empty)';
  const items = list.map((t, i) => {
    const name = typeof t.tt === 'number' ? (TRACK_NAMES[t.tt] ?? `Track type ${t.tt}`) : 'Track type ?';
    const ms = trackDurationMs(t, draft);
    const detail = [plural(t.sg?.length ?? 0, 'segment')];
    if (ms !== null) detail.push(`${(ms / 1000).toFixed(1)}s`);
    return `${i + 1}. ${name} (${detail.join(', ')})`;
  });
  return `Timeline (${plural(list.length, 'track')}): ${items.join(' ')}`;
}

/** The draft's own `d`, else the longest track. */
export function draftDurationMs(draft: Draft | null): number | null {
  if (!draft) return null;
  if (typeof draft.d === 'number' && draft.d > 0) return draft.d;
  let best: number | null = null;
  for (const t of tracks(draft)) {
    const ms = segmentDurationSum(t) ?? (typeof t.d === 'number' && t.d > 0 ? t.d : null);
    if (ms !== null && (best === null || ms > best)) best = ms;
  }
  return best;
}

const SANDBOX_PREFIX = '/mnt/userdata/';

function basename(pathOrUrl: string): string {
  const clean = pathOrUrl.split(/[?#]/)[0] ?? pathOrUrl;
  const last = clean.split('/').pop() ?? clean;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * Drafts may reference sandbox-local `/mnt/userdata/…/<file>` paths; the CLI swaps them for the file's cdn_url before
 * rendering, matching by file name (§2.6). Returns a new draft; the input is not modified.
 */
export function rewriteSandboxPaths(
  draft: Draft,
  files: { filename: string; cdnUrl: string }[],
): { draft: Draft; unresolved: string[] } {
  const byName = new Map<string, string>();
  for (const f of files) {
    // The uploaded name first, then the name the CDN stored it under (the CLI matches on the s3 key's file name).
    if (!byName.has(basename(f.filename))) byName.set(basename(f.filename), f.cdnUrl);
    if (!byName.has(basename(f.cdnUrl))) byName.set(basename(f.cdnUrl), f.cdnUrl);
  }
  const unresolved = new Set<string>();
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') {
      if (!value.startsWith(SANDBOX_PREFIX)) return value;
      const url = byName.get(basename(value));
      if (url === undefined) unresolved.add(value);
      return url ?? value;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v);
      return out;
    }
    return value;
  };
  return { draft: draftSchema.parse(walk(draft)), unresolved: [...unresolved] };
}

const storedFileSchema = z.looseObject({ s3_key: z.string().min(1), cdn_url: z.string().min(1) });

/**
 * The session's files by their storage key's file name (state.video_infos[].s3_key → cdn_url): the name a sandbox path
 * may use when it is not the uploaded one (the CLI matches on it, §2.6). Entries without both fields are skipped.
 */
export function storedFilesOf(state: SessionState): { filename: string; cdnUrl: string }[] {
  const inner = state.raw.state;
  const infos = inner && typeof inner === 'object' ? (inner as Record<string, unknown>).video_infos : undefined;
  if (!Array.isArray(infos)) return [];
  return infos.flatMap((info) => {
    const parsed = storedFileSchema.safeParse(info);
    return parsed.success ? [{ filename: basename(parsed.data.s3_key), cdnUrl: parsed.data.cdn_url }] : [];
  });
}

/** The parts of state whose change means "the message did something" (§3): the draft, generated media, uploads. */
export interface StateMaterial {
  draft: unknown;
  generated_media: unknown;
  video_infos: number;
}

export function stateMaterialOf(state: SessionState): StateMaterial {
  const inner = state.raw.state;
  const s = inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : {};
  return {
    draft: s.draft ?? state.draft ?? null,
    generated_media: s.generated_media ?? null,
    video_infos: Array.isArray(s.video_infos) ? s.video_infos.length : 0,
  };
}

export function materialFingerprint(m: StateMaterial): string {
  const material = { draft: m.draft ?? null, generated_media: m.generated_media ?? null, video_infos: m.video_infos };
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/** What "the state changed" means during reconciliation (§3). */
export function stateFingerprint(state: SessionState): string {
  return materialFingerprint(stateMaterialOf(state));
}
