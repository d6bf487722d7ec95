// NemoClient.uploadFiles: a streamed multipart body (field `files`, §2.4) that the server receives byte-exact.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught, json, makeClient, startServer, TOKEN, type TestServer } from './nemo-test-server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv.close();
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Part {
  headers: string;
  content: Buffer;
}

/** Minimal multipart/form-data parser for the assertions (RFC 7578). */
function parseMultipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
  if (!boundary) throw new Error('no boundary');
  const delim = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delim);
  for (;;) {
    const next = body.indexOf(delim, pos + delim.length);
    if (next === -1) break;
    const chunk = body.subarray(pos + delim.length + 2, next - 2); // skip CRLF after the delimiter, drop CRLF before the next
    const split = chunk.indexOf('\r\n\r\n');
    parts.push({ headers: chunk.subarray(0, split).toString('utf8'), content: chunk.subarray(split + 4) });
    pos = next;
  }
  expect(body.subarray(pos).toString()).toBe(`--${boundary}--\r\n`);
  return parts;
}

/** A source that produces `total` bytes on demand and records how many it has produced so far. */
function meteredSource(total: number, seed: Buffer) {
  const state = { produced: 0, opened: 0 };
  const open = () => {
    state.opened++;
    return new Readable({
      read() {
        if (state.produced >= total) return void this.push(null);
        const n = Math.min(64 * 1024, total - state.produced);
        const chunk = Buffer.alloc(n);
        for (let i = 0; i < n; i += seed.length) seed.copy(chunk, i, 0, Math.min(seed.length, n - i));
        chunk.writeUInt32BE(state.produced % 0xffffffff, 0);
        state.produced += n;
        this.push(chunk);
      },
    });
  };
  return { state, open };
}

describe('uploadFiles', () => {
  it('streams several files as repeated `files` parts that arrive intact', async () => {
    srv.handle((_q, res) =>
      json(res, 200, {
        code: 0,
        data: {
          files: [
            { filename: 'clip.mp4', file_type: 'video', cdn_url: 'https://cdn/clip.mp4', duration: 30.5, width: 1920, height: 1080 },
            { filename: 'Café "one".jpg', file_type: 'image', cdn_url: 'https://cdn/cafe.jpg' },
          ],
          session_state_applied: true,
        },
      }),
    );
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const small = randomBytes(1024);
    const files = await makeClient(srv.url).uploadFiles(TOKEN, '5529798706024415232', [
      { filename: 'clip.mp4', contentType: 'video/mp4', size: big.length, open: () => Readable.from([big.subarray(0, 1e6), big.subarray(1e6)]) },
      { filename: 'Café "one".jpg', contentType: 'image/jpeg', size: small.length, open: () => Readable.from([small]) },
    ]);
    expect(files).toEqual([
      { filename: 'clip.mp4', fileType: 'video', cdnUrl: 'https://cdn/clip.mp4', durationS: 30.5, width: 1920, height: 1080 },
      { filename: 'Café "one".jpg', fileType: 'image', cdnUrl: 'https://cdn/cafe.jpg' },
    ]);
    const req = srv.requests.at(-1)!;
    expect(req.url).toBe('/api/upload-video/nemo_agent/me/5529798706024415232');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(Number(req.headers['content-length'])).toBe(req.body.length);
    const parts = parseMultipart(req.body, String(req.headers['content-type']));
    expect(parts).toHaveLength(2);
    expect(parts[0]!.headers).toContain('Content-Disposition: form-data; name="files"; filename="clip.mp4"');
    expect(parts[0]!.headers).toContain('Content-Type: video/mp4');
    expect(sha(parts[0]!.content)).toBe(sha(big));
    expect(parts[1]!.headers).toContain('filename="Café %22one%22.jpg"');
    expect(sha(parts[1]!.content)).toBe(sha(small));
  });

  it('sends bytes while the source is still producing them (never buffers a whole file)', async () => {
    const total = 24 * 1024 * 1024;
    const src = meteredSource(total, randomBytes(4096));
    let producedAtFirstByte = -1;
    let received = 0;
    let declared = 0;
    srv.handle(
      (req, res) => {
        declared = Number(req.headers['content-length']);
        req.on('data', (c: Buffer) => {
          if (producedAtFirstByte < 0) producedAtFirstByte = src.state.produced;
          received += c.length;
        });
        req.on('end', () => json(res, 200, { code: 0, data: { files: [{ filename: 'big.mp4', cdn_url: 'https://cdn/big.mp4' }] } }));
      },
      { raw: true },
    );
    const files = await makeClient(srv.url).uploadFiles(TOKEN, 's', [
      { filename: 'big.mp4', contentType: 'video/mp4', size: total, open: src.open },
    ]);
    expect(files).toEqual([{ filename: 'big.mp4', fileType: 'video', cdnUrl: 'https://cdn/big.mp4' }]);
    expect(src.state.opened).toBe(1);
    expect(received).toBe(declared);
    expect(received).toBeGreaterThan(total);
    expect(producedAtFirstByte).toBeGreaterThanOrEqual(0);
    expect(producedAtFirstByte).toBeLessThan(total / 2);
  });

  it('refuses a file whose bytes do not match its declared size, as rejected (not transient)', async () => {
    srv.handle((_q, res) => json(res, 200, { code: 0, data: { files: [] } }));
    const err = await caught(() =>
      makeClient(srv.url).uploadFiles(TOKEN, 's', [
        { filename: 'short.mp4', contentType: 'video/mp4', size: 5000, open: () => Readable.from([Buffer.alloc(100)]) },
      ]),
    );
    expect(err).toMatchObject({ kind: 'rejected', endpoint: 'upload' });
    expect(err.message).toContain('short.mp4');
  });

  it('maps 4001 and 4002 from the upload endpoint', async () => {
    for (const [code, kind] of [[4001, 'unsupported_media'], [4002, 'media_too_large']] as const) {
      srv.handle((_q, res) => json(res, 200, { code, message: 'no' }));
      const err = await caught(() =>
        makeClient(srv.url).uploadFiles(TOKEN, 's', [{ filename: 'a.txt', contentType: 'text/plain', size: 1, open: () => Readable.from([Buffer.from('a')]) }]),
      );
      expect(err.kind).toBe(kind);
    }
  });
});

describe('uploads the caller gives up', () => {
  it('ends a streamed upload at once when the caller’s signal aborts (a shutdown, a cancel), counted as aborted', async () => {
    // A server that takes the body slowly and never answers: only the caller's abort can end the call in time.
    srv.handle((req) => {
      req.pause();
    });
    const outcomes: string[] = [];
    const client = makeClient(srv.url, { onCall: (endpoint, outcome) => void outcomes.push(`${endpoint}:${outcome}`) });
    const source = meteredSource(64 * 1024 * 1024, randomBytes(64));
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('worker shutting down')), 200);
    const started = Date.now();
    const err = await caught(() =>
      client.uploadFiles(TOKEN, 's', [{ filename: 'big.mp4', contentType: 'video/mp4', size: 64 * 1024 * 1024, open: source.open }], { signal: ac.signal }),
    );
    expect(err.message).toBe('worker shutting down');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(outcomes).toEqual(['upload:aborted']);
  });

  it('ends a URL upload at once when the caller’s signal aborts', async () => {
    srv.handle(() => {
      // Never answers.
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('job canceled')), 100);
    const err = await caught(() => makeClient(srv.url).uploadUrls(TOKEN, 's', ['https://example.com/a.jpg'], { signal: ac.signal }));
    expect(err.message).toBe('job canceled');
  });
});
