// One webhook POST and what came of it; receiver failures become a DeliveryOutcome, never an exception.
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { scrubSecrets } from '../observability/logger.js';
import { PACKAGE_VERSION } from '../core/version.js';
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
  /** Cut by our own shutdown (the signal): not the receiver's failure. */
  aborted?: boolean;
}

export interface SendWebhookInput {
  url: string;
  /** The JSON body; bytes (buildDelivery's `bytes`) are sent as they are, a string is encoded as UTF-8 first. */
  body: string | Uint8Array;
  /** webhook-id / webhook-timestamp / webhook-signature; content-type and user-agent are set here. */
  headers: Record<string, string>;
  timeoutMs: number;
  /** The SSRF-guarded dispatcher from createGuardedDispatcher. */
  dispatcher: Dispatcher;
  /** Ends the attempt at once when aborted (the worker is shutting down): an unsent or cut attempt, retried later. */
  signal?: AbortSignal;
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

const USER_AGENT = `nemo-relay/${PACKAGE_VERSION}`;

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'WEBHOOK_TARGET_REFUSED') return scrubSecrets(e.message ?? 'target refused');
  const known = e.code ? CONNECTION_ERRORS[e.code] : undefined;
  const text = known ? `${known} (${e.code})` : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  return scrubSecrets(text);
}

/** One decoder for every response: decode() runs synchronously, and the flush right after resets it for the next. */
const decoder = new TextDecoder('utf-8');

function decodeExcerpt(chunks: Buffer[], size: number): string {
  if (size === 0) return '';
  const bytes = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).subarray(0, MAX_RESPONSE_BODY_BYTES);
  // stream: true drops a multi-byte character cut in half at the 4 KiB boundary instead of emitting U+FFFD;
  // the empty decode() discards that half so nothing carries over into the next response.
  const text = decoder.decode(bytes, { stream: true });
  decoder.decode();
  return text;
}

/** The origin and path of a URL, parsed once: a tenant's deliveries all go to the same few URLs. */
const targets = new Map<string, { origin: string; path: string }>();
const TARGET_CACHE_LIMIT = 1_000;

function targetOf(url: string): { origin: string; path: string } {
  let target = targets.get(url);
  if (!target) {
    const parsed = new URL(url);
    target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (targets.size >= TARGET_CACHE_LIMIT) targets.delete(targets.keys().next().value!);
    targets.set(url, target);
  }
  return target;
}

/**
 * Sends through undici's dispatch() with a handler of our own instead of request(): no AbortController/AbortSignal
 * and no response stream per delivery (together about a quarter of a delivery's CPU, see bench/README.md), while the
 * one deadline, the 4 KiB excerpt and the outcome stay what they were.
 */
export function sendWebhook(input: SendWebhookInput): Promise<DeliveryOutcome> {
  const { url, body, timeoutMs, dispatcher, signal } = input;
  const headers: Record<string, string> = {};
  for (const name in input.headers) headers[name.toLowerCase()] = input.headers[name]!;
  headers['content-type'] = 'application/json';
  headers['user-agent'] = USER_AGENT;
  const started = performance.now();

  return new Promise<DeliveryOutcome>((resolve) => {
    let statusCode: number | null = null;
    let retryAfterMs: number | null = null;
    const chunks: Buffer[] = [];
    let size = 0;
    let controller: Dispatcher.DispatchController | null = null;
    let settled = false;
    let timedOut = false;
    let aborted = false;

    const finish = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const durationMs = Math.round(performance.now() - started);
      if (err === null && statusCode !== null) {
        const ok = statusCode >= 200 && statusCode < 300;
        let error: string | null = null;
        if (statusCode >= 300 && statusCode < 400) error = `redirect (${statusCode}) not followed`;
        else if (!ok) error = `receiver answered ${statusCode}`;
        const responseBody = decodeExcerpt(chunks, size);
        resolve({ ok, statusCode, responseBody, durationMs, error, retryAfterMs, stop: statusCode === 410, refused: false });
        return;
      }
      const error = timedOut ? `timeout after ${timeoutMs} ms` : describeError(err);
      const refused = !timedOut && (err as { code?: string } | null)?.code === 'WEBHOOK_TARGET_REFUSED';
      resolve({ ok: false, statusCode, responseBody: '', durationMs, error, retryAfterMs, stop: statusCode === 410, refused, ...(aborted ? { aborted } : {}) });
    };

    // One deadline for the whole exchange (DNS, connect, headers and body): a receiver that trickles bytes must not
    // hold a delivery slot beyond timeoutMs the way separate headers/body timeouts would allow. Before the request
    // reached a socket there is nothing to abort yet: the outcome is settled now and the request aborted on its start.
    const timer = setTimeout(() => {
      timedOut = true;
      const reason = new Error(`timeout after ${timeoutMs} ms`);
      finish(reason);
      controller?.abort(reason);
    }, timeoutMs);
    function onAbort() {
      aborted = true;
      const reason = new Error(`aborted: ${String((signal?.reason as Error | undefined)?.message ?? 'the worker is shutting down')}`);
      finish(reason);
      controller?.abort(reason);
    }
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (settled) c.abort(new Error('delivery already settled'));
      },
      onResponseStart(_c, status, resHeaders) {
        if (status < 200) return; // 1xx: the final answer is still to come
        statusCode = status;
        retryAfterMs = parseRetryAfter(resHeaders['retry-after']);
      },
      onResponseData(c, chunk) {
        if (settled) return;
        chunks.push(chunk);
        size += chunk.length;
        // Enough for the excerpt: answer now and drop the rest, so a receiver cannot make us buffer megabytes.
        if (size >= MAX_RESPONSE_BODY_BYTES) {
          finish(null);
          c.abort(new Error('response excerpt complete'));
        }
      },
      onResponseEnd() {
        finish(null);
      },
      onResponseError(_c, err) {
        finish(err);
      },
    };
    try {
      const { origin, path } = targetOf(url);
      dispatcher.dispatch({ origin, path, method: 'POST', headers, body }, handler);
    } catch (err) {
      finish(err);
    }
  });
}
