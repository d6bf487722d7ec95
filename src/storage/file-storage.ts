// The file driver: objects under one root directory, written to a temp file, fsynced, then renamed into place.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { StorageError } from './errors.js';
import { assertValidKey, assertValidPrefix, etagFor } from './keys.js';
import { resolveRange } from './range.js';
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
/** How many directories a process remembers as existing before it starts over (one per tenant and id prefix). */
const KNOWN_DIRS_MAX = 10_000;

function fsFailure(action: string, err: unknown): StorageError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new StorageError('STORAGE_FAILED', `${action} failed (${code})`, { cause: err });
}

/** An fs error carries a syscall (a socket error does too, hence put() also checks which stream failed first). */
function isFsError(err: unknown): boolean {
  return typeof (err as NodeJS.ErrnoException | null)?.syscall === 'string';
}

/** A write to a file may take fewer bytes than given: the rest follows until the chunk is all written. */
async function writeFully(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class FileStorage implements OutputStorage {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.location = pathToFileURL(this.root).href;
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

  /**
   * Directories this process made or found (bounded): a put into a known one skips its mkdir. One removed meanwhile
   * (by an operator) makes the temp file's open fail with ENOENT, and the put then makes it again.
   */
  private readonly knownDirs = new Set<string>();

  /** Per directory: the fsync running now, and the one queued behind it for the puts that asked meanwhile. */
  private readonly dirSyncs = new Map<string, { running: Promise<void>; queued: Promise<void> | null }>();

  /**
   * Makes the renames done in `dir` so far durable. An fsync of a directory covers every rename made in it before the
   * fsync started, so puts that finish together share one (all of a tenant's outputs sit in one directory): a put that
   * finds one running waits for the next, which starts when that one ends and serves every put that asked meanwhile.
   */
  private syncDir(dir: string): Promise<void> {
    const current = this.dirSyncs.get(dir);
    if (!current) return this.startDirSync(dir);
    // The running fsync may have started before this put's renames: only the next one certainly covers them.
    current.queued ??= current.running.then(
      () => this.startDirSync(dir),
      () => this.startDirSync(dir),
    );
    return current.queued;
  }

  private startDirSync(dir: string): Promise<void> {
    const running = fsyncDir(dir).finally(() => {
      const current = this.dirSyncs.get(dir);
      // The queued fsync (if any) takes this place as it starts; without one, nothing is left to wait for.
      if (current?.running === running && current.queued === null) this.dirSyncs.delete(dir);
    });
    this.dirSyncs.set(dir, { running, queued: null });
    return running;
  }

  private async openTemp(dir: string, tempData: string): Promise<FileHandle> {
    if (this.knownDirs.has(dir)) {
      try {
        return await open(tempData, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.knownDirs.delete(dir);
      }
    }
    await mkdir(dir, { recursive: true });
    if (this.knownDirs.size >= KNOWN_DIRS_MAX) this.knownDirs.clear();
    this.knownDirs.add(dir);
    return open(tempData, 'wx');
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
    const tempData = `${path}${TEMP_MARK}${nonce}`;
    const tempMeta = `${path}${META_SUFFIX}${TEMP_MARK}${nonce}`;
    const hash = createHash('sha256');
    let size = 0;
    let handle: FileHandle | undefined;
    // Whichever failed first is where the failure came from: the body (a download cut off) or the disk.
    let firstFailure: 'body' | 'disk' | undefined;
    // A write the disk never finishes must not hold the put once the body has failed (a stall, an abort): each write
    // races this. The listener also covers a body failing while the file is being opened.
    const bodyFailed = Promise.withResolvers<never>();
    bodyFailed.promise.catch(() => {});
    body.on('error', (err) => {
      firstFailure ??= 'body';
      bodyFailed.reject(err);
    });
    try {
      // Opened before any byte flows, so the file exists (and can be removed) whatever fails next.
      handle = await this.openTemp(dir, tempData);
      // A plain loop rather than a pipeline through a hashing Transform and a WriteStream: for a small output that
      // machinery cost a quarter of the put's main-thread CPU (bench/README.md, orchestration).
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        size += chunk.length;
        const written = writeFully(handle, chunk).catch((err: unknown) => {
          firstFailure ??= 'disk';
          throw err;
        });
        await Promise.race([written, bodyFailed.promise]);
      }
      // fsync before close, so the rename below can never publish data still in the page cache.
      await handle.sync();
      const { ino } = await handle.stat();
      await handle.close();
      handle = undefined;
      const sha256 = hash.digest('hex');
      const sidecar: Sidecar = { v: 1, sha256, sizeBytes: size, contentType: opts.contentType, ino };
      const metaHandle = await open(tempMeta, 'wx');
      try {
        await metaHandle.writeFile(JSON.stringify(sidecar));
        await metaHandle.sync();
      } finally {
        await metaHandle.close();
      }
      // Data first: a crash in between leaves data without (or with stale) metadata, which head() reports as absent
      // and list() still shows, so the orphan sweeper can remove it.
      await rename(tempData, path);
      await rename(tempMeta, `${path}${META_SUFFIX}`);
      await this.syncDir(dir);
      return { sizeBytes: size, sha256, etag: etagFor(sha256) };
    } catch (err) {
      body.destroy();
      // Not awaited: closing waits for a write still pending, and a disk that never finishes it must not hold the put.
      void handle?.close().catch(() => {});
      await Promise.all([rm(tempData, { force: true }), rm(tempMeta, { force: true })]).catch(() => {});
      if (firstFailure !== 'body' && isFsError(err)) throw fsFailure(`writing the output to ${dir}`, err);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const path = this.pathOf(key);
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsFailure(`reading ${key}`, err);
    }
    return this.describe(path, st);
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
    const probe = join(this.root, `~probe-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(this.root, { recursive: true });
      const handle = await open(probe, 'wx');
      try {
        await handle.writeFile('probe');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rm(probe, { force: true });
      return { ok: true };
    } catch (err) {
      await rm(probe, { force: true }).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      return { ok: false, reason: `output directory ${this.root} is not writable (${code})` };
    }
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

  close(): void {}

  private async describe(path: string, st: { ino: number; size: number; mtime: Date }): Promise<ObjectInfo | null> {
    let sidecar: Sidecar;
    try {
      const parsed = sidecarSchema.safeParse(JSON.parse(await readFile(`${path}${META_SUFFIX}`, 'utf8')));
      if (!parsed.success) return null;
      sidecar = parsed.data;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return null;
      throw fsFailure(`reading the metadata of ${path}`, err);
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
