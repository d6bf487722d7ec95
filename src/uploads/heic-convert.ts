// HEIC/HEIF → JPEG off the event loop: one worker thread per process, one conversion at a time, with pixel and time limits.
import { rm, writeFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { inspectHeif } from './heic-orientation.js';

/** Larger photos are refused before any pixel is decoded (a 50 MP RGBA frame alone is 200 MB). */
export const HEIC_MAX_PIXELS = 50_000_000;
/** A 12 MP iPhone photo takes a few seconds of wasm decoding and JPEG encoding; this only stops pathological files. */
export const HEIC_TIMEOUT_MS = 60_000;
export const HEIC_JPEG_QUALITY = 90;
/** An idle worker is ended after this long, so the memory its wasm heap grew to goes back to the system. */
const IDLE_MS = 10_000;
/** Conversions running or waiting in one process; more are refused at once rather than queued for minutes. */
export const HEIC_MAX_QUEUED = 16;
/**
 * The Retry-After (seconds) of a refusal past HEIC_MAX_QUEUED: a typical photo converts in a few seconds, so by then a
 * place in the queue has usually come free; a client that is refused again simply waits again.
 */
export const HEIC_RETRY_AFTER_S = 5;

export interface HeicConvertOptions {
  maxPixels?: number;
  timeoutMs?: number;
  quality?: number;
  /** Stops waiting (and ends a conversion in progress): a canceled job. */
  signal?: AbortSignal;
  /**
   * Wait however long the queue is instead of being refused as busy past HEIC_MAX_QUEUED: for flow jobs, which
   * their worker's concurrency bounds already and which have no client waiting on a socket.
   */
  waitInQueue?: boolean;
}

export type HeicFailure = 'corrupt' | 'too_many_pixels' | 'timeout' | 'busy' | 'aborted' | 'crashed';

export class HeicConversionError extends Error {
  override name = 'HeicConversionError';
  constructor(
    readonly kind: HeicFailure,
    message: string,
    /** The image's size, for too_many_pixels. */
    readonly size?: { width: number; height: number },
  ) {
    super(message);
  }
}

export interface HeicConversion {
  /** Of the JPEG, orientation applied. */
  width: number;
  height: number;
  bytes: number;
  /** The EXIF orientation applied on top of libheif's irot/imir (1 = none). */
  exifOrientation: number;
  ms: number;
}

/** Sent to the worker. */
export interface WorkerRequest {
  input: string;
  orientation: number;
  maxPixels: number;
  quality: number;
}

/** Sent back by the worker: the JPEG bytes on success (transferred, not copied). */
export type WorkerReply =
  | { ok: true; width: number; height: number; jpeg: ArrayBuffer }
  | { ok: false; kind: 'corrupt' | 'crashed'; message: string }
  | { ok: false; kind: 'too_many_pixels'; message: string; width: number; height: number };

/**
 * The compiled worker beside this file; from source (tsx, vitest) the TypeScript file, loaded through tsx. A worker
 * inherits the parent's flags by default (tsx included); only when tsx is not among them is it added, and then
 * alone, since flags a worker cannot take (--expose-gc, …) are an error when given explicitly.
 */
function workerTarget(): { url: URL; execArgv?: string[] } {
  if (!import.meta.url.endsWith('.ts')) return { url: new URL('./heic-worker.js', import.meta.url) };
  const url = new URL('./heic-worker.ts', import.meta.url);
  return process.execArgv.some((arg) => arg.includes('tsx')) ? { url } : { url, execArgv: ['--import', 'tsx'] };
}

export class HeicConverter {
  private worker: Worker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleMs: number;
  private readonly maxQueued: number;

  constructor(opts: { idleMs?: number; maxQueued?: number } = {}) {
    this.idleMs = opts.idleMs ?? IDLE_MS;
    this.maxQueued = opts.maxQueued ?? HEIC_MAX_QUEUED;
  }

  /**
   * Converts `input` (a HEIC/HEIF file) to a JPEG at `output`. Conversions queue up; the time limit counts from
   * the start of this one, not from the queue. On any failure `output` does not exist afterwards.
   */
  convert(input: string, output: string, opts: HeicConvertOptions = {}): Promise<HeicConversion> {
    if (this.pending >= this.maxQueued && !opts.waitInQueue) {
      return Promise.reject(new HeicConversionError('busy', `${this.pending} photos are being converted already; try again in ${HEIC_RETRY_AFTER_S} s`));
    }
    this.pending++;
    const run = this.queue.then(() => this.run(input, output, opts));
    this.queue = run.catch(() => undefined);
    return run.finally(() => {
      this.pending--;
      if (this.pending === 0) this.startIdleTimer();
    });
  }

  /** Ends the worker (tests, shutdown); a later convert() starts a new one. */
  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    await this.discard();
  }

  /** Whether a worker thread is alive (for tests of the idle shutdown). */
  get running(): boolean {
    return this.worker !== null;
  }

  private async run(input: string, output: string, opts: HeicConvertOptions): Promise<HeicConversion> {
    if (opts.signal?.aborted) throw new HeicConversionError('aborted', 'the conversion was canceled');
    const started = performance.now();
    const { notHeif, orientation } = await inspectHeif(input);
    if (notHeif) throw new HeicConversionError('corrupt', notHeif);
    // Canceled while the file was inspected: an abort listener added now would never fire, and the decode would hold
    // the one converter for nothing.
    if (opts.signal?.aborted) throw new HeicConversionError('aborted', 'the conversion was canceled');
    const request: WorkerRequest = {
      input,
      orientation,
      maxPixels: opts.maxPixels ?? HEIC_MAX_PIXELS,
      quality: opts.quality ?? HEIC_JPEG_QUALITY,
    };
    const reply = await this.exchange(request, opts.timeoutMs ?? HEIC_TIMEOUT_MS, opts.signal);
    if (!reply.ok) {
      if (reply.kind === 'too_many_pixels') {
        throw new HeicConversionError(reply.kind, reply.message, { width: reply.width, height: reply.height });
      }
      // libheif leaks a failed parse's context (and its copy of the file) inside the wasm heap: a new worker next time.
      await this.discard();
      throw new HeicConversionError(reply.kind, reply.message);
    }
    const jpeg = Buffer.from(reply.jpeg);
    try {
      await writeFile(output, jpeg, { flag: 'wx' });
    } catch (err) {
      // 'wx' refuses to overwrite; an EEXIST is not ours to remove, anything else may have left a partial file.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(output, { force: true });
      throw err;
    }
    return { width: reply.width, height: reply.height, bytes: jpeg.length, exifOrientation: orientation, ms: Math.round(performance.now() - started) };
  }

  private exchange(request: WorkerRequest, timeoutMs: number, signal: AbortSignal | undefined): Promise<WorkerReply> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = (this.worker ??= this.spawn());
    return new Promise<WorkerReply>((resolve, reject) => {
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const fail = (kind: HeicFailure, message: string) => {
        void this.discard(worker);
        settle(() => reject(new HeicConversionError(kind, message)));
      };
      const onMessage = (reply: WorkerReply) => settle(() => resolve(reply));
      const onError = (err: Error) => fail('crashed', `the conversion worker failed: ${err.message}`);
      const onExit = (code: number) => fail('crashed', `the conversion worker exited (code ${code})`);
      const onAbort = () => fail('aborted', 'the conversion was canceled');
      // Ending the thread is the only way to stop a wasm decode in progress.
      const timer = setTimeout(() => fail('timeout', `the conversion took longer than ${timeoutMs} ms`), timeoutMs);
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage(request);
    });
  }

  private spawn(): Worker {
    const { url, execArgv } = workerTarget();
    const worker = new Worker(url, execArgv ? { execArgv } : {});
    // An idle worker must not keep the process alive; a conversion in progress is kept alive by its timer.
    worker.unref();
    // Between conversions nobody else listens: an error must not become an unhandled 'error' event, and a dead
    // worker must not be reused.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
    });
    return worker;
  }

  private async discard(worker: Worker | null = this.worker): Promise<void> {
    if (!worker) return;
    if (this.worker === worker) this.worker = null;
    await worker.terminate().catch(() => undefined);
  }

  private startIdleTimer(): void {
    if (!this.worker || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.pending === 0) void this.discard();
    }, this.idleMs);
    this.idleTimer.unref();
  }
}

/** The process's one converter: conversions from every upload and job queue up here, one at a time. */
export const heicConverter = new HeicConverter();

export function convertHeicFile(input: string, output: string, opts?: HeicConvertOptions): Promise<HeicConversion> {
  return heicConverter.convert(input, output, opts);
}
