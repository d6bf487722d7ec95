// Reads what a chat message asks for (duration, music, title, aspect, transitions) with plain regexes.
import { readRequirements } from './requirements.js';

export interface Intent {
  durationMs?: number;
  music?: { style: string; volume: number };
  removeMusic: boolean;
  title?: { text?: string; durationMs: number };
  removeTitle: boolean;
  canvas?: { width: number; height: number };
  /** The canvas's short side must reach this (a corrective "at least 1080p"); scaled up keeping the ratio. */
  minShortSide?: number;
  /** Free text "in 720p" with no ratio: the current canvas scaled to this short side, keeping its ratio. */
  shortSide?: number;
  transition?: string;
  /** Hard cuts: strip every transition from the video track. */
  removeTransitions?: boolean;
}

const UNIT = '(s|secs?|seconds?|min|mins|minutes?)';
const DURATION = new RegExp(`(\\d+(?:\\.\\d+)?)\\s*-?\\s*${UNIT}\\b`, 'gi');
const STYLES = ['lo-fi', 'upbeat', 'calm', 'cinematic', 'epic', 'jazz', 'piano', 'ambient', 'electronic', 'acoustic', 'chill'];

const TITLE_WORDS = '(title|text|caption|captions|subtitle|heading|headline)';

const toMs = (m: RegExpMatchArray) => Math.round(Number(m[1]) * ((m[2] ?? 's').toLowerCase().startsWith('m') ? 60_000 : 1000));

/**
 * "title "Autumn Sale" for 3 seconds", "show the text for 2 s": a duration said of a title is how long the title
 * shows, not the video's length. That is: "for <n>" right after a title word in the same clause, with nothing in
 * between that turns to the video ("add a title and make the video for 30 seconds" is the video's).
 */
