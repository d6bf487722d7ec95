// One upstream REST call: headers, single attempt with a deadline, bounded body read, JSON + envelope checks (§0, §1).
import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { sharedAgent } from '../core/http-agent.js';
import type { Logger } from '../observability/logger.js';
import { noteUpstreamStatus, traceUpstream } from '../tracing/upstream.js';
import {
  NemoError,
  extractMessage,
  failureToError,
  isNemoError,
  networkError,
  type NemoEndpoint,
  type NemoErrorKind,
} from './errors.js';
import { envelopeSchema } from './schemas.js';

export interface SkillHeaders {
  source: string;
  version: string;
  platform: string;
}

export interface HttpContext {
  baseUrl: string;
  skill: SkillHeaders;
  logger: Logger;
  dispatcher?: Dispatcher;
  requestTimeoutMs: number;
  onCall?: (endpoint: NemoEndpoint, outcome: CallOutcome, ms: number) => void;
}

/** How a call ended: answered, failed with an error kind, or given up by its caller (a cancel, a shutdown). */
export type CallOutcome = 'ok' | NemoErrorKind | 'aborted';

export interface CallSpec {
  endpoint: NemoEndpoint;
  method: 'GET' | 'POST';
  path: string;
  token?: string;
  clientId?: string;
  json?: unknown;
  body?: Readable;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** The caller's: aborting it (a cancel, a shutdown) ends the call at once with its reason. */
  signal?: AbortSignal;
}

/** The call's deadline, and the caller's own signal when it has one. */
export function callSignal(timeoutMs: number, caller?: AbortSignal): AbortSignal {
  const deadline = AbortSignal.timeout(timeoutMs);
  return caller ? AbortSignal.any([deadline, caller]) : deadline;
}

/** /state carries whole drafts; anything bigger than this is not a NemoVideo answer. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** The attribution headers go on every call: without them an anonymous export gets 402 (§0). */
export function baseHeaders(ctx: HttpContext, token?: string, clientId?: string): Record<string, string> {
  const h: Record<string, string> = {
    'x-skill-source': ctx.skill.source,
    'x-skill-version': ctx.skill.version,
    'x-skill-platform': ctx.skill.platform,
  };
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if (clientId !== undefined) h['x-client-id'] = clientId;
  return h;
}

export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

/**
 * Times `fn`, reports the outcome to onCall and logs at debug — endpoint, outcome and ms only, never headers — inside
 * the call's trace span. `method` defaults to POST for run_sse (run-agent.ts), the one caller that does not pass it;
 * `signal`, the caller's: a call it aborted is `aborted`, not an upstream failure.
 */
export async function instrument<T>(
  ctx: HttpContext,
  endpoint: NemoEndpoint,
  fn: () => Promise<T>,
  method: CallSpec['method'] = 'POST',
  signal?: AbortSignal,
): Promise<T> {
  const started = performance.now();
  let outcome: CallOutcome = 'ok';
  try {
    return await traceUpstream(endpoint, method, fn);
  } catch (err) {
    outcome = isNemoError(err) ? err.kind : signal?.aborted ? 'aborted' : 'transient';
    throw err;
  } finally {
    const ms = Math.round(performance.now() - started);
    ctx.logger.debug({ endpoint, outcome, ms }, 'nemo call');
    ctx.onCall?.(endpoint, outcome, ms);
  }
}

/** Session ids are 19-digit numbers in strings (§2.2); if one ever arrives unquoted, keep its source text. */
const ID_KEYS = new Set(['session_id', 'sessionId', 'task_id', 'taskId', 'id', 'user_id']);
type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
export const keepBigIds: Reviver = (key, value, context) =>
  typeof value === 'number' && !Number.isSafeInteger(value) && ID_KEYS.has(key) && context?.source ? context.source : value;

/**
 * An id key written out (no escape: only `\u` could spell its letters) followed by a number that may not be a safe
 * integer: 16 or more integer digits (15 are always below 2^53), or a fraction or exponent. A reviver costs a call and
 * a source string per value of every body, so it runs only where this matches (or a `\u` escape could hide a key).
 */
const UNSAFE_ID_NUMBER = new RegExp(`"(?:${[...ID_KEYS].join('|')})"[ \\t\\n\\r]*:[ \\t\\n\\r]*-?(?:\\d{16}|\\d{0,15}[.eE])`);

/** Could keepBigIds change anything JSON.parse makes of `text`? Never false when it could (test/unit/nemo-json-ids.test.ts). */
export function mayHoldUnsafeId(text: string): boolean {
  return text.includes('\\u') || UNSAFE_ID_NUMBER.test(text);
}

