// Tenant isolation over real HTTP: keys map to tenants, and another tenant's job is 404 on every job route.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

let stack: Stack;
let acmeJob: Job;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  acmeJob = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'acme only', webhook: { url: 'http://127.0.0.1:9/hook' } })).body;
});
afterAll(async () => stack?.close());

describe('authentication', () => {
  it.each([
    ['no Authorization header', null],
    ['an unknown key', 'nobody-key-0123456789abcdef'],
    ['a key with a different case', TENANTS.acme.toUpperCase()],
    ['a prefix of a real key', TENANTS.acme.slice(0, -1)],
  ])('answers 401 UNAUTHORIZED for %s', async (_label, key) => {
    const res = await send<{ statusCode: number; code: string; message: string }>(stack.apiUrl, 'GET', '/v1/jobs', { key });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
    // Refused answers to a key are not cached either (they had no Cache-Control).
    expect(res.headers['cache-control']).toBe('no-store');
    const operatorOnly = await send(stack.apiUrl, 'GET', '/admin/tenants', { key });
    expect([operatorOnly.status, operatorOnly.headers['cache-control']]).toEqual([401, 'no-store']);
  });

  it('marks every answer to a key no-store (a shared cache must not hand one caller another’s job or signed link)', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'not cached', webhook: { url: 'http://127.0.0.1:9/hook' } });
    expect(created.status).toBe(202);
    const answers = [
      created,
      await stack.api('GET', `/v1/jobs/${created.body.id}`),
      await stack.api('GET', '/v1/jobs?limit=1'),
      await stack.api('GET', `/v1/jobs/${created.body.id}/events`, undefined, { headers: { accept: 'application/json' } }),
    ];
    for (const res of answers) expect(res.headers['cache-control']).toBe('no-store');
    // The live feed too (its events carry the job, a signed link included).
    const stream = await request(`${stack.apiUrl}/v1/jobs/${created.body.id}/events`, { headers: { authorization: `Bearer ${TENANTS.acme}`, accept: 'text/event-stream' } });
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['cache-control']).toBe('no-store, no-transform');
    stream.body.destroy();
  });

  it('accepts the bearer scheme in any case', async () => {
    const res = await send(stack.apiUrl, 'GET', '/v1/jobs', { key: null, headers: { authorization: `bearer ${TENANTS.acme}` } });
    expect(res.status).toBe(200);
  });
});

describe('another tenant’s job does not exist', () => {
  const routes: [string, string, unknown?, Record<string, string>?][] = [
    ['GET', '/v1/jobs/{id}'],
    ['POST', '/v1/jobs/{id}/cancel'],
    ['POST', '/v1/jobs/{id}/revisions', { instruction: 'make it blue' }],
    ['GET', '/v1/jobs/{id}/events'],
    ['GET', '/v1/jobs/{id}/events?after=0', undefined, { accept: 'application/json' }],
    ['GET', '/v1/jobs/{id}/deliveries'],
    ['POST', '/v1/jobs/{id}/deliveries/redeliver'],
  ];

  it.each(routes)('%s %s → 404 for globex, the same as for an id that never existed', async (method, path, body, headers) => {
    const foreign = await stack.api<{ code: string; message: string }>(method, path.replace('{id}', acmeJob.id), body, { key: TENANTS.globex, ...(headers ? { headers } : {}) });
    const missing = await stack.api<{ code: string; message: string }>(method, path.replace('{id}', 'job_01ARZ3NDEKTSV4RRFFQ69G5FAV'), body, { key: TENANTS.globex, ...(headers ? { headers } : {}) });
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('JOB_NOT_FOUND');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe(foreign.body.code);
  });

  it('leaves the job untouched and visible to its owner; globex’s listing never shows it', async () => {
    const own = await stack.api<Job>('GET', `/v1/jobs/${acmeJob.id}`);
    expect(own.status).toBe(200);
    expect(own.body.status).toBe('queued');
    const list = await stack.api<{ data: Job[] }>('GET', '/v1/jobs?limit=100', undefined, { key: TENANTS.globex });
    expect(list.body.data.map((j) => j.id)).not.toContain(acmeJob.id);
    const ownList = await stack.api<{ data: Job[] }>('GET', '/v1/jobs?limit=100');
    expect(ownList.body.data.map((j) => j.id)).toContain(acmeJob.id);
  });

  it('keeps the event stream closed to globex (no SSE bytes before the 404)', async () => {
    const res = await request(`${stack.apiUrl}/v1/jobs/${acmeJob.id}/events`, { headers: { authorization: `Bearer ${TENANTS.globex}`, accept: 'text/event-stream' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    await res.body.text();
  });
});
