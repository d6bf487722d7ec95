// NemoClient: one typed method per upstream endpoint (§2); single attempt each — retries belong to the caller.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '../observability/logger.js';
import { NemoError, type NemoEndpoint } from './errors.js';
import { callJson, parseData, type CallOutcome, type HttpContext } from './http.js';
import { multipartBody, MultipartSizeError, type MultipartFile } from './multipart.js';
import { normaliseRender, renderWireSchema, type RenderStatus } from './render-status.js';
import { runAgent, type RunAgentOptions } from './run-agent.js';
import { postStreamed } from './streamed-post.js';
import {
  anonymousTokenSchema,
  claimTokenSchema,
  createSessionSchema,
  creditsSchema,
  draftSchema,
  normaliseUploaded,
  stateResponseSchema,
  uploadResponseSchema,
  type SessionState,
  type UploadedFile,
} from './schemas.js';
import type { AgentRunResult } from './sse.js';

export interface NemoClientOptions {
  baseUrl: string;
  skill: { source: string; version: string; platform: string };
  logger: Logger;
  dispatcher?: Dispatcher;
  /** Per REST call, headers and body included (default 30 s). */
  requestTimeoutMs?: number;
  onCall?: (endpoint: NemoEndpoint, outcome: CallOutcome, ms: number) => void;
}

export interface RenderRequest {
  id: string;
  sessionId: string;
  draft: unknown;
  output: { format: string; quality: string; resolution?: string };
}

/** Uploads get the request timeout plus time for the bytes at a pessimistic 256 KiB/s. */
const UPLOAD_MIN_BYTES_PER_S = 256 * 1024;

const seg = (s: string) => encodeURIComponent(s);

export class NemoClient {
  private readonly ctx: HttpContext;

