// The main thread's side of the file driver's I/O thread: started on first use, a put costs a message per MiB of output.
import { Worker } from 'node:worker_threads';
import { FILE_IO_THREAD, type FromThread, type FsErrorShape, type ToThread } from './file-io-thread.js';

/**
 * Bytes gathered before they are sent to the thread. Every fs call made from the main thread crossed to libuv's pool
 * and back (two thread wake-ups, ~80 µs of main-thread time each on a loaded 2-core VM), about 15 per put: the put
 * was the largest item of the worker's profile (bench/README.md, orchestration). Now the main thread sends one
 * message per batch and gets one answer per put.
 */
export const BATCH_BYTES = 1 << 20;
/** Batches sent and not yet written before push() waits: bounds a put's memory (2 MiB) whatever the disk's speed. */
const WINDOW_BATCHES = 2;

export interface PutTarget {
  dir: string;
  tempData: string;
  tempMeta: string;
  path: string;
  metaPath: string;
  contentType: string;
}

export interface StoredFile {
  sizeBytes: number;
  sha256: string;
}

export interface HeadAnswer {
  stat: { ino: number; size: number; mtimeMs: number } | null;
  /** The sidecar's text, null when it is missing. */
  sidecar: string | null;
}

/** One put in progress: chunks in order, then end() or abort(). */
export interface PutWriter {
  /** Takes a chunk; waits only while the window of unwritten batches is full. Rejects with the disk's error. */
  push(chunk: Buffer): Promise<void>;
  /** Sends what is left; resolves once data and sidecar are fsynced and renamed into place. */
  end(): Promise<StoredFile>;
  /**
   * The caller gives up (its body failed): the thread closes and removes the temp files, and a push or end still
   * waiting for the thread rejects with `reason` at once (a disk that never answers cannot hold the caller).
   */
  abort(reason?: Error): void;
}

export interface FileIo {
  /**
   * `onFailure` is told as soon as the thread reports a disk failure (or stops), also while the caller waits for its
   * next chunk; pending and later pushes and the end reject with the same error.
   */
  begin(target: PutTarget, onFailure: (err: Error) => void): PutWriter;
  head(path: string, metaPath: string): Promise<HeadAnswer>;
  close(): void;
}

/** An fs error from the thread, rebuilt with the code and syscall the driver's error handling reads. */
function fsError(shape: FsErrorShape): Error {
  return Object.assign(new Error(shape.message), shape.code ? { code: shape.code } : {}, shape.syscall ? { syscall: shape.syscall } : {});
}

type Handler = (msg: FromThread) => void;

/** The thread file sits beside this one: .ts when running from source (tests, tsx), .js from dist/. */
const threadUrl = new URL(import.meta.url.endsWith('.ts') ? './file-io-thread.ts' : './file-io-thread.js', import.meta.url);

/** A full batch's buffer: a batch ends with the chunk that takes it to BATCH_BYTES, and chunks are ~64 KiB. */
const BATCH_CAPACITY = BATCH_BYTES + (256 << 10);
/** Batch buffers handed back by the thread, kept for the next batches (of any put) up to this many. */
const SPARE_BUFFERS_MAX = 4;

export class FileIoThread implements FileIo {
  private worker: Worker | null = null;
  private readonly spareBuffers: ArrayBuffer[] = [];
  private readonly handlers = new Map<number, Handler>();
  private nextId = 1;

