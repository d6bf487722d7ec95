// mirrorToStorage against a local source server: success, every failure class, and never a half object left behind.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedAgent } from '../../src/core/http-agent.js';
import { OriginDispatcher } from '../../src/core/origin-dispatcher.js';
import { probeSize } from '../../src/flow/result-size.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { mirrorToStorage, type MirrorOptions } from '../../src/storage/mirror.js';
import { S3Storage } from '../../src/storage/s3-storage.js';
import type { OutputStorage } from '../../src/storage/types.js';
import { createGuardedDispatcher } from '../../src/webhooks/ssrf.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';

const MiB = 1024 * 1024;
const data = randomBytes(3 * MiB + 777);
const sha256 = createHash('sha256').update(data).digest('hex');

/** Writes `bytes` in 64 KiB chunks honouring backpressure; resolves when all are handed to the socket. */
async function writeSlowly(res: ServerResponse, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += 64 * 1024) {
    if (!res.write(bytes.subarray(at, at + 64 * 1024))) await once(res, 'drain');
    if (res.destroyed) return;
  }
}

function startSource(): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const full = { 'content-type': 'video/mp4', 'content-length': String(data.length) };
    void (async () => {
      switch (path) {
        case '/video.mp4':
          res.writeHead(200, full);
          await writeSlowly(res, data);
          res.end();
          return;
        case '/chunked.mp4':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          await writeSlowly(res, data);
          res.end();
          return;
        case '/half.mp4':
        case '/half-chunked.mp4':
          res.writeHead(200, path === '/half.mp4' ? full : { 'content-type': 'video/mp4' });
          await writeSlowly(res, data.subarray(0, data.length >> 1));
          // Let the half reach the client, then kill the connection mid-body.
          setTimeout(() => res.socket?.destroy(), 50);
          return;
        case '/stall.mp4':
          res.writeHead(200, full);
          await writeSlowly(res, data.subarray(0, 100_000));
          return; // never ends; closed by closeAllConnections at teardown
        case '/no-headers':
          return;
        case '/big.mp4':
          res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(20 * MiB) });
          res.end();
          return;
        case '/empty.mp4':
          res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': '0' });
          res.end();
          return;
        case '/redirect':
          res.writeHead(302, { location: '/video.mp4?sig=redirect-secret' });
          res.end();
          return;
        case '/loop':
          res.writeHead(302, { location: '/loop' });
          res.end();
          return;
        default: {
          const status = Number(path.slice(1)) || 404;
          res.writeHead(status, status === 503 ? { 'retry-after': '7' } : {});
          res.end('no');
        }
      }
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface Fixture {
  storage: OutputStorage;
  raw(): Promise<string[]>;
  close(): Promise<void>;
}

async function fileFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mirror-file-'));
  const raw = async () => (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  return { storage: new FileStorage(dir), raw, close: () => rm(dir, { recursive: true, force: true }) };
}

async function s3Fixture(): Promise<Fixture> {
  const server: TestS3Server = await startS3Server();
  const storage = new S3Storage({
    bucket: server.bucket,
    prefix: '',
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: server.credentials,
    partSizeBytes: 5 * MiB,
  });
  return {
    storage,
    async raw() {
      const res = await storage.client.send(new ListObjectsV2Command({ Bucket: server.bucket }));
      return (res.Contents ?? []).map((o) => o.Key!).sort();
    },
    async close() {
      storage.close();
      await server.close();
    },
  };
}

let source: Server;
let base: string;
beforeAll(async () => {
  source = await startSource();
  base = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
});
afterAll(async () => {
  source.closeAllConnections();
  source.close();
});

