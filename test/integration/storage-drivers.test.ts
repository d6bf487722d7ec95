// One contract, two drivers: the file driver on a temp dir and the s3 driver against a real S3 API server (s3rver).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStorage } from '../../src/storage/file-storage.js';
import { S3Storage } from '../../src/storage/s3-storage.js';
import type { OutputStorage } from '../../src/storage/types.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Streams `data` in 64 KiB chunks, then fails with `error` instead of ending when one is given. */
function source(data: Buffer, error?: Error): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset < data.length) {
        const end = Math.min(offset + 64 * 1024, data.length);
        this.push(data.subarray(offset, end));
        offset = end;
      } else if (error) {
        this.destroy(error);
      } else {
        this.push(null);
      }
    },
  });
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

interface Fixture {
  storage: OutputStorage;
  /** Everything the backend holds, complete or not (file: every file; s3: every object key in the bucket). */
  raw(): Promise<string[]>;
  close(): Promise<void>;
}

async function fileFixture(): Promise<Fixture & { dir: string; storage: FileStorage }> {
  const dir = await mkdtemp(join(tmpdir(), 'storage-file-'));
  return { dir, storage: new FileStorage(dir), raw: () => allFiles(dir), close: () => rm(dir, { recursive: true, force: true }) };
}

async function s3Fixture(): Promise<Fixture & { server: TestS3Server; storage: S3Storage }> {
  const server = await startS3Server();
  const storage = new S3Storage({
    bucket: server.bucket,
    prefix: 'outputs',
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: server.credentials,
    partSizeBytes: 5 * MiB,
  });
  return {
    server,
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

describe.each([
  ['file', fileFixture],
  ['s3', s3Fixture],
] as const)('%s driver contract', (_name, make) => {
  let fx: Fixture;
  const data = randomBytes(12 * MiB + 12_345); // several s3 parts of 5 MiB
  const small = Buffer.from('tiny video bytes');

  beforeAll(async () => {
    fx = await make();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('puts, heads, gets and records the sha256 of exactly the bytes', async () => {
    const put = await fx.storage.put('acme/job_1.mp4', source(data), { contentType: 'video/mp4', sizeHint: data.length });
    expect(put).toEqual({ sizeBytes: data.length, sha256: sha(data), etag: `"${sha(data)}"` });
    const head = await fx.storage.head('acme/job_1.mp4');
    expect(head).toMatchObject({ sizeBytes: data.length, sha256: sha(data), etag: put.etag, contentType: 'video/mp4' });
    expect(head!.lastModified.getTime()).toBeGreaterThan(Date.now() - 60_000);
    const got = await fx.storage.get('acme/job_1.mp4');
    expect(got).toMatchObject({ sizeBytes: data.length, contentLength: data.length, range: null, etag: put.etag });
    expect((await buffer(got!.body)).equals(data)).toBe(true);
  });

  it('stores small bodies (single request) and overwrites a key with the newer content', async () => {
    await fx.storage.put('acme/small.mp4', source(Buffer.from('old content')), { contentType: 'video/mp4' });
    const put = await fx.storage.put('acme/small.mp4', source(small), { contentType: 'video/webm' });
    expect(put.sha256).toBe(sha(small));
    expect(await fx.storage.head('acme/small.mp4')).toMatchObject({ sizeBytes: small.length, sha256: sha(small), contentType: 'video/webm' });
    expect((await buffer((await fx.storage.get('acme/small.mp4'))!.body)).toString()).toBe(small.toString());
  });

  it.each([
    ['first byte', { start: 0, end: 0 }, { start: 0, end: 0 }],
    ['last byte', { start: 12 * MiB + 12_344, end: 12 * MiB + 12_344 }, { start: 12 * MiB + 12_344, end: 12 * MiB + 12_344 }],
    ['middle across a part boundary', { start: 5 * MiB - 10, end: 5 * MiB + 9 }, { start: 5 * MiB - 10, end: 5 * MiB + 9 }],
    ['suffix resolved by the caller (last 100)', { start: 12 * MiB + 12_245, end: 12 * MiB + 12_344 }, { start: 12 * MiB + 12_245, end: 12 * MiB + 12_344 }],
    ['end past the size, clamped', { start: 12 * MiB, end: 20 * MiB }, { start: 12 * MiB, end: 12 * MiB + 12_344 }],
  ])('serves a range: %s', async (_label, asked, served) => {
    const got = await fx.storage.get('acme/job_1.mp4', asked);
    expect(got!.range).toEqual(served);
    expect(got!.contentLength).toBe(served.end - served.start + 1);
    expect(got!.sizeBytes).toBe(data.length);
    expect((await buffer(got!.body)).equals(data.subarray(served.start, served.end + 1))).toBe(true);
  });

  it('refuses a range starting past the end', async () => {
    await expect(fx.storage.get('acme/job_1.mp4', { start: data.length, end: data.length + 10 })).rejects.toMatchObject({
      code: 'RANGE_NOT_SATISFIABLE',
    });
  });

  it('answers null for a missing key and deletes idempotently', async () => {
    expect(await fx.storage.head('acme/nothing.mp4')).toBeNull();
    expect(await fx.storage.get('acme/nothing.mp4')).toBeNull();
    await fx.storage.put('acme/doomed.mp4', source(small), { contentType: 'video/mp4' });
    await fx.storage.delete('acme/doomed.mp4');
    await fx.storage.delete('acme/doomed.mp4');
    await fx.storage.delete('acme/never-was.mp4');
    expect(await fx.storage.head('acme/doomed.mp4')).toBeNull();
  });

  it('lists complete objects by prefix, for the orphan sweeper', async () => {
    await fx.storage.put('beta/job_a.mp4', source(small), { contentType: 'video/mp4' });
    await fx.storage.put('beta/job_b.mp4', source(small), { contentType: 'video/mp4' });
    await fx.storage.put('beta/deep/job_c.mp4', source(small), { contentType: 'video/mp4' });
    const beta = (await collect(fx.storage.list('beta/'))).map((o) => o.key).sort();
    expect(beta).toEqual(['beta/deep/job_c.mp4', 'beta/job_a.mp4', 'beta/job_b.mp4']);
    expect((await collect(fx.storage.list('beta/job_a'))).map((o) => o.key)).toEqual(['beta/job_a.mp4']);
    const all = await collect(fx.storage.list());
    expect(all.map((o) => o.key)).toEqual(expect.arrayContaining(['acme/job_1.mp4', 'acme/small.mp4', 'beta/job_a.mp4']));
    expect(all.find((o) => o.key === 'acme/job_1.mp4')).toMatchObject({ sizeBytes: data.length });
    expect(all.every((o) => o.lastModified instanceof Date)).toBe(true);
    await expect(collect(fx.storage.list('../'))).rejects.toMatchObject({ code: 'STORAGE_KEY_INVALID' });
  });

  it('leaves nothing under the key when the body fails half-way (and reports the body error)', async () => {
    const before = await fx.raw();
    // Shaped like a socket reset (it has a syscall, as fs errors do): still the body's error, not a storage failure.
    const boom = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    await expect(
      fx.storage.put('acme/half.mp4', source(data.subarray(0, 11 * MiB), boom), { contentType: 'video/mp4' }),
    ).rejects.toBe(boom);
    expect(await fx.storage.head('acme/half.mp4')).toBeNull();
    expect(await fx.storage.get('acme/half.mp4')).toBeNull();
    expect(await fx.raw()).toEqual(before);
  });

  it('refuses keys that could escape, before touching the body', async () => {
    for (const key of ['../escape.mp4', '/etc/escape.mp4', 'a/../../escape.mp4', 'a\\b.mp4', '']) {
      const body = source(small);
      await expect(fx.storage.put(key, body, { contentType: 'video/mp4' })).rejects.toMatchObject({ code: 'STORAGE_KEY_INVALID' });
      expect(body.destroyed).toBe(true);
      await expect(fx.storage.head(key)).rejects.toMatchObject({ code: 'STORAGE_KEY_INVALID' });
    }
  });

  it('probes writability and leaves no probe behind', async () => {
    const before = await fx.raw();
    expect(await fx.storage.probe()).toEqual({ ok: true });
    expect(await fx.raw()).toEqual(before);
  });
});

describe('file driver specifics', () => {
  let fx: Awaited<ReturnType<typeof fileFixture>>;
  beforeAll(async () => {
    fx = await fileFixture();
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('keeps sha256 and type in a sidecar and treats data that no longer matches it as absent', async () => {
    await fx.storage.put('t/job.mp4', source(Buffer.from('original')), { contentType: 'video/mp4' });
    expect(await allFiles(fx.dir)).toEqual(['t/job.mp4', 't/job.mp4~meta.json']);
    // A crash between the two renames of a later put, or a hand edit: the data is not what the sidecar describes.
    await writeFile(join(fx.dir, 't/job.mp4'), 'replaced by something else');
    expect(await fx.storage.head('t/job.mp4')).toBeNull();
    expect(await fx.storage.get('t/job.mp4')).toBeNull();
    // The sweeper still sees it, so it can be removed.
    expect((await collect(fx.storage.list('t/'))).map((o) => o.key)).toEqual(['t/job.mp4']);
  });

  it('never lists temp files, and sweeps old ones left by a crash', async () => {
    const temp = join(fx.dir, 't/crashed.mp4~tmp-abc123');
    await writeFile(temp, 'half a video');
    expect((await collect(fx.storage.list('t/'))).map((o) => o.key)).not.toContain('t/crashed.mp4~tmp-abc123');
    expect(await fx.storage.sweepPartials(60_000)).toBe(0);
    const old = new Date(Date.now() - 120_000);
    await utimes(temp, old, old);
    expect(await fx.storage.sweepPartials(60_000)).toBe(1);
    expect(await allFiles(fx.dir)).not.toContain('t/crashed.mp4~tmp-abc123');
  });

  it('reports an unwritable root by name', async () => {
    const file = join(fx.dir, 'a-file');
    await writeFile(file, 'x');
    const result = await new FileStorage(join(file, 'below')).probe();
    expect(result).toEqual({ ok: false, reason: `output directory ${join(file, 'below')} is not writable (ENOTDIR)` });
  });

  it('an unreachable root fails head as it fails get (ENOTDIR is no absent object: HEAD said 404 where GET said 503)', async () => {
    const file = join(fx.dir, 'b-file');
    await writeFile(file, 'x');
    const storage = new FileStorage(join(file, 'below'));
    try {
      for (const read of [() => storage.head('t/job.mp4'), () => storage.get('t/job.mp4')]) {
        await expect(read()).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringMatching(/ENOTDIR/) });
      }
    } finally {
      storage.close();
    }
  });

  it('makes a directory again when it was removed after a put (it remembers the directories it made)', async () => {
    await fx.storage.put('gone/a.mp4', source(Buffer.from('first')), { contentType: 'video/mp4' });
    await rm(join(fx.dir, 'gone'), { recursive: true });
    const put = await fx.storage.put('gone/b.mp4', source(Buffer.from('second')), { contentType: 'video/mp4' });
    expect(put.sha256).toBe(sha(Buffer.from('second')));
    expect(await fx.storage.head('gone/b.mp4')).toMatchObject({ sizeBytes: 6, sha256: sha(Buffer.from('second')) });
    expect(await allFiles(join(fx.dir, 'gone'))).toEqual(['b.mp4', 'b.mp4~meta.json']);
  });

  it('turns a disk failure into STORAGE_FAILED and removes its temp files', async () => {
    // A directory where the data file should go: the bytes are written, then the rename into place fails.
    await mkdir(join(fx.dir, 'd/x.mp4/inner'), { recursive: true });
    const err = await fx.storage.put('d/x.mp4', source(Buffer.from('bytes')), { contentType: 'video/mp4' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
    expect((err as Error).message).toMatch(/^writing the output to .*\/d failed \(EISDIR\)$/);
    expect(await allFiles(join(fx.dir, 'd'))).toEqual([]);
  });
});

describe('s3 driver specifics', () => {
  let fx: Awaited<ReturnType<typeof s3Fixture>>;
  const data = randomBytes(300_000);
  beforeAll(async () => {
    fx = await s3Fixture();
    await fx.storage.put('acme/job_p.mp4', source(data), { contentType: 'video/mp4' });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('writes under the configured prefix and keeps the sha256 as object metadata', async () => {
    expect(await fx.raw()).toEqual(['outputs/acme/job_p.mp4']);
    const head = await fx.storage.head('acme/job_p.mp4');
    expect(head).toMatchObject({ sha256: sha(data), etag: `"${sha(data)}"` });
  });

  it('hands out a presigned GET that plain undici fetches without credentials, Range included', async () => {
    const url = await fx.storage.presignGet('acme/job_p.mp4', 60_000, { fileName: 'promo video.mp4' });
    expect(url).toContain('X-Amz-Signature=');
    const whole = await request(url);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-disposition']).toContain('filename="promo_video.mp4"');
    expect(Buffer.from(await whole.body.arrayBuffer()).equals(data)).toBe(true);
    const part = await request(url, { headers: { range: 'bytes=1000-1999' } });
    expect(part.statusCode).toBe(206);
    expect(Buffer.from(await part.body.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
  });

  it('presigned links expire', async () => {
    const url = await fx.storage.presignGet('acme/job_p.mp4', 1_000);
    await new Promise((r) => setTimeout(r, 2_100));
    const res = await request(url);
    await res.body.dump();
    expect(res.statusCode).toBe(403);
  });

  it('reads objects written by something else (no sha256 metadata) with the S3 ETag', async () => {
    await fx.storage.client.send(new PutObjectCommand({ Bucket: fx.server.bucket, Key: 'outputs/foreign/x.mp4', Body: 'abc', ContentType: 'video/mp4' }));
    const head = await fx.storage.head('foreign/x.mp4');
    expect(head).toMatchObject({ sizeBytes: 3, sha256: null });
    expect(head!.etag).toMatch(/^"[0-9a-f]{32}"$/);
  });

  it('names the failure of a missing bucket without any credential', async () => {
    const other = new S3Storage({
      bucket: 'no-such-bucket',
      prefix: '',
      region: fx.server.region,
      endpoint: fx.server.endpoint,
      forcePathStyle: true,
      credentials: fx.server.credentials,
      partSizeBytes: 5 * MiB,
    });
    try {
      const probe = await other.probe();
      expect(probe).toEqual({ ok: false, reason: 'S3 bucket no-such-bucket refused a probe write (NoSuchBucket, HTTP 404)' });
      const err = await other.put('k.mp4', source(Buffer.from('x')), { contentType: 'video/mp4' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'STORAGE_FAILED', retryable: false });
      expect((err as Error).message).toBe('uploading k.mp4 to bucket no-such-bucket failed (NoSuchBucket, HTTP 404)');
      expect((err as Error).message).not.toContain('S3RVER');
      // The multipart path (a body over one part) fails the same way, and stops reading the body.
      const big = source(randomBytes(6 * MiB));
      await expect(other.put('k.mp4', big, { contentType: 'video/mp4' })).rejects.toMatchObject({
        message: 'uploading k.mp4 to bucket no-such-bucket failed (NoSuchBucket, HTTP 404)',
      });
      expect(big.destroyed).toBe(true);
    } finally {
      other.close();
    }
  });

  it('reports an unreachable endpoint as retryable', async () => {
    const other = new S3Storage({
      bucket: 'outputs',
      prefix: '',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      credentials: fx.server.credentials,
    });
    try {
      const probe = await other.probe();
      expect(probe.ok).toBe(false);
      expect((probe as { reason: string }).reason).toMatch(/^S3 bucket outputs refused a probe write \(ECONNREFUSED\)$/);
      await expect(other.head('k.mp4')).rejects.toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
    } finally {
      other.close();
    }
  });

  it('answers a read within its deadline when S3 accepts connections but never answers (a 503, not a hung caller)', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const other = new S3Storage({
      bucket: 'outputs',
      prefix: '',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: fx.server.credentials,
      answerDeadlineMs: 300,
    });
    try {
      for (const read of [() => other.head('k.mp4'), () => other.get('k.mp4'), () => other.get('k.mp4', { start: 0, end: 9 })]) {
        const started = Date.now();
        const err = await read().catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'STORAGE_FAILED', retryable: true });
        expect((err as Error).message).toMatch(/no answer within 300 ms/);
        expect(Date.now() - started).toBeLessThan(5_000);
      }
    } finally {
      other.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
