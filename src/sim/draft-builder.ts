// Builds and edits the short-key draft deterministically from a message's Intent and the session's uploads.
import { basename } from 'node:path';
import type { Draft, GeneratedMedia, Segment, SessionState, Track, VideoInfo } from './model.js';
import type { Intent } from './intent.js';

export interface BuildContext {
  sessionId: string;
  /** Base URL for generated media and cdn links. */
  base: string;
  /** Reference uploads by sandbox path instead of cdn_url (scenario sandboxPaths). */
  sandbox: boolean;
  defaultTitle: string;
  /** A fresh generated-media file name, e.g. gen_1.mp4. */
  nextName(prefix: string, ext: string): string;
}

export interface BuildResult {
  draft: Draft;
  media: GeneratedMedia[];
  /** What was done, as the edit_multitrack tool's args would describe it. */
  ops: Record<string, unknown>[];
}

const DEFAULT_MS = 10_000;

function srcOf(info: VideoInfo, ctx: BuildContext): string {
  return ctx.sandbox ? `/mnt/userdata/${ctx.sessionId}/${basename(info.s3_key)}` : info.cdn_url;
}

function mediaUrl(ctx: BuildContext, prefix: string, ext: string): string {
  return `${ctx.base}/cdn/${ctx.sessionId}/${ctx.nextName(prefix, ext)}`;
}

/** Splits `total` ms evenly over `n` segments; the last one takes the rounding remainder. */
function spans(total: number, n: number): { start: number; d: number }[] {
  const each = Math.floor(total / n);
  return Array.from({ length: n }, (_, i) => ({ start: i * each, d: i === n - 1 ? total - each * (n - 1) : each }));
}

function visualTrack(state: SessionState, total: number, ctx: BuildContext, media: GeneratedMedia[], generated: boolean): Track {
  const visuals = state.video_infos.filter((v) => v.file_type !== 'audio');
  if (visuals.length === 0) {
    const url = mediaUrl(ctx, 'gen', 'mp4');
    media.push({ type: 'video', url, tool: 'generate_video_with_seedance', duration: total / 1000 });
    return { tt: 0, d: total, sg: [{ id: 'v1', kind: 'generated', src: url, start: 0, d: total }] };
  }
  if (generated) {
    // Seedance still renders a clip from the uploads; the timeline itself places the uploads.
    media.push({ type: 'video', url: mediaUrl(ctx, 'gen', 'mp4'), tool: 'generate_video_with_seedance', duration: total / 1000 });
  }
  const sg: Segment[] = spans(total, visuals.length).map((span, i) => ({
    id: `v${i + 1}`,
    kind: visuals[i]!.file_type === 'image' ? 'image' : 'video',
    src: srcOf(visuals[i]!, ctx),
    ...span,
  }));
  return { tt: 0, d: total, sg };
}

/** Stage 1 of a generation: a new draft with the raw video track (music and title come in stage 2). */
export function generateDraft(state: SessionState, intent: Intent, ctx: BuildContext): BuildResult {
  const total = intent.durationMs ?? DEFAULT_MS;
  let canvas = intent.canvas ?? { width: 1920, height: 1080 };
  if (!intent.canvas && intent.shortSide !== undefined) canvas = scaleCanvas(canvas, intent.shortSide);
  if (intent.minShortSide !== undefined && Math.min(canvas.width, canvas.height) < intent.minShortSide) canvas = scaleCanvas(canvas, intent.minShortSide);
  const media: GeneratedMedia[] = [];
  const video = visualTrack(state, total, ctx, media, true);
  if (intent.transition) addTransitions(video, intent.transition);
  const draft: Draft = {
    t: [video],
    d: total,
    m: { title: ctx.defaultTitle, ...canvas, fps: 30, rev: (state.draft?.m.rev ?? 0) + 1 },
  };
  return { draft, media, ops: [] };
}

function addTransitions(track: Track, type: string): void {
  for (const s of track.sg) s.transition = { type, d: 500 };
}

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);

/** The same picture at another short side (e.g. 1920x1080 → 1280x720), even pixel counts as encoders want. */
export function scaleCanvas(c: { width: number; height: number }, shortSide: number): { width: number; height: number } {
  const k = shortSide / Math.min(c.width, c.height);
  return { width: even(c.width * k), height: even(c.height * k) };
}

function rescale(draft: Draft, total: number): void {
  for (const track of draft.t) {
    if (track.tt === 0) {
      spans(total, track.sg.length).forEach((span, i) => Object.assign(track.sg[i]!, span));
      track.d = total;
    } else if (track.tt === 1) {
      for (const s of track.sg) s.d = total;
      track.d = total;
    } else {
      for (const s of track.sg) s.d = Math.min(s.d, total);
    }
  }
  draft.d = total;
}

