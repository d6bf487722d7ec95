// Idempotency-Key on POST /v1/jobs over real HTTP: replay, reuse with another body, concurrency, tenants, multipart, key limits.
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Idempotency } from '../../src/jobs/idempotency.js';
import type { Job, JobRecord } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { multipart, SAMPLES } from '../helpers/multipart.js';
import { uploadFile } from '../helpers/uploads.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

let stack: Stack;
let n = 0;
const freshKey = () => `key-${Date.now()}-${n++}`;
const body = (instruction = 'a 10-second promo for a coffee shop') => ({ instruction, metadata: { order: 'A-17' } });
const create = (b: unknown, key: string, tenantKey: string = TENANTS.acme) =>
  stack.api<Job & { code?: string; message?: string }>('POST', '/v1/jobs', b, { key: tenantKey, headers: { 'idempotency-key': key } });

async function countJobs(tenantKey: string = TENANTS.acme): Promise<number> {
  let total = 0;
  let cursor: string | null = null;
  do {
    const page: { body: { data: Job[]; next_cursor: string | null } } = await stack.api('GET', `/v1/jobs?limit=100${cursor ? `&cursor=${cursor}` : ''}`, undefined, { key: tenantKey });
    total += page.body.data.length;
    cursor = page.body.next_cursor;
  } while (cursor);
  return total;
}

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

