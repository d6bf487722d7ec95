// Reads what a chat message asks for (duration, music, title, aspect, transitions) with plain regexes.

export interface Intent {
  durationMs?: number;
  music?: { style: string; volume: number };
  removeMusic: boolean;
  title?: { text?: string; durationMs: number };
  removeTitle: boolean;
  canvas?: { width: number; height: number };
  transition?: string;
}

const UNIT = '(s|secs?|seconds?|min|mins|minutes?)';
const DURATION = new RegExp(`(\\d+(?:\\.\\d+)?)\\s*-?\\s*${UNIT}\\b`, 'gi');
const STYLES = ['lo-fi', 'upbeat', 'calm', 'cinematic', 'epic', 'jazz', 'piano', 'ambient', 'electronic', 'acoustic', 'chill'];

/** The video length: the first "<n> s/seconds/minutes" that is not a title window ("first 3 seconds"). */
function parseDuration(text: string): number | undefined {
  for (const m of text.matchAll(DURATION)) {
    const before = text.slice(Math.max(0, m.index - 12), m.index).toLowerCase();
    if (/\b(first|last|opening|final)\s*$/.test(before)) continue;
    const n = Number(m[1]);
    const unit = (m[2] ?? 's').toLowerCase();
    const ms = unit.startsWith('m') ? n * 60_000 : n * 1000;
    if (ms > 0 && ms <= 10 * 60_000) return Math.round(ms);
  }
  return undefined;
}

function parseMusic(text: string): Intent['music'] {
  if (!/\b(music|bgm|lo-?fi|soundtrack|song|background audio)\b/i.test(text)) return undefined;
  const lower = text.toLowerCase().replace(/lofi|lo fi/g, 'lo-fi');
  const style = STYLES.find((s) => lower.includes(s)) ?? 'upbeat';
  const pct = /(\d{1,3})\s*%/.exec(text);
  const volume = pct ? Math.min(100, Number(pct[1])) / 100 : 0.5;
  return { style, volume };
}

function parseTitle(text: string): Intent['title'] {
  if (!/\b(title|text|caption|captions|subtitle|heading|headline)\b/i.test(text)) return undefined;
  const quoted = /["“”]([^"“”]{1,120})["“”]/.exec(text);
  const window = new RegExp(`\\b(?:first|opening)\\s+(\\d+(?:\\.\\d+)?)\\s*${UNIT}\\b`, 'i').exec(text);
  const durationMs = window ? Math.round(Number(window[1]) * (window[2]!.toLowerCase().startsWith('m') ? 60_000 : 1000)) : 3000;
  return quoted?.[1] ? { text: quoted[1].trim(), durationMs } : { durationMs };
}

function parseCanvas(text: string): Intent['canvas'] {
  if (/\b9\s*:\s*16\b|\bvertical\b|\bportrait\b|\btiktok\b|\breels?\b|\bshorts\b/i.test(text)) return { width: 1080, height: 1920 };
  if (/\b1\s*:\s*1\b|\bsquare\b/i.test(text)) return { width: 1080, height: 1080 };
  if (/\b16\s*:\s*9\b|\bhorizontal\b|\blandscape\b|\bwidescreen\b/i.test(text)) return { width: 1920, height: 1080 };
  return undefined;
}

function parseTransition(text: string): string | undefined {
  const m = /\b(cross-?fades?|fades?|dissolves?|wipes?|slides?|zooms?|transitions?)\b/i.exec(text);
  if (!m) return undefined;
  const word = m[1]!.toLowerCase().replace(/s$/, '').replace('-', '');
  return word === 'transition' ? 'crossfade' : word;
}

const REMOVE = '\\b(remove|delete|drop|without|no more|get rid of)\\b[^.!?]*';

export function parseIntent(text: string): Intent {
  const removeMusic = new RegExp(`${REMOVE}\\b(music|bgm|soundtrack|song)\\b`, 'i').test(text);
  const removeTitle = new RegExp(`${REMOVE}\\b(title|text|caption|captions)\\b`, 'i').test(text);
  const intent: Intent = { removeMusic, removeTitle };
  const durationMs = parseDuration(text);
  if (durationMs !== undefined) intent.durationMs = durationMs;
  const music = removeMusic ? undefined : parseMusic(text);
  if (music) intent.music = music;
  const title = removeTitle ? undefined : parseTitle(text);
  if (title) intent.title = title;
  const canvas = parseCanvas(text);
  if (canvas) intent.canvas = canvas;
  const transition = parseTransition(text);
  if (transition) intent.transition = transition;
  return intent;
}

/** Question (text-only answer) → generation → edit, as the agent tells them apart. */
export function classifyMessage(text: string, isFirst: boolean): 'question' | 'generation' | 'edit' {
  const t = text.trim();
  if (t === '' || t.endsWith('?')) return 'question';
  if (isFirst || /\b(generate|create|make|turn|promo|slideshow|video)\b/i.test(t)) return 'generation';
  return 'edit';
}