function isTitleDuration(text: string, index: number): boolean {
  // Quoted words (the title itself) are blanked first: a full stop inside "Sale." is not the clause's end.
  const clause = text.slice(0, index).replace(/["“][^"“”\n]*["”]/g, '""').split(/[.;!?\n]/).pop() ?? '';
  if (!/\bfor\s*$/i.test(clause)) return false;
  const words = [...clause.matchAll(new RegExp(`\\b${TITLE_WORDS}\\b`, 'gi'))];
  const lastTitle = words.at(-1);
  if (!lastTitle) return false;
  const between = clause.slice(lastTitle.index + lastTitle[0].length);
  return !/\b(and|video|clip|movie|it|length|long|whole|total|overall)\b/i.test(between);
}

/** The video length: the first "<n> s/seconds/minutes" that is neither a title window ("first 3 seconds") nor a title's own. */
function parseDuration(text: string): number | undefined {
  for (const m of text.matchAll(DURATION)) {
    const before = text.slice(Math.max(0, m.index - 12), m.index).toLowerCase();
    if (/\b(first|last|opening|final)\s*$/.test(before)) continue;
    if (isTitleDuration(text, m.index)) continue;
    const ms = toMs(m);
    if (ms > 0 && ms <= 10 * 60_000) return ms;
  }
  return undefined;
}

function parseMusic(text: string): Intent['music'] {
  if (!/\b(music|bgm|lo-?fi|soundtrack|song|background audio)\b/i.test(text)) return undefined;
  const lower = text.toLowerCase().replace(/lofi|lo fi/g, 'lo-fi');
  // `style "synthwave"` names any style; otherwise one of the known words, else a default.
  const quotedStyle = /\bstyle\s*[:=]?\s*["“]([^"“”\n]{1,100})["”]/i.exec(text)?.[1];
  const style = quotedStyle ?? STYLES.find((s) => lower.includes(s)) ?? 'upbeat';
  const pct = /(\d{1,3})\s*%/.exec(text);
  const volume = pct ? Math.min(100, Number(pct[1])) / 100 : 0.5;
  return { style, volume };
}

function parseTitle(text: string): Intent['title'] {
  if (!new RegExp(`\\b${TITLE_WORDS}\\b`, 'i').test(text)) return undefined;
  // The quote right after a title word wins over an earlier one (a `style "lo-fi"` must not become the title).
  const near = new RegExp(`\\b${TITLE_WORDS}\\b[^"“”\\n]{0,40}["“]([^"“”]{1,120})["”]`, 'i').exec(text);
  const quoted = near?.[2] ?? /["“”]([^"“”]{1,120})["“”]/.exec(text)?.[1];
  const window = new RegExp(`\\b(?:first|opening)\\s+(\\d+(?:\\.\\d+)?)\\s*${UNIT}\\b`, 'i').exec(text);
  const own = [...text.matchAll(DURATION)].find((m) => isTitleDuration(text, m.index));
  const durationMs = window ? toMs(window) : own ? toMs(own) : 3000;
  return quoted ? { text: quoted.trim(), durationMs } : { durationMs };
}

/** Ratio words and numbers, in the order they appear; the earliest one is the wish. */
const RATIO_PATTERNS: [RegExp, [number, number]][] = [
  [/\b16\s*:\s*9\b|\bhorizontal\b|\blandscape\b|\bwidescreen\b/i, [16, 9]],
  [/\b9\s*:\s*16\b|\bvertical\b|\bportrait\b|\btiktok\b|\breels?\b|\bshorts\b/i, [9, 16]],
  [/\b1\s*:\s*1\b|\bsquare\b/i, [1, 1]],
  [/\b4\s*:\s*5\b/, [4, 5]],
  [/\b5\s*:\s*4\b/, [5, 4]],
  [/\b4\s*:\s*3\b/, [4, 3]],
  [/\b3\s*:\s*4\b/, [3, 4]],
];

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);

/** Pixels of a ratio at a short side: 9:16 at 720 → 720x1280, 4:5 at 1080 → 1080x1350. */
export function canvasFor(ratio: [number, number], shortSide: number): { width: number; height: number } {
  const [w, h] = ratio;
  return w >= h ? { width: even((shortSide * w) / h), height: shortSide } : { width: shortSide, height: even((shortSide * h) / w) };
}

/** Explicit pixels ("1080x1350") beat ratio words; "720p"/"1080p"/"4k" set the short side ("at least" makes it a floor). */
function parseCanvas(text: string, intent: Intent): void {
  const px = /\b(\d{3,5})\s*[x×]\s*(\d{3,5})\b/i.exec(text);
  if (px) {
    intent.canvas = { width: Number(px[1]), height: Number(px[2]) };
    return;
  }
  let ratio: [number, number] | undefined;
  let at = Infinity;
  for (const [re, r] of RATIO_PATTERNS) {
    const m = re.exec(text);
    if (m && m.index < at) [ratio, at] = [r, m.index];
  }
  const res = /\b(at least|minimum( of)?|min\.?)?\s*\b(2160|1440|1080|720|480)p\b|\b(4k)\b/i.exec(text);
  const short = res ? (res[4] ? 2160 : Number(res[3])) : undefined;
  const atLeast = res?.[1] !== undefined;
  if (ratio) intent.canvas = canvasFor(ratio, short !== undefined && !atLeast ? short : Math.max(1080, short ?? 0));
  else if (short !== undefined && atLeast) intent.minShortSide = short;
  else if (short !== undefined) intent.shortSide = short;
}

function parseTransition(text: string): string | undefined {
  const m = /\b(cross-?fades?|fades?|dissolves?|wipes?|slides?|zooms?|transitions?)\b/i.exec(text);
  if (!m) return undefined;
  const word = m[1]!.toLowerCase().replace(/s$/, '').replace('-', '');
  return word === 'transition' ? 'crossfade' : word;
}

/**
 * A removal verb and its object close together in one clause: never across a line, a sentence, a comma or a
 * semicolon, nor past "and/with/but/add" ("without music and with a title" keeps the title).
 */
const REMOVE = '\\b(remove|delete|drop|without|no more|get rid of|mute)\\b(?:(?!\\b(?:and|with|but|add|plus|then)\\b)[^.!?;,\\n]){0,40}?';
const NO_MUSIC = /\b(no|without( any)?)\s+(background\s+)?(music|bgm|soundtrack)\b/i;
const NO_TRANSITIONS = /\b(no|without( any)?)\s+transitions?\b|\bhard cuts?\b/i;
/** "…; it is 1920x1080 now" tells the current (wrong) state, never the wish: it is cut before parsing. */
const CURRENT_STATE = /;[^;\n]*\bnow\b[^;\n]*|\b(it is|it's|the canvas is|there is|there's)\b[^.;\n]*\bnow\b/gi;

export function parseIntent(raw: string): Intent {
  const text = raw.replace(CURRENT_STATE, '');
  const removeMusic = NO_MUSIC.test(text) || new RegExp(`${REMOVE}\\b(music|bgm|soundtrack|song)\\b`, 'i').test(text);
  const removeTitle = new RegExp(`${REMOVE}\\b(title|text|caption|captions)\\b`, 'i').test(text);
  const removeTransitions = NO_TRANSITIONS.test(text) || new RegExp(`${REMOVE}\\btransitions?\\b`, 'i').test(text);
  const intent: Intent = { removeMusic, removeTitle, ...(removeTransitions ? { removeTransitions } : {}) };
  const durationMs = parseDuration(text);
  if (durationMs !== undefined) intent.durationMs = durationMs;
  const music = removeMusic ? undefined : parseMusic(text);
  if (music) intent.music = music;
  const title = removeTitle ? undefined : parseTitle(text);
  if (title) intent.title = title;
  parseCanvas(text, intent);
  const transition = removeTransitions ? undefined : parseTransition(text);
  if (transition) intent.transition = transition;
  return intent;
}

/**
 * Question (text-only answer) → generation → edit, as the agent tells them apart. Only the free text counts: a
 * requirement block does not make a message a generation, and a corrective message is an edit of what exists.
 */
export function classifyMessage(text: string, isFirst: boolean): 'question' | 'generation' | 'edit' {
  const req = readRequirements(text);
  if (req?.kind === 'corrective' && !isFirst) return 'edit';
  const t = (req?.kind === 'initial' ? req.instruction : text).trim();
  if (t === '' || t.endsWith('?')) return 'question';
  if (isFirst || /\b(generate|create|make|turn|promo|slideshow|video)\b/i.test(t)) return 'generation';
  return 'edit';
}
