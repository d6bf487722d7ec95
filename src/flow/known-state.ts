// What the session's state is known to hold: read from /state, or moved forward by an agent stream's stateDelta.
import { materialFingerprint, stateMaterialOf } from '../nemo/draft.js';
import { draftSchema, type Draft, type SessionState } from '../nemo/schemas.js';
import type { KnownState } from './state.js';

/** What a /state read says the session holds. */
export const knownStateOf = (state: SessionState): KnownState => stateMaterialOf(state);

/** The same hash as a read state's (nemo/draft.ts), so a known state and a read state compare equal when equal. */
export const knownFingerprint = (known: KnownState): string => materialFingerprint(known);

/**
 * ADK applies a stateDelta's values to the session state as they are (state[key] = value), so the state after a
 * stream is the state before it with the delta's keys replaced. Null when the stream said nothing about the keys
 * that matter: the caller then reads /state.
 */
export function applyDelta(before: KnownState, delta: Record<string, unknown>): KnownState | null {
  if (!('draft' in delta) && !('generated_media' in delta)) return null;
  return {
    draft: 'draft' in delta ? (delta.draft ?? null) : before.draft,
    generated_media: 'generated_media' in delta ? (delta.generated_media ?? null) : before.generated_media,
    video_infos: Array.isArray(delta.video_infos) ? delta.video_infos.length : before.video_infos,
  };
}

/** The draft of a known state, parsed (some stores keep it as a JSON string); null when absent or not a draft. */
export function draftOf(known: KnownState | null): Draft | null {
  let raw: unknown = known?.draft ?? null;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw) as unknown;
    } catch {
      return null;
    }
  }
  if (raw === null) return null;
  const parsed = draftSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}
