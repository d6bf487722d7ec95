// Uploaded files end to end: multipart POST /v1/jobs and upload ids reach the simulator's multipart upload, then leave the staging store.
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import type { UploadResponse } from '../../src/uploads/schemas.js';
import { send } from '../helpers/http.js';
import { multipart } from '../helpers/multipart.js';
import { startStack, type Stack, waitForFinished } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const staged = async () => (await readdir(stack.services.config.UPLOAD_DIR).catch(() => [] as string[])).filter((n) => n.startsWith('upl_'));

const finished = (id: string) => waitForFinished(stack, id);

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

describe('staged files in the flow', () => {
  it('multipart POST /v1/jobs: files become sources after the JSON ones, reach the upstream intact, and are removed when the job ends', async () => {
    const mug = await readFile('assets/samples/sample-1-mug.jpg');
    const bottle = await readFile('assets/samples/sample-3-bottle.png');
    const form = multipart([
      { name: 'job', value: JSON.stringify({ instruction: 'a short promo of these products', sources: [{ url: 'https://example.com/logo.png' }] }) },
      { name: 'files', filename: 'mug.jpg', data: mug, contentType: 'image/jpeg' },
      { name: 'files', filename: 'bottle.png', data: bottle, contentType: 'image/png' },
    ]);
    const created = await send<Job>(stack.apiUrl, 'POST', '/v1/jobs', { body: form.body, contentType: form.contentType });
    expect(created.status, created.text).toBe(202);
    const sources = created.body.sources;
    expect(sources).toHaveLength(3);
    expect(sources[0]).toEqual({ url: 'https://example.com/logo.png' });
    const ids = sources.slice(1).map((s) => ('upload_id' in s ? s.upload_id : ''));
    expect(ids.every((id) => /^upl_/.test(id))).toBe(true);

    const job = await finished(created.body.id);
    expect(job.status).toBe('succeeded');
    const session = stack.sim.session(job.upstream.session_id!)!;
    const uploaded = session.state.video_infos.filter((v) => v.size !== null);
    expect(uploaded.map((v) => [v.filename, v.size, v.hash])).toEqual([
      ['mug.jpg', mug.length, sha(mug).slice(0, 16)],
      ['bottle.png', bottle.length, sha(bottle).slice(0, 16)],
    ]);
    expect(stack.sim.log.count('upload', { sessionId: job.upstream.session_id! })).toBe(2); // the URL list, then the files

    await waitFor(async () => (await staged()).every((n) => !ids.some((id) => n.startsWith(id))), { what: 'staged files removed' });
    for (const id of ids) expect(await stack.services.uploads.get(id)).toBeNull();
  });

  it('POST /v1/uploads then an upload_id source: the same bytes reach the upstream; a failed job frees its upload too', async () => {
    const photo = await readFile('assets/samples/sample-4-headphones.webp');
    const form = multipart([{ name: 'file', filename: 'headphones.webp', data: photo }]);
    const up = await send<UploadResponse>(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType });
    expect(up.status).toBe(201);
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a video of the headphones', sources: [{ upload_id: up.body.id }] });
    expect(created.status).toBe(202);
    const job = await finished(created.body.id);
    expect(job.status).toBe('succeeded');
    const info = stack.sim.session(job.upstream.session_id!)!.state.video_infos.find((v) => v.filename === 'headphones.webp');
    expect(info?.hash).toBe(up.body.sha256.slice(0, 16));
    await waitFor(async () => (await stack.services.uploads.get(up.body.id)) === null, { what: 'upload released' });

    // The upstream refuses the file: the job fails, and its staged upload is removed all the same.
    const second = await send<UploadResponse>(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType });
    stack.sim.injectFault({ kind: 'unsupported_file', endpoint: 'upload' });
    const doomed = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'another video', sources: [{ upload_id: second.body.id }] });
    const failed = await finished(doomed.body.id);
    expect(failed.status).toBe('failed');
    await waitFor(async () => !(await staged()).includes(`${second.body.id}.bin`), { what: 'failed job upload removed' });
    expect(await stack.services.uploads.get(second.body.id)).toBeNull();
  });

  it('a staged upload whose file the worker cannot find fails the job at once, UPLOAD_NOT_FOUND, not retryable, without a path', async () => {
    // As when the API and the workers do not share UPLOAD_DIR: the record is there, the file is not.
    const photo = await readFile('assets/samples/sample-1-mug.jpg');
    const form = multipart([{ name: 'file', filename: 'mug.jpg', data: photo }]);
    const up = await send<UploadResponse>(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType });
    expect(up.status).toBe(201);
    await rm(join(stack.services.config.UPLOAD_DIR, `${up.body.id}.bin`));
    const uploadsBefore = stack.sim.log.count('upload');
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a video of the mug', sources: [{ upload_id: up.body.id }] });
    expect(created.status).toBe(202);
    const job = await finished(created.body.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'UPLOAD_NOT_FOUND', retryable: false });
    expect(job.error!.message).toContain(up.body.id);
    expect(job.error!.message).not.toContain(stack.services.config.UPLOAD_DIR.replace(/^\.\//, ''));
    expect(job.usage.upstream_calls).toBeLessThanOrEqual(2);
    expect(stack.sim.log.count('upload')).toBe(uploadsBefore);
  });
});

