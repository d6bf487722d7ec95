// GET /v1/jobs over real HTTP: newest first, status filter, cursor pages that stay stable while jobs are being created.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

let stack: Stack;
const created: string[] = [];
type Page = { data: Job[]; next_cursor: string | null };

const page = async (query: string, key: string = TENANTS.acme) => (await stack.api<Page>('GET', `/v1/jobs${query}`, undefined, { key })).body;

async function walk(query: string, during?: (pageNo: number) => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pageNo = 0;
  do {
    const p: Page = await page(`${query}${cursor ? `&cursor=${cursor}` : ''}`);
    ids.push(...p.data.map((j) => j.id));
    cursor = p.next_cursor;
    await during?.(pageNo++);
  } while (cursor);
  return ids;
}

beforeAll(async () => {
  stack = await startStack({ worker: false });
  for (let i = 0; i < 25; i++) {
    const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: `job ${i}` });
    created.push(res.body.id);
  }
  // A few jobs in another state, and one in another tenant.
  for (const id of created.slice(0, 5)) await stack.api('POST', `/v1/jobs/${id}/cancel`);
  await stack.api('POST', '/v1/jobs', { instruction: 'globex job' }, { key: TENANTS.globex });
});
afterAll(async () => stack?.close());

describe('GET /v1/jobs', () => {
  it('pages newest first with next_cursor until null, every job exactly once', async () => {
    const first = await page('?limit=10');
    expect(first.data).toHaveLength(10);
    expect(first.next_cursor).toBe(first.data.at(-1)!.id);
    const all = await walk('?limit=10');
    expect(all).toEqual([...created].reverse());
  });

  it('filters by status', async () => {
    expect(await walk('?status=canceled&limit=2')).toEqual(created.slice(0, 5).reverse());
    expect(await walk('?status=queued&limit=7')).toEqual(created.slice(5).reverse());
    expect((await page('?status=succeeded')).data).toEqual([]);
  });

  it('stays stable while new jobs are created between pages: no duplicates, nothing skipped', async () => {
    const extra: string[] = [];
    const seen = await walk('?limit=6', async () => {
      for (let i = 0; i < 3; i++) extra.push((await stack.api<Job>('POST', '/v1/jobs', { instruction: 'inserted while paging' })).body.id);
    });
    expect(new Set(seen).size).toBe(seen.length);
    // Pages continue from the cursor, so the walk sees exactly the jobs that existed when it started.
    expect(seen).toEqual([...created].reverse());
    expect((await page('?limit=1')).data[0]!.id).toBe(extra.at(-1));
    created.push(...extra);
  });

  it('defaults to 20 and refuses bad parameters with 400 naming them', async () => {
    expect((await page('')).data).toHaveLength(20);
    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?limit=101', 'limit'],
      ['?limit=ten', 'limit'],
      ['?status=done', 'status'],
      ['?cursor=abc', 'cursor'],
      ['?colour=red', 'query'],
    ]) {
      const res = await stack.api<{ code: string; message: string }>('GET', `/v1/jobs${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.message.startsWith(field!), res.body.message).toBe(true);
    }
  });
});
