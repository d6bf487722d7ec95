// Property-based fuzzing of the API over real HTTP: thousands of random and malformed bodies, headers, multipart streams
// and raw requests. No 5xx, no crash, errors in the contract's shape, and no job or staged file from a refused request.
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { contentType, deeplyNestedBody, extraHeaders, invalidBody, multipartStream, otherRequest, plausibleBody, rawHttp } from './arbitraries.js';

/** FUZZ_SCALE=N runs N times as many cases (and gives each test N times the time): the knob for a longer hunt. */
const SCALE = Math.max(1, Math.floor(Number(process.env.FUZZ_SCALE ?? 1)) || 1);
const RUNS = { json: 1500 * SCALE, invalid: 1200 * SCALE, other: 800 * SCALE, multipart: 900 * SCALE, raw: 300 * SCALE, deep: 60 * SCALE };
const TIMEOUT_MS = 60_000 * SCALE;

let stack: Stack;
const agent = new Agent({ connections: 8, pipelining: 0 });
const statuses = new Map<number, number>();
const created = new Set<string>(); // jobs answered 202
const uploaded = new Set<string>(); // upload ids answered 201 or inside a 202 job's sources
let cases = 0;
let refusedByClient = 0;

interface Answer { status: number; body: unknown }

/** One request; undici refusing to send it (an invalid header value, say) is counted and skipped. */
async function call(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer | null> {
  cases++;
  let res;
  try {
    res = await request(stack.apiUrl + path, { method: method as 'GET', headers, body, dispatcher: agent, headersTimeout: 30_000 });
  } catch (err) {
    if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG' || err instanceof TypeError) {
      refusedByClient++;
      return null;
    }
    throw err;
  }
  const text = await res.body.text();
  statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* SSE, HTML, metrics */
  }
  return { status: res.statusCode, body: parsed };
}

/** What must hold for every answer: no 5xx, errors in the contract's shape; and it books created jobs and uploads. */
function check(answer: Answer | null): void {
  if (!answer) return;
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
  if (answer.status >= 400) {
    expect(answer.body).toMatchObject({ statusCode: answer.status, code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/), message: expect.any(String) });
  }
  const body = answer.body as Job & { id?: string };
  if (answer.status === 202 && body.id?.startsWith('job_')) {
    created.add(body.id);
    for (const s of body.sources) if ('upload_id' in s) uploaded.add(s.upload_id);
  }
  if (answer.status === 201 && body.id?.startsWith('upl_')) uploaded.add(body.id);
}

const auth = { authorization: `Bearer ${TENANTS.acme}` };