export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    const reviver = mayHoldUnsafeId(text) ? (keepBigIds as Parameters<typeof JSON.parse>[1]) : undefined;
    return { ok: true, value: JSON.parse(text, reviver) };
  } catch {
    return { ok: false };
  }
}

export async function readBodyText(body: AsyncIterable<Buffer | Uint8Array>, max = MAX_BODY_BYTES): Promise<string> {
  // The chunks are kept as they come (no copy each): they live only until the one copy concat makes, or none for one.
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new Error(`response body larger than ${max} bytes`);
    chunks.push(chunk);
  }
  const only = chunks.length === 1 ? chunks[0] : undefined;
  if (only) return Buffer.from(only.buffer, only.byteOffset, only.byteLength).toString('utf8');
  return Buffer.concat(chunks, size).toString('utf8');
}

/**
 * Turns a finished response into `data` or a NemoError. `!ok`, `code != 0` and `success === false` are all
 * errors whatever the HTTP status (§1: the upstream may send errors with HTTP 200).
 */
export function interpretResponse(
  endpoint: NemoEndpoint,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
  phase: 'before_stream' | 'n/a' = 'n/a',
): unknown {
  const ok = status >= 200 && status < 300;
  const parsed = text.trim() === '' ? { ok: true as const, value: undefined } : parseJsonText(text);
  if (!parsed.ok) {
    // An HTML error page from a proxy: the status decides; a broken 2xx body counts as transient (truncation, proxy page).
    const failure = { endpoint, httpStatus: status, message: describeNonJson(text), jsonBody: false, phase };
    if (ok) throw new NemoError('transient', endpoint, `${endpoint}: HTTP ${status}: response is not JSON`, { httpStatus: status, phase });
    throw failureToError({ ...failure, retryAfter: headers['retry-after'] });
  }
  const env = envelopeSchema.safeParse(parsed.value);
  const body = env.success ? env.data : undefined;
  const code = body?.code;
  const failed = !ok || (code !== undefined && code !== 0) || body?.success === false;
  if (failed) {
    throw failureToError({
      endpoint,
      httpStatus: status,
      ...(code !== undefined && code !== 0 ? { code } : {}),
      message: extractMessage(parsed.value),
      jsonBody: true,
      retryAfter: headers['retry-after'],
      phase,
    });
  }
  // §2.8 shape b has no `data`: fall back to the body itself.
  return body && body.data !== undefined && body.data !== null ? body.data : parsed.value;
}

/**
 * What a non-JSON error body says, for the messages callers read (`job.waiting`, `error`): a proxy's HTML page by its
 * title, a cut-off or broken JSON body as such, plain text as it is.
 */
export function describeNonJson(text: string): string {
  const t = text.trim();
  if (/^<(!doctype|html|head|body)\b/i.test(t) || /<\/html>/i.test(t)) {
    const title = /<title>([^<]*)<\/title>/i.exec(t)?.[1]?.trim();
    return title ? `HTML page "${title.slice(0, 80)}"` : 'HTML page';
  }
  if (t.startsWith('{') || t.startsWith('[')) return 'JSON cut off or broken';
  return t.slice(0, 200);
}

/** zod at the boundary: a 2xx body of the wrong shape is a stable mismatch, not something a retry fixes. */
export function parseData<S extends z.ZodType>(endpoint: NemoEndpoint, schema: S, data: unknown): z.infer<S> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new NemoError('rejected', endpoint, `${endpoint}: unexpected response shape: ${issues.join('; ')}`);
}

/** Single attempt (retries are the caller's job). Returns the unwrapped `data`. */
export async function callJson(ctx: HttpContext, spec: CallSpec): Promise<unknown> {
  return instrument(ctx, spec.endpoint, async () => {
    const headers: Record<string, string> = { accept: 'application/json', ...baseHeaders(ctx, spec.token, spec.clientId) };
    let body: string | Readable | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.body) {
      body = spec.body;
    }
    Object.assign(headers, spec.headers);
    const timeoutMs = spec.timeoutMs ?? ctx.requestTimeoutMs;
    const signal = callSignal(timeoutMs, spec.signal);
    try {
      const res = await request(joinUrl(ctx.baseUrl, spec.path), {
        method: spec.method,
        headers,
        body: body ?? null,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        dispatcher: ctx.dispatcher ?? sharedAgent(),
      });
      noteUpstreamStatus(res.statusCode);
      const text = await readBodyText(res.body);
      return interpretResponse(spec.endpoint, res.statusCode, res.headers, text);
    } catch (err) {
      if (isNemoError(err)) throw err;
      if (spec.signal?.aborted) throw spec.signal.reason;
      if (signal.aborted) throw networkError(spec.endpoint, new Error(`no complete answer within ${timeoutMs} ms`));
      throw networkError(spec.endpoint, err);
    }
  }, spec.method, spec.signal);
}
