// fetchUrlSource against a local HTTP server: HEIC downloaded and converted, limits, hangs, SSRF refusal, no temp file left.
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import jpeg from 'jpeg-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchUrlSource, UrlSourceError, type FetchUrlSourceOptions } from '../../src/uploads/url-source.js';

const FIXTURES = 'test/fixtures/heic';
const MAX = 64 * 1024;
let server: Server;
let base: string;
let dir: string;
let hits: string[] = [];
const open: ServerResponse[] = [];
let files: { rotated: Buffer; plain: Buffer; truncated: Buffer; jpeg: Buffer };

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/photos/IMG_0001.HEIC': (_req, res) => res.writeHead(200, { 'content-type': 'image/heic' }).end(files.rotated),
  '/go': (_req, res) => res.writeHead(302, { location: '/photos/IMG_0001.HEIC' }).end(),
  '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
  '/to-file': (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
  '/really-a-jpeg.heic': (_req, res) => res.writeHead(200).end(files.jpeg),
  '/broken.heic': (_req, res) => res.writeHead(200).end(files.truncated),
  '/text.heic': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('hello, not a photo'),
  '/missing.heic': (_req, res) => res.writeHead(404).end('not found'),
  '/declared-big.heic': (_req, res) => {
    res.writeHead(200, { 'content-length': String(MAX + 1) });
    res.write(files.plain);
    open.push(res); // never finishes: the declared length alone must refuse it
  },
  '/streamed-big.heic': (_req, res) => {
    res.writeHead(200); // chunked: only counting finds out
    res.write(files.plain);
    res.end(Buffer.alloc(MAX, 1));
  },
  '/no-answer.heic': (_req, res) => open.push(res),
  '/stalls.heic': (_req, res) => {
    res.writeHead(200, { 'content-length': String(files.plain.length) });
    res.write(files.plain.subarray(0, 100));
    open.push(res);
  },
};

