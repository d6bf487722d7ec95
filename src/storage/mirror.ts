// Copies a finished video from the upstream's expiring URL straight into output storage, streaming, never whole.
import { Transform, type TransformCallback } from 'node:stream';
import { interceptors, request, type Dispatcher } from 'undici';
import { sharedAgent } from '../core/http-agent.js';
import { noteStreamedBytes } from './gc-nudge.js';
import { StorageError } from './errors.js';
import { Mp4BoxWalk } from './mp4-boxes.js';
import type { OutputStorage } from './types.js';

export interface MirrorOptions {
  url: string;
  storage: OutputStorage;
  key: string;
  /** The SSRF-guarded dispatcher (createGuardedDispatcher) or a plain Agent; default the process's shared one (core/http-agent.ts). */
  dispatcher?: Dispatcher;
  /** Idle limit: for the response headers, and between two chunks of the body (a stall anywhere in the copy). */
  timeoutMs: number;
  /** A body larger than this is refused, whether declared by Content-Length or found while streaming. */
  maxBytes: number;
  signal?: AbortSignal;
  /** Stored Content-Type; default the source's when it is video/*, else video/mp4. */
  contentType?: string;
  /** Redirects followed (CDNs answer signed links with 302s); default 5. */
  maxRedirections?: number;
  /**
   * Extra request headers, e.g. the Bearer token of an authenticated download. Never put into errors or logs; undici
   * drops Authorization when a redirect leaves the origin.
   */
  headers?: Record<string, string>;
  /**
   * The body must be one whole MP4 file (Mp4BoxWalk): what is not one is OUTPUT_GONE (a CDN's error page answered
   * with 200: the link is as good as gone), a copy that ends inside a box is cut off (OUTPUT_FETCH_FAILED, retried).
   */
  mp4?: boolean;
}

export interface MirrorResult {
  sizeBytes: number;
  sha256: string;
  contentType: string;
  etag: string;
}

export const DEFAULT_MIRROR_TIMEOUT_MS = 30_000;
export const DEFAULT_MIRROR_MAX_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * The URL as it may appear in an error or log line: scheme, host and path only. Upstream output links are often
 * presigned, and the query carries the signature.
 */
export function describeOutputUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; name?: string } | null;
  return e?.code ?? e?.name ?? 'Error';
}

/** An HTTP answer other than 200 → the error the flow decides on. */
function statusFailure(status: number, where: string, headers: Record<string, string | string[] | undefined>, maxRedirections: number): StorageError {
  if (status === 403 || status === 404 || status === 410) {
    return new StorageError('OUTPUT_GONE', `the upstream output URL is gone (${status}): ${where}`);
  }
  if (status >= 500 || status === 408 || status === 425 || status === 429) {
    const after = retryAfterMs(headers['retry-after']);
    return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL answered ${status}: ${where}`, {
      retryable: true,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    });
  }
  if (status >= 300 && status < 400) {
    return new StorageError(
      'OUTPUT_FETCH_FAILED',
      `the upstream output URL answered a redirect (${status}) that was not followed (no Location, or more than ${maxRedirections}): ${where}`,
      { retryable: false },
    );
  }
  return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL answered ${status} instead of the video: ${where}`, { retryable: false });
}

/** A failure before any response (connect, DNS, TLS, refused by the SSRF guard, no headers in time). */
function requestFailure(err: unknown, where: string, timeoutMs: number): StorageError {
  const code = errorCode(err);
  if (code === 'WEBHOOK_TARGET_REFUSED') {
    return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL was refused: ${(err as Error).message}: ${where}`, {
      cause: err,
      retryable: false,
    });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new StorageError('OUTPUT_STALLED', `the upstream output URL sent no response within ${timeoutMs} ms: ${where}`, { cause: err });
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') {
    return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL cannot be fetched (${code}): ${where}`, { cause: err, retryable: false });
  }
  return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL could not be reached (${code}): ${where}`, { cause: err, retryable: true });
}

/** A failure of the body once it was flowing: cut off, reset, or silent too long. */
function bodyFailure(err: unknown, where: string, bytes: number, timeoutMs: number): StorageError {
  const code = errorCode(err);
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return new StorageError('OUTPUT_STALLED', `the upstream output stalled: no data for ${timeoutMs} ms after ${bytes} bytes: ${where}`, { cause: err });
  }
  return new StorageError('OUTPUT_FETCH_FAILED', `the upstream output broke off after ${bytes} bytes (${code}): ${where}`, { cause: err, retryable: true });
}

/** Counts bytes on the way to storage, refuses more than maxBytes, and checks the total against Content-Length. */
class Meter extends Transform {
  bytes = 0;

  constructor(
    private readonly limits: { maxBytes: number; declared: number | undefined; where: string; walk: Mp4BoxWalk | null; contentType: string },
    private readonly onProgress: () => void,
    private readonly onOwnFailure: (err: StorageError) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    // Socket buffers are freed only at the next GC; without a nudge 200 MiB would lift the peak by ~64 MiB.
    noteStreamedBytes(chunk.length);
    this.onProgress();
    if (this.bytes > this.limits.maxBytes) {
      done(this.own(new StorageError('OUTPUT_TOO_LARGE', `the upstream output is larger than the limit of ${this.limits.maxBytes} bytes: ${this.limits.where}`)));
      return;
    }
    const notMp4 = this.limits.walk?.feed(chunk);
    if (notMp4) {
      const { where, contentType } = this.limits;
      done(this.own(new StorageError('OUTPUT_GONE', `the upstream output URL answered something else than the video (${contentType || 'no content-type'}; ${notMp4}): ${where}`)));
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { declared, where, walk } = this.limits;
    // undici already fails a body shorter than its Content-Length; this is the belt to those braces, and the
    // check that an empty 200 never becomes a stored "video".
    const cut = this.bytes > 0 ? walk?.end() : null;
    if (declared !== undefined && this.bytes !== declared) {
      done(this.own(new StorageError('OUTPUT_FETCH_FAILED', `the upstream output ended after ${this.bytes} of ${declared} bytes: ${where}`)));
    } else if (this.bytes === 0) {
      done(this.own(new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL answered an empty body: ${where}`)));
    } else if (cut) {
      // No Content-Length and the connection closed early: the file's own boxes say it is incomplete.
      done(this.own(new StorageError('OUTPUT_FETCH_FAILED', `the upstream output broke off: ${cut}: ${where}`, { retryable: true })));
    } else {
      done();
    }
  }

  private own(err: StorageError): StorageError {
    this.onOwnFailure(err);
    return err;
  }
}

