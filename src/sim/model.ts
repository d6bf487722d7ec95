// Data shapes the simulator keeps per user, session and render (short-key draft included).
import type { SniffedKind } from './sniff.js';

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

/** One file as the upstream received it (refused ones included), for "what did the relay actually send" assertions. */
export interface UploadRec {
  /** The name as sent (multipart filename, or the URL's last path segment). */
  filename: string;
  /** Bytes received; null for a URL upload (never fetched). */
  bytes: number | null;
  /** What the bytes are ('unknown' for URL uploads, whose bytes are never seen). */
  sniffed: SniffedKind;
  source: 'file' | 'url';
  /** Whether the file ended up in the session's video_infos. */
  accepted: boolean;
  /** This file's own verdict: 0, or the envelope code it earned (4001, 4002); a batch fails as a whole. */
  code: number;
}

/** One accepted /run_sse stream, open from the moment the stream starts until its response closes. */
export interface RunRec {
  message: string;
  kind: 'question' | 'generation' | 'edit';
  openedAt: number;
  closedAt: number | null;
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
  uploads: UploadRec[];
  runs: RunRec[];
  /** /run_sse responses open right now, and the most ever open at once. */
  openStreams: number;
  maxConcurrentRuns: number;
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
  /** Size of the output file (scenario outputBytes at submit time, or the plain sample). */
  outputBytes: number;
  /** output_expired: once completed, the outputUrl answers this status instead of the file. */
  expiredStatus?: 403 | 404 | 410;
  /**
   * output_error_page: the outputUrl answers a CDN's HTML error page with 200 (every time); output_cut_off: its next
   * download sends half the file and ends the response normally, with no Content-Length to tell (once); output_redirect:
   * it answers 302 to the same file on another path (every time).
   */
  outputFault?: 'error_page' | 'cut_off' | 'redirect';
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
