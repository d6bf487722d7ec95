// Calls to nemo-relay's API from a benchmark: create jobs (a bounded number at a time) and read them back.
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { BENCH_KEY } from './env.js';

export async function postJob(apiUrl: string, body: unknown, key = BENCH_KEY): Promise<string> {
  const res = await request(`${apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 202) throw new Error(`POST /v1/jobs answered ${res.statusCode}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { id: string }).id;
}

/**
 * Creates `n` jobs with at most `parallel` requests open at once; resolves to their ids in creation order. With several
 * API `keys` (tenants) the jobs take them in turn, so tenants on different queue shards get equal shares.
 */
export async function postJobs(apiUrl: string, n: number, body: unknown, parallel = 16, keys: string[] = [BENCH_KEY]): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const key = keys[next % keys.length];
      next += 1;
      ids.push(await postJob(apiUrl, body, key));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, lane));
  return ids;
}