function pickContentType(given: string | undefined, header: string | string[] | undefined): string {
  if (given) return given;
  const value = (Array.isArray(header) ? header[0] : header)?.split(';')[0]?.trim().toLowerCase();
  return value && /^video\/[a-z0-9.+-]+$/.test(value) ? value : 'video/mp4';
}

/**
 * Streams `url` into `storage.put(key)`. Resolves only after the storage reports the object complete; on any
 * failure it rejects and the driver leaves no complete object under `key`. Errors are StorageErrors: OUTPUT_GONE
 * (403/404/410, not retryable), OUTPUT_TOO_LARGE, OUTPUT_FETCH_FAILED (retryable for 5xx/429/network, not for
 * other answers), OUTPUT_STALLED (idle beyond timeoutMs), STORAGE_FAILED (the storage side). A fired `signal`
 * rejects with its reason as it is.
 */
export async function mirrorToStorage(opts: MirrorOptions): Promise<MirrorResult> {
  const { url, storage, key, timeoutMs, maxBytes, signal } = opts;
  const maxRedirections = opts.maxRedirections ?? 5;
  const where = describeOutputUrl(url);
  signal?.throwIfAborted();
  if (!/^https?:\/\//i.test(url)) {
    throw new StorageError('OUTPUT_FETCH_FAILED', `the upstream output URL is not an http(s) URL: ${where}`, { retryable: false });
  }
  const dispatcher = (opts.dispatcher ?? sharedAgent()).compose(interceptors.redirect({ maxRedirections }));

  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      dispatcher,
      method: 'GET',
      // identity: the stored bytes must be the file itself, never a transfer encoding of it.
      headers: { ...opts.headers, accept: 'video/mp4, video/*;q=0.9, */*;q=0.1', 'accept-encoding': 'identity' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw requestFailure(err, where, timeoutMs);
  }
  const { body, statusCode, headers } = res;
  if (statusCode !== 200) {
    await body.dump().catch(() => {});
    throw statusFailure(statusCode, where, headers, maxRedirections);
  }
  const lengthHeader = headers['content-length'];
  const declared = typeof lengthHeader === 'string' && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (declared !== undefined && declared > maxBytes) {
    body.destroy();
    body.on('error', () => {});
    throw new StorageError('OUTPUT_TOO_LARGE', `the upstream output is ${declared} bytes, over the limit of ${maxBytes}: ${where}`);
  }
  const contentType = pickContentType(opts.contentType, headers['content-type']);

  // The first failure on the source side wins; everything after it is a consequence (aborts, destroyed streams).
  let sourceError: unknown;
  const idle = setTimeout(() => {
    fail(new StorageError('OUTPUT_STALLED', `the output copy stalled: no progress for ${timeoutMs} ms after ${meter.bytes} bytes: ${where}`));
  }, timeoutMs);
  const received = headers['content-type'];
  const meter = new Meter(
    { maxBytes, declared, where, walk: opts.mp4 ? new Mp4BoxWalk() : null, contentType: (Array.isArray(received) ? received[0] : received) ?? '' },
    () => idle.refresh(),
    (err) => (sourceError ??= err),
  );
  function fail(err: unknown): void {
    sourceError ??= err;
    if (!meter.destroyed) meter.destroy(err as Error);
  }
  // The body errors on its own (reset, cut off, timeout) or because we destroyed it; only the first kind counts.
  body.on('error', (err) => {
    if (!meter.destroyed) fail(bodyFailure(err, where, meter.bytes, timeoutMs));
  });
  // Failures are recorded in sourceError and reach the caller through put(); a driver may still be opening its
  // file when one happens, so the meter must never be without a listener.
  meter.on('error', () => {});
  meter.on('close', () => {
    clearTimeout(idle);
    if (!body.destroyed) body.destroy();
  });
  const onAbort = () => fail(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  body.pipe(meter);

  try {
    const stored = await storage.put(key, meter, { contentType, ...(declared !== undefined ? { sizeHint: declared } : {}) });
    return { sizeBytes: stored.sizeBytes, sha256: stored.sha256, contentType, etag: stored.etag };
  } catch (err) {
    if (sourceError !== undefined) throw sourceError;
    if (signal?.aborted) throw signal.reason;
    if (err instanceof StorageError) throw err;
    throw new StorageError('STORAGE_FAILED', `storing the output under ${key} failed (${errorCode(err)})`, { cause: err });
  } finally {
    clearTimeout(idle);
    signal?.removeEventListener('abort', onAbort);
    if (!meter.destroyed) meter.destroy();
  }
}