  private thread(): Worker {
    if (this.worker) return this.worker;
    // No execArgv of the process (a loader such as tsx, profiler flags): the thread's file needs none of them.
    const worker = new Worker(threadUrl, { workerData: { kind: FILE_IO_THREAD }, name: 'file-io', execArgv: [] });
    // Referenced only while an answer is awaited: an idle thread never keeps the process alive.
    worker.unref();
    worker.on('message', (msg: FromThread) => this.handlers.get(msg.id)?.(msg));
    const stopped = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.failAll(`the file I/O thread stopped (${why})`);
    };
    worker.on('error', (err) => stopped(err.message));
    worker.on('exit', (code) => stopped(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private listen(id: number, handler: Handler): void {
    if (this.handlers.size === 0) this.thread().ref();
    this.handlers.set(id, handler);
  }

  private forget(id: number): void {
    if (this.handlers.delete(id) && this.handlers.size === 0) this.worker?.unref();
  }

  private post(msg: ToThread, transfer: ArrayBuffer[] = []): void {
    this.thread().postMessage(msg, transfer);
  }

  /** A buffer for a full batch: a spare one when it fits (the last chunk may take a batch past BATCH_BYTES). */
  private fullBatch(length: number): Buffer {
    const spare = this.spareBuffers.pop();
    if (spare && spare.byteLength >= length) return Buffer.from(spare, 0, length);
    return Buffer.allocUnsafeSlow(Math.max(length, BATCH_CAPACITY)).subarray(0, length);
  }

  head(path: string, metaPath: string): Promise<HeadAnswer> {
    const id = this.nextId++;
    return new Promise<HeadAnswer>((resolve, reject) => {
      this.listen(id, (msg) => {
        this.forget(id);
        if (msg.kind === 'head') resolve({ stat: msg.stat, sidecar: msg.sidecar });
        else reject(msg.kind === 'error' ? fsError(msg.error) : new Error(`unexpected answer ${msg.kind} to a head`));
      });
      this.post({ op: 'head', id, path, metaPath });
    });
  }

  begin(target: PutTarget, onFailure: (err: Error) => void): PutWriter {
    const id = this.nextId++;
    const stored = Promise.withResolvers<StoredFile>();
    // Awaited by end(); a failure that arrives while the caller is still pushing reaches it through push() or onFailure.
    stored.promise.catch(() => {});
    let failure: Error | null = null;
    let settled = false;
    let opened = false;
    let unacked = 0;
    let windowWaiter: PromiseWithResolvers<void> | null = null;
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;

    const settle = () => {
      settled = true;
      this.forget(id);
    };
    this.listen(id, (msg) => {
      if (msg.kind === 'ack') {
        if (this.spareBuffers.length < SPARE_BUFFERS_MAX) this.spareBuffers.push(msg.buffer);
        unacked--;
        windowWaiter?.resolve();
        windowWaiter = null;
        return;
      }
      settle();
      if (msg.kind === 'stored') return stored.resolve({ sizeBytes: msg.sizeBytes, sha256: msg.sha256 });
      fail(msg.kind === 'error' ? fsError(msg.error) : new Error(`unexpected answer ${msg.kind} to a put`));
      onFailure(failure!);
    });
    // Pending waits end with the failure. (No Promise.race per chunk against a promise that stays pending: each race
    // would leave a reaction on it holding that chunk until the put ends, 200 MB for a 200 MB put.)
    const fail = (err: Error) => {
      failure ??= err;
      stored.reject(failure);
      windowWaiter?.reject(failure);
      windowWaiter = null;
    };

    const send = (ack: boolean, end: boolean) => {
      // A buffer of its own per batch, moved (not copied) to the thread: chunks may be views of a shared pool. Full
      // batches reuse the buffers the thread handed back; a last, short one gets its exact size.
      const length = gatheredBytes;
      const batch = length === 0 ? null : ack ? this.fullBatch(length) : Buffer.allocUnsafeSlow(length);
      if (batch) {
        let offset = 0;
        for (const chunk of gathered) offset += chunk.copy(batch, offset);
      }
      gathered = [];
      gatheredBytes = 0;
      const msg: ToThread = { op: 'put', id };
      if (!opened) msg.open = { dir: target.dir, tempData: target.tempData, tempMeta: target.tempMeta };
      opened = true;
      if (batch) {
        msg.data = batch.buffer as ArrayBuffer;
        msg.length = length;
      }
      if (ack) {
        msg.ack = true;
        unacked++;
      }
      if (end) msg.end = { path: target.path, metaPath: target.metaPath, contentType: target.contentType };
      this.post(msg, batch ? [batch.buffer as ArrayBuffer] : []);
    };

    return {
      push: async (chunk) => {
        if (failure) throw failure;
        if (settled) throw new Error('push after the put ended');
        gathered.push(chunk);
        gatheredBytes += chunk.length;
        if (gatheredBytes < BATCH_BYTES) return;
        send(true, false);
        while (unacked >= WINDOW_BATCHES) {
          windowWaiter ??= Promise.withResolvers<void>();
          await windowWaiter.promise;
        }
      },
      end: () => {
        if (!settled && !failure) send(false, true);
        return stored.promise;
      },
      abort: (reason) => {
        if (settled) return;
        settle();
        fail(reason ?? new Error('the put was given up'));
        // Nothing was sent yet: the thread has no file to remove.
        if (opened) this.post({ op: 'abort', id });
      },
    };
  }

  /** Every operation still waiting fails (a put then removes nothing: a later sweep finds its temp file). */
  private failAll(message: string): void {
    for (const [id, handler] of [...this.handlers]) handler({ id, kind: 'error', error: { message, code: 'EIO' } });
  }

  close(): void {
    const worker = this.worker;
    this.worker = null;
    this.failAll('the file storage was closed');
    void worker?.terminate();
  }
}
