// Compiles the job's output wishes into the "Output requirements" block of the first agent message (notes/video-spec.md).
import { orientationOf, pixelsOf, type AspectRatio, type Output, type Resolution } from './output.js';

/*
 * The wording is a contract shared with the simulator, which reads these lines back one by one: change a line here
 * only together with src/sim/requirements.ts. Nothing but the first message carries the wishes, so resending a
 * message never repeats them (and never pays for a second generation).
 */

export const REQUIREMENTS_HEADER = 'Output requirements (follow them exactly):';

/** The texts inside `"…"` cannot hold a `"` of their own, so the agent sees a `'` instead. */
export function quoteSafe(text: string): string {
  return text.replaceAll('"', "'");
}

/**
 * Text read back from a draft, made fit for one quoted line: whitespace runs (newlines too) become one space, `"`
 * becomes `'`, and long text is clipped with "…". The agent may have written anything there.
 */
export function inlineText(text: string, max: number): string {
  const t = quoteSafe(text).replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A number of seconds as written to the agent: no trailing zeros (7.5, 15). */
export function secondsText(seconds: number): string {
  return String(seconds);
}

/** "9:16, 1080x1920 pixels (vertical)". */
export function aspectPhrase(aspect: AspectRatio, resolution: Resolution): string {
  const { width, height } = pixelsOf(aspect, resolution);
  return `${aspect}, ${width}x${height} pixels (${orientationOf(aspect)})`;
}

/** `style "lo-fi", at 35% volume` (the volume part only when the caller gave one). */
export function musicStylePhrase(music: { style: string; volume?: number | undefined }): string {
  const volume = music.volume === undefined ? '' : `, at ${Math.round(music.volume * 100)}% volume`;
  return `style "${quoteSafe(music.style)}"${volume}`;
}

/** The caller's words end the line; a period is added unless they already end a sentence. */
function sentence(words: string): string {
  return /[.!?]$/.test(words) ? words : `${words}.`;
}

/** The wishes the caller expressed, as the block's lines without the "- " bullet, in the spec's order. */
export function requirementLines(output: Output): string[] {
  const lines: string[] = [];
  if (output.aspect_ratio !== undefined) {
    lines.push(`Aspect ratio: ${aspectPhrase(output.aspect_ratio, output.resolution ?? '1080p')}.`);
  }
  if (output.duration_s !== undefined) lines.push(`Length: ${secondsText(output.duration_s)} seconds long.`);
  const music = output.music;
  if (music === 'none') lines.push('Music: no music.');
  else if (music !== undefined && music !== 'auto') lines.push(`Music: background music, ${musicStylePhrase(music)}.`);
  if (output.title !== undefined) lines.push(`Title: show the title "${quoteSafe(output.title)}" at the start.`);
  const transitions = output.transitions;
  if (transitions === 'none') lines.push('Transitions: no transitions (hard cuts).');
  else if (transitions !== undefined && transitions !== 'auto') lines.push(`Transitions: ${sentence(transitions)}`);
  return lines;
}

/** The instruction alone when no wish was expressed, else the instruction, a blank line and the requirements block. */
export function compileFirstMessage(instruction: string, output: Output): string {
  const lines = requirementLines(output);
  if (lines.length === 0) return instruction;
  return [instruction, '', REQUIREMENTS_HEADER, ...lines.map((l) => `- ${l}`)].join('\n');
}

/**
 * The texts sent to the agent: the compiled first message, then each follow-up unchanged. Resolution and quality
 * are not words for the agent: they go into the render request (protocol §2.8).
 */
export function buildAgentMessages(body: { instruction: string; followups: readonly string[]; output: Output }): string[] {
  return [compileFirstMessage(body.instruction, body.output), ...body.followups];
}
