// NemoError and the one table (protocol §1) that maps upstream HTTP statuses, envelope codes and network failures to kinds.
import { scrubSecrets } from '../observability/logger.js';

export type NemoErrorKind =
  | 'auth'
  | 'session_missing'
  | 'no_credits'
  | 'export_blocked'
  | 'unsupported_media'
  | 'media_too_large'
  | 'rate_limited'
  | 'transient'
  | 'duplicate_render'
  | 'not_found'
  | 'rejected'
  | 'timeout';

export type NemoEndpoint =
  | 'anonymous_token'
  | 'create_session'
  | 'claim_token'
  | 'upload'
  | 'run_sse'
  | 'state'
  | 'credits'
  | 'render_submit'
  | 'render_poll'
  | 'render_cancel'
  | 'render_download';

/** before_stream: /run_sse refused before any event (nothing ran); in_stream: the message may have reached the agent. */
export type NemoErrorPhase = 'before_stream' | 'in_stream' | 'n/a';

export interface NemoErrorInit {
  httpStatus?: number;
  upstreamCode?: number;
  retryAfterMs?: number;
  phase?: NemoErrorPhase;
  cause?: unknown;
  /** run_sse cut off mid-stream: what the agent had said before the cut (job.messages keeps it). */
  agentTexts?: string[];
}

export class NemoError extends Error {
  readonly kind: NemoErrorKind;
  readonly endpoint: NemoEndpoint;
  readonly httpStatus?: number;
  readonly upstreamCode?: number;
  readonly retryAfterMs?: number;
  readonly phase: NemoErrorPhase;
  /** run_sse cut off mid-stream: the agent's texts that arrived whole before the cut (empty otherwise). */
  readonly agentTexts: string[];

  constructor(kind: NemoErrorKind, endpoint: NemoEndpoint, message: string, init: NemoErrorInit = {}) {
    // Every message is scrubbed here, once, so no construction site can leak a token (nmv_usr_…, Bearer …).
    super(scrubSecrets(message), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'NemoError';
    this.kind = kind;
    this.endpoint = endpoint;
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus;
    if (init.upstreamCode !== undefined) this.upstreamCode = init.upstreamCode;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    this.phase = init.phase ?? 'n/a';
    this.agentTexts = init.agentTexts ?? [];
  }
}

export function isNemoError(err: unknown): err is NemoError {
  return err instanceof NemoError;
}

/** Skill guidance (§1): "retry once after 30 s" when the 429 does not say how long. */
export const DEFAULT_RETRY_AFTER_MS = 30_000;

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw || raw.trim() === '') return DEFAULT_RETRY_AFTER_MS;
  const trimmed = raw.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return DEFAULT_RETRY_AFTER_MS;
  return Math.max(0, at - now);
}

// Every call that names a session: render_submit too (the render proxy answers 404 {success:false,error:"session not
// found"} when the draft's session is gone; protocol §1: 1002 → create a new session).
const SESSION_ENDPOINTS: ReadonlySet<NemoEndpoint> = new Set(['run_sse', 'state', 'upload', 'claim_token', 'render_submit']);
const RENDER_ID_ENDPOINTS: ReadonlySet<NemoEndpoint> = new Set(['render_poll', 'render_cancel', 'render_download']);

export interface UpstreamFailure {
  endpoint: NemoEndpoint;
  httpStatus: number;
  /** Envelope `code` when the body had one (non-zero here, or 0 with success:false). */
  code?: number;
  /** Message already extracted from the body (may be empty). */
  message: string;
  /** True when the body was valid JSON (a text match on an HTML error page proves nothing). */
  jsonBody: boolean;
  retryAfter?: string | string[];
  phase?: NemoErrorPhase;
}

/** The mapping table of protocol §1 — the only place an upstream failure becomes a kind. */
export function classifyFailure(f: UpstreamFailure): NemoErrorKind {
  const kind = classifyByStatus(f);
  // A refusal the status leaves open (no status that says more, or a 409 conflict of either kind) is read by the render
  // proxy's words: its {success:false,error} may even come with HTTP 200 (§1, §6.1).
  if (f.jsonBody && (kind === 'rejected' || kind === 'duplicate_render')) return renderMessageKind(f.endpoint, f.message) ?? kind;
  return kind;
}

const RENDER_ENDPOINTS: ReadonlySet<NemoEndpoint> = new Set(['render_submit', 'render_poll', 'render_cancel', 'render_download']);