  constructor(private readonly opts: NemoClientOptions) {
    this.ctx = {
      baseUrl: opts.baseUrl,
      skill: opts.skill,
      logger: opts.logger,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.onCall ? { onCall: opts.onCall } : {}),
    };
  }

  /**
   * The same client (same dispatcher, settings and call counter), logging through `logger`: a job's own, so the lines of
   * its upstream calls carry its jobId and trace_id.
   */
  withLogger(logger: Logger): NemoClient {
    return new NemoClient({ ...this.opts, logger });
  }

  /** §2.1: no Bearer, X-Client-Id required. The only method that returns a token. */
  async anonymousToken(clientId: string) {
    const data = await callJson(this.ctx, { endpoint: 'anonymous_token', method: 'POST', path: '/api/auth/anonymous-token', clientId });
    const d = parseData('anonymous_token', anonymousTokenSchema, data);
    return {
      token: d.token,
      userId: d.user_id ?? d.userId ?? null,
      expiresAt: d.expires_at ?? d.expiresAt ?? null,
      credits: d.credits ?? null,
    };
  }

  /** §2.2 */
  async createSession(token: string, opts: { language: string; taskName?: string }): Promise<{ taskId: string; sessionId: string }> {
    const data = await callJson(this.ctx, {
      endpoint: 'create_session',
      method: 'POST',
      path: '/api/tasks/me/with-session/nemo_agent',
      token,
      json: { task_name: opts.taskName ?? 'project', language: opts.language },
    });
    const d = parseData('create_session', createSessionSchema, data);
    const taskId = d.task_id ?? d.taskId;
    const sessionId = d.session_id ?? d.sessionId;
    if (!taskId || !sessionId) throw new NemoError('rejected', 'create_session', 'create_session: answer lacks task_id or session_id');
    return { taskId, sessionId };
  }

  /** §2.4, JSON form: the upstream fetches the URLs itself. */
  async uploadUrls(token: string, sessionId: string, urls: string[], opts: { signal?: AbortSignal } = {}): Promise<UploadedFile[]> {
    const data = await callJson(this.ctx, {
      endpoint: 'upload',
      method: 'POST',
      path: `/api/upload-video/nemo_agent/me/${seg(sessionId)}`,
      token,
      json: { urls, source_type: 'url' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return normaliseUploaded(parseData('upload', uploadResponseSchema, data));
  }

  /** §2.4, multipart form: repeated field `files`, streamed part by part (files with a `path` read straight from disk). */
  async uploadFiles(
    token: string,
    sessionId: string,
    files: { filename: string; contentType: string; size: number; open: () => NodeJS.ReadableStream | Readable; path?: string }[],
    opts: { signal?: AbortSignal } = {},
  ): Promise<UploadedFile[]> {
    const signal = opts.signal ? { signal: opts.signal } : {};
    let mp;
    try {
      mp = multipartBody(files as MultipartFile[]);
    } catch (err) {
      throw new NemoError('rejected', 'upload', `upload: ${(err as Error).message}`);
    }
    const timeoutMs = this.ctx.requestTimeoutMs + Math.ceil((mp.contentLength / UPLOAD_MIN_BYTES_PER_S) * 1000);
    const path = `/api/upload-video/nemo_agent/me/${seg(sessionId)}`;
    let data: unknown;
    try {
      // A custom undici dispatcher (tests, proxies) gets the stream body; otherwise node:http with reused buffers.
      data = this.ctx.dispatcher
        ? await callJson(this.ctx, {
            endpoint: 'upload',
            method: 'POST',
            path,
            token,
            body: mp.body,
            headers: { 'content-type': mp.contentType, 'content-length': String(mp.contentLength) },
            timeoutMs,
            ...signal,
          })
        : await postStreamed(this.ctx, { endpoint: 'upload', path, token, contentType: mp.contentType, contentLength: mp.contentLength, pump: mp.pump, timeoutMs, ...signal });
    } catch (err) {
      // A file that lied about its size is our problem, not the network's: never retry it as transient.
      const local = findCause(err, MultipartSizeError);
      if (local) throw new NemoError('rejected', 'upload', `upload: ${local.message}`);
      throw err;
    }
    return normaliseUploaded(parseData('upload', uploadResponseSchema, data));
  }

  runAgent(token: string, sessionId: string, text: string, opts: RunAgentOptions): Promise<AgentRunResult> {
    return runAgent(this.ctx, token, sessionId, text, opts);
  }

  /** §2.6 */
  async getState(token: string, sessionId: string): Promise<SessionState> {
    const data = await callJson(this.ctx, {
      endpoint: 'state',
      method: 'GET',
      path: `/api/state/nemo_agent/me/${seg(sessionId)}/latest`,
      token,
    });
    const d = parseData('state', stateResponseSchema, data);
    let rawDraft: unknown = d.state?.draft ?? null;
    // Some stores keep the draft as a JSON string; parse it rather than report "no draft".
    if (typeof rawDraft === 'string') {
      try {
        rawDraft = JSON.parse(rawDraft) as unknown;
      } catch {
        rawDraft = null;
      }
    }
    let draft = null;
    if (rawDraft !== null) {
      const parsed = draftSchema.safeParse(rawDraft);
      if (parsed.success) draft = parsed.data;
      else this.ctx.logger.warn({ endpoint: 'state', issues: parsed.error.issues.length }, 'draft has an unexpected shape; treated as absent');
    }
    return {
      sessionId: d.session_id ?? d.sessionId ?? sessionId,
      taskId: d.task_id ?? d.taskId ?? null,
      draft,
      raw: d as Record<string, unknown>,
    };
  }

  /** §2.5 */
  async getCredits(token: string): Promise<{ available: number; frozen: number; total: number }> {
    const data = await callJson(this.ctx, { endpoint: 'credits', method: 'GET', path: '/api/credits/balance/simple', token });
    const d = parseData('credits', creditsSchema, data);
    const frozen = d.frozen ?? 0;
    return { available: d.available, frozen, total: d.total ?? d.available + frozen };
  }

  /** §2.8. The id must be unique; a duplicate surfaces as kind `duplicate_render`. */
  async submitRender(token: string, req: RenderRequest): Promise<RenderStatus> {
    const data = await callJson(this.ctx, {
      endpoint: 'render_submit',
      method: 'POST',
      path: '/api/render/proxy/lambda',
      token,
      json: { id: req.id, sessionId: req.sessionId, draft: req.draft, output: req.output },
    });
    return normaliseRender(parseData('render_submit', renderWireSchema, data ?? {}), req.id);
  }

  /** §2.8, both poll shapes (a: data.outputUrl, b: top-level output.url). */
  async getRender(token: string, id: string): Promise<RenderStatus> {
    const data = await callJson(this.ctx, { endpoint: 'render_poll', method: 'GET', path: `/api/render/proxy/lambda/${seg(id)}`, token });
    return normaliseRender(parseData('render_poll', renderWireSchema, data), id);
  }

  async cancelRender(token: string, id: string): Promise<void> {
    await callJson(this.ctx, { endpoint: 'render_cancel', method: 'POST', path: `/api/render/proxy/lambda/${seg(id)}/cancel`, token });
  }

  /** §2.3. The claim token goes into a browser link; the user token never does. */
  async claimToken(token: string, taskId: string, sessionId: string): Promise<{ claimToken: string; expiresIn: number }> {
    const data = await callJson(this.ctx, {
      endpoint: 'claim_token',
      method: 'POST',
      path: '/api/auth/claim-token',
      token,
      json: { task_id: taskId, session_id: sessionId },
    });
    const d = parseData('claim_token', claimTokenSchema, data);
    const claimToken = d.claim_token ?? d.claimToken;
    if (!claimToken) throw new NemoError('rejected', 'claim_token', 'claim_token: answer lacks claim_token');
    return { claimToken, expiresIn: d.expires_in ?? d.expiresIn ?? 604_800 };
  }
}

function findCause<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof type) return e;
  }
  return null;
}
