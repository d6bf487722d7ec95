// Reads the relay's "Output requirements" block and its corrective message (notes/video-spec.md) line by line.

/** The wishes the simulated agent can be told to get wrong (scenario missRequirements). */
export const REQUIREMENT_NAMES = ['aspect_ratio', 'resolution', 'duration', 'music', 'title', 'transitions'] as const;
export type RequirementName = (typeof REQUIREMENT_NAMES)[number];

export interface Requirements {
  /** Aspect-ratio line: the exact canvas, e.g. 1080x1920. */
  canvas?: { width: number; height: number };
  /** Corrective resolution line: the canvas's short side must be at least this many pixels. */
  minShortSide?: number;
  durationMs?: number;
  /** A corrective "Add background music" line may name no style (the agent then picks one). */
  music?: 'none' | { style?: string; volume?: number };
  title?: string;
  transitions?: 'none' | string;
}

export interface RequirementMessage {
  /** 'initial': a first message with an "Output requirements" block; 'corrective': "Please correct the video…". */
  kind: 'initial' | 'corrective';
  /** The free text before the block ('' for a corrective message). */
  instruction: string;
  wants: Requirements;
  /** Which wishes the message expressed, in the order of its lines. */
  named: RequirementName[];
  /** Bullet lines of the block that match no known form (a relay whose wording drifted shows up here). */
  unread: string[];
}

export const INITIAL_HEADER = 'Output requirements (follow them exactly):';
export const CORRECTIVE_HEADER = 'Please correct the video so that it matches these requirements exactly:';

type LineReader = (line: string, w: Requirements) => RequirementName | undefined;

const num = String.raw`(\d+(?:\.\d+)?)`;
const canvasOf = (w: string, h: string) => ({ width: Number(w), height: Number(h) });
const volumeOf = (pct: string | undefined) => (pct === undefined ? {} : { volume: Number(pct) / 100 });

/** One reader per line form; each fills `w` and names the wish, or returns undefined when the line is not its form. */
const INITIAL_LINES: LineReader[] = [
  (l, w) => {
    const m = new RegExp(String.raw`^Aspect ratio: \d+:\d+, (\d+)x(\d+) pixels \((?:horizontal|vertical|square)\)\.$`).exec(l);
    if (!m) return undefined;
    w.canvas = canvasOf(m[1]!, m[2]!);
    return 'aspect_ratio';
  },
  (l, w) => {
    const m = new RegExp(String.raw`^Length: ${num} seconds long\.$`).exec(l);
    if (!m) return undefined;
    w.durationMs = Math.round(Number(m[1]) * 1000);
    return 'duration';
  },
  (l, w) => {
    if (l === 'Music: no music.') {
      w.music = 'none';
      return 'music';
    }
    const m = /^Music: background music, style "(.+)"(?:, at (\d{1,3})% volume)?\.$/.exec(l);
    if (!m) return undefined;
    w.music = { style: m[1]!, ...volumeOf(m[2]) };
    return 'music';
  },
  (l, w) => {
    const m = /^Title: show the title "(.+)" at the start\.$/.exec(l);
    if (!m) return undefined;
    w.title = m[1]!;
    return 'title';
  },
  (l, w) => {
    if (l === 'Transitions: no transitions (hard cuts).') {
      w.transitions = 'none';
      return 'transitions';
    }
    const m = /^Transitions: (.+?)\.?$/.exec(l);
    if (!m) return undefined;
    w.transitions = m[1]!;
    return 'transitions';
  },
];

/** Corrective lines say what is wanted, then what is there now; only the wanted part is read. */
const CORRECTIVE_LINES: LineReader[] = [
  (l, w) => {
    const m = /^Aspect ratio must be \d+:\d+, (\d+)x(\d+) pixels \([a-z]+\); it is .* now\.$/.exec(l);
    if (!m) return undefined;
    w.canvas = canvasOf(m[1]!, m[2]!);
    return 'aspect_ratio';
  },
  (l, w) => {
    const m = /^Resolution must be at least (\d+)p; the canvas is .* now\.$/.exec(l);
    if (!m) return undefined;
    w.minShortSide = Number(m[1]);
    return 'resolution';
  },
  (l, w) => {
    const m = new RegExp(String.raw`^Length must be ${num} seconds long; it is .* now\.$`).exec(l);
    if (!m) return undefined;
    w.durationMs = Math.round(Number(m[1]) * 1000);
    return 'duration';
  },
  (l, w) => {
    if (!/^There must be no music; .*\.$/.test(l)) return undefined;
    w.music = 'none';
    return 'music';
  },
  (l, w) => {
    const m = /^Add background music(?: \(style "(.+)"(?:, at (\d{1,3})% volume)?\))?; .*\.$/.exec(l);
    if (!m) return undefined;
    w.music = { ...(m[1] !== undefined ? { style: m[1] } : {}), ...volumeOf(m[2]) };
    return 'music';
  },
  (l, w) => {
    const m = /^Show the title "(.+)" at the start; .*\.$/.exec(l);
    if (!m) return undefined;
    w.title = m[1]!;
    return 'title';
  },
];

function readLines(lines: string[], readers: LineReader[]): Pick<RequirementMessage, 'wants' | 'named' | 'unread'> {
  const wants: Requirements = {};
  const named: RequirementName[] = [];
  const unread: string[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line.startsWith('- ')) continue;
    const body = line.slice(2).trim();
    let name: RequirementName | undefined;
    for (const read of readers) if ((name = read(body, wants))) break;
    if (name) named.push(name);
    else unread.push(body);
  }
  return { wants, named, unread };
}

/** The requirement block of a message, or undefined for plain text (which the regex intent reader handles). */
export function readRequirements(text: string): RequirementMessage | undefined {
  const normalized = text.replace(/\r\n?/g, '\n');
  if (normalized.trimStart().startsWith(CORRECTIVE_HEADER)) {
    const rest = normalized.trimStart().slice(CORRECTIVE_HEADER.length).split('\n');
    return { kind: 'corrective', instruction: '', ...readLines(rest, CORRECTIVE_LINES) };
  }
  const at = normalized.lastIndexOf(`\n\n${INITIAL_HEADER}`);
  if (at < 0) return undefined;
  const rest = normalized.slice(at + 2 + INITIAL_HEADER.length).split('\n');
  return { kind: 'initial', instruction: normalized.slice(0, at), ...readLines(rest, INITIAL_LINES) };
}
