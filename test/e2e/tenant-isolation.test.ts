// What a tenant may see of another: nothing. Every documented route, and the operator's, called with another tenant's ids.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi-document.js';
import type { Batch, Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { uploadFile } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

describe('tenant isolation', () => {
  let stack: Stack;
  const secrets: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_API_KEY: 'admin-key-0123456789abcdef' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("a tenant key reaches none of another tenant's ids on any route", async () => {
    // acme's things: a finished job, a batch, an upload.
    const upload = await uploadFile(stack, 'mug.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, ...new Array(600).fill(0)]));
    const job = await waitForFinished(stack, (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'acme promo' })).body.id);
    expect(job.status).toBe('succeeded');
    const batch = (await stack.api<Batch>('POST', '/v1/batches', { items: [{ instruction: 'acme batch item' }] })).body;
    await waitFor(async () => (await stack.api<Batch>('GET', `/v1/batches/${batch.id}`)).body.status === 'succeeded', { what: 'the batch' });
    const acmeIds = [job.id, batch.id, batch.items[0]!, upload, job.upstream.session_id!, job.upstream.task_id!];
    secrets.push((await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret);

    const doc = (await openApiDocument()) as { paths: Record<string, Record<string, unknown>> };
    const calls: { method: string; path: string; status: number }[] = [];
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        for (const id of template.includes('{') ? acmeIds : [null]) {
          const path = template.replace(/\{[^}]+\}/g, id ?? 'x').replace('{key_id}', 'key_x');
          const res = await request(`${stack.apiUrl}${path}`, {
            method: method.toUpperCase() as 'GET',
            headers: { authorization: `Bearer ${TENANTS.globex}`, 'content-type': 'application/json' },
            body: ['post', 'patch', 'put'].includes(method) ? JSON.stringify({ instruction: 'x', items: [{ instruction: 'x' }], url: 'https://example.com' }) : undefined,
          });
          const text = await res.body.text();
          calls.push({ method, path, status: res.statusCode });
          // The id the caller sent may be echoed ("job … not found"); nothing else of acme's may appear.
          for (const secret of [...acmeIds, ...secrets].filter((s) => s !== id)) expect(text, `${method} ${path}`).not.toContain(secret);
          if (id !== null && template.startsWith('/v1/')) expect([400, 403, 404, 405, 409, 415], `${method} ${path}`).toContain(res.statusCode);
        }
      }
    }
    expect(calls.length).toBeGreaterThan(40);
    // The operator's views: the queue board and the metrics name every tenant; a tenant key gets neither.
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/metrics', '/admin/tenants', '/admin/tenants/acme']) {
      const res = await request(`${stack.apiUrl}${path}`, { headers: { authorization: `Bearer ${TENANTS.globex}` } });
      const text = await res.body.text();
      expect(res.statusCode, path).toBe(403);
      for (const secret of acmeIds) expect(text, path).not.toContain(secret);
    }
    // And acme's own key still sees them (the check above is not vacuous).
    expect((await stack.api('GET', `/v1/jobs/${job.id}`)).status).toBe(200);
    expect((await stack.api('GET', `/v1/batches/${batch.id}`)).status).toBe(200);
  });
});
