// Streams one incoming file to the staging directory: size limit, type by magic bytes, sha256 — never the whole file in memory.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors.js';
import { newUploadId } from '../jobs/ids.js';
import { noteStreamedBytes } from './gc-nudge.js';
import { sniffMediaType, SNIFF_BYTES, unsupportedMessage, type MediaType } from './media-types.js';
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

/** The caller's name without any path, control characters or quotes, with an extension that agrees with the bytes. */
export function stagedFilename(given: string | undefined, type: MediaType): string {
  const base = (given ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const cleaned = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim().slice(-200);
  const dot = cleaned.lastIndexOf('.');
  const ext = dot > 0 ? cleaned.slice(dot + 1).toLowerCase() : '';
  if (type.extensions.includes(ext)) return cleaned;
  const stem = dot > 0 ? cleaned.slice(0, dot) : cleaned;
  return `${stem || 'upload'}.${type.extensions[0]}`;
}

export interface IncomingFile {
  tenant: string;
  filename: string | undefined;
  stream: Readable;
  /** Names the part in error messages, e.g. `file` or `files.2`. */
  field: string;
}

/**
 * Writes the stream to `<id>.part`, renames it to the staged path only once it is complete and accepted, then
 * records it in Redis. Any failure removes the partial file; the stream is drained or destroyed by `pipeline`.
 */
export async function stageFile(uploads: StagedUploads, input: IncomingFile): Promise<UploadRecord> {
  const id = newUploadId();
  const partial = join(uploads.dir, `${id}.part`);
  const inspector = new Inspector(uploads.maxBytes, input.field);
  await mkdir(uploads.dir, { recursive: true });
  const destination = createWriteStream(partial, { flags: 'wx' });
  try {
    await pipeline(input.stream, inspector, destination);
    // Busboy cuts a file at its own limit (set one byte above ours) without an error; treat that as too large too.
    if ((input.stream as { truncated?: boolean }).truncated) {
      throw new AppError('UPLOAD_TOO_LARGE', `${input.field}: larger than the limit of ${uploads.maxBytes} bytes (UPLOAD_MAX_BYTES)`);
    }
    await rename(partial, uploads.pathOf(id));
  } catch (err) {
    await rm(partial, { force: true });
    if (err instanceof AppError) throw err;
    // File-system failures (ENOSPC, EACCES, EIO…) carry a syscall: the server's problem, a 500 the error handler logs.
    // Everything else came from the incoming stream (cut off, malformed multipart) and reaches every stream of the pipeline.
    const { syscall, code } = err as NodeJS.ErrnoException;
    if (syscall && code !== 'ECONNRESET') throw err;
    throw sourceFailure(input.field, err);
  }
  const record: UploadRecord = {
    id,
    tenant: input.tenant,
    filename: stagedFilename(input.filename, inspector.type!),
    content_type: inspector.type!.contentType,
    size_bytes: inspector.size,
    sha256: inspector.digest(),
    created_at: new Date().toISOString(),
  };
  try {
    await uploads.save(record);
  } catch (err) {
    await rm(uploads.pathOf(id), { force: true });
    throw err;
  }
  return record;
}
