// multipartBody().pump and uploads of files on disk: reused read buffers never change bytes still in flight.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_BYTES, multipartBody, MultipartSizeError, RING, type ChunkSink, type MultipartFile } from '../../src/nemo/multipart.js';
import { caught, json, makeClient, startServer, TOKEN, type TestServer } from './nemo-test-server.js';

let srv: TestServer;
let dir: string;
beforeAll(async () => {
  srv = await startServer();
  dir = await mkdtemp(join(tmpdir(), 'nemo-relay-pump-'));
});
afterAll(async () => {
  await srv.close();
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function diskFile(name: string, bytes: Buffer, declared = bytes.length): Promise<MultipartFile> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { filename: name, contentType: 'video/mp4', size: declared, path, open: () => Readable.from([bytes]) };
}

/**
 * A sink that, like a slow socket, reads a chunk's memory only when it acknowledges the write: the oldest write
 * once RING are held, the rest when writes stop coming. `held` is how many writes were unacknowledged at most. A
 * buffer overwritten before its acknowledgement shows up as changed bytes.
 */
function lazySink() {
  const out: Buffer[] = [];
  const queue: { chunk: Buffer; done: () => void }[] = [];
  const state = { held: 0 };
  const flushOne = () => {
    const w = queue.shift();
    if (!w) return;
    out.push(Buffer.from(w.chunk));
    w.done();
  };
  let idle: NodeJS.Timeout | undefined;
  const sink: ChunkSink = {
    write: (chunk) =>
      new Promise<void>((resolve) => {
        queue.push({ chunk, done: resolve });
        state.held = Math.max(state.held, queue.length);
        if (queue.length >= RING) flushOne();
        clearTimeout(idle);
        idle = setTimeout(() => {
          while (queue.length > 0) flushOne();
        }, 20);
      }),
  };
  return { sink, out, state };
}

describe('multipartBody().pump', () => {
  it('sends a file from disk byte-exact through reused buffers, at most RING writes unacknowledged', async () => {
    const big = randomBytes(RING * CHUNK_BYTES + CHUNK_BYTES / 2 + 7);
    const small = randomBytes(1000);
    const files = [await diskFile('big.mp4', big), await diskFile('small.jpg', small)];
    const mp = multipartBody(files);
    const { sink, out, state } = lazySink();
    await mp.pump(sink);
    const pumped = Buffer.concat(out);
    // The stream body of the same multipartBody call is the reference: same boundary, every chunk a fresh buffer.
    const streamed = await buffer(mp.body);
    expect(streamed.length).toBe(mp.contentLength);
    expect(pumped.length).toBe(mp.contentLength);
    expect(sha(pumped)).toBe(sha(streamed));
    expect(pumped.indexOf(big)).toBeGreaterThan(0);
    expect(pumped.indexOf(small)).toBeGreaterThan(pumped.indexOf(big));
    expect(state.held).toBeLessThanOrEqual(RING);
    expect(state.held).toBeGreaterThan(1);
  });

  it('refuses a file on disk shorter or longer than declared', async () => {
    for (const [name, declared] of [['short.mp4', 5000], ['long.mp4', 10]] as const) {
      const mp = multipartBody([await diskFile(name, randomBytes(100), declared)]);
      const err = await caught(() => mp.pump(lazySink().sink));
      expect(err).toBeInstanceOf(MultipartSizeError);
      expect(err.message).toContain(name);
    }
  });

  it('stops at the first failed write', async () => {
    const mp = multipartBody([await diskFile('fail.mp4', randomBytes(3 * CHUNK_BYTES))]);
    let writes = 0;
    const err = await caught(() =>
      mp.pump({
        write: () => {
          writes++;
          return Promise.reject(new Error('socket closed'));
        },
      }),
    );
    expect(err.message).toBe('socket closed');
    expect(writes).toBeLessThanOrEqual(RING + 1);
  });
});

describe('uploadFiles from disk', () => {
  it('arrives byte-exact and with the declared Content-Length', async () => {
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { files: [{ filename: 'disk.mp4', cdn_url: 'https://cdn/disk.mp4' }] } }));
    const bytes = randomBytes(5 * CHUNK_BYTES + 123);
    const file = await diskFile('disk.mp4', bytes);
    const files = await makeClient(srv.url).uploadFiles(TOKEN, 's', [{ ...file, open: () => Readable.from([Buffer.alloc(0)]) }]);
    expect(files).toEqual([{ filename: 'disk.mp4', fileType: 'video', cdnUrl: 'https://cdn/disk.mp4' }]);
    const req = srv.requests.at(-1)!;
    expect(Number(req.headers['content-length'])).toBe(req.body.length);
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const start = req.body.indexOf('\r\n\r\n') + 4;
    expect(sha(req.body.subarray(start, start + bytes.length))).toBe(sha(bytes));
    expect(req.body.subarray(start + bytes.length, start + bytes.length + 2).toString()).toBe('\r\n');
  });

  it('takes an answer that comes before the body is sent (a refusal) as the result', async () => {
    srv.handle((req, res) => {
      json(res, 200, { code: 4002, message: 'file too large' });
      req.resume();
    }, { raw: true });
    const file = await diskFile('huge.mp4', randomBytes(8 * CHUNK_BYTES));
    const err = await caught(() => makeClient(srv.url).uploadFiles(TOKEN, 's', [file]));
    expect(err.kind).toBe('media_too_large');
  });

  it('fails as transient, without hanging, when the connection drops mid-body', async () => {
    srv.handle((req) => {
      req.once('data', () => req.socket.destroy());
    }, { raw: true });
    const file = await diskFile('dropped.mp4', randomBytes(8 * CHUNK_BYTES));
    const err = await caught(() => makeClient(srv.url).uploadFiles(TOKEN, 's', [file]));
    expect(err).toMatchObject({ kind: 'transient', endpoint: 'upload' });
  });

  it('maps a file that changed size on disk to rejected, not transient', async () => {
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { files: [] } }));
    const file = await diskFile('changed.mp4', randomBytes(2000), 1000);
    const err = await caught(() => makeClient(srv.url).uploadFiles(TOKEN, 's', [file]));
    expect(err).toMatchObject({ kind: 'rejected', endpoint: 'upload' });
    expect(err.message).toContain('changed.mp4');
  });
});
