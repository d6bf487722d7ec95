// The file driver's I/O thread: a put's open, writes, hash, fsyncs and renames run here, one message in and one out.
// Only node: imports, so Node runs this file as it is (type stripping) in tests as well as from dist/.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, fsync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';

/** workerData.kind of this thread (its module is also imported by the main thread, for DirSyncs and the types). */
export const FILE_IO_THREAD = 'nemo-relay-file-io';

/** A put's data, in order: `open` with the first message, `data` batches, `end` with the last. */
export interface PutMessage {
  op: 'put';
  id: number;
  open?: { dir: string; tempData: string; tempMeta: string };
  data?: ArrayBuffer;
  /** Bytes of `data` that are the put's (a reused buffer may be longer). */
  length?: number;
  /** Acknowledge this batch once written, handing `data` back for the next batch (the sender keeps a window). */
  ack?: boolean;
  end?: { path: string; metaPath: string; contentType: string };
}
export interface AbortMessage {
  op: 'abort';
  id: number;
}
export interface HeadMessage {
  op: 'head';
  id: number;
  path: string;
  metaPath: string;
}
export type ToThread = PutMessage | AbortMessage | HeadMessage;

export interface FsErrorShape {
  message: string;
  code?: string;
  syscall?: string;
}
export type FromThread =
  | { id: number; kind: 'ack'; buffer: ArrayBuffer }
  | { id: number; kind: 'stored'; sizeBytes: number; sha256: string }
  | { id: number; kind: 'head'; stat: { ino: number; size: number; mtimeMs: number } | null; sidecar: string | null }
  | { id: number; kind: 'error'; error: FsErrorShape };

const fsyncAsync = (fd: number) =>
  new Promise<void>((resolve, reject) => {
    // The one call that waits for the disk: it runs on libuv's pool, so puts fsync in parallel and this thread goes on.
    fsync(fd, (err) => (err ? reject(err) : resolve()));
  });

async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes the renames done in a directory durable, sharing fsyncs. An fsync of a directory covers every rename made in
 * it before the fsync started, so puts that finish together share one (a tenant's outputs sit in one directory): a
 * put that finds one running waits for the next, which starts when that one ends and serves every put that asked
 * meanwhile. A failed fsync fails every put that waited for it, as its own would have.
 */
export class DirSyncs {
  private readonly syncs = new Map<string, { running: Promise<void>; queued: Promise<void> | null }>();
  private readonly fsyncOf: (dir: string) => Promise<void>;
  // No parameter properties in this file: Node's type stripping runs only erasable syntax.
  constructor(fsyncOf: (dir: string) => Promise<void> = fsyncDir) {
    this.fsyncOf = fsyncOf;
  }

  sync(dir: string): Promise<void> {
    const current = this.syncs.get(dir);
    if (!current) return this.start(dir);
    // The running fsync may have started before this put's renames: only the next one certainly covers them.
    current.queued ??= current.running.then(
      () => this.start(dir),
      () => this.start(dir),
    );
    return current.queued;
  }

  private start(dir: string): Promise<void> {
    const running = this.fsyncOf(dir).finally(() => {
      const current = this.syncs.get(dir);
      // The queued fsync (if any) takes this place as it starts; without one, nothing is left to wait for.
      if (current?.running === running && current.queued === null) this.syncs.delete(dir);
    });
    this.syncs.set(dir, { running, queued: null });
    return running;
  }
}

/** How many directories the thread remembers as existing before it starts over (one per tenant and id prefix). */
const KNOWN_DIRS_MAX = 10_000;

interface OpenPut {
  fd: number | null;
  hash: Hash;
  size: number;
  dir: string;
  tempData: string;
  tempMeta: string;
  /** Set once the thread has answered (stored or error): later messages for the put are ignored. */
  settled: boolean;
  /** The last bytes are in and fsyncs and renames are under way: an abort no longer touches its descriptors. */
  finishing: boolean;
}

function errorShape(err: unknown): FsErrorShape {
  const e = err as NodeJS.ErrnoException;
  const shape: FsErrorShape = { message: e?.message ?? String(err) };
  if (typeof e?.code === 'string') shape.code = e.code;
  if (typeof e?.syscall === 'string') shape.syscall = e.syscall;
  return shape;
}

function writeFully(fd: number, chunk: Uint8Array): void {
  for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset, chunk.length - offset);
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Left for the orphan sweeper (sweepPartials), as a crash would leave it.
  }
}

/** The thread's side: every message is handled in arrival order; only fsyncs leave this thread (to libuv's pool). */
export class FileIoServer {
  private readonly puts = new Map<number, OpenPut>();
  private readonly knownDirs = new Set<string>();
  private readonly dirSyncs: DirSyncs;
  private readonly fileSync: (fd: number) => Promise<void>;
  private readonly port: Pick<MessagePort, 'postMessage'>;
  /** `dirSyncs`, `fileSync`: tests hold the directory and file fsyncs with their own. */
  constructor(port: Pick<MessagePort, 'postMessage'>, opts: { dirSyncs?: DirSyncs; fileSync?: (fd: number) => Promise<void> } = {}) {
    this.port = port;
    this.dirSyncs = opts.dirSyncs ?? new DirSyncs();
    this.fileSync = opts.fileSync ?? fsyncAsync;
  }

