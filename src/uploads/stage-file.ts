// Streams one incoming file to the staging directory: size limit, type by magic bytes, sha256, HEIC converted to JPEG beside it.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../core/errors.js';
import { withoutHiddenCharacters } from '../core/display-name.js';
import { noteStreamedBytes } from './gc-nudge.js';
import { convertHeicFile, HEIC_MAX_PIXELS, HEIC_RETRY_AFTER_S, HEIC_TIMEOUT_MS, HeicConversionError, type HeicConvertOptions } from './heic-convert.js';
import { ACCEPTED_TYPES_TEXT, sniffMediaType, SNIFF_BYTES, unsupportedMessage, type MediaType } from './media-types.js';
import type { CallerConnection } from './caller-connection.js';
import type { StagedUploads, UploadRecord } from './staged-uploads.js';

/** Counts and hashes every chunk, holds back only the first SNIFF_BYTES until the type is known, and stops at the limit. */
class Inspector extends Transform {
  size = 0;
  type: MediaType | null = null;
  private readonly hash = createHash('sha256');
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly field: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    noteStreamedBytes(chunk.length);
    if (this.size > this.maxBytes) {
      done(new AppError('UPLOAD_TOO_LARGE', `${this.field}: larger than the limit of ${this.maxBytes} bytes (UPLOAD_MAX_BYTES)`));
      return;
    }
    this.hash.update(chunk);
    if (this.type) {
      done(null, chunk);
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < SNIFF_BYTES) {
      done();
      return;
    }
    done(this.judge(), this.releaseHead());
  }

  override _flush(done: TransformCallback): void {
    if (this.type) return done();
    if (this.size === 0) return done(new AppError('VALIDATION_FAILED', `${this.field}: the file is empty`));
    const err = this.judge();
    if (err) return done(err);
    this.push(this.releaseHead());
    done();
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  private judge(): AppError | null {
    const result = sniffMediaType(Buffer.concat(this.head));
    if (!result.ok) return new AppError('UNSUPPORTED_MEDIA_TYPE', `${this.field}: ${unsupportedMessage(result)}`);
    this.type = result.type;
    return null;
  }

  private releaseHead(): Buffer {
    const all = Buffer.concat(this.head);
    this.head = [];
    return all;
  }
}

/** A client-side failure of the incoming stream (cut off, malformed multipart) as opposed to a disk problem. */
function sourceFailure(field: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError('VALIDATION_FAILED', `${field}: the upload did not arrive complete (${message})`);
}

/** At most this many UTF-16 code units of the caller's name are kept: its end, where the extension is. */
export const MAX_FILENAME_UNITS = 200;

/**
 * The last `max` code units of a well-formed `text`, without a low surrogate left over from a pair the cut split: a
 * lone surrogate is written as an escape like `\udfd6` by JSON.stringify, which Redis' cjson refuses, so the upload could never be used.
 */
function tailOf(text: string, max: number): string {
  const cut = text.slice(-max);
  const first = cut.charCodeAt(0);
  return first >= 0xdc00 && first <= 0xdfff ? cut.slice(1) : cut;
}

/** The caller's name without any path, control or bidi characters, quotes or lone surrogates, with an extension that agrees with the bytes. */
export function stagedFilename(given: string | undefined, type: MediaType): string {
  // A filename*= parameter or a URL's %-escapes can carry a lone surrogate: U+FFFD instead, before anything is cut.
  const base = (given ?? '').toWellFormed().split(/[\\/]/).pop() ?? '';
  const cleaned = tailOf(withoutHiddenCharacters(base).replaceAll('"', '').trim(), MAX_FILENAME_UNITS);
  const dot = cleaned.lastIndexOf('.');
  const ext = dot > 0 ? cleaned.slice(dot + 1).toLowerCase() : '';
  if (type.extensions.includes(ext)) return cleaned;
  const stem = dot > 0 ? cleaned.slice(0, dot) : cleaned;
  return `${stem || 'upload'}.${type.extensions[0]}`;
}

/** The name the converted copy goes upstream under: the staged name with the target type's extension. */
export function convertedFilename(staged: string, target: MediaType): string {
  const dot = staged.lastIndexOf('.');
  return `${dot > 0 ? staged.slice(0, dot) : staged}.${target.extensions[0]}`;
}

/**
 * What a failed HEIC conversion means for the caller. Undecodable is 415 like any other content we cannot take
 * (the type is judged by the bytes, and these bytes are no usable image); over the pixel or time limit is 413:
 * the file is too big to process, and a smaller photo or a JPEG will do. Too many conversions queued is 503 (retry
 * shortly); a crashed worker is our fault (500).
 */
export function conversionError(
  err: unknown,
  field: string,
  filename: string,
  type: MediaType,
  opts: HeicConvertOptions = {},
  /** Appended to the undecodable case: what the client can do (an uploader can send the file again). */
  hint = `; send the photo again or convert it to JPG first (${ACCEPTED_TYPES_TEXT})`,
): unknown {
  if (!(err instanceof HeicConversionError)) return err;
  const label = type.name.toUpperCase();
  switch (err.kind) {
    case 'corrupt':
      return new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        `${field}: ${filename} is a ${label} image that could not be decoded: ${err.message}${hint}`,
        { cause: err },
      );
    case 'too_many_pixels': {
      const { width, height } = err.size!;
      const mp = (n: number) => `${(n / 1e6).toFixed(1)} MP`;
      return new AppError(
        'UPLOAD_TOO_LARGE',
        `${field}: ${filename} is a ${width}x${height} ${label} image (${mp(width * height)}); ${label} photos are converted up to ${mp(opts.maxPixels ?? HEIC_MAX_PIXELS)}`,
        { cause: err },
      );
    }
    case 'timeout':
      return new AppError(
        'UPLOAD_TOO_LARGE',
        `${field}: ${filename}: converting the ${label} image to JPEG took longer than ${(opts.timeoutMs ?? HEIC_TIMEOUT_MS) / 1000} s; send a smaller photo or a JPEG`,
        { cause: err },
      );
    case 'busy':
      // retryAfterS becomes the answer's Retry-After header: the caller learns when to come back.
      return new AppError('NOT_READY', `${field}: ${filename} could not be converted now: ${err.message}`, { cause: err, retryAfterS: HEIC_RETRY_AFTER_S });
    default:
      return new Error(`${field}: converting ${filename} to JPEG failed: ${err.message}`, { cause: err });
  }
}

