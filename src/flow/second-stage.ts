// Whether a draft read after a broken stream looks like generation's first stage only (protocol §3: the raw video
// first, then the backend adds BGM, title and effects), so reconcile waits for the rest instead of rendering it.
import type { Job } from '../jobs/schemas.js';
import { timelineOf } from '../video/timeline.js';
import { draftOf } from './known-state.js';
import type { KnownState } from './state.js';

/**
 * Steady reads of generation's raw video alone before it is taken as the outcome: the second stage (music, title) is
 * an edit of 10–30 s upstream (protocol §3), and four reads are two minutes at the default interval. Not
 * RECONCILE_MAX_UNCHANGED: a video that was never to have music would wait that long (five minutes) after every break.
 */
export const SECOND_STAGE_STEADY_READS = 4;

const videoOnly = (known: KnownState | null): boolean => (timelineOf(draftOf(known))?.tracks ?? []).every((t) => t.kind === 'video');

/** Video tracks and nothing else (and at least one): what generation's first stage leaves. */
export const isRawVideoOnly = (known: KnownState): boolean => (timelineOf(draftOf(known))?.tracks.length ?? 0) > 0 && videoOnly(known);

/**
 * Whether a message sent on `before` may yet get a second stage: the job leaves room for one (music not "none", or a
 * title asked for) and the state before held nothing but video (a message that removed the music or the title also
 * leaves video only: that is its whole effect).
 */
export function leavesRoomForSecondStage(before: KnownState | null, output: Job['output']): boolean {
  return !(output.music === 'none' && output.title === undefined) && videoOnly(before);
}

/** True when the state after the message is generation's raw video alone and a second stage may still follow it. */
export function looksLikeFirstStageOnly(before: KnownState | null, after: KnownState, output: Job['output']): boolean {
  return leavesRoomForSecondStage(before, output) && isRawVideoOnly(after);
}
