// The s3 driver: streamed multipart uploads (bounded memory), sha256 kept as object metadata, presigned GETs.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { inlineDisposition } from './content-disposition.js';
import { StorageError } from './errors.js';
import { assertValidKey, assertValidPrefix, etagFor } from './keys.js';
import { S3RequestError, streamUpload } from './s3-upload.js';
import type { ByteRange, GetResult, ListedObject, ObjectInfo, OutputStorage, PresignOptions, ProbeResult, PutOptions, PutResult } from './types.js';

export interface S3StorageOptions {
  bucket: string;
  /** '' or `a/b` (no leading or trailing slash). */
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Tests only; production uses the SDK's default chain (AWS_ACCESS_KEY_ID…, profile, web identity, instance role). */
  credentials?: S3ClientConfig['credentials'];
  /** Default 8 MiB (S3's minimum is 5 MiB); raised when sizeHint needs it to stay within 10,000 parts. */
  partSizeBytes?: number;
  /** Parts uploaded at once; memory held is about (queueSize + 1) × part size. Default 2. */
  queueSize?: number;
  /** How long a read for a caller waits for S3's answer (ANSWER_DEADLINE_MS; tests shorten it). */
  answerDeadlineMs?: number;
}

const MIB = 1024 * 1024;
const MIN_PART = 5 * MIB;
const MAX_PARTS = 10_000;
/** CopyObject (used to attach the sha256 once it is known) handles objects up to 5 GiB in one request. */
const MAX_COPY_BYTES = 5 * 1024 * MIB;
const MAX_PRESIGN_SECONDS = 604_800;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const PROBE_DIR = '~probe';

interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | null)?.$metadata?.httpStatusCode;
}

/** Names the failure by S3 error name / errno code and HTTP status only: SDK messages are not ours to vouch for. */
function describe(err: unknown): string {
  const e = (err ?? {}) as SdkError;
  const name = e.name && e.name !== 'Error' ? e.name : (e.code ?? e.name ?? 'Error');
  const status = statusOf(err);
  return status ? `${name}, HTTP ${status}` : name;
}

function s3Failure(action: string, err: unknown): StorageError {
  const status = statusOf(err);
  // A 4xx (bucket missing, access denied, bad credentials) needs an operator, not a retry; anything else may pass.
  const retryable = status === undefined || status >= 500 || status === 408 || status === 429;
  return new StorageError('STORAGE_FAILED', `${action} failed (${describe(err)})`, { cause: err, retryable });
}

function isNotFound(err: unknown): boolean {
  const name = (err as SdkError | null)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || statusOf(err) === 404;
}

/** The first `n` bytes of `source`, which is destroyed once they have passed (or the reader gives up). */
async function* take(source: Readable, n: number): AsyncGenerator<Buffer> {
  let left = n;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (chunk.length >= left) {
        yield chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
  } finally {
    source.destroy();
  }
}

/** How long a read for a caller (HEAD, GET) waits for S3 to answer before it is a 503. */
export const ANSWER_DEADLINE_MS = 10_000;

export class S3Storage implements OutputStorage {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly base: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly answerDeadlineMs: number;

