// Statuses answered before any handler runs are in the OpenAPI document of every operation that can get them:
// 404 TENANT_NOT_FOUND (the admin key's X-Tenant naming no tenant) on every /v1 operation, and 431 HEADERS_TOO_LARGE
// (Node's parser, before routing) on every operation, /admin/* and /metrics included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ADMIN = 'admin-key-docs-0123456789abcdef';
let stack: Stack;
type Operation = { responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }> };
let paths: Record<string, Record<string, Operation>>;

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { ADMIN_API_KEY: ADMIN } });
  paths = (await send<{ paths: typeof paths }>(stack.apiUrl, 'GET', '/openapi.json', { key: null })).body.paths;
});
afterAll(async () => stack?.close());

function operations(prefix: string): { method: string; path: string; op: Operation }[] {
  return Object.entries(paths).flatMap(([path, ops]) =>
    path.startsWith(prefix) ? Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })) : [],
  );
}
const withId = (path: string) => path.replace(/\{[^}]+\}/g, 'job_00000000000000000000000000');
const errorBody = { $ref: '#/components/schemas/Error' };

describe('404 TENANT_NOT_FOUND: the admin key with an X-Tenant naming no tenant', () => {
  it('is answered by every /v1 operation, and each documents it in its one 404 entry', async () => {
    const v1 = operations('/v1/');
    expect(v1.length).toBeGreaterThan(15);
    for (const { method, path, op } of v1) {
      const res = await send<{ statusCode: number; code: string; message: string }>(stack.apiUrl, method, withId(path), {
        key: ADMIN,
        headers: { 'x-tenant': 'no-such-tenant' },
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}', contentType: 'application/json' }),
      });
      expect([method, path, res.status, res.body]).toEqual([method, path, 404, { statusCode: 404, code: 'TENANT_NOT_FOUND', message: expect.any(String) }]);
      const documented = op.responses['404'];
      expect(documented, `${method} ${path}`).toBeDefined();
      expect(documented!.description, `${method} ${path}`).toMatch(/TENANT_NOT_FOUND — the admin key’s X-Tenant header names no tenant/);
      expect(documented!.content?.['application/json']?.schema).toEqual(errorBody);
    }
  });

  it('keeps a route’s own not-found codes in the same entry', () => {
    const { responses } = paths['/v1/jobs/{id}']!.get!;
    expect(responses['404']!.description).toMatch(/^NOT_FOUND \/ JOB_NOT_FOUND .*; TENANT_NOT_FOUND — the admin key’s X-Tenant/);
    // Documented once, not once per kind of not-found.
    expect(responses['404']!.description.match(/TENANT_NOT_FOUND/g)).toHaveLength(1);
  });
});

describe('431 HEADERS_TOO_LARGE', () => {
  it('is documented by every operation of the document', () => {
    const all = operations('/');
    expect(all.map((o) => o.path)).toEqual(expect.arrayContaining(['/metrics', '/admin/overview', '/admin/tenants', '/v1/jobs', '/healthz']));
    for (const { method, path, op } of all) {
      expect(Object.keys(op.responses), `${method} ${path}`).toContain('431');
      expect(op.responses['431']!.description, `${method} ${path}`).toMatch(/^HEADERS_TOO_LARGE/);
    }
  });

  it('is what /admin/* and /metrics answer to oversized headers, before the admin key is checked', async () => {
    for (const path of ['/metrics', '/admin/overview', '/admin/tenants', '/admin/queues']) {
      const res = await send<{ code: string }>(stack.apiUrl, 'GET', path, { key: ADMIN, headers: { 'x-padding': 'p'.repeat(17_000) } });
      expect([path, res.status, res.body]).toEqual([path, 431, { statusCode: 431, code: 'HEADERS_TOO_LARGE', message: expect.any(String) }]);
    }
  });
});