/** An edit (or stage 2 of a generation): the same rules applied to a copy of the existing draft. */
export function editDraft(state: SessionState, intent: Intent, ctx: BuildContext): BuildResult {
  const media: GeneratedMedia[] = [];
  const ops: Record<string, unknown>[] = [];
  const draft: Draft = state.draft
    ? structuredClone(state.draft)
    : { t: [], d: 0, m: { title: ctx.defaultTitle, width: 1920, height: 1080, fps: 30, rev: 0 } };
  if (draft.t.length === 0 && state.video_infos.some((v) => v.file_type !== 'audio')) {
    const video = visualTrack(state, intent.durationMs ?? DEFAULT_MS, ctx, media, false);
    draft.t.push(video);
    draft.d = video.d ?? 0;
    ops.push({ add_track: 'video', clips: video.sg.length });
  }
  if (intent.durationMs !== undefined && intent.durationMs !== draft.d) {
    rescale(draft, intent.durationMs);
    ops.push({ set_duration_ms: intent.durationMs });
  }
  if (intent.canvas) {
    draft.m.width = intent.canvas.width;
    draft.m.height = intent.canvas.height;
    ops.push({ set_canvas: `${intent.canvas.width}x${intent.canvas.height}` });
  }
  if (!intent.canvas && intent.shortSide !== undefined && Math.min(draft.m.width, draft.m.height) !== intent.shortSide) {
    const c = scaleCanvas(draft.m, intent.shortSide);
    draft.m.width = c.width;
    draft.m.height = c.height;
    ops.push({ set_canvas: `${c.width}x${c.height}` });
  }
  if (intent.minShortSide !== undefined && Math.min(draft.m.width, draft.m.height) < intent.minShortSide) {
    const c = scaleCanvas(draft.m, intent.minShortSide);
    draft.m.width = c.width;
    draft.m.height = c.height;
    ops.push({ set_canvas: `${c.width}x${c.height}` });
  }
  const video = draft.t.find((t) => t.tt === 0);
  if (intent.removeTransitions && video) {
    for (const s of video.sg) delete s.transition;
    ops.push({ remove_transitions: true });
  } else if (intent.transition && video) {
    addTransitions(video, intent.transition);
    ops.push({ add_transition: intent.transition });
  }
  const total = draft.d || DEFAULT_MS;
  if (intent.removeMusic) {
    draft.t = draft.t.filter((t) => t.tt !== 1);
    ops.push({ remove_track: 'bgm' });
  } else if (intent.music) {
    const audio = state.video_infos.find((v) => v.file_type === 'audio');
    let src: string;
    if (audio) src = srcOf(audio, ctx);
    else {
      src = mediaUrl(ctx, 'bgm', 'mp3');
      media.push({ type: 'audio', url: src, tool: 'generate_music', duration: total / 1000 });
    }
    const seg: Segment = { id: 'a1', kind: 'audio', src, start: 0, d: total, volume: intent.music.volume, style: intent.music.style };
    draft.t = [...draft.t.filter((t) => t.tt !== 1), { tt: 1, d: total, sg: [seg] }];
    ops.push({ add_track: 'bgm', style: intent.music.style, volume: intent.music.volume });
  }
  if (intent.removeTitle) {
    draft.t = draft.t.filter((t) => t.tt !== 7);
    ops.push({ remove_track: 'title' });
  } else if (intent.title) {
    const text = intent.title.text ?? draft.m.title;
    const d = Math.min(intent.title.durationMs, total);
    draft.t = [...draft.t.filter((t) => t.tt !== 7), { tt: 7, d, sg: [{ id: 't1', kind: 'text', text, start: 0, d, style: 'title' }] }];
    draft.m.title = text;
    ops.push({ add_title: text, duration_ms: d });
  }
  if (draft.d === 0) draft.d = Math.max(0, ...draft.t.map((t) => t.d ?? 0));
  // Every edit bumps the revision so a client diffing state after a broken stream can see it landed.
  draft.m.rev += 1;
  if (ops.length === 0) ops.push({ adjust: 'style' });
  return { draft, media, ops };
}

/** "Timeline (3 tracks): 1. Video … 2. BGM … 3. Title …" — used for the agent's answers. */
export function describeDraft(draft: Draft | null): string {
  if (!draft || draft.t.length === 0) return 'The timeline is empty so far.';
  const parts = draft.t.map((t, i) => {
    if (t.tt === 0) return `${i + 1}. Video: ${t.sg.length} clip(s), ${(draft.d / 1000).toFixed(1)} s`;
    if (t.tt === 1) return `${i + 1}. BGM: ${t.sg[0]?.style ?? 'music'} at ${Math.round((t.sg[0]?.volume ?? 1) * 100)}%`;
    return `${i + 1}. Title: "${t.sg[0]?.text ?? ''}" for ${((t.sg[0]?.d ?? 0) / 1000).toFixed(1)} s`;
  });
  return `Timeline (${draft.t.length} tracks, ${draft.m.width}x${draft.m.height}): ${parts.join(' ')}`;
}

export function isExportable(draft: unknown): boolean {
  if (!draft || typeof draft !== 'object') return false;
  const t = (draft as { t?: unknown }).t;
  return Array.isArray(t) && t.some((tr) => Array.isArray((tr as { sg?: unknown })?.sg) && (tr as { sg: unknown[] }).sg.length > 0);
}