beforeAll(async () => {
  files = {
    rotated: await readFile(`${FIXTURES}/irot-exif6-64x48.heic`),
    plain: await readFile(`${FIXTURES}/plain-64x48.heic`),
    truncated: await readFile(`${FIXTURES}/truncated.heic`),
    jpeg: jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 200) }, 90).data,
  };
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const route = routes[(req.url ?? '').split('?')[0]!];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'heic-url-'));
});
afterEach(() => {
  for (const res of open.splice(0)) res.destroy();
  hits = [];
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

const opts = (more: Partial<FetchUrlSourceOptions> = {}): FetchUrlSourceOptions => ({ dir, maxBytes: MAX, allowPrivate: true, field: 'sources.0.url', ...more });
const leftovers = () => readdir(dir);

async function failure(url: string, more: Partial<FetchUrlSourceOptions> = {}): Promise<UrlSourceError> {
  const err = await fetchUrlSource(url, opts(more)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UrlSourceError);
  expect(await leftovers()).toEqual([]);
  return err as UrlSourceError;
}

describe('fetchUrlSource', () => {
  it('downloads a HEIC photo and hands back an upright JPEG named after it; cleanup() removes it', async () => {
    const file = await fetchUrlSource(`${base}/photos/IMG_0001.HEIC?sig=secret`, opts());
    expect(file).toMatchObject({ filename: 'IMG_0001.jpg', contentType: 'image/jpeg', original: { contentType: 'image/heic', size: files.rotated.length } });
    const bytes = await buffer(file.open());
    expect(bytes.length).toBe(file.size);
    const img = jpeg.decode(bytes, { useTArray: true });
    expect([img.width, img.height]).toEqual([48, 64]);
    expect(await leftovers()).toHaveLength(1); // only the JPEG: the download is gone already
    await file.cleanup();
    expect(await leftovers()).toEqual([]);
  });

  it('follows a redirect (through the guard again)', async () => {
    const file = await fetchUrlSource(`${base}/go`, opts());
    expect(file.contentType).toBe('image/jpeg');
    expect(hits).toEqual(['/go', '/photos/IMG_0001.HEIC']);
    await file.cleanup();
  });

  it('a redirect loop or a redirect to a file: URL is the source’s lasting fault: not retryable, not "could not be reached"', async () => {
    for (const path of ['/loop', '/to-file']) {
      const err = await failure(`${base}${path}`);
      expect([err.code, err.retryable], path).toEqual(['VALIDATION_FAILED', false]);
      expect(err.message).toMatch(/redirected in a loop or to a location that is not an http\(s\) URL$/);
    }
    expect(hits.filter((h) => h === '/to-file')).toHaveLength(1);
  });

  it('a JPEG behind a .heic name is passed on as is, renamed .jpg (the upstream judges by name)', async () => {
    const file = await fetchUrlSource(`${base}/really-a-jpeg.heic`, opts());
    expect(file).toMatchObject({ filename: 'really-a-jpeg.jpg', contentType: 'image/jpeg', size: files.jpeg.length });
    expect((await buffer(file.open())).equals(files.jpeg)).toBe(true);
    await file.cleanup();
  });

  it('refuses 127.0.0.1 when private addresses are not allowed, before any request is sent', async () => {
    const err = await failure(`${base}/photos/IMG_0001.HEIC`, { allowPrivate: false });
    expect(err.kind).toBe('refused');
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toMatch(/^sources\.0\.url: http:\/\/127\.0\.0\.1:\d+\/photos\/IMG_0001\.HEIC was not fetched: .*loopback address \(127\.0\.0\.1\)/);
    expect(hits).toEqual([]);
  });

  it('refuses a name that resolves to a private address too', async () => {
    const port = new URL(base).port;
    const lookup: FetchUrlSourceOptions['lookup'] = (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]);
    const err = await failure(`http://photos.example.test:${port}/IMG_0001.HEIC`, { allowPrivate: false, lookup });
    expect(err.kind).toBe('refused');
    expect(hits).toEqual([]);
  });

  it('refuses a body over the limit by its Content-Length, and a chunked one while counting', async () => {
    for (const path of ['/declared-big.heic', '/streamed-big.heic']) {
      const err = await failure(`${base}${path}`);
      expect(err.kind, path).toBe('too_large');
      expect(err.code).toBe('MEDIA_TOO_LARGE');
      expect(err.message).toContain(`limit of ${MAX} bytes (UPLOAD_MAX_BYTES)`);
    }
  });

  it('gives up on a server that never answers, and on one that stalls mid-body, at the time limit', async () => {
    for (const path of ['/no-answer.heic', '/stalls.heic']) {
      const started = performance.now();
      const err = await failure(`${base}${path}`, { timeoutMs: 300 });
      expect(err.kind, path).toBe('timeout');
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/did not arrive within 300 ms$/);
      expect(performance.now() - started).toBeLessThan(2000);
    }
  });

  it('refuses what is not media, a corrupt HEIC, and an HTTP error, each clearly', async () => {
    const text = await failure(`${base}/text.heic`);
    expect([text.kind, text.code]).toEqual(['not_media', 'UNSUPPORTED_MEDIA']);
    expect(text.message).toMatch(/is not an image or video of an accepted type/);

    const broken = await failure(`${base}/broken.heic`);
    expect([broken.kind, broken.code]).toEqual(['corrupt', 'UNSUPPORTED_MEDIA']);
    expect(broken.message).toMatch(/^sources\.0\.url: http:\/\/127\.0\.0\.1:\d+\/broken\.heic is a HEIC image that could not be decoded: \S/);

    const missing = await failure(`${base}/missing.heic`);
    expect([missing.kind, missing.retryable]).toEqual(['http_status', false]);
    expect(missing.message).toMatch(/answered HTTP 404/);
  });

  it('a canceled job stops the download with the signal’s reason and leaves nothing', async () => {
    const controller = new AbortController();
    const pending = fetchUrlSource(`${base}/no-answer.heic`, opts({ signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('canceled')), 100);
    await expect(pending).rejects.toThrow('canceled');
    expect(await leftovers()).toEqual([]);
  });
});