describe('Idempotency-Key', () => {
  it('replays the first job with 200 and Idempotent-Replayed: true; one job exists', async () => {
    const key = freshKey();
    const before = await countJobs();
    const first = await create(body(), key);
    const second = await create(body(), key);
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(second.status).toBe(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.body.id).toBe(first.body.id);
    expect(await countJobs()).toBe(before + 1);
  });

  it('treats a body that differs only in key order or defaults as the same request', async () => {
    const key = freshKey();
    const first = await create({ metadata: { order: 'A-17' }, instruction: 'same thing' }, key);
    const second = await create({ instruction: 'same thing', metadata: { order: 'A-17' }, language: 'en', followups: [] }, key);
    expect([first.status, second.status]).toEqual([202, 200]);
    expect(second.body.id).toBe(first.body.id);
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with a different body', async () => {
    const key = freshKey();
    expect((await create(body('one'), key)).status).toBe(202);
    const before = await countJobs();
    const reused = await create(body('two'), key);
    expect(reused.status).toBe(422);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await countJobs()).toBe(before);
  });

  it('creates exactly one job from twelve concurrent requests with one key', async () => {
    const key = freshKey();
    const before = await countJobs();
    const results = await Promise.all(Array.from({ length: 12 }, () => create(body('concurrent'), key)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    // The others waited for the first and replayed it (409 IDEMPOTENCY_KEY_IN_USE only if it took longer than 5 s).
    expect(statuses.every((s) => s === 202 || s === 200 || s === 409)).toBe(true);
    const ids = new Set(results.filter((r) => r.status !== 409).map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(await countJobs()).toBe(before + 1);
  });

  it('is scoped per tenant: the same key in another tenant creates that tenant’s own job', async () => {
    const key = freshKey();
    const acme = await create(body(), key);
    const globex = await create(body(), key, TENANTS.globex);
    expect([acme.status, globex.status]).toEqual([202, 202]);
    expect(globex.body.id).not.toBe(acme.body.id);
    expect((await stack.api('GET', `/v1/jobs/${acme.body.id}`, undefined, { key: TENANTS.globex })).status).toBe(404);
  });

  it('frees the key when creation fails, so the corrected request can use it', async () => {
    const key = freshKey();
    const bad = await create({ instruction: 'x', sources: [{ upload_id: 'upl_01ARZ3NDEKTSV4RRFFQ69G5FAV' }] }, key);
    expect(bad.status).toBe(404);
    const good = await create({ instruction: 'x' }, key);
    expect(good.status).toBe(202);
  });

  it('refuses a key longer than 255 characters or with control characters (400), and accepts 255', async () => {
    const before = await countJobs();
    const long = await create(body(), 'k'.repeat(256));
    expect(long.status).toBe(400);
    expect(long.body.message).toMatch(/^Idempotency-Key: must be 1–255/);
    const tab = await create(body(), 'a\tb');
    expect(tab.status).toBe(400);
    // Sent, but empty (a client's key variable that expanded to nothing): refused, not taken as no key.
    const empty = await create(body(), '');
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/^Idempotency-Key: must be 1–255/);
    expect(await countJobs()).toBe(before);
    expect((await create(body(), 'k'.repeat(255))).status).toBe(202);
  });

  it('refuses the header sent twice (400), on jobs and batches; one key with a comma in it is a key like any other', async () => {
    // Node joins a repeated header into "a, b": such a request used to create a job keyed on neither key alone.
    const twice = async (path: string, payload: unknown) => {
      const { request } = await import('undici');
      const res = await request(`${stack.apiUrl}${path}`, {
        method: 'POST',
        headers: ['authorization', `Bearer ${TENANTS.acme}`, 'content-type', 'application/json', 'Idempotency-Key', freshKey(), 'idempotency-key', freshKey()],
        body: JSON.stringify(payload),
      });
      return { status: res.statusCode, body: (await res.body.json()) as { code: string; message: string } };
    };
    const before = await countJobs();
    const job = await twice('/v1/jobs', body());
    expect(job.status).toBe(400);
    expect(job.body).toMatchObject({ code: 'VALIDATION_FAILED', message: 'Idempotency-Key: send the header once' });
    const batch = await twice('/v1/batches', { items: [body()] });
    expect(batch.status).toBe(400);
    expect(batch.body.message).toBe('Idempotency-Key: send the header once');
    expect(await countJobs()).toBe(before);
    const comma = `${freshKey()}, part two`;
    const first = await create(body(), comma);
    expect(first.status).toBe(202);
    expect((await create(body(), comma)).status).toBe(200);
  });

  it('replays multipart requests by file content and removes the replay’s own staged files', async () => {
    const key = freshKey();
    const dir = stack.services.config.UPLOAD_DIR;
    const form = () =>
      multipart([
        { name: 'job', value: JSON.stringify({ instruction: 'promo from this photo' }) },
        { name: 'file', filename: 'p.png', data: SAMPLES.png!.data },
      ]);
    const first = form();
    const a = await send<Job>(stack.apiUrl, 'POST', '/v1/jobs', { body: first.body, contentType: first.contentType, headers: { 'idempotency-key': key } });
    expect(a.status).toBe(202);
    const filesAfterFirst = (await readdir(dir)).length;
    const second = form(); // a new boundary: only the content counts
    const b = await send<Job>(stack.apiUrl, 'POST', '/v1/jobs', { body: second.body, contentType: second.contentType, headers: { 'idempotency-key': key } });
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    expect((await readdir(dir)).length).toBe(filesAfterFirst);
    // Different bytes under the same key are a different request.
    const other = multipart([
      { name: 'job', value: JSON.stringify({ instruction: 'promo from this photo' }) },
      { name: 'file', filename: 'p.png', data: Buffer.concat([SAMPLES.png!.data, Buffer.from('x')]) },
    ]);
    const c = await send<{ code: string }>(stack.apiUrl, 'POST', '/v1/jobs', { body: other.body, contentType: other.contentType, headers: { 'idempotency-key': key } });
    expect(c.status).toBe(422);
    expect((await readdir(dir)).length).toBe(filesAfterFirst);
  });

  it('still replays the first job after that job ended and used its uploads up; another body is still 422', async () => {
    const key = freshKey();
    const uploadId = await uploadFile(stack, 'p.png', SAMPLES.png!.data);
    const request = { instruction: 'promo from an upload', sources: [{ upload_id: uploadId }] };
    const first = await create(request, key);
    expect(first.status).toBe(202);
    // What the job's end does: its uploads no other job uses are gone.
    expect(await stack.services.uploads.releaseForJob(first.body.id, [uploadId])).toEqual([uploadId]);
    const again = await create(request, key);
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect((await create({ ...request, instruction: 'something else' }, key)).status).toBe(422);
    // Without the key (or with a fresh one) the used-up upload is still refused, naming the field.
    const fresh = await create(request, freshKey());
    expect(fresh.status).toBe(404);
    expect(fresh.body.code).toBe('UPLOAD_NOT_FOUND');
    expect(fresh.body.message).toMatch(/^sources\.0\.upload_id: /);
  });
});

describe('Idempotency (module, real Redis)', () => {
  it('answers 409 IDEMPOTENCY_KEY_IN_USE when the first request is still running after the wait', async () => {
    const idem = new Idempotency(stack.services.redis, stack.services.keys, { waitMs: 100, pollMs: 10 });
    let release!: (r: JobRecord) => void;
    const idOf = (r: JobRecord) => r.job.id;
    const slow = idem.run('acme', 'k-slow', 'fp', () => new Promise<JobRecord>((r) => (release = r)), async () => null, idOf);
    await expect(idem.run('acme', 'k-slow', 'fp', async (): Promise<JobRecord> => {
      throw new Error('must not run');
    }, async () => null, idOf)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE', statusCode: 409 });
    const record = { v: 1, tenant: 'acme', cancel_requested: false, job: { id: 'job_01ARZ3NDEKTSV4RRFFQ69G5FAV' } } as JobRecord;
    release(record);
    expect((await slow).replayed).toBe(false);
    const replay = await idem.run('acme', 'k-slow', 'fp', async (): Promise<JobRecord> => {
      throw new Error('must not run');
    }, async (id) => (id === record.job.id ? record : null), idOf);
    expect(replay).toEqual({ record, replayed: true });
  });
});
