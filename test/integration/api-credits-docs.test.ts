// GET /v1/credits (upstream balance, 10 s Redis cache, 502 on upstream failure) and the OpenAPI document and /docs page.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openApiDocument } from '../../src/http/openapi-document.js';
import { send } from '../helpers/http.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

describe('GET /v1/credits', () => {
  it('answers the upstream balance and serves repeats from the cache', async () => {
    const first = await stack.api<{ available: number; frozen: number; total: number }>('GET', '/v1/credits');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ available: expect.any(Number), frozen: expect.any(Number), total: expect.any(Number), claim_url: null });
    expect(first.body.total).toBe(first.body.available + first.body.frozen);
    const calls = stack.sim.log.count('credits');
    expect(calls).toBe(1);
    const second = await stack.api('GET', '/v1/credits');
    expect(second.body).toEqual(first.body);
    expect(stack.sim.log.count('credits')).toBe(calls);
    expect(await stack.services.redis.pttl(stack.services.keys.creditsCache())).toBeGreaterThan(0);
    expect(await stack.services.redis.pttl(stack.services.keys.creditsCache())).toBeLessThanOrEqual(10_000);
  });

  it('reads the upstream again once the cache is gone, and sees a changed balance', async () => {
    stack.sim.setCredits(4321);
    await stack.services.redis.del(stack.services.keys.creditsCache());
    const res = await stack.api<{ available: number }>('GET', '/v1/credits');
    expect(res.body.available).toBe(4321);
  });

  it('answers 502 UPSTREAM_UNAVAILABLE without internals when the upstream fails', async () => {
    await stack.services.redis.del(stack.services.keys.creditsCache());
    stack.sim.injectFault({ kind: 'server_error', endpoint: 'credits', times: 1 });
    const res = await stack.api<{ statusCode: number; code: string; message: string }>('GET', '/v1/credits');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ statusCode: 502, code: 'UPSTREAM_UNAVAILABLE', message: expect.any(String) });
    expect(res.body.message).not.toMatch(/nmv_|Bearer|127\.0\.0\.1/);
    // Nothing was cached from the failure: the next call reaches the upstream and succeeds.
    expect((await stack.api('GET', '/v1/credits')).status).toBe(200);
  });

  it('needs an API key', async () => {
    expect((await send(stack.apiUrl, 'GET', '/v1/credits', { key: null })).status).toBe(401);
  });
});

describe('OpenAPI', () => {
  it('serves at /openapi.json (no key needed) exactly the committed openapi.yaml', async () => {
    const committed = parse(await readFile('openapi.yaml', 'utf8')) as unknown;
    const served = await send(stack.apiUrl, 'GET', '/openapi.json', { key: null });
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toMatch(/^application\/json/);
    // If this fails, run `npm run openapi` and commit openapi.yaml.
    expect(served.body).toEqual(committed);
    expect(await openApiDocument()).toEqual(committed);
    // A YAML 1.1 reader (PyYAML, many client generators) reads the same document: no bare 16:9 read as the number 969.
    expect(parse(await readFile('openapi.yaml', 'utf8'), { version: '1.1' })).toEqual(committed);
  });

  it('documents the job, upload, credits and docs routes', async () => {
    const doc = (await openApiDocument()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    for (const expected of [
      'POST /v1/jobs',
      'GET /v1/jobs',
      'GET /v1/jobs/{id}',
      'POST /v1/jobs/{id}/cancel',
      'POST /v1/jobs/{id}/revisions',
      'GET /v1/jobs/{id}/events',
      'POST /v1/uploads',
      'GET /v1/credits',
      'GET /openapi.json',
    ]) {
      expect(documented).toContain(expected);
    }
    // Each create route that replays an Idempotency-Key says which header marks the replay.
    type Op = { responses: Record<string, { headers?: Record<string, unknown> }> };
    const ops = doc.paths as unknown as Record<string, Record<string, Op>>;
    for (const path of ['/v1/jobs', '/v1/batches', '/v1/jobs/{id}/revisions']) {
      expect(Object.keys(ops[path]!.post!.responses['200']!.headers ?? {}), path).toContain('Idempotent-Replayed');
    }
  });

  it('serves /docs: swagger-ui from the package itself (no CDN), its spec the same document', async () => {
    const page = await send(stack.apiUrl, 'GET', '/docs/', { key: null });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(page.text).not.toMatch(/<(script|link)[^>]+(src|href)=["']?https?:/i);
    expect(page.text).not.toMatch(/cdn|unpkg|jsdelivr/i);
    for (const asset of [...page.text.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]!)) {
      expect((await send(stack.apiUrl, 'GET', `/docs/${asset}`, { key: null })).status, asset).toBe(200);
    }
    const spec = await send(stack.apiUrl, 'GET', '/docs/json', { key: null });
    expect(spec.body).toEqual(parse(await readFile('openapi.yaml', 'utf8')));
  });
});
