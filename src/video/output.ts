// The job's `output` wishes (zod schema, types) and the pixel canvas of an aspect ratio at a resolution.
import { z } from 'zod';

export const ASPECT_RATIOS = ['16:9', '9:16', '1:1', '4:5'] as const;
export const RESOLUTIONS = ['720p', '1080p'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
export type Resolution = (typeof RESOLUTIONS)[number];

/** The upstream renders at most 1080x1920 (protocol §2.8), so this is the largest short side a caller can ask for. */
export const MAX_SHORT_SIDE = 1080;

// Control characters (a newline above all) would break the one-line-per-wish message the agent and the simulator read;
// so would the other line breaks Unicode and JavaScript know: NEL (U+0085) and the line and paragraph separators.
// eslint-disable-next-line no-control-regex
const ONE_LINE = /^[^\u0000-\u001f\u007f\u0085\u2028\u2029]*$/;

const line = (max: number) =>
  z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .regex(ONE_LINE, 'must be a single line of text');

/**
 * Whether a resolution value names more than the upstream can render: "1440p", "2160", "4k", "2.7K", "3840x2160",
 * "uhd", "qhd"… These get their own message so the caller learns it is a limit, not a typo.
 */
export function namesMoreThanMax(value: string): boolean {
  const v = value.trim().toLowerCase();
  const p = /^(\d+(?:\.\d+)?)\s*p?$/.exec(v);
  if (p) return Number(p[1]) > MAX_SHORT_SIDE;
  const k = /^(\d+(?:\.\d+)?)\s*k(?:\s*uhd)?$/.exec(v);
  if (k) return Number(k[1]) >= 2; // "2k" is 2048x1080 or 1440p depending on who says it; both are more than we render
  const wh = /^(\d+)\s*[x×]\s*(\d+)$/.exec(v);
  if (wh) return Math.min(Number(wh[1]), Number(wh[2])) > MAX_SHORT_SIDE;
  return /^(?:w?qhd|uhd|ultra\s*hd|qhd\+|full\s*uhd)$/.test(v);
}

const resolutionChoice = z.enum(RESOLUTIONS, {
  error: (issue) =>
    typeof issue.input === 'string' && namesMoreThanMax(issue.input)
      ? `the upstream renders at most 1080p (1080x1920); ${issue.input.trim()} is not available`
      : 'must be one of 720p, 1080p',
});

export const musicSchema = z
  .union(
    [
      z.enum(['auto', 'none']),
      z.strictObject({
        style: line(100).describe('The kind of background music, in words, e.g. "lo-fi" or "upbeat acoustic".'),
        volume: z
          .number()
          .min(0, 'must be between 0 and 1')
          .max(1, 'must be between 0 and 1')
          .optional()
          .describe('Music volume from 0 (silent) to 1 (full).'),
      }),
    ],
    { error: 'must be "auto", "none" or {"style": "…", "volume"?: 0..1}' },
  )
  .describe('"auto" lets the agent decide, "none" asks for no music, an object asks for background music of that style.');
export type Music = z.infer<typeof musicSchema>;

/** Each wish without its default: the job's schema adds those, a revision's changes take them as they are. */
const wish = {
  format: z.enum(['mp4'], { error: 'must be mp4' }),
  quality: z.enum(['low', 'medium', 'high'], { error: 'must be one of low, medium, high' }),
  resolution: resolutionChoice,
  aspect_ratio: z.enum(ASPECT_RATIOS, { error: 'must be one of 16:9, 9:16, 1:1, 4:5' }),
  duration_s: z.number({ error: 'must be a number of seconds' }).min(3, 'must be at least 3 (seconds)').max(300, 'must be at most 300 (seconds)'),
  music: musicSchema,
  title: line(120),
  transitions: line(100),
};
const WISH_TEXT = {
  format: 'Container of the result; only mp4.',
  quality: 'Render quality (encoder effort and bitrate).',
  resolution: 'Size of the rendered video: the short side in pixels. The upstream renders at most 1080p (1080x1920).',
  aspect_ratio: 'Shape of the video; with the resolution it fixes the canvas, e.g. 9:16 at 1080p is 1080x1920.',
  duration_s: 'Length of the video in seconds (3–300, fractions allowed).',
  music: musicSchema.description!,
  title: 'A title shown at the start of the video.',
  transitions: '"auto" lets the agent decide, "none" asks for hard cuts, other words name the transitions, e.g. "crossfade".',
} as const;

export const outputSchema = z
  .strictObject({
    format: wish.format.default('mp4').describe(WISH_TEXT.format),
    quality: wish.quality.default('high').describe(WISH_TEXT.quality),
    resolution: wish.resolution.default('1080p').describe(WISH_TEXT.resolution),
    aspect_ratio: wish.aspect_ratio.optional().describe(WISH_TEXT.aspect_ratio),
    duration_s: wish.duration_s.optional().describe(WISH_TEXT.duration_s),
    music: wish.music.optional(),
    title: wish.title.optional().describe(WISH_TEXT.title),
    transitions: wish.transitions.optional().describe(WISH_TEXT.transitions),
  })
  .describe('What the video must be: the agent is told the wishes and the result is checked against them.');

const DROPPABLE = ' null drops the parent’s wish.';
/**
 * A revision's changes to its parent's wishes: a wish given replaces the parent's, one left out stands, and null drops
 * one the parent had (the ones with a default go back to it). "Make it square" on a 30 s 16:9 promo with music and a
 * title is {"aspect_ratio": "1:1"}, and the music, title and length are still asked for and checked.
 */
export const outputChangesSchema = z
  .strictObject({
    format: wish.format.optional().describe(WISH_TEXT.format),
    quality: wish.quality.optional().describe(WISH_TEXT.quality),
    resolution: wish.resolution.optional().describe(WISH_TEXT.resolution),
    aspect_ratio: wish.aspect_ratio.nullable().optional().describe(WISH_TEXT.aspect_ratio + DROPPABLE),
    duration_s: wish.duration_s.nullable().optional().describe(WISH_TEXT.duration_s + DROPPABLE),
    music: wish.music.nullable().optional().describe(WISH_TEXT.music + DROPPABLE),
    title: wish.title.nullable().optional().describe(WISH_TEXT.title + DROPPABLE),
    transitions: wish.transitions.nullable().optional().describe(WISH_TEXT.transitions + DROPPABLE),
  })
  .describe('The wishes to change, over the parent job’s: each one given replaces the parent’s, the others stand, null drops one.');
export type OutputChanges = z.infer<typeof outputChangesSchema>;

/** The parent's wishes with a revision's changes applied (see outputChangesSchema). */
export function applyOutputChanges(parent: Output, changes: OutputChanges): Output {
  const next: Record<string, unknown> = { ...parent };
  for (const [field, value] of Object.entries(changes)) {
    if (value === null) delete next[field];
    else if (value !== undefined) next[field] = value;
  }
  return outputSchema.parse(next);
}

/** What jobs store: format, quality and resolution always have a value. */
export type Output = z.infer<typeof outputSchema>;
/** What a caller may send. */
export type OutputInput = z.input<typeof outputSchema>;

/** The output of a job that asked for nothing (every default filled in). */
export const DEFAULT_OUTPUT: Output = Object.freeze(outputSchema.parse({}));

const CONFORMANCE_TEXT = '"report" only reports the checks of the result; "correct" sends one corrective message when a check fails.';
/** The setting without a default, for a body whose absent value means something else (a revision: its parent's). */
export const conformanceChoiceSchema = z.enum(['report', 'correct'], { error: 'must be report or correct' }).describe(CONFORMANCE_TEXT);
export const conformanceSchema = conformanceChoiceSchema.default('report').describe(CONFORMANCE_TEXT);
export type Conformance = z.infer<typeof conformanceSchema>;

const SHORT_SIDE: Record<Resolution, number> = { '720p': 720, '1080p': 1080 };
const RATIO: Record<AspectRatio, [number, number]> = { '16:9': [16, 9], '9:16': [9, 16], '1:1': [1, 1], '4:5': [4, 5] };

/** The short side in pixels of a resolution (720p → 720). */
export function shortSideOf(resolution: Resolution): number {
  return SHORT_SIDE[resolution];
}

/** Width over height of an aspect ratio (9:16 → 0.5625). */
export function ratioOf(aspect: AspectRatio): number {
  const [w, h] = RATIO[aspect];
  return w / h;
}

/** The canvas of a ratio at a resolution: the short side is the resolution (9:16 at 1080p → 1080x1920). */
export function pixelsOf(aspect: AspectRatio, resolution: Resolution): { width: number; height: number } {
  const [w, h] = RATIO[aspect];
  const short = SHORT_SIDE[resolution];
  return w >= h ? { width: Math.round((short * w) / h), height: short } : { width: short, height: Math.round((short * h) / w) };
}

/** The word the agent reads after the pixels. */
export function orientationOf(aspect: AspectRatio): 'horizontal' | 'vertical' | 'square' {
  const [w, h] = RATIO[aspect];
  return w > h ? 'horizontal' : w < h ? 'vertical' : 'square';
}
