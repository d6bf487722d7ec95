// The New-job form's state turned into the POST /v1/jobs body: only what the caller chose, checked like the API does.
import type { Source } from './types.js';

export type MusicChoice = 'auto' | 'none' | 'style';
export type TransitionsChoice = 'auto' | 'none' | 'words';

export interface JobForm {
  instruction: string;
  followups: string[];
  /** '' lets the upstream choose. */
  aspectRatio: string;
  resolution: string;
  /** Seconds as typed; '' leaves the length to the agent. */
  durationS: string;
  music: MusicChoice;
  musicStyle: string;
  /** Percent as typed (0–100); '' leaves the volume to the agent. */
  musicVolume: string;
  title: string;
  transitions: TransitionsChoice;
  transitionWords: string;
  conformance: 'report' | 'correct';
  /** One URL per line. */
  sourceUrls: string;
  webhookUrl: string;
}

export const EMPTY_FORM: JobForm = {
  instruction: '',
  followups: [],
  aspectRatio: '',
  resolution: '1080p',
  durationS: '',
  music: 'auto',
  musicStyle: '',
  musicVolume: '',
  title: '',
  transitions: 'auto',
  transitionWords: '',
  conformance: 'report',
  sourceUrls: '',
  webhookUrl: '',
};

export interface CreateJobBody {
  instruction: string;
  followups?: string[];
  sources?: Source[];
  output?: Record<string, unknown>;
  conformance?: 'correct';
  webhook?: { url: string };
}

/** A problem with one field: `field` is the label the form shows, so the message can point at it. */
export interface Problem {
  field: string;
  message: string;
}

export const MAX_FOLLOWUPS = 10;
export const MAX_SOURCES = 50;
export const MAX_TITLE = 120;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && value.length <= 2048;
  } catch {
    return false;
  }
}

export function sourceUrlsOf(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * Output wishes the caller left on "auto" are left out, so a plain request stays plain (and an API without a field
 * yet still accepts it). Resolution always goes: it always has a value.
 */
function outputOf(form: JobForm, problems: Problem[]): Record<string, unknown> {
  const output: Record<string, unknown> = { resolution: form.resolution };
  if (form.aspectRatio) output.aspect_ratio = form.aspectRatio;
  if (form.durationS.trim() !== '') {
    const seconds = Number(form.durationS);
    if (!Number.isFinite(seconds) || seconds < 3 || seconds > 300) {
      problems.push({ field: 'Duration (seconds)', message: 'must be a number from 3 to 300' });
    } else output.duration_s = seconds;
  }
  if (form.music === 'none') output.music = 'none';
  else if (form.music === 'style') {
    const style = form.musicStyle.trim();
    if (style === '' || style.length > 100 || CONTROL.test(style)) {
      problems.push({ field: 'Music style', message: 'must be one line of 1 to 100 characters' });
    }
    const music: Record<string, unknown> = { style };
    if (form.musicVolume.trim() !== '') {
      const pct = Number(form.musicVolume);
      if (!Number.isFinite(pct) || pct < 0 || pct > 100) problems.push({ field: 'Music volume (%)', message: 'must be from 0 to 100' });
      else music.volume = Math.round(pct) / 100;
    }
    output.music = music;
  }
  const title = form.title.trim();
  if (title !== '') {
    if (title.length > MAX_TITLE || CONTROL.test(title)) problems.push({ field: 'Title', message: `must be one line of at most ${MAX_TITLE} characters` });
    output.title = title;
  }
  if (form.transitions === 'none') output.transitions = 'none';
  else if (form.transitions === 'words') {
    const words = form.transitionWords.trim();
    if (words === '' || words.length > 100 || CONTROL.test(words)) {
      problems.push({ field: 'Transition words', message: 'must be one line of 1 to 100 characters' });
    }
    output.transitions = words;
  }
  return output;
}

/** The body for POST /v1/jobs with the given upload ids as sources (after any source URLs), and what is wrong with it. */
export function buildJobBody(form: JobForm, uploadIds: readonly string[]): { body: CreateJobBody; problems: Problem[] } {
  const problems: Problem[] = [];
  const instruction = form.instruction.trim();
  if (instruction === '') problems.push({ field: 'Instruction', message: 'is required' });
  else if (instruction.length > 4000) problems.push({ field: 'Instruction', message: 'must be at most 4000 characters' });

  const followups = form.followups.map((f) => f.trim());
  if (followups.length > MAX_FOLLOWUPS) problems.push({ field: 'Follow-up', message: `at most ${MAX_FOLLOWUPS} follow-ups` });
  followups.forEach((f, i) => {
    if (f === '') problems.push({ field: `Follow-up ${i + 1}`, message: 'is empty: fill it in or remove it' });
    else if (f.length > 4000) problems.push({ field: `Follow-up ${i + 1}`, message: 'must be at most 4000 characters' });
  });

  const urls = sourceUrlsOf(form.sourceUrls);
  for (const url of urls) if (!isHttpUrl(url)) problems.push({ field: 'Source URLs', message: `${url} is not an absolute http(s) URL` });
  const sources: Source[] = [...urls.map((url) => ({ url })), ...uploadIds.map((upload_id) => ({ upload_id }))];
  if (sources.length > MAX_SOURCES) problems.push({ field: 'Files', message: `at most ${MAX_SOURCES} sources in all` });

  const body: CreateJobBody = { instruction };
  if (followups.length > 0) body.followups = followups;
  if (sources.length > 0) body.sources = sources;
  body.output = outputOf(form, problems);
  if (form.conformance === 'correct') body.conformance = 'correct';
  const hook = form.webhookUrl.trim();
  if (hook !== '') {
    if (!isHttpUrl(hook)) problems.push({ field: 'Webhook URL', message: 'must be an absolute http(s) URL' });
    body.webhook = { url: hook };
  }
  return { body, problems };
}