  handle(msg: ToThread): void {
    if (msg.op === 'head') return this.head(msg);
    if (msg.op === 'abort') return this.abort(msg.id);
    let put = this.puts.get(msg.id);
    try {
      if (msg.open) {
        put = { fd: null, hash: createHash('sha256'), size: 0, ...msg.open, settled: false, finishing: false };
        this.puts.set(msg.id, put);
        put.fd = this.openTemp(put.dir, put.tempData);
      }
      if (!put || put.settled || put.fd === null) return;
      if (msg.data) {
        const chunk = new Uint8Array(msg.data, 0, msg.length ?? msg.data.byteLength);
        put.hash.update(chunk);
        put.size += chunk.length;
        writeFully(put.fd, chunk);
        // The buffer goes back with the ack: a 200 MB put reuses two or three of them instead of leaving 200 of 1 MiB
        // for this thread's garbage collector, which runs seldom with so little heap (the worker's RSS grew by them).
        if (msg.ack) this.port.postMessage({ id: msg.id, kind: 'ack', buffer: msg.data } satisfies FromThread, [msg.data]);
      }
      if (msg.end) void this.finish(msg.id, put, msg.end);
    } catch (err) {
      if (put) this.fail(msg.id, put, err);
      else this.port.postMessage({ id: msg.id, kind: 'error', error: errorShape(err) } satisfies FromThread);
    }
  }

  /** Opens the temp file with O_EXCL; a remembered directory removed meanwhile (ENOENT) is made again. */
  private openTemp(dir: string, tempData: string): number {
    if (this.knownDirs.has(dir)) {
      try {
        return openSync(tempData, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.knownDirs.delete(dir);
      }
    }
    mkdirSync(dir, { recursive: true });
    if (this.knownDirs.size >= KNOWN_DIRS_MAX) this.knownDirs.clear();
    this.knownDirs.add(dir);
    return openSync(tempData, 'wx');
  }

  private async finish(id: number, put: OpenPut, end: NonNullable<PutMessage['end']>): Promise<void> {
    put.finishing = true;
    try {
      const fd = put.fd!;
      // fsync before close, so the rename below can never publish data still in the page cache.
      await this.fileSync(fd);
      const { ino } = fstatSync(fd);
      closeSync(fd);
      put.fd = null;
      const sha256 = put.hash.digest('hex');
      const sidecar = JSON.stringify({ v: 1, sha256, sizeBytes: put.size, contentType: end.contentType, ino });
      const metaFd = openSync(put.tempMeta, 'wx');
      try {
        writeFully(metaFd, Buffer.from(sidecar));
        await this.fileSync(metaFd);
      } finally {
        closeSync(metaFd);
      }
      // Data first: a crash in between leaves data without (or with stale) metadata, which head() reports as absent
      // and list() still shows, so the orphan sweeper can remove it.
      renameSync(put.tempData, end.path);
      renameSync(put.tempMeta, end.metaPath);
      await this.dirSyncs.sync(put.dir);
      put.settled = true;
      this.puts.delete(id);
      this.port.postMessage({ id, kind: 'stored', sizeBytes: put.size, sha256 } satisfies FromThread);
    } catch (err) {
      this.fail(id, put, err);
    }
  }

  private fail(id: number, put: OpenPut, err: unknown): void {
    if (put.settled) return;
    this.release(id, put);
    this.port.postMessage({ id, kind: 'error', error: errorShape(err) } satisfies FromThread);
  }

  /**
   * The sender gave up (its body failed): close and remove what the put made. A put already finishing has all its
   * bytes and completes (a complete object is a valid one): closing its descriptor under a pending fsync would let
   * the number be reused by another put's open, and this put's next call would then act on that put's file.
   */
  private abort(id: number): void {
    const put = this.puts.get(id);
    if (put && !put.settled && !put.finishing) this.release(id, put);
  }

  private release(id: number, put: OpenPut): void {
    put.settled = true;
    this.puts.delete(id);
    if (put.fd !== null) {
      try {
        closeSync(put.fd);
      } catch {
        // Closing is best effort: the temp file is removed below either way.
      }
      put.fd = null;
    }
    removeQuietly(put.tempData);
    removeQuietly(put.tempMeta);
  }

  private head(msg: HeadMessage): void {
    let reply: FromThread;
    try {
      const st = statIfPresent(msg.path);
      let sidecar: string | null = null;
      if (st) {
        try {
          sidecar = readFileSync(msg.metaPath, 'utf8');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      reply = { id: msg.id, kind: 'head', stat: st ? { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs } : null, sidecar };
    } catch (err) {
      reply = { id: msg.id, kind: 'error', error: errorShape(err) };
    }
    this.port.postMessage(reply);
  }
}

if (!isMainThread && parentPort && (workerData as { kind?: string } | null)?.kind === FILE_IO_THREAD) {
  const port = parentPort;
  const server = new FileIoServer(port);
  port.on('message', (msg: ToThread) => server.handle(msg));
}

/**
 * The file's stat, or undefined when it is not there (ENOENT only, as get's open answers null for it). statSync's
 * throwIfNoEntry:false also hid ENOTDIR (a storage path through a regular file): HEAD answered 404 where GET said 503.
 */
function statIfPresent(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