  constructor(opts: S3StorageOptions) {
    this.bucket = opts.bucket;
    this.base = opts.prefix ? `${opts.prefix}/` : '';
    this.location = `s3://${opts.bucket}/${opts.prefix}`;
    this.partSize = Math.max(MIN_PART, opts.partSizeBytes ?? 8 * MIB);
    this.queueSize = Math.max(1, opts.queueSize ?? 2);
    this.answerDeadlineMs = opts.answerDeadlineMs ?? ANSWER_DEADLINE_MS;
    this.client = new S3Client({
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Checksums only where S3 demands them: the default (CRC32 trailers in aws-chunked bodies) is refused by
      // MinIO-style servers and older S3 clones, and the sha256 we compute ourselves is the integrity record.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      // An idle socket (a hung part upload, a stalled read) fails after 2 minutes instead of pinning a job forever (each
      // of the 3 attempts: a hung S3 holds a copy about 6 minutes per try of the mirror step). Reads for callers answer
      // sooner: see answered().
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.base + key;
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<PutResult> {
    let objectKey: string;
    try {
      objectKey = this.objectKey(key);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const partSize = Math.max(this.partSize, opts.sizeHint ? Math.ceil(opts.sizeHint / (MAX_PARTS - 1)) : 0);
    let uploaded;
    try {
      uploaded = await streamUpload(this.client, { Bucket: this.bucket, Key: objectKey, ContentType: opts.contentType }, body, {
        partSize,
        queueSize: this.queueSize,
      });
    } catch (err) {
      // An S3 request failed: say which, by name and status. Anything else is the body's own error, passed on as is.
      if (err instanceof S3RequestError) throw s3Failure(`uploading ${objectKey} to bucket ${this.bucket}`, err.cause);
      throw err;
    }
    const { sha256, sizeBytes } = uploaded;
    if (!uploaded.sha256InMetadata && sizeBytes <= MAX_COPY_BYTES) await this.attachSha256(objectKey, sha256, opts.contentType);
    return { sizeBytes, sha256, etag: etagFor(sha256) };
  }

  /**
   * S3 metadata is fixed when a multipart upload starts, before the hash is known, so it is attached by copying
   * the object onto itself (server-side, no bytes through here). If that fails the object is removed again: a put
   * either fails leaving nothing new, or succeeds with the hash recorded.
   */
  private async attachSha256(objectKey: string, sha256: string, contentType: string): Promise<void> {
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          CopySource: `${this.bucket}/${objectKey}`,
          MetadataDirective: 'REPLACE',
          Metadata: { sha256 },
          ContentType: contentType,
        }),
      );
    } catch (err) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })).catch(() => {});
      throw s3Failure(`recording the sha256 of ${objectKey} in bucket ${this.bucket}`, err);
    }
  }

  /**
   * A request that must be answered (headers) within ANSWER_DEADLINE_MS: a hung S3 otherwise holds a reader until the
   * socket timeout (2 minutes, per attempt), past the API's own idle timeout, and the caller gets an empty reply instead
   * of a 503. Only the wait for the answer is bounded: a body streamed afterwards is not cut.
   */
  private async answered<T>(send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const ms = this.answerDeadlineMs;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`no answer within ${ms} ms`)), ms);
    try {
      return await send(deadline.signal);
    } catch (err) {
      // Named by what happened (s3Failure shows an error's code), not as the SDK's AbortError.
      if (deadline.signal.aborted) throw Object.assign(new Error(`no answer within ${ms} ms`, { cause: err }), { code: `no answer within ${ms} ms` });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const objectKey = this.objectKey(key);
    try {
      const res = await this.answered((abortSignal) => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal }));
      return this.info(res);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw s3Failure(`reading ${objectKey} in bucket ${this.bucket}`, err);
    }
  }

  async get(key: string, range?: ByteRange): Promise<GetResult | null> {
    const objectKey = this.objectKey(key);
    if (range && (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start)) {
      throw new StorageError('RANGE_NOT_SATISFIABLE', `range ${range.start}-${range.end} is not a byte range`);
    }
    try {
      const res = await this.answered((abortSignal) =>
        this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: objectKey,
            // Always the absolute form: some S3 clones misread `bytes=-n`, and callers resolve suffixes anyway.
            ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
          }),
          { abortSignal },
        ),
      );
      const body = res.Body as Readable;
      if (!range) return { ...this.info(res), body, range: null, contentLength: res.ContentLength ?? 0 };
      const answered = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.ContentRange ?? '');
      const [first, last, total] = answered ? answered.slice(1).map(Number) : [NaN, NaN, NaN];
      const served = { start: range.start, end: Math.min(range.end, (total ?? 0) - 1) };
      if (first !== range.start || !(last! >= served.end)) {
        body.destroy();
        throw new StorageError('STORAGE_FAILED', `S3 answered range ${res.ContentRange ?? '(none)'} for ${range.start}-${range.end} of ${objectKey}`);
      }
      const contentLength = served.end - served.start + 1;
      // Some S3 clones send more than asked (s3rver reads `bytes=0-0` as the whole object): pass on only the range.
      const limited = last! > served.end ? Readable.from(take(body, contentLength), { objectMode: false }) : body;
      return { ...this.info({ ...res, ContentLength: total }), body: limited, range: served, contentLength };
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isNotFound(err)) return null;
      if (statusOf(err) === 416 || (err as SdkError).name === 'InvalidRange') {
        throw new StorageError('RANGE_NOT_SATISFIABLE', `range ${range?.start}-${range?.end} is outside ${objectKey}`, { cause: err });
      }
      throw s3Failure(`reading ${objectKey} in bucket ${this.bucket}`, err);
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw s3Failure(`deleting ${objectKey} in bucket ${this.bucket}`, err);
    }
  }

  async *list(prefix = ''): AsyncIterable<ListedObject> {
    assertValidPrefix(prefix);
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base + prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
      } catch (err) {
        throw s3Failure(`listing bucket ${this.bucket}`, err);
      }
      for (const item of res.Contents ?? []) {
        if (!item.Key?.startsWith(this.base)) continue;
        const key = item.Key.slice(this.base.length);
        if (key.startsWith(`${PROBE_DIR}/`)) continue;
        yield { key, lastModified: item.LastModified ?? new Date(0), sizeBytes: item.Size ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  async probe(): Promise<ProbeResult> {
    const objectKey = `${this.base}${PROBE_DIR}/${randomUUID()}`;
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: 'probe', ContentType: 'text/plain' }));
    } catch (err) {
      return { ok: false, reason: `S3 bucket ${this.bucket} refused a probe write (${describe(err)})` };
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      return { ok: false, reason: `S3 bucket ${this.bucket} refused to delete the probe object (${describe(err)})` };
    }
    return { ok: true };
  }

  async presignGet(key: string, ttlMs: number, opts: PresignOptions = {}): Promise<string> {
    const objectKey = this.objectKey(key);
    const expiresIn = Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.ceil(ttlMs / 1000)));
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: objectKey,
      ...(opts.fileName ? { ResponseContentDisposition: inlineDisposition(opts.fileName) } : {}),
      ...(opts.contentType ? { ResponseContentType: opts.contentType } : {}),
    });
    return getSignedUrl(this.client, command, { expiresIn });
  }

  close(): void {
    this.client.destroy();
  }

  private info(res: { ContentLength?: number; ContentType?: string; LastModified?: Date; ETag?: string; Metadata?: Record<string, string> }): ObjectInfo {
    const sha = res.Metadata?.sha256;
    const sha256 = sha && SHA256_HEX.test(sha) ? sha : null;
    return {
      sizeBytes: res.ContentLength ?? 0,
      etag: sha256 ? etagFor(sha256) : (res.ETag ?? '""'),
      contentType: res.ContentType ?? 'application/octet-stream',
      lastModified: res.LastModified ?? new Date(0),
      sha256,
    };
  }
}
