// URL sources the upstream cannot read itself (HEIC photos): downloaded through the SSRF guard, sniffed, converted to JPEG.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { interceptors, request, type Dispatcher } from 'undici';
import { AppError, type ErrorCode } from '../core/errors.js';
import { newUploadId } from '../jobs/ids.js';
import { createGuardedDispatcher, type LookupFunction } from '../webhooks/ssrf.js';
import { heicConverter, type HeicConvertOptions } from './heic-convert.js';
import { sniffMediaType, SNIFF_BYTES } from './media-types.js';
import { conversionError, convertedFilename, stagedFilename } from './stage-file.js';

/** The whole download (connect, headers and body): a photo is a few MiB; a source that trickles is given up on. */
export const URL_SOURCE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTIONS = 5;

/** Whether a URL source names a HEIC/HEIF file (its path, not its query, ends in .heic or .heif, any case). */
export function isHeicUrl(url: string): boolean {
  try {
    return /\.(heic|heif)$/i.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

export interface FetchUrlSourceOptions {
  /** Where the temporary files go: UPLOAD_DIR, so the sweeper removes what a crash leaves (`upl_….part`). */
  dir: string;
  /** UPLOAD_MAX_BYTES: a larger body is refused, by its Content-Length or while it streams. */
  maxBytes: number;
  /** Refuse loopback/private/metadata addresses unless true (the SSRF guard's rule, e.g. WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  /** The whole download; default URL_SOURCE_TIMEOUT_MS. The conversion has its own limit (`convert.timeoutMs`). */
  timeoutMs?: number;
  /** Names the source in error messages, e.g. `sources.2.url`; default `url`. */
  field?: string;
  /** A canceled job: stops the download or the conversion, and the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Limits of the HEIC → JPEG conversion (defaults: 50 MP, 60 s, quality 90). */
  convert?: Pick<HeicConvertOptions, 'maxPixels' | 'timeoutMs' | 'quality'>;
  /** DNS stub for tests (the guard's own option). */
  lookup?: LookupFunction;
  connectTimeoutMs?: number;
}

/** A file ready for nemo.uploadFiles (filename, contentType, size, open), plus where it is and how to remove it. */
export interface FetchedUrlSource {
  url: string;
  path: string;
  filename: string;
  contentType: string;
  size: number;
  /** What was downloaded: its content type as judged by its bytes, and its size. */
  original: { contentType: string; size: number };
  open: () => Readable;
  /** Removes the temporary file; call it once the upload is done (or failed). Never throws. */
  cleanup: () => Promise<void>;
}

export type UrlSourceFailure = 'refused' | 'http_status' | 'network' | 'timeout' | 'too_large' | 'not_media' | 'corrupt';

/**
 * Why a URL source could not be used. The code is what the job fails with: the content's problems mirror the
 * upstream's own (UNSUPPORTED_MEDIA as for 4001, MEDIA_TOO_LARGE as for 4002); the download's are the source's
 * fault (VALIDATION_FAILED, retryable where trying again later may work: timeouts, network errors, 5xx).
 */
export class UrlSourceError extends AppError {
  constructor(
    readonly kind: UrlSourceFailure,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(CODES[kind], message, options);
    this.name = 'UrlSourceError';
  }
}

const CODES: Record<UrlSourceFailure, ErrorCode> = {
  refused: 'VALIDATION_FAILED',
  http_status: 'VALIDATION_FAILED',
  network: 'VALIDATION_FAILED',
  timeout: 'VALIDATION_FAILED',
  too_large: 'MEDIA_TOO_LARGE',
  not_media: 'UNSUPPORTED_MEDIA',
  corrupt: 'UNSUPPORTED_MEDIA',
};

/** Scheme, host and path only: source links are often presigned, and the query carries the signature. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

/** The last path segment, decoded, as the file's name (cleaned and given the right extension later). */
function nameFromUrl(url: string): string | undefined {
  const segment = new URL(url).pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function findCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

async function readHead(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await file.read(head, 0, SNIFF_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Streams the body to `path`, counting: more than maxBytes stops it at once. Returns the size. */
async function download(url: string, path: string, opts: FetchUrlSourceOptions, field: string, signal: AbortSignal, timeoutMs: number): Promise<number> {
  const where = describeUrl(url);
  const guard = createGuardedDispatcher({
    allowPrivate: opts.allowPrivate,
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
  });
  // Every hop of a redirect connects through the guard again, so a redirect cannot lead to a forbidden address.
  const dispatcher = guard.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }));
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        dispatcher,
        method: 'GET',
        headers: { accept: 'image/heic, image/heif, image/*;q=0.9, */*;q=0.1', 'accept-encoding': 'identity' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      const code = findCode(err);
      if (code === 'WEBHOOK_TARGET_REFUSED') {
        throw new UrlSourceError('refused', `${field}: ${where} was not fetched: the ${(err as Error).message}`, { cause: err });
      }
      // undici's redirect handler refuses a loop (a URL it has visited already) or a Location that is not http(s) as an
      // invalid argument: the source's lasting fault, not an unreachable host worth another try. (A chain longer than
      // MAX_REDIRECTIONS ends with its last 3xx: "answered HTTP 302".)
      if (code === 'UND_ERR_INVALID_ARG') {
        throw new UrlSourceError('http_status', `${field}: ${where} redirected in a loop or to a location that is not an http(s) URL`, { cause: err });
      }
      throw new UrlSourceError('network', `${field}: ${where} could not be reached (${code ?? (err as Error).message})`, { cause: err, retryable: true });
    }
    const { body, statusCode, headers } = res;
    body.on('error', () => undefined);
    if (statusCode !== 200) {
      body.destroy();
      throw new UrlSourceError('http_status', `${field}: ${where} answered HTTP ${statusCode} instead of the file`, {
        retryable: statusCode >= 500 || statusCode === 408 || statusCode === 429,
      });
    }
    const length = headers['content-length'];
    if (typeof length === 'string' && /^\d+$/.test(length) && Number(length) > opts.maxBytes) {
      body.destroy();
      throw new UrlSourceError('too_large', `${field}: ${where} is ${length} bytes, over the limit of ${opts.maxBytes} bytes (UPLOAD_MAX_BYTES)`);
    }
    let size = 0;
    const limit = async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > opts.maxBytes) {
          throw new UrlSourceError('too_large', `${field}: ${where} is larger than the limit of ${opts.maxBytes} bytes (UPLOAD_MAX_BYTES)`);
        }
        yield chunk;
      }
    };
    try {
      await pipeline(body, limit, createWriteStream(path, { flags: 'wx' }));
    } catch (err) {
      if (err instanceof UrlSourceError || signal.aborted) throw err;
      const { syscall } = err as NodeJS.ErrnoException;
      if (syscall && findCode(err) !== 'ECONNRESET') throw err; // our disk, not their server: a crash the flow logs
      throw new UrlSourceError('network', `${field}: ${where} broke off after ${size} bytes (${findCode(err) ?? (err as Error).message})`, { cause: err, retryable: true });
    }
    if (size === 0) throw new UrlSourceError('not_media', `${field}: ${where} answered an empty body`);
    return size;
  } finally {
    await guard.destroy().catch(() => undefined);
  }
}

