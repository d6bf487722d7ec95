// Whether a draft read after a broken stream looks like generation's first stage only (protocol §3: the raw video
// first, then the backend adds BGM, title and effects), so reconcile waits for the rest instead of rendering it.
import type { Job } from '../jobs/schemas.js';
import { timelineOf } from '../video/timeline.js';
import { draftOf } from './known-state.js';
import type { KnownState } from './state.js';

const videoOnly = (known: KnownState | null): boolean => (timelineOf(draftOf(known))?.tracks ?? []).every((t) => t.kind === 'video');

/**
 * True when the state after the message holds video tracks and nothing else, the state before it held nothing but
 * video either (a message that removed the music or the title also leaves video only: that is its whole effect), and
 * the job leaves room for a second stage (music not "none", or a title asked for).
 */
export function looksLikeFirstStageOnly(before: KnownState | null, after: KnownState, output: Job['output']): boolean {
  if (output.music === 'none' && output.title === undefined) return false;
  const tracks = timelineOf(draftOf(after))?.tracks ?? [];
  return tracks.length > 0 && videoOnly(after) && videoOnly(before);
}
