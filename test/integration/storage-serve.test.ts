// serveStoredObject through a tiny Fastify app on port 0, over both drivers: Range, HEAD, ETag, 304, 416.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/storage/file-storage.js';
import { S3Storage } from '../../src/storage/s3-storage.js';
import { serveStoredObject } from '../../src/storage/serve.js';
import type { OutputStorage } from '../../src/storage/types.js';
import { startS3Server } from '../helpers/s3-server.js';

const data = randomBytes(1024 * 1024 + 3);
const size = data.length;
const etag = `"${createHash('sha256').update(data).digest('hex')}"`;
const KEY = 'acme/job_serve.mp4';

async function fileFixture(): Promise<{ storage: OutputStorage; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'serve-file-'));
  return { storage: new FileStorage(dir), close: () => rm(dir, { recursive: true, force: true }) };
}

async function s3Fixture(): Promise<{ storage: OutputStorage; close(): Promise<void> }> {
  const server = await startS3Server();
  const storage = new S3Storage({
    bucket: server.bucket,
    prefix: 'p',
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: server.credentials,
  });
  return {
    storage,
    async close() {
      storage.close();
      await server.close();
    },
  };
}

describe.each([
  ['file', fileFixture],
  ['s3', s3Fixture],
] as const)('serveStoredObject from %s', (_name, make) => {
  let fx: { storage: OutputStorage; close(): Promise<void> };
  let app: FastifyInstance;
  let base: string;
  let lastModified: Date;

  beforeAll(async () => {
    fx = await make();
    await fx.storage.put(KEY, Readable.from([data]), { contentType: 'video/mp4' });
    lastModified = (await fx.storage.head(KEY))!.lastModified;
    app = Fastify();
    const handler = (req: Parameters<typeof serveStoredObject>[0], reply: Parameters<typeof serveStoredObject>[1]) => {
      const key = (req.params as { key: string }).key === 'missing' ? 'acme/missing.mp4' : KEY;
      return serveStoredObject(req, reply, { storage: fx.storage, key, etag, sizeBytes: size, contentType: 'video/mp4', fileName: 'job_serve.mp4', lastModified });
    };
    // Both ways a route can answer HEAD: Fastify's automatic HEAD for a GET route, and an explicit GET+HEAD route.
    app.get('/auto/:key', handler);
    app.route({ method: ['GET', 'HEAD'], url: '/both/:key', handler });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await fx?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
    const res = await request(`${base}${path}`, { method, headers });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body };
  }

  it('serves the whole object with its headers', async () => {
    const res = await get('/auto/x');
    expect(res.status).toBe(200);
    expect(res.body.equals(data)).toBe(true);
    expect(res.headers).toMatchObject({
      'content-length': String(size),
      'content-type': 'video/mp4',
      'accept-ranges': 'bytes',
      etag,
      'last-modified': lastModified.toUTCString(),
      'content-disposition': `inline; filename="job_serve.mp4"; filename*=UTF-8''job_serve.mp4`,
    });
  });

  it.each([
    ['bytes=0-0', 0, 0],
    [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
    ['bytes=1000-70000', 1000, 70_000],
    ['bytes=500000-', 500_000, size - 1],
    ['bytes=-100', size - 100, size - 1],
    [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
  ])('answers %s with 206 and exactly those bytes', async (range, start, end) => {
    const res = await get('/auto/x', { range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.body.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it('answers 416 with bytes */size for a range past the end', async () => {
    const res = await get('/auto/x', { range: `bytes=${size}-` });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${size}`);
    expect(JSON.parse(res.body.toString())).toMatchObject({ statusCode: 416, code: 'RANGE_NOT_SATISFIABLE' });
  });

  it('answers multi-range and malformed ranges with the whole object', async () => {
    for (const range of ['bytes=0-1,5-6', 'bytes=9-2', 'lines=1-2']) {
      const res = await get('/auto/x', { range });
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(size);
    }
  });

  it.each(['/auto/x', '/both/x'])('answers HEAD on %s with the full length and no body, ignoring Range', async (path) => {
    for (const headers of [{}, { range: 'bytes=0-9' }] as Record<string, string>[]) {
      const res = await get(path, headers, 'HEAD');
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(size));
      expect(res.headers).toMatchObject({ etag, 'accept-ranges': 'bytes', 'content-type': 'video/mp4' });
      expect(res.body.length).toBe(0);
    }
  });

  it('answers If-None-Match (strong, weak, list, *) and If-Modified-Since with 304', async () => {
    for (const headers of [
      { 'if-none-match': etag },
      { 'if-none-match': `W/${etag}` },
      { 'if-none-match': `"other", ${etag}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': new Date(lastModified.getTime() + 1000).toUTCString() },
    ] as Record<string, string>[]) {
      const res = await get('/both/x', headers);
      expect(res.status).toBe(304);
      expect(res.headers.etag).toBe(etag);
      expect(res.body.length).toBe(0);
    }
    expect((await get('/both/x', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await get('/both/x', { 'if-modified-since': new Date(lastModified.getTime() - 10_000).toUTCString() })).status).toBe(200);
  });

  it('honours If-Range: a matching validator keeps the range, a stale one gets the whole object', async () => {
    expect((await get('/auto/x', { range: 'bytes=0-9', 'if-range': etag })).status).toBe(206);
    expect((await get('/auto/x', { range: 'bytes=0-9', 'if-range': lastModified.toUTCString() })).status).toBe(206);
    const stale = await get('/auto/x', { range: 'bytes=0-9', 'if-range': '"old"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(size);
    expect((await get('/auto/x', { range: 'bytes=0-9', 'if-range': `W/${etag}` })).status).toBe(200);
  });

  it('answers 404 OUTPUT_NOT_STORED when the object behind the record is gone, to HEAD as to GET', async () => {
    const res = await get('/auto/missing');
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'OUTPUT_NOT_STORED', message: expect.stringMatching(/^the stored output is missing/) });
    // HEAD must not promise (200, a length) what GET cannot serve.
    const head = await get('/auto/missing', {}, 'HEAD');
    expect([head.status, head.headers['content-type']]).toEqual([404, 'application/json; charset=utf-8']);
    expect((await get('/auto/x', {}, 'HEAD')).status).toBe(200);
  });

  it('answers 404, not 304, to a revalidation of an object that is gone (its ETag or date still matching)', async () => {
    const revalidations: Record<string, string>[] = [{ 'if-none-match': etag }, { 'if-modified-since': lastModified.toUTCString() }];
    for (const headers of revalidations) {
      expect((await get('/auto/x', headers)).status).toBe(304);
      const gone = await get('/auto/missing', headers);
      expect([gone.status, JSON.parse(gone.body.toString()).code]).toEqual([404, 'OUTPUT_NOT_STORED']);
    }
  });

  it('answers 404, not 416, to a range past the end of an object that is gone (the 416 named its size)', async () => {
    expect((await get('/auto/x', { range: `bytes=${size + 10}-` })).status).toBe(416);
    const gone = await get('/auto/missing', { range: `bytes=${size + 10}-` });
    expect([gone.status, gone.headers['content-range'], JSON.parse(gone.body.toString()).code]).toEqual([404, undefined, 'OUTPUT_NOT_STORED']);
  });
});
