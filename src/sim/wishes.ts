// What the simulated agent will do for one message: the regex Intent, overridden by a requirement block, then any scripted misses.
import { scaleCanvas } from './draft-builder.js';
import { parseIntent, type Intent } from './intent.js';
import { REQUIREMENT_NAMES, readRequirements, type RequirementMessage, type RequirementName, type Requirements } from './requirements.js';

export interface WishOptions {
  /** The message's kind as the agent classified it ('resolution' misses only touch generations). */
  kind: 'question' | 'generation' | 'edit';
  missRequirements: readonly RequirementName[];
  fixOnCorrection: boolean;
}

export interface Wishes {
  intent: Intent;
  /** The parsed block, when the message carried one. */
  requirements?: RequirementMessage;
  /** The wishes this message deliberately got wrong (or, for a corrective message, left unfixed). */
  missed: RequirementName[];
}

/** Title window when the block only says "at the start". */
const TITLE_MS = 3000;

/** A requirement line is exact: it replaces whatever the free text suggested for the same field. */
function overlay(intent: Intent, w: Requirements, skip: ReadonlySet<RequirementName>): void {
  if (w.canvas && !skip.has('aspect_ratio')) intent.canvas = { ...w.canvas };
  if (w.minShortSide !== undefined && !skip.has('resolution')) intent.minShortSide = w.minShortSide;
  if (w.durationMs !== undefined && !skip.has('duration')) intent.durationMs = w.durationMs;
  if (w.music !== undefined && !skip.has('music')) {
    if (w.music === 'none') {
      delete intent.music;
      intent.removeMusic = true;
    } else {
      intent.music = { style: w.music.style ?? intent.music?.style ?? 'upbeat', volume: w.music.volume ?? 0.5 };
      intent.removeMusic = false;
    }
  }
  if (w.title !== undefined && !skip.has('title')) {
    intent.title = { text: w.title, durationMs: intent.title?.durationMs ?? TITLE_MS };
    intent.removeTitle = false;
  }
  if (w.transitions !== undefined && !skip.has('transitions')) {
    if (w.transitions === 'none') {
      delete intent.transition;
      intent.removeTransitions = true;
    } else {
      intent.transition = w.transitions;
      intent.removeTransitions = false;
    }
  }
}

/** Deterministic wrong values, each far enough off that the relay's conformance check must fail. */
function miss(intent: Intent, name: RequirementName, w: Requirements): void {
  switch (name) {
    case 'aspect_ratio': {
      const c = intent.canvas ?? { width: 1920, height: 1080 };
      // Landscape ↔ portrait; a square becomes 16:9 at the same short side.
      intent.canvas = c.width === c.height ? { width: Math.round((c.height * 16) / 9 / 2) * 2, height: c.height } : { width: c.height, height: c.width };
      return;
    }
    case 'resolution': {
      // Half the short side (1080 → 540, 720 → 360): below every resolution a caller can ask for, which the agent
      // cannot know when only the render request carries it.
      const c = intent.canvas ?? { width: 1920, height: 1080 };
      intent.canvas = scaleCanvas(c, Math.min(c.width, c.height) / 2);
      return;
    }
    case 'duration':
      if (w.durationMs !== undefined) intent.durationMs = Math.max(1000, Math.round((w.durationMs * 2) / 3 / 1000) * 1000);
      return;
    case 'music':
      if (w.music === 'none') {
        intent.music = { style: 'upbeat', volume: 0.5 };
        intent.removeMusic = false;
      } else {
        delete intent.music;
      }
      return;
    case 'title':
      delete intent.title;
      return;
    case 'transitions':
      if (w.transitions === 'none') {
        intent.transition = 'crossfade';
        intent.removeTransitions = false;
      } else {
        delete intent.transition;
        intent.removeTransitions = true;
      }
  }
}

export function wishesFor(text: string, opts: WishOptions): Wishes {
  const req = readRequirements(text);
  const missSet = new Set(opts.missRequirements);
  if (req?.kind === 'corrective') {
    const intent: Intent = { removeMusic: false, removeTitle: false };
    const unfixed = opts.fixOnCorrection ? [] : REQUIREMENT_NAMES.filter((n) => missSet.has(n) && req.named.includes(n));
    overlay(intent, req.wants, new Set(unfixed));
    return { intent, requirements: req, missed: unfixed };
  }
  const intent = parseIntent(req?.instruction ?? text);
  const expressed = new Set<RequirementName>(req?.named ?? []);
  if (req) overlay(intent, req.wants, new Set());
  // Every video has a resolution, so a generation can get it wrong even when no block asked for one.
  if (opts.kind === 'generation') expressed.add('resolution');
  const missed = opts.kind === 'question' ? [] : REQUIREMENT_NAMES.filter((n) => missSet.has(n) && expressed.has(n));
  // In list order: aspect before resolution, so a wrong orientation is also scaled down when both are missed.
  for (const name of missed) miss(intent, name, req?.wants ?? {});
  return { intent, ...(req ? { requirements: req } : {}), missed };
}
