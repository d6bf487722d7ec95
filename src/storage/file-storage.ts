// The file driver: objects under one root directory, written to a temp file, fsynced, then renamed into place.
import { randomBytes } from 'node:crypto';
import { open, opendir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { StorageError } from './errors.js';
import { FileIoThread, type FileIo } from './file-io.js';
import { assertValidKey, assertValidPrefix, etagFor } from './keys.js';
import { resolveRange } from './range.js';
import { probeWritableDir } from './readiness.js';
import type { ByteRange, GetResult, ListedObject, ObjectInfo, OutputStorage, ProbeResult, PutOptions, PutResult } from './types.js';

/**
 * The sidecar beside each object (`<name>~meta.json`). It records the inode and size of the data file it describes:
 * the two renames of a put are not one atomic step, so a crash between them (or two racing puts) can pair data with
 * the wrong metadata, and such a pair is then treated as no object rather than served with a wrong hash.
 */
const sidecarSchema = z.object({
  v: z.literal(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().min(0),
  contentType: z.string().min(1),
  ino: z.number().int().min(0),
});
type Sidecar = z.infer<typeof sidecarSchema>;

const META_SUFFIX = '~meta.json';
const TEMP_MARK = '~tmp-';

function fsFailure(action: string, err: unknown): StorageError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new StorageError('STORAGE_FAILED', `${action} failed (${code})`, { cause: err });
}

/** An fs error carries a syscall (a socket error does too, hence put() also checks which stream failed first). */
function isFsError(err: unknown): boolean {
  return typeof (err as NodeJS.ErrnoException | null)?.syscall === 'string';
}

export class FileStorage implements OutputStorage {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly root: string;

  /** Puts and heads go through it: the I/O thread (file-io.ts), started on first use; tests may give another. */
  private readonly io: FileIo;

  constructor(root: string, opts: { io?: FileIo } = {}) {
    this.root = resolve(root);
    this.location = pathToFileURL(this.root).href;
    this.io = opts.io ?? new FileIoThread();
  }

  /** The data file of a key; throws STORAGE_KEY_INVALID for anything that could leave the root. */
  pathOf(key: string): string {
    assertValidKey(key);
    const path = resolve(this.root, key);
    const rel = relative(this.root, path);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
      throw new StorageError('STORAGE_KEY_INVALID', `storage key ${JSON.stringify(key)} escapes the storage root`);
    }
    return path;
  }

  async put(key: string, body: Readable, opts: PutOptions): Promise<PutResult> {
    let path: string;
    try {
      path = this.pathOf(key);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const dir = dirname(path);
    const nonce = randomBytes(6).toString('hex');
    const metaPath = `${path}${META_SUFFIX}`;
    const tempData = `${path}${TEMP_MARK}${nonce}`;
    const tempMeta = `${metaPath}${TEMP_MARK}${nonce}`;
    // Whichever failed first is where the failure came from: the body (a download cut off) or the disk.
    let firstFailure: 'body' | 'disk' | undefined;
    // The thread opens the temp file, writes and hashes the bytes, fsyncs data and sidecar, renames both into place
    // (data first: a crash in between leaves data without metadata, which head() reports as absent and the orphan
    // sweeper removes) and fsyncs the directory. A disk failure it reports ends the body, so a put waiting for the
    // next chunk ends too.
    const writer = this.io.begin({ dir, tempData, tempMeta, path, metaPath, contentType: opts.contentType }, (err) => {
      firstFailure ??= 'disk';
      body.destroy(err);
    });
    // A body failure gives the put up at once: a write the disk never finishes must not hold it (a stall, an abort).
    body.on('error', (err) => {
      firstFailure ??= 'body';
      writer.abort(err);
    });
    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        await writer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
      const { sizeBytes, sha256 } = await writer.end();
      return { sizeBytes, sha256, etag: etagFor(sha256) };
    } catch (err) {
      body.destroy();
      // The thread closes and removes the temp files (not awaited: a disk that never finishes must not hold the put).
      writer.abort();
      // The thread's answers are the disk's (an I/O thread that stopped included); anything else only if it is an fs error.
      if (firstFailure === 'disk' || (firstFailure !== 'body' && isFsError(err))) throw fsFailure(`writing the output to ${dir}`, err);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const path = this.pathOf(key);
    let answer;
    try {
      answer = await this.io.head(path, `${path}${META_SUFFIX}`);
    } catch (err) {
      throw fsFailure(`reading ${key}`, err);
    }
    if (!answer.stat) return null;
    return this.pair({ ...answer.stat, mtime: new Date(answer.stat.mtimeMs) }, answer.sidecar);
  }

  async get(key: string, range?: ByteRange): Promise<GetResult | null> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsFailure(`reading ${key}`, err);
    }
    try {
      // Stat the open descriptor: the bytes streamed are exactly the file described, even if a put replaces it now.
      const info = await this.describe(path, await handle.stat());
      if (!info) {
        await handle.close();
        return null;
      }
      const served = range ? resolveRange(range, info.sizeBytes) : null;
      const body = served
        ? handle.createReadStream({ start: served.start, end: served.end })
        : handle.createReadStream();
      const contentLength = served ? served.end - served.start + 1 : info.sizeBytes;
      return { ...info, body, range: served, contentLength };
    } catch (err) {
      await handle.close().catch(() => {});
      if (err instanceof StorageError) throw err;
      throw fsFailure(`reading ${key}`, err);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await rm(path, { force: true });
      await rm(`${path}${META_SUFFIX}`, { force: true });
    } catch (err) {
      throw fsFailure(`deleting ${key}`, err);
    }
  }

  async *list(prefix = ''): AsyncIterable<ListedObject> {
    assertValidPrefix(prefix);
    // Walk only the directory the prefix names (`acme/job_` → root/acme), then filter by the rest.
    const dirPart = prefix.slice(0, Math.max(0, prefix.lastIndexOf('/')));
    yield* this.walk(dirPart === '' ? this.root : join(this.root, dirPart), prefix);
  }

  private async *walk(dir: string, prefix: string): AsyncIterable<ListedObject> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw fsFailure(`listing ${dir}`, err);
    }
    for await (const entry of entries) {
      // Temp files, sidecars and probe files all carry a '~', which no key may contain.
      if (entry.name.includes('~')) continue;
      const full = join(dir, entry.name);
      const key = relative(this.root, full).split(sep).join('/');
      if (entry.isDirectory()) {
        // Descend only where keys below could still match the prefix.
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(full, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        try {
          const st = await stat(full);
          yield { key, lastModified: st.mtime, sizeBytes: st.size };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsFailure(`listing ${dir}`, err);
        }
      }
    }
  }

  async probe(): Promise<ProbeResult> {
    const result = await probeWritableDir(this.root);
    return result.ok ? result : { ok: false, reason: `output directory ${this.root} is not writable (${result.reason})` };
  }

  /**
   * Removes temp files older than `olderThanMs` that a crashed put left behind (a live put's temp file is younger
   * than its idle timeout). Returns how many were removed. For the orphan sweeper.
   */
  async sweepPartials(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await opendir(dir);
      } catch {
        return;
      }
      for await (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) await visit(full);
        else if (entry.name.includes(TEMP_MARK) || entry.name.startsWith('~probe-')) {
          const st = await stat(full).catch(() => null);
          if (st && now - st.mtimeMs > olderThanMs) {
            await rm(full, { force: true });
            removed++;
          }
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  close(): void {
    this.io.close();
  }

  private async describe(path: string, st: { ino: number; size: number; mtime: Date }): Promise<ObjectInfo | null> {
    let text: string | null;
    try {
      text = await readFile(`${path}${META_SUFFIX}`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsFailure(`reading the metadata of ${path}`, err);
      text = null;
    }
    return this.pair(st, text);
  }

  /** The object a data file's stat and its sidecar's text describe; null unless they belong together. */
  private pair(st: { ino: number; size: number; mtime: Date }, sidecarText: string | null): ObjectInfo | null {
    if (sidecarText === null) return null;
    let sidecar: Sidecar;
    try {
      const parsed = sidecarSchema.safeParse(JSON.parse(sidecarText));
      if (!parsed.success) return null;
      sidecar = parsed.data;
    } catch {
      return null;
    }
    if (sidecar.ino !== st.ino || sidecar.sizeBytes !== st.size) return null;
    return {
      sizeBytes: st.size,
      etag: etagFor(sidecar.sha256),
      contentType: sidecar.contentType,
      lastModified: st.mtime,
      sha256: sidecar.sha256,
    };
  }
}