/**
 * Downloads a URL source through the SSRF guard (UPLOAD_MAX_BYTES and a time limit), judges it by its bytes, and
 * converts a HEIC/HEIF photo to JPEG. Any other type the upstream accepts is handed back as downloaded, named
 * with the extension its bytes call for (the upstream judges by name). Temporary files are removed on every
 * failure; on success the caller uploads the file and then calls cleanup(). Errors are UrlSourceErrors naming
 * the field and the URL (without its query); a canceled `signal` rejects with its reason.
 */
export async function fetchUrlSource(url: string, opts: FetchUrlSourceOptions): Promise<FetchedUrlSource> {
  const field = opts.field ?? 'url';
  const where = describeUrl(url);
  opts.signal?.throwIfAborted();
  if (!/^https?:\/\//i.test(url)) throw new UrlSourceError('refused', `${field}: ${where} is not an http(s) URL`);
  const timeoutMs = opts.timeoutMs ?? URL_SOURCE_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
  await mkdir(opts.dir, { recursive: true });
  const downloaded = join(opts.dir, `${newUploadId()}.part`);
  const converted = join(opts.dir, `${newUploadId()}.part`);
  const removeAll = () => Promise.all([rm(downloaded, { force: true }), rm(converted, { force: true })]).then(() => undefined);
  try {
    let size: number;
    try {
      size = await download(url, downloaded, opts, field, signal, timeoutMs);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (deadline.aborted || ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'].includes(findCode(err) ?? '')) {
        throw new UrlSourceError('timeout', `${field}: ${where} did not arrive within ${timeoutMs} ms`, { cause: err, retryable: true });
      }
      throw err;
    }
    const sniffed = sniffMediaType(await readHead(downloaded));
    if (!sniffed.ok) {
      throw new UrlSourceError('not_media', `${field}: ${where} is not an image or video of an accepted type (judged by its content, not its name)`);
    }
    const type = sniffed.type;
    const filename = stagedFilename(nameFromUrl(url), type);
    const original = { contentType: type.contentType, size };
    if (!type.convertTo) return fetched(url, downloaded, filename, type.contentType, size, original);
    let result;
    try {
      result = await heicConverter.convert(downloaded, converted, { ...opts.convert, waitInQueue: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw asUrlSourceError(conversionError(err, field, where, type, opts.convert, ''));
    }
    await rm(downloaded, { force: true });
    return fetched(url, converted, convertedFilename(filename, type.convertTo), type.convertTo.contentType, result.bytes, original);
  } catch (err) {
    await removeAll();
    throw err;
  }
}

/** The intake's conversion errors (415 undecodable, 413 over a limit) as the job's: same words, the URL source's codes. */
function asUrlSourceError(err: unknown): unknown {
  if (!(err instanceof AppError)) return err;
  if (err.code === 'UNSUPPORTED_MEDIA_TYPE') return new UrlSourceError('corrupt', err.message, { cause: err.cause });
  if (err.code === 'UPLOAD_TOO_LARGE') return new UrlSourceError('too_large', err.message, { cause: err.cause });
  return err;
}

function fetched(url: string, path: string, filename: string, contentType: string, size: number, original: FetchedUrlSource['original']): FetchedUrlSource {
  return {
    url,
    path,
    filename,
    contentType,
    size,
    original,
    open: () => createReadStream(path),
    cleanup: () => rm(path, { force: true }).catch(() => undefined),
  };
}
