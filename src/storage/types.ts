// The one small interface every output-storage driver (file, s3) implements, and the shapes it trades in.
import type { Readable } from 'node:stream';

export type StorageKind = 'file' | 's3';

export interface PutOptions {
  contentType: string;
  /** Expected size when known (e.g. the source's Content-Length): lets s3 pick a part size that fits 10,000 parts. */
  sizeHint?: number;
}

export interface PutResult {
  sizeBytes: number;
  /** Lowercase hex sha256 of exactly the bytes stored. */
  sha256: string;
  /** Strong ETag, quoted: `"<sha256>"`, the same for a given content on every driver. */
  etag: string;
}

export interface ObjectInfo {
  sizeBytes: number;
  etag: string;
  contentType: string;
  lastModified: Date;
  /** null only for an s3 object written by something else than this driver (no sha256 metadata). */
  sha256: string | null;
}

/** Inclusive byte offsets, already resolved against the object's size (no suffix form here). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface GetResult extends ObjectInfo {
  body: Readable;
  /** The range actually served, or null for the whole object. */
  range: ByteRange | null;
  /** Bytes in `body`. */
  contentLength: number;
}

export interface ListedObject {
  key: string;
  lastModified: Date;
  sizeBytes: number;
}

export type ProbeResult = { ok: true } | { ok: false; reason: string };

export interface PresignOptions {
  /** Sets the response's Content-Disposition to `inline; filename=…`. */
  fileName?: string;
  /** Overrides the response's Content-Type. */
  contentType?: string;
}

export interface OutputStorage {
  readonly kind: StorageKind;
  /** Where objects go, for logs and readiness: `file:///abs/dir` or `s3://bucket/prefix` (never a credential). */
  readonly location: string;
  /**
   * Stores `body` under `key`, resolving only once the object is complete and durable. On any failure (the body
   * errors, the disk fills, S3 refuses) it rejects and no complete object is left under `key`; `body` is destroyed.
   */
  put(key: string, body: Readable, opts: PutOptions): Promise<PutResult>;
  /** null when there is no complete object under `key`. */
  head(key: string): Promise<ObjectInfo | null>;
  /** A stream of the object or of one byte range; null when missing. A range past the end throws RANGE_NOT_SATISFIABLE. */
  get(key: string, range?: ByteRange): Promise<GetResult | null>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Every complete object whose key starts with `prefix` (default all), in no particular order. */
  list(prefix?: string): AsyncIterable<ListedObject>;
  /** Can this process write here right now? Writes and deletes a tiny probe object. */
  probe(): Promise<ProbeResult>;
  /** A URL the object can be fetched from without credentials until `ttlMs` from now (s3 only). */
  presignGet?(key: string, ttlMs: number, opts?: PresignOptions): Promise<string>;
  /** Releases sockets (s3 client); the storage is unusable afterwards. */
  close(): void;
}
