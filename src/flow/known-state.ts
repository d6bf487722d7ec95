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

/**
 * Each known state's draft, parsed once: a message's "after" is the next message's "before", and the checks and the
 * render read the same state again. Known states are replaced, never changed in place, so an entry stays true.
 */
const parsedDrafts = new WeakMap<KnownState, Draft | null>();

/**
 * The draft of a known state, parsed (some stores keep it as a JSON string); null when absent or not a draft. The
 * draft is shared by every caller for that state: read it, do not change it (rewriteSandboxPaths makes a new one).
 */
export function draftOf(known: KnownState | null): Draft | null {
  if (known === null) return null;
  const cached = parsedDrafts.get(known);
  if (cached !== undefined) return cached;
  const draft = parseDraft(known.draft ?? null);
  parsedDrafts.set(known, draft);
  return draft;
}

function parseDraft(value: unknown): Draft | null {
  let raw = value;
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
