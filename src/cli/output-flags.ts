// The output wishes as command-line flags (submit, batch): --aspect 9:16 --duration 15 --music none --title "…" …
import type { OutputInput } from '../video/output.js';
import { CliError } from './io.js';

export const OUTPUT_OPTIONS = {
  aspect: { type: 'string' },
  resolution: { type: 'string' },
  duration: { type: 'string' },
  music: { type: 'string' },
  'music-volume': { type: 'string' },
  title: { type: 'string' },
  transitions: { type: 'string' },
  conformance: { type: 'string' },
} as const;

type OutputFlags = { [K in keyof typeof OUTPUT_OPTIONS]?: string | undefined };

/** The `output` object of the request; the API validates the values and names what is wrong. */
export function outputFromFlags(values: OutputFlags): OutputInput | undefined {
  const output: Record<string, unknown> = {};
  if (values.aspect) output.aspect_ratio = values.aspect;
  if (values.resolution) output.resolution = values.resolution;
  if (values.duration !== undefined) output.duration_s = numberFlag('--duration', values.duration);
  const volume = values['music-volume'] === undefined ? undefined : numberFlag('--music-volume', values['music-volume']);
  // auto and none are the API's words; anything else is the style of background music. The API takes a volume only
  // with a style, so one given beside auto or none (or alone) is refused here rather than silently dropped.
  const style = values.music === 'auto' || values.music === 'none' ? undefined : values.music;
  if (volume !== undefined && !style) {
    throw new CliError(`--music-volume needs --music "<style>"${values.music ? `, not --music ${values.music}` : ''}`);
  }
  if (values.music) output.music = style ? { style, ...(volume === undefined ? {} : { volume }) } : values.music;
  if (values.title) output.title = values.title;
  if (values.transitions) output.transitions = values.transitions;
  return Object.keys(output).length > 0 ? (output as OutputInput) : undefined;
}

/** Number('') is 0: an empty or blank value is refused, not read as zero nor ignored. */
function numberFlag(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new CliError(`${name} must be a number, not ${JSON.stringify(raw)}`);
  return n;
}
