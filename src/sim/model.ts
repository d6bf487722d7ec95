// Data shapes the simulator keeps per user, session and render (short-key draft included).

/** Track types of the short-key draft: 0 video, 1 audio/BGM, 7 text/title. */
export type TrackType = 0 | 1 | 7;

export interface Segment {
  id: string;
  /** Where the clip lives: a cdn_url, a generated-media URL or (sandboxPaths) /mnt/userdata/<session>/<file>. */
  src?: string;
  kind: 'image' | 'video' | 'generated' | 'audio' | 'text';
  /** Position on the timeline and length, ms. */
  start: number;
  d: number;
  text?: string;
  volume?: number;
  style?: string;
  transition?: { type: string; d: number };
}

export interface Track {
  tt: TrackType;
  sg: Segment[];
  d?: number;
}

export interface Draft {
  t: Track[];
  d: number;
  m: { title: string; width: number; height: number; fps: number; rev: number };
}

export interface VideoInfo {
  filename: string;
  file_type: 'video' | 'image' | 'audio';
  cdn_url: string;
  s3_key: string;
  duration: number | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  hash: string;
  size: number | null;
}

export interface GeneratedMedia {
  type: 'video' | 'audio';
  url: string;
  tool: string;
  duration: number;
}

export interface SessionState {
  video_infos: VideoInfo[];
  draft: Draft | null;
  canvas_config: { width: number; height: number };
  video_analyses: Record<string, unknown>;
  generated_media: GeneratedMedia[];
}

export interface UserRec {
  userId: string;
  anonymous: boolean;
  available: number;
  frozen: number;
}

export interface TokenRec {
  token: string;
  userId: string;
  clientId?: string;
  expiresAt: number;
  dead: boolean;
  anonymous: boolean;
}

export interface SessionRec {
  sessionId: string;
  taskId: string;
  taskName: string;
  language?: string;
  userId: string;
  createdAt: number;
  /** Every run_sse message text, in arrival order (failed ones included). */
  messages: string[];
  /** What the agent said (final text events), for tests and demos. */
  replies: string[];
  state: SessionState;
  claim?: { token: string; expiresAt: number };
  /** Agent runs accepted and not yet finished (queued ones included). */
  busy: number;
  /** The agent handles one message at a time per session; later ones wait on this chain. */
  chain: Promise<void>;
  /** Counter for generated media file names. */
  mediaSeq: number;
}

export interface RenderRec {
  id: string;
  sessionId: string;
  userId: string;
  createdAt: number;
  /** Real ms the render takes (renderMs × timeScale at submit time). */
  totalMs: number;
  /** Set when the render is doomed: it fails a third of the way in with this reason. */
  failReason?: string;
  canceledAt?: number;
  /** Draft duration, reported as the output duration (seconds) in shape (b). */
  draftMs: number;
}

export function emptyState(): SessionState {
  return {
    video_infos: [],
    draft: null,
    canvas_config: { width: 1920, height: 1080 },
    video_analyses: {},
    generated_media: [],
  };
}
