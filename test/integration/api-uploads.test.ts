// POST /v1/uploads over real HTTP: type by magic bytes, 413/415 with no partial file left, sha256, ownership at job creation.
import { createHash } from 'node:crypto';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadResponse } from '../../src/uploads/schemas.js';
import { sweepStagedUploads } from '../../src/uploads/sweeper.js';
import { send } from '../helpers/http.js';
import { HEIC, multipart, SAMPLES } from '../helpers/multipart.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

const MAX = 256 * 1024;
let stack: Stack;

const upload = (data: Buffer, filename = 'file.bin', opts: { key?: string; name?: string } = {}) => {
  const form = multipart([{ name: opts.name ?? 'file', filename, data }]);
  return send<UploadResponse & { code?: string; message?: string }>(stack.apiUrl, 'POST', '/v1/uploads', {
    body: form.body,
    contentType: form.contentType,
    ...(opts.key ? { key: opts.key } : {}),
  });
};
const stagedFiles = async () => (await readdir(stack.services.config.UPLOAD_DIR).catch(() => [] as string[])).sort();

beforeAll(async () => {
  stack = await startStack({ env: { UPLOAD_MAX_BYTES: String(MAX) }, worker: false });
});
afterAll(async () => stack?.close());

describe('POST /v1/uploads', () => {
  it('stages a real photo: 201 with id, filename, content type, size and the sha256 of the bytes', async () => {
    const data = await readFile('assets/samples/sample-3-bottle.png');
    const res = await upload(data, 'bottle.png');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^upl_[0-9A-Z]{26}$/),
      filename: 'bottle.png',
      content_type: 'image/png',
      size_bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
    const onDisk = await readFile(stack.services.uploads.pathOf(res.body.id));
    expect(onDisk.equals(data)).toBe(true);
  });

  it.each(Object.entries(SAMPLES))('recognises %s by its bytes, whatever the name says', async (name, sample) => {
    const res = await upload(sample.data, 'misnamed.txt');
    expect(res.status, res.text).toBe(201);
    expect(res.body.content_type).toBe(sample.contentType);
    // The upstream judges by extension, so the staged name gets one that agrees with the bytes.
    expect(res.body.filename).toBe(`misnamed.${name}`);
  });

  it('keeps a matching extension (jpeg stays jpeg) and strips any path from the name', async () => {
    const res = await upload(SAMPLES.jpg!.data, '../../etc/photo.JPEG');
    expect(res.status).toBe(201);
    expect(res.body.filename).toBe('photo.JPEG');
  });

  it('refuses HEIC with 415, suggesting JPG and listing the accepted types; nothing stays on disk', async () => {
    const before = await stagedFiles();
    const res = await upload(HEIC, 'IMG_0001.HEIC');
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(res.body.message).toMatch(/HEIC/);
    expect(res.body.message).toMatch(/convert .*JPG/);
    expect(res.body.message).toContain('mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a, aac');
    expect(await stagedFiles()).toEqual(before);
  });

  it('refuses bytes of no accepted type with 415 even when named .mp4', async () => {
    const res = await upload(Buffer.from('just some text, not a video at all\n'.repeat(200)), 'movie.mp4');
    expect(res.status).toBe(415);
    expect(res.body.message).toMatch(/judged by the file's content/);
    expect(res.body.message).toContain('accepted types: mp4, mov');
  });

  it('answers 413 UPLOAD_TOO_LARGE past UPLOAD_MAX_BYTES and removes the partial file', async () => {
    const before = await stagedFiles();
    const big = Buffer.concat([SAMPLES.mp4!.data, Buffer.alloc(MAX)]);
    const res = await upload(big, 'big.mp4');
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('UPLOAD_TOO_LARGE');
    expect(res.body.message).toContain(String(MAX));
    expect(await stagedFiles()).toEqual(before);
    // Exactly at the limit is fine.
    const exact = await upload(Buffer.concat([SAMPLES.mp4!.data, Buffer.alloc(MAX - SAMPLES.mp4!.data.length)]), 'exact.mp4');
    expect(exact.status).toBe(201);
    expect(exact.body.size_bytes).toBe(MAX);
  });

  it('answers 413 to a client still streaming a much larger file, which reads the answer instead of a reset', async () => {
    const before = await stagedFiles();
    const boundary = 'big-boundary';
    async function* body() {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.mp4"\r\n\r\n`);
      yield SAMPLES.mp4!.data;
      for (let i = 0; i < 40; i++) yield Buffer.alloc(512 * 1024, i);
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    const res = await request(`${stack.apiUrl}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TENANTS.acme}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: Readable.from(body(), { objectMode: false }),
    });
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { code: string }).code).toBe('UPLOAD_TOO_LARGE');
    expect(await stagedFiles()).toEqual(before);
    expect((await upload(SAMPLES.png!.data, 'after.png')).status).toBe(201);
  });

  it('answers 400 naming the problem for a missing, empty, extra or misnamed file part (a JSON body: 415, as any non-multipart one)', async () => {
    const before = await stagedFiles();
    const noFile = multipart([{ name: 'note', value: 'hello' }]);
    const empty = await upload(Buffer.alloc(0), 'empty.png');
    const wrongName = await upload(SAMPLES.png!.data, 'a.png', { name: 'upload' });
    const two = multipart([
      { name: 'file', filename: 'a.png', data: SAMPLES.png!.data },
      { name: 'file', filename: 'b.png', data: SAMPLES.png!.data },
    ]);
    const results = [
      await send<{ code: string; message: string }>(stack.apiUrl, 'POST', '/v1/uploads', { body: noFile.body, contentType: noFile.contentType }),
      empty,
      wrongName,
      await send<{ code: string; message: string }>(stack.apiUrl, 'POST', '/v1/uploads', { body: two.body, contentType: two.contentType }),
      await send<{ code: string; message: string }>(stack.apiUrl, 'POST', '/v1/uploads', {
        body: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG',
        contentType: 'multipart/form-data; boundary=x',
      }),
    ];
    for (const res of results) {
      expect(res.status, res.text).toBe(400);
      expect((res.body as { code: string }).code).toBe('VALIDATION_FAILED');
    }
    expect((empty.body as { message: string }).message).toBe('file: the file is empty');
    expect((wrongName.body as { message: string }).message).toMatch(/^upload: send exactly one file part, named file/);
    // A filename with a line break: the parser drops the whole part, so the answer says such a part may be why.
    const unreadable = await send<{ code: string; message: string }>(stack.apiUrl, 'POST', '/v1/uploads', {
      body: Buffer.concat([
        Buffer.from(`--x\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''a%0Ab.png\r\nContent-Type: image/png\r\n\r\n`),
        SAMPLES.png!.data,
        Buffer.from('\r\n--x--\r\n'),
      ]),
      contentType: 'multipart/form-data; boundary=x',
    });
    expect([unreadable.status, unreadable.body.message]).toEqual([400, expect.stringMatching(/^file: required .*Content-Disposition cannot be read, e\.g\. a filename with a line break/)]);
    const json = await send<{ code: string; message: string }>(stack.apiUrl, 'POST', '/v1/uploads', { body: '{"file":"x"}', contentType: 'application/json' });
    expect(json.status).toBe(415);
    expect(json.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send multipart/form-data' });
    expect(await stagedFiles()).toEqual(before);
  });

  it('needs an API key', async () => {
    const form = multipart([{ name: 'file', filename: 'a.png', data: SAMPLES.png!.data }]);
    const res = await send(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType, key: null });
    expect(res.status).toBe(401);
  });
});

describe('upload ids at job creation', () => {
  it('accepts the tenant’s own upload and refuses a missing one or another tenant’s with 404 naming the field', async () => {
    const mine = await upload(SAMPLES.jpg!.data, 'mine.jpg');
    const theirs = await upload(SAMPLES.jpg!.data, 'theirs.jpg', { key: TENANTS.globex });
    const ok = await stack.api('POST', '/v1/jobs', { instruction: 'a video', sources: [{ upload_id: mine.body.id }] });
    expect(ok.status).toBe(202);

    const other = await stack.api<{ code: string; message: string }>('POST', '/v1/jobs', {
      instruction: 'a video',
      sources: [{ url: 'https://example.com/a.jpg' }, { upload_id: theirs.body.id }],
    });
    expect(other.status).toBe(404);
    expect(other.body.code).toBe('UPLOAD_NOT_FOUND');
    expect(other.body.message).toMatch(/^sources\.1\.upload_id: upload upl_/);

    const missing = await stack.api<{ code: string; message: string }>('POST', '/v1/jobs', {
      instruction: 'a video',
      sources: [{ upload_id: 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAV' }],
    });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/^sources\.0\.upload_id/);
  });

  it('keeps an upload two jobs share until the last of them ends, then removes record and bytes', async () => {
    const shared = await upload(SAMPLES.png!.data, 'shared.png');
    const id = shared.body.id;
    const a = await stack.api<{ id: string }>('POST', '/v1/jobs', { instruction: 'first', sources: [{ upload_id: id }] });
    const b = await stack.api<{ id: string }>('POST', '/v1/jobs', { instruction: 'second', sources: [{ upload_id: id }] });
    expect([a.status, b.status]).toEqual([202, 202]);

    expect((await stack.api('POST', `/v1/jobs/${a.body.id}/cancel`)).status).toBe(200);
    expect(await stack.services.uploads.get(id)).not.toBeNull();
    expect(await stagedFiles()).toContain(`${id}.bin`);

    expect((await stack.api('POST', `/v1/jobs/${b.body.id}/cancel`)).status).toBe(200);
    expect(await stack.services.uploads.get(id)).toBeNull();
    expect(await stagedFiles()).not.toContain(`${id}.bin`);
    // A finished job's upload cannot be reused by a new job.
    const again = await stack.api('POST', '/v1/jobs', { instruction: 'third', sources: [{ upload_id: id }] });
    expect(again.status).toBe(404);
  });

  it('frees an upload when its job ends although the request that created the job crashed before handing its claim over', async () => {
    const staged = await upload(SAMPLES.png!.data, 'crashed.png');
    const id = staged.body.id;
    const job = await stack.api<{ id: string }>('POST', '/v1/jobs', { instruction: 'first', sources: [{ upload_id: id }] });
    expect(job.status).toBe(202);
    // What a create request killed between its job's write and the hand-over leaves: its own claim, long ago.
    const users = stack.services.keys.uploadUsers(id);
    await stack.services.redis.sadd(users, `request:${Date.now() - 3_600_000}:crashed`);
    // A request in progress right now keeps its claim.
    const live = `request:${Date.now()}:in-progress`;
    await stack.services.redis.sadd(users, live);
    expect((await stack.api('POST', `/v1/jobs/${job.body.id}/cancel`)).status).toBe(200);
    expect(await stack.services.redis.smembers(users)).toEqual([live]);
    await stack.services.redis.srem(users, live);
    expect(await stack.services.uploads.releaseForJob(job.body.id, [id])).toEqual([id]);
    expect(await stack.services.uploads.get(id)).toBeNull();
  });
});

describe('the staging sweep (worker role)', () => {
  it('removes staged files whose record is gone and stale partial files, and keeps live and fresh ones', async () => {
    const { uploads } = stack.services;
    const live = await upload(SAMPLES.gif!.data, 'live.gif');
    const dir = stack.services.config.UPLOAD_DIR;
    const orphan = 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAA.bin';
    const stalePart = 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAB.part';
    const freshPart = 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAC.part';
    const unrelated = 'README.txt';
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const name of [orphan, stalePart, freshPart, unrelated]) await writeFile(join(dir, name), 'x');
    for (const name of [orphan, stalePart, unrelated]) await utimes(join(dir, name), old, old);

    const result = await sweepStagedUploads(uploads);
    expect(result.removed.sort()).toEqual([orphan, stalePart].sort());
    const left = await stagedFiles();
    expect(left).toContain(`${live.body.id}.bin`);
    expect(left).toContain(freshPart);
    expect(left).toContain(unrelated);
    // A young orphan (its record may be about to be written) survives until the grace period has passed.
    await writeFile(join(dir, orphan), 'x');
    expect((await sweepStagedUploads(uploads)).removed).toEqual([]);
    expect((await sweepStagedUploads(uploads, { now: Date.now() + 3600_000 })).removed).toContain(orphan);
  });
});