async function countJobs(): Promise<number> {
  let total = 0;
  let cursor: string | null = null;
  do {
    const res: { body: { data: Job[]; next_cursor: string | null } } = await stack.api('GET', `/v1/jobs?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    total += res.body.data.length;
    cursor = res.body.next_cursor;
  } while (cursor);
  return total;
}

function rawExchange(bytes: Buffer): Promise<string> {
  const { port } = new URL(stack.apiUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    let out = '';
    const done = () => resolve(out);
    socket.setTimeout(3_000, () => socket.destroy());
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', done);
    socket.on('error', () => {});
    socket.end(bytes); // half-close: a request waiting for more body ends here instead of hanging
  });
}

let jobsBefore = 0;

beforeAll(async () => {
  stack = await startStack({ worker: false, env: { UPLOAD_MAX_BYTES: '65536' } });
  jobsBefore = await countJobs();
});

afterAll(async () => {
  await agent.close();
  await stack?.close();
});

describe('the API under random and malformed input', () => {
  it('never answers 5xx to JSON bodies, plausible or not, with random content types and headers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(plausibleBody.map((b) => JSON.stringify(b)), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string({ maxLength: 300 })), contentType, extraHeaders, async (body, type, headers) => {
        check(await call('POST', '/v1/jobs', { ...auth, ...headers, 'content-type': type }, body));
      }),
      { numRuns: RUNS.json },
    );
  }, TIMEOUT_MS);

  it('never answers 5xx to bodies with a value nested up to 300,000 levels deep, on every route that takes JSON', async () => {
    await fc.assert(
      fc.asyncProperty(deeplyNestedBody, fc.constantFrom('/v1/jobs', '/v1/batches', '/v1/webhooks/test'), async ({ text }, path) => {
        const body = path === '/v1/batches' ? `{"items":[${text}]}` : text;
        check(await call('POST', path, { ...auth, 'content-type': 'application/json' }, body));
      }),
      { numRuns: RUNS.deep },
    );
  }, TIMEOUT_MS);

  it('refuses every invalid body with a 4xx (and so creates no job from it)', async () => {
    await fc.assert(
      fc.asyncProperty(invalidBody, fc.option(fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...'abc123-'.split('')) }), { nil: undefined }), async ({ name, body }, key) => {
        const answer = await call('POST', '/v1/jobs', { ...auth, 'content-type': 'application/json', ...(key ? { 'idempotency-key': `bad-${key}` } : {}) }, JSON.stringify(body));
        check(answer);
        expect(answer!.status, name).toBeGreaterThanOrEqual(400);
        expect(answer!.status, name).toBeLessThan(500);
      }),
      { numRuns: RUNS.invalid },
    );
  }, TIMEOUT_MS);

  it('never answers 5xx on any route to random methods, paths, queries, keys and bodies', async () => {
    await fc.assert(
      fc.asyncProperty(otherRequest, extraHeaders, async (req, headers) => {
        const authorization = req.authorization === 'ok' ? auth.authorization : req.authorization;
        const h: Record<string, string> = { ...headers, authorization, ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) };
        if (h.accept === 'text/event-stream' || req.path.includes('/events')) h.accept = 'application/json'; // streams stay open
        check(await call(req.method, req.path, h, req.body));
      }),
      { numRuns: RUNS.other },
    );
  }, TIMEOUT_MS);

  it('never answers 5xx to random multipart streams (cut short, wrong boundaries, odd parts) and leaves no partial file', async () => {
    await fc.assert(
      fc.asyncProperty(multipartStream, async (m) => {
        const chunks: Buffer[] = m.prefix ? [m.prefix] : [];
        for (const part of m.parts) {
          let head = `--${m.boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
          if ('filename' in part) head += `; filename="${part.filename}"\r\nContent-Type: application/octet-stream`;
          else if (part.contentType) head += `\r\nContent-Type: ${part.contentType}`;
          chunks.push(Buffer.from(`${head}\r\n\r\n`), 'filename' in part ? part.data : Buffer.from(part.value), Buffer.from('\r\n'));
        }
        chunks.push(Buffer.from(`--${m.boundary}--\r\n`));
        let body = Buffer.concat(chunks);
        if (m.cutAt !== undefined) body = body.subarray(0, Math.floor(body.length * m.cutAt));
        const type = `multipart/form-data; boundary=${m.headerBoundary ?? m.boundary}`;
        check(await call('POST', m.target, { ...auth, 'content-type': type }, body));
      }),
      { numRuns: RUNS.multipart },
    );
  }, TIMEOUT_MS);

  it('answers malformed raw HTTP with a 4xx or by closing, never a 5xx, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(rawHttp, async (bytes) => {
        cases++;
        const reply = await rawExchange(bytes);
        for (const line of reply.match(/HTTP\/1\.1 \d{3}/g) ?? []) expect(Number(line.slice(9)), reply.slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: RUNS.raw },
    );
    expect((await request(`${stack.apiUrl}/healthz`)).statusCode).toBe(200);
  }, TIMEOUT_MS);

  it('created exactly the jobs it answered 202 for, and kept exactly the files it answered for', async () => {
    expect(await countJobs()).toBe(jobsBefore + created.size);
    const files = await readdir(stack.services.config.UPLOAD_DIR).catch(() => [] as string[]);
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(new Set(files.filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)))).toEqual(uploaded);
    const histogram = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
    console.log(
      `api fuzz: ${cases} cases (${refusedByClient} refused client-side before sending); statuses ${histogram}; ` +
        `${created.size} jobs created (all answered 202), ${uploaded.size} files staged (all answered for)`,
    );
  }, TIMEOUT_MS);
});
