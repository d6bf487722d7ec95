// Limits on everything a caller controls, over real HTTP: clear 400s naming the field, 413 for bodies, 431 for headers.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { multipart, SAMPLES } from '../helpers/multipart.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
type Err = { statusCode: number; code: string; message: string };

const jobCount = async () => (await stack.api<{ data: Job[] }>('GET', '/v1/jobs?limit=100')).body.data.length;
const url = (i: number) => ({ url: `https://example.com/${i}.jpg` });

/** Sends raw bytes and returns the status line and body, for requests no HTTP client library would build. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', (err) => (out ? resolve(out) : reject(err)));
    socket.write(text);
  });
}

beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => stack?.close());

/** An array nested `depth` levels deep, built without recursion. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('body limits on POST /v1/jobs', () => {
  it.each([
    ['an instruction over 4,000 characters', { instruction: 'x'.repeat(4001) }, /^instruction: must be at most 4000 characters/],
    ['an empty instruction', { instruction: '   ' }, /^instruction: must not be empty/],
    ['no instruction', {}, /^instruction: /],
    ['eleven follow-ups', { instruction: 'x', followups: Array.from({ length: 11 }, () => 'more') }, /^followups: at most 10 follow-ups/],
    ['a follow-up over 4,000 characters', { instruction: 'x', followups: ['y'.repeat(4001)] }, /^followups\.0: must be at most 4000/],
    ['51 sources', { instruction: 'x', sources: Array.from({ length: 51 }, (_, i) => url(i)) }, /^sources: at most 50 sources/],
    ['an ftp source URL', { instruction: 'x', sources: [{ url: 'ftp://example.com/a.jpg' }] }, /^sources\.0/],
    ['a javascript: URL', { instruction: 'x', sources: [url(1), { url: 'javascript:alert(1)' }] }, /^sources\.1/],
    ['a URL over 2,048 characters', { instruction: 'x', sources: [{ url: `https://example.com/${'a'.repeat(2048)}` }] }, /^sources\.0/],
    // As for HEIC sources and webhooks: the record, its events and webhooks repeat sources as given.
    ['a source URL with a user and password', { instruction: 'x', sources: [url(1), { url: 'https://me:pw0rd@example.com/a.jpg' }] }, /^sources\.1\.url: must not contain credentials/],
    ['a source URL with a user alone', { instruction: 'x', sources: [{ url: 'https://token@example.com/a.jpg' }] }, /^sources\.0\.url: must not contain credentials/],
    ['a source that is no URL', { instruction: 'x', sources: [{ url: 'not a url' }] }, /^sources\.0\.url: must be an absolute http or https URL/],
    ['metadata over 4 KiB', { instruction: 'x', metadata: { blob: 'z'.repeat(4100) } }, /^metadata: must be at most 4096 bytes/],
    ['a webhook with a file: URL', { instruction: 'x', webhook: { url: 'file:///etc/passwd' } }, /^webhook\.url: must be an absolute http or https URL/],
    ['a webhook URL with a line break', { instruction: 'x', webhook: { url: 'https://hooks.example.com/a\r\nb' } }, /^webhook\.url: must not contain control characters/],
    ['a source URL with a tab', { instruction: 'x', sources: [{ url: 'https://example.com/a\tb.jpg' }] }, /^sources\.0\.url: must not contain control characters/],
    ['an unknown field', { instruction: 'x', priority: 'high' }, /^body: unknown field\(s\) priority/],
    ['a bad upload id', { instruction: 'x', sources: [{ upload_id: '../../etc/passwd' }] }, /^sources\.0/],
    ['an array body', [{ instruction: 'x' }], /^body: /],
  ])('refuses %s with 400 VALIDATION_FAILED naming the field', async (_label, body, message) => {
    const before = await jobCount();
    const res = await stack.api<Err>('POST', '/v1/jobs', body);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(message);
    expect(await jobCount()).toBe(before);
  });

  it('refuses metadata nested 5,000 levels deep with 400 (JSON.stringify of it overflowed the stack: 500 INTERNAL)', async () => {
    // Written out by hand: this process's JSON.stringify cannot write it either.
    const body = `{"instruction":"x","metadata":{"a":${'['.repeat(5000)}1${']'.repeat(5000)}}}`;
    const res = await send<Err>(stack.apiUrl, 'POST', '/v1/jobs', { body, contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(/^metadata: must be at most 4096 bytes/);
  });

  it('accepts metadata nested 1,000 levels deep while it stays within 4 KiB, and echoes it back', async () => {
    const metadata = { a: nested(1000) };
    const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'x', metadata });
    expect(res.status).toBe(202);
    expect(res.body.metadata).toEqual(metadata);
  });

  it('accepts exactly the limits: 4,000 characters, 10 follow-ups, 50 sources', async () => {
    const res = await stack.api('POST', '/v1/jobs', {
      instruction: 'x'.repeat(4000),
      followups: Array.from({ length: 10 }, () => 'y'.repeat(4000)),
      sources: Array.from({ length: 50 }, (_, i) => url(i)),
    });
    expect(res.status).toBe(202);
  });

  it('answers 413 PAYLOAD_TOO_LARGE for a JSON body over 1 MiB', async () => {
    const res = await send<Err>(stack.apiUrl, 'POST', '/v1/jobs', { body: JSON.stringify({ instruction: 'x', pad: 'p'.repeat(1_100_000) }), contentType: 'application/json' });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers 415 for a body that is neither JSON nor multipart, and 400 for broken JSON', async () => {
    const xml = await send<Err>(stack.apiUrl, 'POST', '/v1/jobs', { body: '<job/>', contentType: 'application/xml' });
    expect(xml.status).toBe(415);
    const broken = await send<Err>(stack.apiUrl, 'POST', '/v1/jobs', { body: '{"instruction": ', contentType: 'application/json' });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('VALIDATION_FAILED');
  });
});

describe('multipart limits on POST /v1/jobs', () => {
  const post = (parts: Parameters<typeof multipart>[0]) => {
    const form = multipart(parts);
    return send<Err>(stack.apiUrl, 'POST', '/v1/jobs', { body: form.body, contentType: form.contentType });
  };

  it('refuses a missing, repeated, oversize or invalid job field, and unknown fields', async () => {
    const file = { name: 'file', filename: 'a.png', data: SAMPLES.png!.data };
    const cases: [Parameters<typeof multipart>[0], RegExp][] = [
      [[file], /^job: required/],
      [[{ name: 'job', value: '{"instruction":"x"}' }, { name: 'job', value: '{"instruction":"x"}' }], /^job: sent more than once/],
      [[{ name: 'job', value: '{not json' }], /^job: invalid JSON/],
      [[{ name: 'job', value: '{not json', contentType: 'application/json' }], /^job: invalid JSON, over 1048576 bytes \(the JSON body's limit\), or holding __proto__/],
      [[{ name: 'job', value: '{"instruction":"x"}' }, { name: 'colour', value: 'red' }], /^colour: unknown field/],
      [[{ name: 'job', value: '{"instruction":""}' }, file], /^instruction: must not be empty/],
    ];
    const before = await jobCount();
    for (const [parts, message] of cases) {
      const res = await post(parts);
      expect(res.status, res.text).toBe(400);
      expect(res.body.message).toMatch(message);
    }
    // Over 1 MiB: the JSON body's own limit and answer (413), whichever way the body comes.
    const big = await post([{ name: 'job', value: `{"instruction":"${'x'.repeat(1_048_600)}"}` }]);
    expect(big.status, big.text).toBe(413);
    expect(big.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/^job: larger than 1048576 bytes/) });
    expect(await jobCount()).toBe(before);
  });

  it('counts file parts against the 50-source limit, after the JSON sources', async () => {
    const files = Array.from({ length: 3 }, (_, i) => ({ name: 'files', filename: `${i}.png`, data: SAMPLES.png!.data }));
    const job = { name: 'job', value: JSON.stringify({ instruction: 'x', sources: Array.from({ length: 48 }, (_, i) => url(i)) }) };
    const res = await post([job, ...files]);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^sources: at most 50 sources/);
    const tooMany = await post([{ name: 'job', value: '{"instruction":"x"}' }, ...Array.from({ length: 51 }, (_, i) => ({ name: 'f', filename: `${i}.png`, data: SAMPLES.png!.data }))]);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toMatch(/at most 50 file parts/);
  });
});

describe('header limits', () => {
  it('answers 431 HEADERS_TOO_LARGE with the contract’s error body past 16 KiB of headers', async () => {
    const reply = await rawRequest(`GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(17_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as Err;
    expect(body).toEqual({ statusCode: 431, code: 'HEADERS_TOO_LARGE', message: expect.stringContaining('16384') });
  });

  it('answers 431 to a normal client too, and keeps serving afterwards', async () => {
    const res = await send<Err>(stack.apiUrl, 'GET', '/v1/jobs', { headers: { 'x-pad': 'a'.repeat(20_000) } });
    expect(res.status).toBe(431);
    expect(res.body.code).toBe('HEADERS_TOO_LARGE');
    expect((await send(stack.apiUrl, 'GET', '/healthz', { key: null })).status).toBe(200);
  });

  it('answers 400 in the same shape to bytes that are not HTTP', async () => {
    const reply = await rawRequest('HELLO THERE\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses an over-long Idempotency-Key, an over-long path parameter and a malformed URL with 400', async () => {
    const key = await stack.api<Err>('POST', '/v1/jobs', { instruction: 'x' }, { headers: { 'idempotency-key': 'k'.repeat(256) } });
    expect(key.status).toBe(400);
    // Path parameters are capped at 200 characters before routing; a malformed escape is refused the same way.
    const id = await stack.api<Err>('GET', `/v1/jobs/job_${'A'.repeat(300)}`);
    expect(id.status).toBe(400);
    expect(id.body).toEqual({ statusCode: 400, code: 'VALIDATION_FAILED', message: 'path: a parameter is longer than 200 characters' });
    const bad = await stack.api<Err>('GET', '/v1/jobs/%E0%A4%A');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    // Refused before routing (no hook ran), still not for a cache to keep, as every answer to a key.
    for (const res of [id, bad]) expect(res.headers['cache-control']).toBe('no-store');
  });
});
