// The CLI's HTTP client for a running nemo-relay API: JSON calls, file uploads, MP4 downloads; errors become CliErrors.
import { createHash } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { FormData, type RequestInit, type Response } from 'undici';
import { z } from 'zod';
import { jobSchema, type Job, type JobResult } from '../jobs/schemas.js';
import { bodyBreak, send, UPLOAD_ANSWER_MS } from './http.js';
import { CliError, connection, DEFAULT_TIMEOUT_MS, EXIT, type CliIo } from './io.js';

const errorBodySchema = z.object({ code: z.string(), message: z.string() });
const uploadSchema = z.object({ id: z.string(), filename: z.string().optional(), size_bytes: z.number().optional() });

/** The upstream's accepted types by extension; only a hint for the part's content type (the server judges by bytes). */
const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.mp4': 'video/mp4',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.avi': 'video/x-msvideo',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
};

/** The client for the API named by --url/--key or NEMO_RELAY_URL/NEMO_RELAY_API_KEY. */
export function clientFrom(io: CliIo, flags: { url?: string | undefined; key?: string | undefined }): ApiClient {
  const { url, key, timeoutMs } = connection(io, flags);
  return new ApiClient(url, key, { timeoutMs });
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly key?: string,
    private readonly opts: { timeoutMs?: number } = {},
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  /**
   * fetch with connection failures (refused, unknown host, no answer in time) turned into exit status 2 and the cause
   * named; stopped on purpose (Ctrl-C), the caller tells that apart by its signal.
   */
  fetch(path: string, init: RequestInit = {}, answerMs?: number): Promise<Response> {
    return send(path.startsWith('http') ? path : `${this.baseUrl}${path}`, init, this.timeoutMs, answerMs ?? this.timeoutMs);
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** A JSON call; a non-2xx answer becomes a CliError carrying the API's code and message (exit status 2). */
  async json<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    body?: unknown,
    opts: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: this.headers({ ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...opts.headers }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const data: unknown = await readJson(res);
    if (!res.ok) throw apiError(res, data);
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw new CliError(`unexpected answer from ${method} ${path}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data;
  }

  job(id: string, signal?: AbortSignal): Promise<Job> {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}`, jobSchema, undefined, signal ? { signal } : {});
  }

  /** Streams a local file to POST /v1/uploads (multipart part `file`); the file is read lazily, never whole in memory. */
  async upload(path: string): Promise<string> {
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error('not a regular file');
      size = info.size;
    } catch (err) {
      throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
    }
    const blob = await openAsBlob(path, { type: CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream' });
    const form = new FormData();
    form.append('file', blob, basename(path));
    // The answer may wait for the server's HEIC conversion (see UPLOAD_ANSWER_MS), never less than the usual timeout.
    const res = await this.fetch('/v1/uploads', { method: 'POST', headers: this.headers(), body: form }, Math.max(this.timeoutMs, UPLOAD_ANSWER_MS));
    const data: unknown = await readJson(res);
    if (!res.ok) throw apiError(res, data, `upload of ${path} (${size} bytes)`);
    const parsed = uploadSchema.safeParse(data);
    if (!parsed.success) throw new CliError(`unexpected answer to the upload of ${path}`);
    return parsed.data.id;
  }

  /**
   * Downloads `url` to `out` through a .part file, so an interrupted download never looks complete; the bytes are
   * counted and hashed on the way and must match the job's result (size_bytes and sha256, when the relay stored it)
   * before the .part takes the place of `out` (an existing `out` is left alone otherwise). Every failure to save (folder not
   * makeable, link host unreachable, download refused or not the job's video, file not writable) is one CliError naming
   * `out`, exit status 1 (README). The link is shown without its query: that holds the signature.
   */
  async download(url: string, out: string, expected: Pick<JobResult, 'size_bytes' | 'sha256'>, signal?: AbortSignal): Promise<number> {
    const cannotSave = (reason: string) => new CliError(`cannot save ${out}: ${reason}`, EXIT.failed);
    // The folder first: where it cannot be made, nothing is downloaded.
    await mkdir(dirname(out), { recursive: true }).catch((err: unknown) => {
      throw cannotSave((err as Error).message);
    });
    const link = withoutQuery(url);
    const res = await this.fetch(url, signal ? { signal } : {}).catch((err: unknown) => {
      // Not "the API is unreachable" (exit 2, which stops a batch): the job is done, only its video was not saved.
      if (signal?.aborted || !(err instanceof CliError)) throw err;
      throw cannotSave(err.message);
    });
    if (!res.ok || !res.body) throw cannotSave(`download of ${link} failed with HTTP ${res.status}`);
    const part = `${out}.part`;
    const hash = createHash('sha256');
    let bytes = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), measure, createWriteStream(part), signal ? { signal } : {});
      const mismatch = downloadMismatch(bytes, hash.digest('hex'), expected);
      if (mismatch) throw new Error(`the download from ${link} is not the job's video: ${mismatch}`);
      await rename(part, out);
      return bytes;
    } catch (err) {
      // Best effort: a .part that could not be created cannot be removed either (rm then says ENOTDIR, say).
      await rm(part, { force: true }).catch(() => undefined);
      if (signal?.aborted) throw err;
      const broke = bodyBreak(err, this.timeoutMs);
      throw cannotSave(broke ? `the download from ${link} broke off: ${broke}` : (err as Error).message);
    }
  }
}

/** What is wrong with a finished download, or null: a short (or long) body, or other bytes than the job's. */
function downloadMismatch(bytes: number, sha256: string, expected: Pick<JobResult, 'size_bytes' | 'sha256'>): string | null {
  // The size is exact when the relay stored the video (it measured it, with its sha256); without storage it is what the
  // upstream reported, which is not checked against.
  if (expected.sha256 === null) return null;
  if (expected.size_bytes !== null && bytes !== expected.size_bytes) return `${bytes} bytes, the job's is ${expected.size_bytes}`;
  if (sha256 !== expected.sha256.toLowerCase()) return `sha256 ${sha256}, the job's is ${expected.sha256}`;
  return null;
}

/** A link as it may be shown: a signed one's query (expiry, signature) left out. */
function withoutQuery(url: string): string {
  const i = url.search(/[?#]/);
  return i === -1 ? url : url.slice(0, i);
}

export async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A non-2xx answer as `CODE: message` (HTTP <status> when it is not the API's error body), exit status 2. */
export function apiError(res: Response, data: unknown, what?: string): CliError {
  const body = errorBodySchema.safeParse(data);
  const detail = body.success ? `${body.data.code}: ${body.data.message}` : `HTTP ${res.status}`;
  return new CliError(`${what ? `${what}: ` : ''}${detail}`, EXIT.usage);
}
