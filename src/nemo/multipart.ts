// A streamed multipart/form-data body (repeated field `files`, §2.4): parts are read lazily, never buffered whole.
import { randomBytes } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface MultipartFile {
  filename: string;
  contentType: string;
  /** Exact byte size: it makes Content-Length computable up front, so no chunked upload reaches the gateway. */
  size: number;
  open: () => NodeJS.ReadableStream | Readable;
  /**
   * Where the file lies on disk, when it does: `pump` then reads it straight into a few reused buffers instead of
   * a stream that allocates a new buffer per chunk (200 MB of short-lived buffers cost more in GC than the copy).
   */
  path?: string;
}

/** A file yielded a different number of bytes than declared: a local problem, never retried upstream. */
export class MultipartSizeError extends Error {
  constructor(readonly filename: string, readonly declared: number, readonly actual: number) {
    super(`file "${filename}" declared ${declared} bytes but produced ${actual > declared ? `more than ${declared}` : actual}`);
    this.name = 'MultipartSizeError';
  }
}

/**
 * Where `pump` writes: `write` resolves once the chunk has been handed to the kernel (node's write callback), and
 * only then is its memory reused. It rejects if the request failed.
 */
export interface ChunkSink {
  write(chunk: Buffer): Promise<void>;
}

/** Buffers read from disk at a time; with RING of them in flight, reading the next overlaps sending the last. */
export const CHUNK_BYTES = 1024 * 1024;
export const RING = 4;

/** WHATWG form-data encoding of a filename: only `"`, CR and LF are percent-escaped (what browsers send). */
function quoteFilename(name: string): string {
  return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function partHeader(boundary: string, field: string, file: MultipartFile): Buffer {
  const type = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+(;.*)?$/.test(file.contentType) ? file.contentType : 'application/octet-stream';
  return Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="${field}"; filename="${quoteFilename(file.filename)}"\r\n` +
      `Content-Type: ${type.replace(/[\r\n]/g, '')}\r\n\r\n`,
    'utf8',
  );
}

export interface MultipartBody {
  /** The body as a stream (for an undici dispatcher); every chunk a fresh buffer. */
  body: Readable;
  /** The same bytes written to `sink`, at most RING chunks in flight, disk files through reused buffers. */
  pump: (sink: ChunkSink) => Promise<void>;
  contentType: string;
  contentLength: number;
}

/** At most RING writes in flight: a slot's next write waits for its previous one to be flushed. */
class FlushWindow {
  private readonly pending: (Promise<void> | undefined)[] = new Array<Promise<void> | undefined>(RING);
  private next = 0;

  constructor(private readonly sink: ChunkSink) {}

  /** Waits until slot `next` is free and returns its index (its buffer, if any, may be overwritten now). */
  async claim(): Promise<number> {
    const slot = this.next;
    this.next = (slot + 1) % RING;
    await this.pending[slot];
    return slot;
  }

  send(slot: number, chunk: Buffer): void {
    const p = this.sink.write(chunk);
    // Awaited by the slot's next claim or by drain(); this only keeps a failure from counting as unhandled meanwhile.
    p.catch(() => undefined);
    this.pending[slot] = p;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
  }
}

/** Reads `file.path` into the ring's buffers; reads one byte past the size so a file that grew is noticed. */
async function pumpFromDisk(file: MultipartFile & { path: string }, window: FlushWindow, ring: Buffer[]): Promise<void> {
  const handle = await openFile(file.path, 'r');
  try {
    let seen = 0;
    for (;;) {
      const slot = await window.claim();
      const buf = ring[slot]!;
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, file.size - seen + 1), null);
      if (bytesRead === 0) break;
      seen += bytesRead;
      if (seen > file.size) throw new MultipartSizeError(file.filename, file.size, seen);
      window.send(slot, buf.subarray(0, bytesRead));
    }
    if (seen !== file.size) throw new MultipartSizeError(file.filename, file.size, seen);
  } finally {
    await handle.close();
  }
}

/** Yields a file's chunks from its stream, checking them against the declared size; the stream is closed after. */
async function* fromStream(file: MultipartFile): AsyncGenerator<Buffer> {
  let seen = 0;
  // Opened only when its part is reached, so N files never hold N open descriptors.
  const stream = file.open();
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      seen += buf.length;
      if (seen > file.size) throw new MultipartSizeError(file.filename, file.size, seen);
      yield buf;
    }
  } finally {
    (stream as Readable).destroy?.();
  }
  if (seen !== file.size) throw new MultipartSizeError(file.filename, file.size, seen);
}

export function multipartBody(files: MultipartFile[], field = 'files'): MultipartBody {
  const boundary = `----nemo-relay-${randomBytes(16).toString('hex')}`;
  const headers = files.map((f) => partHeader(boundary, field, f));
  const crlf = Buffer.from('\r\n');
  const closing = Buffer.from(`--${boundary}--\r\n`);
  let contentLength = closing.length;
  files.forEach((f, i) => {
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new MultipartSizeError(f.filename, f.size, 0);
    contentLength += (headers[i]?.length ?? 0) + f.size + crlf.length;
  });

  async function* generate(): AsyncGenerator<Buffer> {
    for (const [i, file] of files.entries()) {
      yield headers[i] as Buffer;
      yield* fromStream(file);
      yield crlf;
    }
    yield closing;
  }

  async function pump(sink: ChunkSink): Promise<void> {
    const window = new FlushWindow(sink);
    // One ring per body, allocated only if a file comes from disk; never shared, so nothing else writes into it.
    let ring: Buffer[] | null = null;
    const small = async (chunk: Buffer) => window.send(await window.claim(), chunk);
    for (const [i, file] of files.entries()) {
      await small(headers[i] as Buffer);
      if (file.path !== undefined) {
        ring ??= Array.from({ length: RING }, () => Buffer.allocUnsafeSlow(CHUNK_BYTES));
        await pumpFromDisk(file as MultipartFile & { path: string }, window, ring);
      } else {
        for await (const chunk of fromStream(file)) await small(chunk);
      }
      await small(crlf);
    }
    await small(closing);
    await window.drain();
  }

  return {
    body: Readable.from(generate(), { objectMode: false }),
    pump,
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength,
  };
}
