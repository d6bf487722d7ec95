// Every status a route answers before its handler runs (an over-long id, a body too large or of another type) is in the OpenAPI document, and 415 names the route's own body types.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT_BYTES } from '../../src/app/settings.js';
import { send } from '../helpers/http.js';
import { multipart } from '../helpers/multipart.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
type Operation = { responses: Record<string, unknown>; requestBody?: unknown };
let paths: Record<string, Record<string, Operation>>;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  paths = (await send<{ paths: typeof paths }>(stack.apiUrl, 'GET', '/openapi.json', { key: null })).body.paths;
});
afterAll(async () => stack?.close());

/** The tenant's routes of the document (the admin ones need another key), as method + path template. */
function tenantOperations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(paths).flatMap(([path, ops]) =>
    path.startsWith('/v1/') && !path.startsWith('/v1/admin') ? Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })) : [],
  );
}
const withId = (path: string, id: string) => path.replace(/\{[^}]+\}/g, id);
const NO_SUCH_JOB = 'job_00000000000000000000000000';

/** Sends `raw` as is (a client library would add the Host header) and returns all the server wrote back. */
function rawRequest(url: URL, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.end(raw));
    let out = '';
    socket.setEncoding('utf8').on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out)).on('error', reject);
  });
}

describe('documented statuses', () => {
  it('an id over 64 characters is 400 on every route with one, and each documents it', async () => {
    const withIds = tenantOperations().filter((o) => o.path.includes('{'));
    expect(withIds.length).toBeGreaterThan(8);
    for (const { method, path, op } of withIds) {
      const res = await send<{ code: string }>(stack.apiUrl, method, withId(path, 'j'.repeat(65)), method === 'GET' || method === 'DELETE' ? {} : { body: '{}', contentType: 'application/json' });
      expect([method, path, res.status, res.body.code]).toEqual([method, path, 400, 'VALIDATION_FAILED']);
      expect(Object.keys(op.responses), `${method} ${path}`).toContain('400');
    }
  });

  it('a body too large is 413 and a body of another type 415 on every route that takes one, and each documents both', async () => {
    const posts = tenantOperations().filter((o) => o.method === 'POST');
    expect(posts.length).toBeGreaterThan(6);
    const big = JSON.stringify({ instruction: 'x'.repeat(BODY_LIMIT_BYTES) });
    for (const { method, path, op } of posts) {
      const url = withId(path, NO_SUCH_JOB);
      // The upload route takes multipart only: its own limit is UPLOAD_MAX_BYTES, shown by the uploads tests.
      if (path !== '/v1/uploads') expect([path, (await send(stack.apiUrl, method, url, { body: big, contentType: 'application/json' })).status]).toEqual([path, 413]);
      const form = await send<{ code: string }>(stack.apiUrl, method, url, { body: 'a=1', contentType: 'application/x-www-form-urlencoded' });
      expect([path, form.status, form.body.code]).toEqual([path, 415, 'UNSUPPORTED_MEDIA_TYPE']);
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
    }
  });

  it('an empty body sent as JSON is no body: routes that take none answer as without it, the others 400', async () => {
    // JSON-by-default clients send Content-Type: application/json on a POST without a body.
    const posts = tenantOperations().filter((o) => o.method === 'POST' && o.path !== '/v1/uploads');
    const bodiless = posts.filter((o) => !o.op.requestBody).map((o) => o.path);
    expect(bodiless).toEqual(expect.arrayContaining(['/v1/webhook-secret/rotate', '/v1/jobs/{id}/deliveries/redeliver']));
    for (const { method, path, op } of posts) {
      const url = withId(path, NO_SUCH_JOB);
      const empty = await send<{ code: string; message: string }>(stack.apiUrl, method, url, { body: '', contentType: 'application/json' });
      if (op.requestBody) {
        expect([path, empty.status, empty.body.code, empty.body.message]).toEqual([path, 400, 'VALIDATION_FAILED', 'body: must be a JSON object']);
      } else {
        const none = await send<{ code: string }>(stack.apiUrl, method, url, {});
        expect([path, empty.status, empty.body.code]).toEqual([path, none.status, none.body.code]);
        expect([path, empty.status]).not.toEqual([path, 400]);
      }
    }
  });

  it('every operation documents the 400, 408 and 431 answered before any route (no Host header, a request too slow, headers too large)', async () => {
    const all = Object.entries(paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, op })));
    expect(all.map((o) => o.at)).toEqual(expect.arrayContaining(['GET /healthz', 'GET /v1/credits', 'GET /v1/webhook-secret']));
    for (const { at, op } of all) expect([at, ...Object.keys(op.responses)]).toEqual(expect.arrayContaining([at, '400', '408', '431']));
    // The app's own refusal of a request with no Host header, on a route that takes no input at all.
    const res = await rawRequest(new URL(stack.apiUrl), 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1\.1 400 [\s\S]*"code":"VALIDATION_FAILED"/);
  });

  it('a multipart body is 415 on every route but the two that take one (cancel and DELETE took it and acted)', async () => {
    const form = multipart([{ name: 'x', value: 'y' }]);
    const others = tenantOperations().filter((o) => ['POST', 'DELETE'].includes(o.method) && o.path !== '/v1/jobs' && o.path !== '/v1/uploads');
    expect(others.map((o) => `${o.method} ${o.path}`)).toEqual(expect.arrayContaining(['POST /v1/jobs/{id}/cancel', 'DELETE /v1/jobs/{id}']));
    // A real job, so a route that took the body would act on it (the old cancel answered 200 and canceled it).
    const job = await stack.api<{ id: string; status: string }>('POST', '/v1/jobs', { instruction: 'a promo' });
    for (const { method, path } of others) {
      const res = await send<{ code: string; message: string }>(stack.apiUrl, method, withId(path, job.body.id), { body: form.body, contentType: form.contentType });
      expect([method, path, res.status, res.body.code, res.body.message]).toEqual([method, path, 415, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json']);
    }
    expect((await stack.api<{ status: string }>('GET', `/v1/jobs/${job.body.id}`)).body.status).toBe('queued');
  });

  it('415 names the types the route takes; plain text is refused like any other type', async () => {
    const message = async (path: string, body: Buffer | string, contentType: string) => {
      const res = await send<{ code: string; message: string }>(stack.apiUrl, 'POST', path, { body, contentType });
      expect([path, contentType, res.status, res.body.code]).toEqual([path, contentType, 415, 'UNSUPPORTED_MEDIA_TYPE']);
      return res.body.message;
    };
    expect(await message('/v1/jobs', '{"instruction":"a promo"}', 'text/plain')).toBe('send application/json or multipart/form-data');
    expect(await message('/v1/uploads', 'hello', 'text/plain')).toBe('send multipart/form-data');
    expect(await message('/v1/batches', '{"items":[]}', 'text/plain')).toBe('send application/json');
    const form = multipart([{ name: 'job', value: JSON.stringify({ items: [{ instruction: 'a promo' }] }) }]);
    expect(await message('/v1/batches', form.body, form.contentType)).toBe('send application/json');
    expect(await message(`/v1/jobs/${NO_SUCH_JOB}/revisions`, form.body, form.contentType)).toBe('send application/json');
  });
});