/**
 * The render proxy's refusals as their message names them: the kinds its 4xx dialect gives by status, and the credits
 * refusal the kind of 2001 (§1). Export blocked is tested before credits: §1 calls the 402 a plan problem, not a credits
 * problem. One active export per session (§2.8): "another export is running" is a wait on the same id, not our id taken
 * (a new id would be refused the same way).
 */
export function renderMessageKind(endpoint: NemoEndpoint, message: string): NemoErrorKind | undefined {
  if (!RENDER_ENDPOINTS.has(endpoint)) return undefined;
  if (/export (?:is )?blocked|free[- ]plan/i.test(message)) return 'export_blocked';
  if (/insufficient credits|not enough credits|no credits|out of credits|credits? (?:exhausted|used up)/i.test(message)) {
    return 'no_credits';
  }
  if (endpoint === 'render_submit') {
    if (/session not found/i.test(message)) return 'session_missing';
    if (/already running|in progress/i.test(message)) return 'transient';
    if (/already exists|duplicate/i.test(message)) return 'duplicate_render';
    return undefined;
  }
  return /not found/i.test(message) ? 'not_found' : undefined;
}

function classifyByStatus(f: UpstreamFailure): NemoErrorKind {
  const { httpStatus: http, code, endpoint } = f;
  const text = f.jsonBody ? f.message : '';
  if (http === 429 || code === 429) return 'rate_limited';
  if (code === 1001 || code === 1010 || code === 1011 || http === 401) return 'auth';
  if (code === 1002) return 'session_missing';
  // ADK answers a missing session with 404 {"detail":"Session not found[: id]"} before the stream (§3).
  if (http === 404 && SESSION_ENDPOINTS.has(endpoint) && /session not found/i.test(text)) return 'session_missing';
  if (code === 2001) return 'no_credits';
  if (http === 402 || code === 402) return 'export_blocked';
  // 415 is not in the notes but can only mean the same thing as 4001.
  if (code === 4001 || http === 415) return 'unsupported_media';
  if (code === 4002 || http === 413) return 'media_too_large';
  if (endpoint === 'render_submit' && (http === 409 || /exist|duplicate/i.test(text))) return 'duplicate_render';
  if (RENDER_ID_ENDPOINTS.has(endpoint) && (http === 404 || /not found/i.test(text))) return 'not_found';
  if (http === 408 || code === 408 || http >= 500) return 'transient';
  return 'rejected';
}

export function failureToError(f: UpstreamFailure): NemoError {
  const kind = classifyFailure(f);
  const parts = [`${f.endpoint}: HTTP ${f.httpStatus}`];
  if (f.code !== undefined) parts.push(`code ${f.code}`);
  const message = f.message ? `${parts.join(' ')}: ${truncate(f.message, 500)}` : parts.join(' ');
  const init: NemoErrorInit = { httpStatus: f.httpStatus, phase: f.phase ?? 'n/a' };
  if (f.code !== undefined) init.upstreamCode = f.code;
  if (kind === 'rate_limited') init.retryAfterMs = parseRetryAfter(f.retryAfter);
  return new NemoError(kind, f.endpoint, message, init);
}

/** Network-level failures (refused, reset, DNS, undici timeouts) are always transient (§1 "retry on network errors"). */
export function networkError(endpoint: NemoEndpoint, err: unknown, phase: NemoErrorPhase = 'n/a', agentTexts?: string[]): NemoError {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return new NemoError('transient', endpoint, `${endpoint}: network error${code ? ` ${code}` : ''}: ${truncate(msg, 300)}`, {
    phase,
    cause: err,
    ...(agentTexts && agentTexts.length > 0 ? { agentTexts } : {}),
  });
}

/** Errors raised while connecting: nothing reached the upstream, so even /run_sse may be re-sent. */
export function isConnectError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(code)
  );
}

/** `message ?? msg ?? error ?? detail` (§1); FastAPI's 422 detail is an array of {loc,msg,type}. */
export function extractMessage(body: unknown): string {
  if (typeof body === 'string') return body;
  if (!body || typeof body !== 'object') return '';
  const b = body as Record<string, unknown>;
  const value = b.message ?? b.msg ?? b.error ?? b.detail;
  return messageText(value);
}

function messageText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map((v) => messageText(v)).filter(Boolean).join('; ');
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const inner = o.msg ?? o.message ?? o.error ?? o.detail;
    if (inner !== undefined) {
      const loc = Array.isArray(o.loc) ? ` (${o.loc.join('.')})` : '';
      return `${messageText(inner)}${loc}`;
    }
    return truncate(JSON.stringify(value), 300);
  }
  return '';
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
