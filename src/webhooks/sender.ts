// One webhook POST and what came of it; receiver failures become a DeliveryOutcome, never an exception.
import { performance } from 'node:perf_hooks';
import { request, type Dispatcher } from 'undici';
import { scrubSecrets } from '../observability/logger.js';
import { PACKAGE_VERSION } from '../version.js';
import { parseRetryAfter } from './schedule.js';

export const MAX_RESPONSE_BODY_BYTES = 4096;

export interface DeliveryOutcome {
  ok: boolean;
  statusCode: number | null;
  /** The first 4 KiB of the response, as text: enough to debug a receiver, small enough to store per attempt. */
  responseBody: string;
  durationMs: number;
  error: string | null;
  retryAfterMs: number | null;
  /** 410 Gone: the receiver asks us to stop retrying this job. */
  stop: boolean;
  /** The SSRF guard refused the target (WEBHOOK_TARGET_REFUSED): nothing was sent. */
  refused: boolean;
}

export interface SendWebhookInput {
  url: string;
  body: string;
  /** webhook-id / webhook-timestamp / webhook-signature; content-type and user-agent are set here. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** The SSRF-guarded dispatcher from createGuardedDispatcher. */
  dispatcher: Dispatcher;
}

const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by receiver',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_SOCKET: 'connection closed by receiver',
  UND_ERR_HEADERS_OVERFLOW: 'response headers too large',
};

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'WEBHOOK_TARGET_REFUSED') return scrubSecrets(e.message ?? 'target refused');
  const known = e.code ? CONNECTION_ERRORS[e.code] : undefined;
  const text = known ? `${known} (${e.code})` : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  return scrubSecrets(text);
}

/** Reads at most MAX_RESPONSE_BODY_BYTES and drops the rest, so a receiver cannot make us buffer megabytes. */
async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_RESPONSE_BODY_BYTES) break; // leaving the loop destroys the stream
  }
  const bytes = Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BODY_BYTES);
  // stream: true drops a multi-byte character cut in half at the 4 KiB boundary instead of emitting U+FFFD.
  return new TextDecoder('utf-8').decode(bytes, { stream: true });
}

export async function sendWebhook(input: SendWebhookInput): Promise<DeliveryOutcome> {
  const { url, body, timeoutMs, dispatcher } = input;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers)) headers[name.toLowerCase()] = value;
  headers['content-type'] = 'application/json';
  headers['user-agent'] = `nemo-relay/${PACKAGE_VERSION}`;

  // One deadline for the whole exchange (DNS, connect, headers and body): a receiver that trickles bytes must not
  // hold a delivery slot beyond timeoutMs the way separate headers/body timeouts would allow.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timeout after ${timeoutMs} ms`));
  }, timeoutMs);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);

  let statusCode: number | null = null;
  let retryAfterMs: number | null = null;
  try {
    const res = await request(url, { method: 'POST', headers, body, dispatcher, signal: controller.signal });
    statusCode = res.statusCode;
    retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    // Most receivers answer 204 or an empty 200: nothing to read or decode then.
    const empty = statusCode === 204 || statusCode === 304 || res.headers['content-length'] === '0';
    let responseBody = '';
    if (empty) await res.body.dump();
    else responseBody = await readCapped(res.body);
    const ok = statusCode >= 200 && statusCode < 300;
    let error: string | null = null;
    if (statusCode >= 300 && statusCode < 400) error = `redirect (${statusCode}) not followed`;
    else if (!ok) error = `receiver answered ${statusCode}`;
    return { ok, statusCode, responseBody, durationMs: elapsed(), error, retryAfterMs, stop: statusCode === 410, refused: false };
  } catch (err) {
    const error = timedOut ? `timeout after ${timeoutMs} ms` : describeError(err);
    const refused = !timedOut && (err as { code?: string }).code === 'WEBHOOK_TARGET_REFUSED';
    return { ok: false, statusCode, responseBody: '', durationMs: elapsed(), error, retryAfterMs, stop: statusCode === 410, refused };
  } finally {
    clearTimeout(timer);
  }
}
