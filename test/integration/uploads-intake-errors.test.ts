// POST /v1/uploads and multipart POST /v1/jobs over real HTTP: long emoji names stay usable, JSON bodies are 415, a
// file part without filename= is named as such, and a full HEIC conversion queue answers 503 with Retry-After.
import { readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { heicConverter, HeicConversionError } from '../../src/uploads/heic-convert.js';
import type { UploadResponse } from '../../src/uploads/schemas.js';
import { send } from '../helpers/http.js';
import { HEIC, multipart, SAMPLES, type FormPart } from '../helpers/multipart.js';
import { startStack, type Stack } from '../helpers/stack.js';

type Answer = UploadResponse & { code: string; message: string };
let stack: Stack;

const post = (path: string, parts: FormPart[]) => {
  const form = multipart(parts);
  return send<Answer>(stack.apiUrl, 'POST', path, { body: form.body, contentType: form.contentType });
};
const stagedFiles = async () => (await readdir(stack.services.config.UPLOAD_DIR).catch(() => [] as string[])).sort();
/** A name whose last 200 UTF-16 code units start inside a surrogate pair. */
const EMOJI_NAME = `${'🏖'.repeat(150)}.jpeg`;

beforeAll(async () => {
  stack = await startStack({ env: { UPLOAD_MAX_BYTES: String(256 * 1024) }, worker: false });
});
afterAll(async () => stack?.close());
afterEach(() => vi.restoreAllMocks());

describe('a long emoji filename', () => {
  it('POST /v1/uploads gives an id a job can use (202, not 404 UPLOAD_NOT_FOUND)', async () => {
    const up = await post('/v1/uploads', [{ name: 'file', filename: EMOJI_NAME, data: SAMPLES.jpg!.data }]);
    expect(up.status, up.text).toBe(201);
    const job = await stack.api<{ code?: string; message?: string }>('POST', '/v1/jobs', { instruction: 'a video', sources: [{ upload_id: up.body.id }] });
    expect(job.status, JSON.stringify(job.body)).toBe(202);
    expect(up.body.filename.isWellFormed()).toBe(true);
    expect(up.body.filename.endsWith('.jpeg')).toBe(true);
  });

  it('multipart POST /v1/jobs with such a file part is accepted (202)', async () => {
    const res = await post('/v1/jobs', [
      { name: 'job', value: JSON.stringify({ instruction: 'a video' }) },
      { name: 'file', filename: EMOJI_NAME, data: SAMPLES.jpg!.data },
    ]);
    expect(res.status, res.text).toBe(202);
  });
});

describe('POST /v1/uploads with a body that is not multipart', () => {
  it.each([
    ['a JSON object', 'application/json', '{"file":"x"}'],
    ['invalid JSON', 'application/json', '{'],
    ['an empty JSON body', 'application/json', ''],
    ['JSON with a charset', 'application/json; charset=utf-8', '{"file":"x"}'],
    ['plain text (as before)', 'text/plain', 'hello'],
  ])('%s is 415 UNSUPPORTED_MEDIA_TYPE "send multipart/form-data"', async (_label, contentType, body) => {
    const res = await send<Answer>(stack.apiUrl, 'POST', '/v1/uploads', { body, contentType });
    expect(res.status, res.text).toBe(415);
    expect(res.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send multipart/form-data' });
  });

  it('no body and no Content-Type is the same 415', async () => {
    const res = await send<Answer>(stack.apiUrl, 'POST', '/v1/uploads');
    expect(res.status, res.text).toBe(415);
    expect(res.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send multipart/form-data' });
  });

  it('POST /v1/jobs still takes JSON', async () => {
    const res = await stack.api('POST', '/v1/jobs', { instruction: 'a video', sources: [{ url: 'https://example.com/a.jpg' }] });
    expect(res.status).toBe(202);
  });
});

describe('a part named file without filename=', () => {
  it('is 400 saying the part has no filename, not that the field is unexpected', async () => {
    const before = await stagedFiles();
    const res = await post('/v1/uploads', [{ name: 'file', value: 'hello' }]);
    expect(res.status, res.text).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(/^file: the part has no filename=; send it as a file part/);
    expect(res.body.message).not.toMatch(/unexpected field/);
    expect(await stagedFiles()).toEqual(before);
  });

  it('another field name keeps its message', async () => {
    const res = await post('/v1/uploads', [{ name: 'note', value: 'hello' }]);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('note: unexpected field; send one file part named file');
  });
});

describe('multipart POST /v1/jobs with the job body sent as a file part (curl -F job=@body.json)', () => {
  it('is 400 saying to send it as a plain field, not 415 judging the JSON as media; nothing is left staged', async () => {
    const before = await stagedFiles();
    const res = await post('/v1/jobs', [
      { name: 'file', filename: 'a.jpg', data: SAMPLES.jpg!.data },
      { name: 'job', filename: 'body.json', contentType: 'application/json', data: Buffer.from(JSON.stringify({ instruction: 'a video' })) },
    ]);
    expect(res.status, res.text).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(/^job: send the JSON body as a plain field, not a file part/);
    expect(await stagedFiles()).toEqual(before);
  });
});

describe('the HEIC conversion queue is full', () => {
  const busy = () =>
    vi.spyOn(heicConverter, 'convert').mockRejectedValueOnce(new HeicConversionError('busy', '16 photos are being converted already; try again shortly'));

  it.each([
    ['POST /v1/uploads', '/v1/uploads', [{ name: 'file', filename: 'IMG_0001.HEIC', data: HEIC }]],
    [
      'multipart POST /v1/jobs',
      '/v1/jobs',
      [
        { name: 'job', value: JSON.stringify({ instruction: 'a video' }) },
        { name: 'file', filename: 'IMG_0001.HEIC', data: HEIC },
      ],
    ],
  ] as [string, string, FormPart[]][])('%s: 503 NOT_READY with an integer Retry-After; nothing left on disk', async (_label, path, parts) => {
    const spy = busy();
    const before = await stagedFiles();
    const res = await post(path, parts);
    expect(spy).toHaveBeenCalledOnce();
    expect(res.status, res.text).toBe(503);
    expect(res.body.code).toBe('NOT_READY');
    expect(res.body.message).toMatch(/IMG_0001\.HEIC could not be converted now/);
    const retryAfter = res.headers['retry-after'];
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(30);
    expect(await stagedFiles()).toEqual(before);
  });

  it('other refusals carry no Retry-After', async () => {
    const res = await post('/v1/uploads', [{ name: 'file', filename: 'a.txt', data: Buffer.from('not a video\n'.repeat(400)) }]);
    expect(res.status).toBe(415);
    expect(res.headers['retry-after']).toBeUndefined();
  });
});
