// Checks a draft against the job's output wishes and words the one corrective message for the checks that failed.
import { z } from 'zod';
import type { Draft } from '../nemo/schemas.js';
import { aspectPhrase, inlineText, musicStylePhrase, quoteSafe, secondsText } from './compile.js';
import {
  asRecord,
  hasFilledTrack,
  readCanvas,
  readDurationMs,
  readTracks,
  titleTexts,
  TRACK_BGM,
  TRACK_TITLE,
  type TrackView,
} from './draft-read.js';
import { pixelsOf, ratioOf, shortSideOf, type Output } from './output.js';

export const CHECK_NAMES = ['aspect_ratio', 'resolution', 'duration', 'music', 'title'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export const checkSchema = z
  .object({
    name: z.enum(CHECK_NAMES).describe('Which wish this check is about.'),
    wanted: z.string().describe('What the caller asked for, e.g. "9:16 (1080x1920)", "15 s", "present".'),
    got: z.string().nullable().describe('What the draft has, e.g. "1920x1080", "10 s", "none"; null when it cannot be read.'),
    ok: z.boolean().nullable().describe('Whether the draft matches; null when unknown.'),
  })
  .describe('One conformance check of the result against an output wish.');
export type Check = z.infer<typeof checkSchema>;

export const conformanceReportSchema = z.object({
  checks: z.array(checkSchema),
  conformant: z
    .boolean()
    .nullable()
    .describe('false when some check failed, true when none failed and some passed, null when nothing could be checked.'),
});
export type ConformanceReport = z.infer<typeof conformanceReportSchema>;

/** The canvas may be off by rounding (1080x1921), not by shape. */
const RATIO_TOLERANCE = 0.01;
/** Agents cut to the beat, not to the millisecond. */
const DURATION_TOLERANCE = 0.1;
const MAX_GOT_CHARS = 200;

/** "10 s", "10.4 s": one decimal only when the length is not a whole number of seconds at that precision. */
export function measuredSecondsText(ms: number): string {
  return `${String(Math.round(ms / 100) / 10)} s`;
}

/** One check per wish the caller expressed, in the spec's order; resolution always (it always has a value). */
export function checkDraft(output: Output, draft: Draft | null): ConformanceReport {
  const resolution = output.resolution ?? '1080p';
  const canvas = readCanvas(draft);
  const tracks = readTracks(draft);
  const checks: Check[] = [];

  if (output.aspect_ratio !== undefined) {
    const px = pixelsOf(output.aspect_ratio, resolution);
    const want = ratioOf(output.aspect_ratio);
    checks.push({
      name: 'aspect_ratio',
      wanted: `${output.aspect_ratio} (${px.width}x${px.height})`,
      got: canvas ? `${canvas.width}x${canvas.height}` : null,
      ok: canvas ? Math.abs(canvas.width / canvas.height - want) <= want * RATIO_TOLERANCE : null,
    });
  }

  // A bigger canvas is fine: the render scales it down to the requested resolution.
  const short = canvas ? Math.min(canvas.width, canvas.height) : null;
  checks.push({
    name: 'resolution',
    wanted: resolution,
    got: short === null ? null : `${short}p`,
    ok: short === null ? null : short >= shortSideOf(resolution),
  });

  if (output.duration_s !== undefined) {
    const ms = readDurationMs(draft);
    const want = output.duration_s * 1000;
    checks.push({
      name: 'duration',
      wanted: `${secondsText(output.duration_s)} s`,
      got: ms === null ? null : measuredSecondsText(ms),
      // The epsilon absorbs float noise such as 4.35 * 1000 = 4349.999…
      ok: ms === null ? null : Math.abs(ms - want) <= want * DURATION_TOLERANCE + 1e-6,
    });
  }

  const music = output.music;
  if (music !== undefined && music !== 'auto') {
    const present = hasFilledTrack(tracks, TRACK_BGM);
    const wantPresent = music !== 'none';
    checks.push({
      name: 'music',
      wanted: wantPresent ? 'present' : 'none',
      got: present ? 'present' : 'none',
      ok: present === wantPresent,
    });
  }

  if (output.title !== undefined) checks.push(titleCheck(output.title, tracks));

  // Without a draft (or with something that is not one) nothing was seen: "no music track" would be a guess.
  if (asRecord(draft) === null) {
    for (const c of checks) {
      c.got = null;
      c.ok = null;
    }
  }
  return { checks, conformant: conformantOf(checks) };
}

/** Case, surrounding whitespace and the `"` → `'` swap the agent was shown do not make a title wrong. */
function sameTitle(a: string, b: string): boolean {
  const norm = (s: string) => quoteSafe(s).trim().toLowerCase();
  return norm(a) === norm(b);
}

function titleCheck(title: string, tracks: TrackView[]): Check {
  const wanted = title;
  if (!hasFilledTrack(tracks, TRACK_TITLE)) return { name: 'title', wanted, got: 'none', ok: false };
  const texts = titleTexts(tracks);
  // No readable text: the title track is there, and its fields are unknown [A], so it gets the benefit of the doubt.
  if (texts.length === 0) return { name: 'title', wanted, got: 'present', ok: true };
  const match = texts.find((t) => sameTitle(t, title));
  const got = match ?? texts[0]!;
  // The check is stored on the job: a runaway text from the draft must not bloat it.
  return { name: 'title', wanted, got: got.length > MAX_GOT_CHARS ? `${got.slice(0, MAX_GOT_CHARS - 1)}…` : got, ok: match !== undefined };
}

/** false if any check failed; else true if any passed; else null (also for no checks). */
export function conformantOf(checks: readonly Check[]): boolean | null {
  if (checks.some((c) => c.ok === false)) return false;
  if (checks.some((c) => c.ok === true)) return true;
  return null;
}

export const CORRECTION_HEADER = 'Please correct the video so that it matches these requirements exactly:';

/** "10 s" → "10 seconds"; anything else is quoted as it is. */
function secondsWords(got: string): string {
  const m = /^(\d+(?:\.\d+)?) s$/.exec(got);
  return m ? `${m[1]} seconds` : got;
}

/** A title read from the draft is quoted back at most this long (the caller's own titles are at most 120). */
const MAX_QUOTED_CHARS = 120;

type Line = (check: Check, output: Output, canvas: string | null) => string;

const LINES: Record<CheckName, Line> = {
  aspect_ratio: (c, o) =>
    o.aspect_ratio !== undefined
      ? `Aspect ratio must be ${aspectPhrase(o.aspect_ratio, o.resolution ?? '1080p')}; it is ${c.got} now.`
      : `Aspect ratio must be ${c.wanted}; it is ${c.got} now.`,
  resolution: (c, _o, canvas) => `Resolution must be at least ${c.wanted}; the canvas is ${canvas ?? c.got} now.`,
  duration: (c, o) => {
    const wanted = o.duration_s !== undefined ? secondsText(o.duration_s) : c.wanted.replace(/ s$/, '');
    return `Length must be ${wanted} seconds long; it is ${secondsWords(c.got ?? '')} now.`;
  },
  music: (c, o) => {
    if (o.music === 'none' || (typeof o.music !== 'object' && c.wanted === 'none')) {
      return 'There must be no music; remove the background music track.';
    }
    const style = typeof o.music === 'object' ? ` (${musicStylePhrase(o.music)})` : '';
    return `Add background music${style}; there is no music track now.`;
  },
  title: (c, o) => {
    const wanted = `Show the title "${quoteSafe(o.title ?? c.wanted)}" at the start`;
    if (c.got === 'none' || c.got === null) return `${wanted}; there is no title track now.`;
    return `${wanted}; the title reads "${inlineText(c.got, MAX_QUOTED_CHARS)}" now.`;
  },
};

/**
 * The corrective message naming every failed check (ok === false) in the spec's order, or null when none failed.
 * The resolution line shows the canvas as WxH: from `draft` when given, else from the aspect-ratio check's reading.
 */
export function correctiveMessage(checks: readonly Check[], output: Output, draft?: Draft | null): string | null {
  const fromDraft = readCanvas(draft);
  const aspectGot = checks.find((c) => c.name === 'aspect_ratio')?.got ?? null;
  const canvas = fromDraft
    ? `${fromDraft.width}x${fromDraft.height}`
    : aspectGot !== null && /^\d+(\.\d+)?x\d+(\.\d+)?$/.test(aspectGot)
      ? aspectGot
      : null;
  const lines: string[] = [];
  for (const name of CHECK_NAMES) {
    for (const check of checks) {
      if (check.name === name && check.ok === false) lines.push(`- ${LINES[name](check, output, canvas)}`);
    }
  }
  return lines.length === 0 ? null : [CORRECTION_HEADER, ...lines].join('\n');
}
