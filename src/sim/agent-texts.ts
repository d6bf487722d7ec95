// What the simulated agent says: lead-ins, final messages and edit summaries (GUI-minded, like the real one).
import type { Intent } from './intent.js';
import type { SessionState } from './model.js';

export const READY_TEXT = 'Your video is ready! Preview it in the Timeline panel or click Export to save it.';
export const TEMPORARY_ISSUE_TEXT =
  'I encountered a temporary issue while finishing up. Please try again in a moment if anything looks wrong.';

export function generationLead(state: SessionState, intent: Intent): string {
  const secs = Number(((intent.durationMs ?? 10_000) / 1000).toFixed(1));
  const visuals = state.video_infos.filter((v) => v.file_type !== 'audio').length;
  const from = visuals > 0 ? ` from your ${visuals} file${visuals === 1 ? '' : 's'}` : '';
  return `Got it, generating a ${secs}s video${from}. This may take a few minutes.`;
}

/** Human summary of edit_multitrack ops, e.g. "added lo-fi background music at 35%". */
export function summarizeOps(ops: Record<string, unknown>[]): string {
  const bits = ops.map((op) => {
    if (op.add_track === 'bgm') return `added ${String(op.style)} background music at ${Math.round(Number(op.volume) * 100)}%`;
    if (op.add_track === 'video') return `placed your ${String(op.clips)} clip(s) on the timeline`;
    if (op.add_title !== undefined) return `added the title "${String(op.add_title)}" for ${Number(op.duration_ms) / 1000} s`;
    if (op.remove_track) return `removed the ${String(op.remove_track)} track`;
    if (op.set_duration_ms !== undefined) return `changed the length to ${Number(op.set_duration_ms) / 1000} s`;
    if (op.set_canvas) return `changed the canvas to ${String(op.set_canvas)}`;
    if (op.add_transition) return `added ${String(op.add_transition)} transitions`;
    if (op.remove_transitions) return 'replaced the transitions with hard cuts';
    return 'adjusted the style';
  });
  return bits.join(', ');
}

export function editDoneText(ops: Record<string, unknown>[]): string {
  return `Done! I ${summarizeOps(ops)}. Click Export when you're happy with it.`;
}

const RATIOS: [string, number][] = [
  ['16:9', 16 / 9],
  ['9:16', 9 / 16],
  ['1:1', 1],
  ['4:5', 4 / 5],
  ['5:4', 5 / 4],
];

/** The named ratio closest to a canvas (720p and 1080p canvases of one ratio give the same name). */
export function aspectOf(width: number, height: number): string {
  const r = width / height;
  let best = RATIOS[0]!;
  for (const cand of RATIOS) if (Math.abs(Math.log(cand[1] / r)) < Math.abs(Math.log(best[1] / r))) best = cand;
  return best[0];
}