/** Converts the complete original to `<id>.jpg` and describes the copy for the record; failures as AppErrors. */
async function convertStaged(uploads: StagedUploads, id: string, original: string, filename: string, type: MediaType, field: string, signal?: AbortSignal) {
  const target = type.convertTo!;
  try {
    const result = await convertHeicFile(original, uploads.convertedPathOf(id), signal ? { ...uploads.convert, signal } : uploads.convert);
    return { filename: convertedFilename(filename, target), content_type: target.contentType, size_bytes: result.bytes, width: result.width, height: result.height };
  } catch (err) {
    throw conversionError(err, field, filename, type, uploads.convert);
  }
}

export interface IncomingFile {
  tenant: string;
  filename: string | undefined;
  stream: Readable;
  /** Names the part in error messages, e.g. `file` or `files.2`. */
  field: string;
  /** The caller's connection (HTTP intake): a conversion is given up, and nothing is kept, once the caller has left. */
  caller?: Pick<CallerConnection, 'signal' | 'pauseIdle'>;
}

/** The caller closed its connection before its upload was staged: answered to no one, logged as a client error. */
function callerGone(field: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: the connection closed before the upload was staged; nothing was kept`);
}

/** UPLOAD_DIR could not be written: the caller is told to retry later, the log line says which directory and why. */
function stagingFailure(dir: string, err: unknown): AppError {
  const { code, message } = err as NodeJS.ErrnoException;
  return new AppError('UPLOAD_STAGING_FAILED', `staging an upload in UPLOAD_DIR ${dir} failed: ${code ?? message}`, { cause: err });
}

/**
 * Writes the stream to `<id>.part`, converts a HEIC/HEIF file to `<id>.jpg` (off the event loop), renames the
 * original to the staged path only once it is complete and accepted, then records it in Redis. Any failure removes
 * the partial file and any JPEG; the stream is drained or destroyed by `pipeline`.
 */
export async function stageFile(uploads: StagedUploads, input: IncomingFile): Promise<UploadRecord> {
  const id = uploads.newId(input.tenant);
  const partial = join(uploads.dir, `${id}.part`);
  const inspector = new Inspector(uploads.maxBytes, input.field);
  await mkdir(uploads.dir, { recursive: true }).catch((err: unknown) => {
    throw stagingFailure(uploads.dir, err);
  });
  // Large batches to disk: a 16 KiB buffer means one write call (and one backpressure pause) per incoming chunk.
  const destination = createWriteStream(partial, { flags: 'wx', highWaterMark: 1024 * 1024 });
  try {
    await pipeline(input.stream, inspector, destination);
    // Busboy cuts a file at its own limit (set one byte above ours) without an error; treat that as too large too.
    if ((input.stream as { truncated?: boolean }).truncated) {
      throw new AppError('UPLOAD_TOO_LARGE', `${input.field}: larger than the limit of ${uploads.maxBytes} bytes (UPLOAD_MAX_BYTES)`);
    }
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof AppError) throw err;
    // File-system failures (ENOSPC, EACCES, EIO…) carry a syscall: the server's problem, a 503 (retry later) whose
    // detail the error handler logs. Everything else came from the incoming stream (cut off, malformed multipart) and
    // reaches every stream of the pipeline.
    const { syscall, code } = err as NodeJS.ErrnoException;
    if (syscall && code !== 'ECONNRESET') throw stagingFailure(uploads.dir, err);
    throw sourceFailure(input.field, err);
  }
  const type = inspector.type!;
  const filename = stagedFilename(input.filename, type);
  let converted: UploadRecord['converted'];
  const signal = input.caller?.signal;
  const resumeIdle = type.convertTo ? input.caller?.pauseIdle() : undefined;
  try {
    // The whole file is here now; the request waits for the JPEG, so a refused photo is refused in this response.
    if (type.convertTo) converted = await convertStaged(uploads, id, partial, filename, type, input.field, signal);
    // A caller gone meanwhile never learns this upload's id: nothing is recorded (it stayed for 7 days, unused).
    if (signal?.aborted) throw callerGone(input.field);
    await rename(partial, uploads.pathOf(id));
  } catch (err) {
    await Promise.all([rm(partial, { force: true }), rm(uploads.convertedPathOf(id), { force: true })]);
    throw signal?.aborted ? callerGone(input.field) : err;
  } finally {
    resumeIdle?.();
  }
  const record: UploadRecord = {
    id,
    tenant: input.tenant,
    filename,
    content_type: type.contentType,
    size_bytes: inspector.size,
    sha256: inspector.digest(),
    created_at: new Date().toISOString(),
    ...(converted ? { converted } : {}),
  };
  try {
    await uploads.save(record);
  } catch (err) {
    await uploads.removeFiles(id);
    throw err;
  }
  return record;
}
