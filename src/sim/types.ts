// Shared public types of the NemoVideo simulator: endpoints, faults and request-log entries.

/** The upstream routes the simulator serves; used to target faults and to count calls in the request log. */
export const SIM_ENDPOINTS = [
  'anonymous_token',
  'create_session',
  'claim_token',
  'upload',
  'run_sse',
  'state',
  'credits',
  'render_submit',
  'render_poll',
  'render_cancel',
  'render_download',
  'render_result',
] as const;
export type SimEndpoint = (typeof SIM_ENDPOINTS)[number];

export const FAULT_KINDS = [
  'token_expired',
  'session_lost',
  'rate_limited',
  'server_error',
  'network_drop',
  'no_credits',
  'export_blocked',
  'unsupported_file',
  'file_too_large',
  'stream_drop',
  /** run_sse: FastAPI's 422 {detail:[{loc,msg,type}]} before any stream, whatever the body (protocol §3). */
  'run_sse_validation',
  'stream_error',
  'stream_error_json',
  'agent_error_event',
  'heartbeats_only',
  'render_failed',
  'render_duplicate_id',
  'output_expired',
  'output_error_page',
  'output_cut_off',
  /** render_submit: the outputUrl answers 302 to where the file is (a CDN hop), every time. */
  'output_redirect',
  'ignore_aspect_once',
  'slow',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  kind: FaultKind;
  /** Only calls to this endpoint; without it the kind's natural endpoints (see faults.ts). */
  endpoint?: SimEndpoint;
  /** Only calls concerning this upstream session. */
  sessionId?: string;
  /** How many matching calls get the fault (default 1). */
  times?: number;
  /** Let the first N matching calls through untouched. */
  after?: number;
  /** rate_limited: the Retry-After value in seconds (default 1); null sends no Retry-After at all (§6.8: unknown). */
  retryAfterSec?: number | null;
  /** rate_limited: Retry-After as delay-seconds (default) or as the HTTP-date that far ahead (RFC 9110 allows both). */
  retryAfterForm?: 'seconds' | 'date';
  /** slow: wall-clock delay before answering (default 2000 ms; not multiplied by timeScale). */
  delayMs?: number;
  /** server_error: the HTTP status (default 502); output_expired: 403 (default, AccessDenied), 404 (NoSuchKey) or 410. */
  status?: number;
  /** server_error: 'html' (an nginx error page) or 'json' (JSON cut off mid-object); default: the two alternate. */
  form?: 'html' | 'json';
  /** agent_error_event: the model-level failure's code (protocol §3), default 'MALFORMED_FUNCTION_CALL'. */
  errorCode?: 'MALFORMED_FUNCTION_CALL' | 'SAFETY';
  /**
   * stream_error: the error's text spans lines (a pydantic validation error, a traceback), which old ADK's f-string
   * wrote raw: the frame's later lines are no `data:` lines, so an SSE parser keeps only the first.
   */
  multiline?: boolean;
}

export interface SimLogEntry {
  seq: number;
  at: string;
  method: string;
  path: string;
  endpoint: SimEndpoint | 'control' | 'unknown';
  /** HTTP status sent; 0 when the socket was destroyed before any answer. */
  status: number;
  sessionId?: string;
  renderId?: string;
  /** run_sse: the message text. */
  message?: string;
  skillHeaders: { source?: string; version?: string; platform?: string };
  /** The X-Client-Id header, when one was sent. */
  clientId?: string;
  /** render_submit: the request's `output` object (format, quality, resolution…), as sent. */
  renderOutput?: Record<string, unknown>;
  fault?: FaultKind;
}