describe.each([
  ['file', fileFixture],
  ['s3', s3Fixture],
] as const)('mirrorToStorage into %s', (_name, make) => {
  let fx: Fixture;
  const mirror = (path: string, extra: Partial<MirrorOptions> = {}) =>
    mirrorToStorage({ url: `${base}${path}`, storage: fx.storage, key: 'acme/job_m.mp4', timeoutMs: 5_000, maxBytes: 10 * MiB, ...extra });

  beforeAll(async () => {
    fx = await make();
  });
  afterAll(async () => {
    await fx?.close();
  });

  /** The failure leaves the backend exactly as it was and nothing readable under the key. */
  async function expectNothingLeft(before: string[]): Promise<void> {
    expect(await fx.storage.head('acme/job_m.mp4')).toBeNull();
    expect(await fx.raw()).toEqual(before);
  }

  it('copies the video, with its sha256 and size, following a redirect', async () => {
    const result = await mirror('/redirect');
    expect(result).toEqual({ sizeBytes: data.length, sha256, contentType: 'video/mp4', etag: `"${sha256}"` });
    const got = await fx.storage.get('acme/job_m.mp4');
    expect((await buffer(got!.body)).equals(data)).toBe(true);
    await fx.storage.delete('acme/job_m.mp4');
  });

  it('copies a chunked body of another type as video/mp4', async () => {
    const result = await mirror('/chunked.mp4');
    expect(result).toMatchObject({ sizeBytes: data.length, sha256, contentType: 'video/mp4' });
    await fx.storage.delete('acme/job_m.mp4');
  });

  it.each(['/half.mp4', '/half-chunked.mp4'])('leaves nothing when the source dies mid-body (%s), retryably', async (path) => {
    const before = await fx.raw();
    const err = await mirror(path).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StorageError', code: 'OUTPUT_FETCH_FAILED', retryable: true });
    expect((err as Error).message).toMatch(/^the upstream output broke off after \d+ bytes \(.+\): http:\/\/127\.0\.0\.1:\d+\/half/);
    await expectNothingLeft(before);
  });

  it.each([404, 410, 403])('says the URL is gone for %i, not retryable, without the query', async (status) => {
    const err = await mirror(`/${status}?X-Amz-Signature=query-secret`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_GONE', retryable: false });
    expect((err as Error).message).toBe(`the upstream output URL is gone (${status}): ${base}/${status}`);
  });

  it('treats 5xx as retryable and passes Retry-After on', async () => {
    await expect(mirror('/503')).rejects.toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: true, retryAfterMs: 7_000 });
    await expect(mirror('/500')).rejects.toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: true });
    await expect(mirror('/418')).rejects.toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: false });
    await expect(mirror('/loop')).rejects.toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: false });
  });

  it('refuses a body over maxBytes, declared or streamed, leaving nothing', async () => {
    const before = await fx.raw();
    await expect(mirror('/big.mp4')).rejects.toMatchObject({ code: 'OUTPUT_TOO_LARGE', retryable: false });
    const err = await mirror('/chunked.mp4', { maxBytes: MiB }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_TOO_LARGE', retryable: false });
    expect((err as Error).message).toBe(`the upstream output is larger than the limit of ${MiB} bytes: ${base}/chunked.mp4`);
    await expectNothingLeft(before);
  });

  it('aborts a stalled body after the idle timeout, leaving nothing', async () => {
    const before = await fx.raw();
    const started = Date.now();
    await expect(mirror('/stall.mp4', { timeoutMs: 400 })).rejects.toMatchObject({ code: 'OUTPUT_STALLED', retryable: true });
    expect(Date.now() - started).toBeLessThan(3_000);
    await expect(mirror('/no-headers', { timeoutMs: 400 })).rejects.toMatchObject({ code: 'OUTPUT_STALLED', retryable: true });
    await expectNothingLeft(before);
  });

  it('never stores an empty body', async () => {
    const before = await fx.raw();
    await expect(mirror('/empty.mp4')).rejects.toMatchObject({ code: 'OUTPUT_FETCH_FAILED' });
    await expectNothingLeft(before);
  });

  it('stops on the caller signal with its reason, leaving nothing', async () => {
    const before = await fx.raw();
    const controller = new AbortController();
    const reason = new Error('job canceled');
    setTimeout(() => controller.abort(reason), 200);
    await expect(mirror('/stall.mp4', { signal: controller.signal, timeoutMs: 10_000 })).rejects.toBe(reason);
    await expectNothingLeft(before);
  });
});

describe('mirrorToStorage through the SSRF guard', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await fileFixture();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('is refused for a loopback source unless private targets are allowed', async () => {
    const opts = { url: `${base}/video.mp4`, storage: fx.storage, key: 't/job.mp4', timeoutMs: 5_000, maxBytes: 10 * MiB };
    const err = await mirrorToStorage({ ...opts, dispatcher: createGuardedDispatcher({ allowPrivate: false }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: false });
    expect((err as Error).message).toMatch(/^the upstream output URL was refused: .*loopback/);
    expect(await fx.raw()).toEqual([]);
    const ok = await mirrorToStorage({ ...opts, dispatcher: createGuardedDispatcher({ allowPrivate: true }) });
    expect(ok.sha256).toBe(sha256);
  });

  it('follows a redirect from the upstream’s own origin only within it: a hop to another origin goes through the guard', async () => {
    // The upstream (trusted, on loopback here) answers its result URL with a redirect to an internal address.
    const internalHits: string[] = [];
    const internal = createServer((req, res) => {
      internalHits.push(`${req.method} ${req.url}`);
      res.end('internal secret');
    });
    await new Promise<void>((ok) => internal.listen(0, '127.0.0.2', ok));
    const internalUrl = `http://127.0.0.2:${(internal.address() as AddressInfo).port}/secret.mp4`;
    const upstream = createServer((req, res) => {
      if (req.url === '/render-result/away.mp4') return void res.writeHead(302, { location: internalUrl }).end();
      if (req.url === '/render-result/home.mp4') return void res.writeHead(302, { location: '/video-home.mp4' }).end();
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(payload.length) }).end(payload);
    });
    const payload = randomBytes(4096);
    await new Promise<void>((ok) => upstream.listen(0, '127.0.0.1', ok));
    const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const dispatcher = new OriginDispatcher(upstreamOrigin, sharedAgent(), createGuardedDispatcher({ allowPrivate: false }));
    const opts = { storage: fx.storage, timeoutMs: 5_000, maxBytes: 10 * MiB, dispatcher };
    try {
      const err = await mirrorToStorage({ ...opts, url: `${upstreamOrigin}/render-result/away.mp4`, key: 't/away.mp4' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'OUTPUT_FETCH_FAILED', retryable: false });
      expect((err as Error).message).toMatch(/loopback/);
      expect(internalHits).toEqual([]);
      // A redirect that stays on the upstream's origin is followed as before.
      const home = await mirrorToStorage({ ...opts, url: `${upstreamOrigin}/render-result/home.mp4`, key: 't/home.mp4' });
      expect(home.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
      // With no storage, the size probe of a result URL off the upstream's origin is refused too (nothing sent).
      expect(await probeSize(internalUrl, dispatcher)).toBeNull();
      expect(internalHits).toEqual([]);
      expect(await probeSize(`${upstreamOrigin}/video-home.mp4`, dispatcher)).toBe(payload.length);
    } finally {
      internal.close();
      upstream.closeAllConnections();
      upstream.close();
    }
  });
});
