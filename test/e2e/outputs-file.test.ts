// Outputs that last, file driver: the copy after the render, signed links, Range/HEAD/ETag, expired upstream URLs, erase.
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { outputKey } from '../../src/storage/keys.js';
import { signOutputLink } from '../../src/storage/signed-links.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** Large enough for Range checks to mean something; padded by the simulator, still a valid MP4. */
const OUTPUT_BYTES = 1_500_000;
const WEEK_MS = 604_800_000;

async function fetchBytes(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as { code: string; message: string };

async function createJob(stack: Stack, webhookUrl?: string): Promise<string> {
  const created = await stack.api<Job>('POST', '/v1/jobs', {
    instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
    ...(webhookUrl ? { webhook: { url: webhookUrl } } : {}),
  });
  expect(created.status).toBe(202);
  return created.body.id;
}

describe('outputs: file storage end to end', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let job: Job;
  let expected: Buffer;

  beforeAll(async () => {
    stack = await startStack({ scenario: { outputBytes: OUTPUT_BYTES } });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
    const id = await createJob(stack, receiver.url);
    job = await waitForFinished(stack, id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // The bytes the upstream rendered, fetched straight from it while its URL still works.
    expected = (await fetchBytes(job.result!.upstream_url!)).body;
    expect(expected.length).toBe(OUTPUT_BYTES);
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it('copies the render and hands out a link that works without a key', async () => {
    const result = job.result!;
    expect(result.upstream_url).toMatch(/\/render-result\/.+\.mp4$/);
    expect(result.url.startsWith(`${stack.apiUrl}/v1/jobs/${job.id}/output?expires=`)).toBe(true);
    expect(result.sha256).toBe(sha256(expected));
    expect(result.size_bytes).toBe(OUTPUT_BYTES);
    expect(Date.parse(result.stored_at!)).toBeGreaterThan(Date.parse(job.started_at!));
    const got = await fetchBytes(result.url);
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('video/mp4');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.headers['cache-control']).toBe('private, max-age=3600');
    expect(got.headers['accept-ranges']).toBe('bytes');
    expect(got.headers.etag).toBe(`"${result.sha256}"`);
    expect(sha256(got.body)).toBe(result.sha256);
    // The link is valid for 7 days (OUTPUT_URL_TTL_MS default), whole minutes, and each read of the job mints it afresh.
    const expires = Number(new URL(result.url).searchParams.get('expires')) * 1000;
    expect(expires - Date.now()).toBeGreaterThan(WEEK_MS - 120_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(WEEK_MS + 60_000);
    // The object sits under the tenant's prefix of this stack's own directory.
    const head = await stack.services.outputs.storage!.head(outputKey('acme', job.id));
    expect(head).toMatchObject({ sizeBytes: OUTPUT_BYTES, sha256: result.sha256 });
  });

  it('puts the same result fields and a working link into the webhook', async () => {
    const delivery = await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === job.id && d.payload.type === 'job.succeeded'), {
      what: 'the job.succeeded webhook',
    });
    expect(delivery.verified, delivery.verifyError ?? '').toBe(true);
    const result = (delivery.payload.data as unknown as Job).result!;
    expect(result).toMatchObject({ upstream_url: job.result!.upstream_url, sha256: job.result!.sha256, size_bytes: OUTPUT_BYTES, stored_at: job.result!.stored_at });
    const got = await fetchBytes(result.url);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(job.result!.sha256);
    // A redelivery mints the link again (valid OUTPUT_URL_TTL_MS from now), the rest of the result as it was.
    expect((await stack.api('POST', `/v1/jobs/${job.id}/deliveries/redeliver`)).status).toBe(202);
    const again = await waitFor(() => receiver.deliveries.filter((d) => d.payload.data.id === job.id && d.payload.type === 'job.succeeded')[1], {
      what: 'the redelivered job.succeeded',
    });
    expect(again.verified, again.verifyError ?? '').toBe(true);
    const renewed = (again.payload.data as unknown as Job).result!;
    expect({ ...renewed, url: null }).toEqual({ ...result, url: null });
    const expiresOf = (url: string) => Number(new URL(url).searchParams.get('expires'));
    expect(expiresOf(renewed.url)).toBeGreaterThanOrEqual(expiresOf(result.url));
    expect((await fetchBytes(renewed.url)).status).toBe(200);
  });

  it('lists and reads the job with a link minted on the read, not stored', async () => {
    const secret = await stack.services.outputs.links.key();
    const read = (await stack.api<Job>('GET', `/v1/jobs/${job.id}`)).body;
    const listed = (await stack.api<{ data: Job[] }>('GET', '/v1/jobs?status=succeeded')).body.data.find((j) => j.id === job.id)!;
    for (const url of [read.result!.url, listed.result!.url]) {
      const u = new URL(url);
      const expires = Number(u.searchParams.get('expires'));
      // Exactly what a fresh signature over (job id, expires) is: computed now, from the shared key.
      expect(u.searchParams.get('sig')).toBe(signOutputLink({ jobId: job.id, expiresAtMs: expires * 1000, secret }).sig);
      expect(expires * 1000 - Date.now()).toBeGreaterThan(WEEK_MS - 120_000);
    }
  });

  it('hands out a fresh link in the event feed too (JSON and SSE), not the one stored with job.succeeded', async () => {
    const { redis, keys } = stack.services;
    const key = keys.jobEvents(job.id);
    const lines = await redis.lrange(key, 0, -1);
    const at = lines.findIndex((line) => (JSON.parse(line) as { type: string }).type === 'job.succeeded');
    expect(at).toBeGreaterThanOrEqual(0);
    // As read back weeks later: the link stored with the event expired long ago.
    const stale = `${stack.apiUrl}/v1/jobs/${job.id}/output?expires=1000000000&sig=stale`;
    await redis.lset(key, at, lines[at]!.replace(JSON.stringify(job.result!.url).slice(1, -1), stale));
    try {
      const secret = await stack.services.outputs.links.key();
      const fresh = (url: string) => {
        const u = new URL(url);
        const expires = Number(u.searchParams.get('expires'));
        expect(expires * 1000 - Date.now()).toBeGreaterThan(WEEK_MS - 120_000);
        expect(u.searchParams.get('sig')).toBe(signOutputLink({ jobId: job.id, expiresAtMs: expires * 1000, secret }).sig);
      };
      const page = (await stack.api<{ data: { type: string; data: Job }[] }>('GET', `/v1/jobs/${job.id}/events?after=0`, undefined, { headers: { accept: 'application/json' } })).body;
      fresh(page.data.find((e) => e.type === 'job.succeeded')!.data.result!.url);
      // The stream replays the backlog and ends at the job's end.
      const sse = await request(`${stack.apiUrl}/v1/jobs/${job.id}/events`, { headers: { authorization: `Bearer ${TENANTS.acme}`, accept: 'text/event-stream' } });
      const text = await sse.body.text();
      const frame = text.split('\n\n').find((f) => f.includes('event: job.succeeded'))!;
      fresh((JSON.parse(frame.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { data: Job }).data.result!.url);
    } finally {
      await redis.lset(key, at, lines[at]!);
    }
  });

  it('serves byte ranges, HEAD and conditional requests as a <video> element needs them', async () => {
    const { url, sha256: digest } = job.result!;
    const part = await fetchBytes(url, { range: 'bytes=100-1099' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1099/${OUTPUT_BYTES}`);
    expect(part.headers['content-length']).toBe('1000');
    expect(part.body.equals(expected.subarray(100, 1100))).toBe(true);
    // What browsers send first: an open range, answered 206 with the whole file.
    const open = await fetchBytes(url, { range: 'bytes=0-' });
    expect(open.status).toBe(206);
    expect(open.headers['content-range']).toBe(`bytes 0-${OUTPUT_BYTES - 1}/${OUTPUT_BYTES}`);
    expect(sha256(open.body)).toBe(digest);
    const tail = await fetchBytes(url, { range: 'bytes=-500' });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(expected.subarray(OUTPUT_BYTES - 500))).toBe(true);
    const head = await fetchBytes(url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(OUTPUT_BYTES));
    expect(head.body.length).toBe(0);
    const cached = await fetchBytes(url, { 'if-none-match': `"${digest}"` });
    expect(cached.status).toBe(304);
    expect(cached.body.length).toBe(0);
    const past = await fetchBytes(url, { range: `bytes=${OUTPUT_BYTES}-` });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe(`bytes */${OUTPUT_BYTES}`);
    // Only the bytes may be kept for an hour: an error answer is not kept at all.
    expect(tail.headers['cache-control']).toBe('private, max-age=3600');
    expect(past.headers['cache-control']).toBe('no-store');
  });

  it('checks who asks: signature, expiry, job, tenant', async () => {
    const base = `${stack.apiUrl}/v1/jobs/${job.id}/output`;
    const link = new URL(job.result!.url);
    const expires = link.searchParams.get('expires')!;
    const sig = link.searchParams.get('sig')!;
    const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;

    const tampered = await fetchBytes(`${base}?expires=${expires}&sig=${flipped}`);
    expect([tampered.status, json(tampered.body).code]).toEqual([403, 'OUTPUT_LINK_INVALID']);
    // A later expiry with the old signature is a tampered link too.
    const stretched = await fetchBytes(`${base}?expires=${Number(expires) + 3600}&sig=${sig}`);
    expect([stretched.status, json(stretched.body).code]).toEqual([403, 'OUTPUT_LINK_INVALID']);

    const secret = await stack.services.outputs.links.key();
    const old = signOutputLink({ jobId: job.id, expiresAtMs: Date.now() - 1_000, secret });
    const expired = await fetchBytes(`${base}?expires=${old.expires}&sig=${old.sig}`);
    expect([expired.status, json(expired.body).code]).toEqual([403, 'OUTPUT_LINK_EXPIRED']);
    // Refusals of a signed link are not cached (they carried no Cache-Control at all).
    for (const refused of [tampered, stretched, expired]) expect(refused.headers['cache-control']).toBe('no-store');

    // Job B's signature does not open job A (nor the reverse).
    const other = await createJob(stack);
    await waitForFinished(stack, other);
    const otherSigned = await fetchBytes(`${stack.apiUrl}/v1/jobs/${other}/output?expires=${expires}&sig=${sig}`);
    expect([otherSigned.status, json(otherSigned.body).code]).toEqual([403, 'OUTPUT_LINK_INVALID']);

    const anonymous = await fetchBytes(base);
    expect([anonymous.status, json(anonymous.body).code]).toEqual([401, 'UNAUTHORIZED']);
    const keyed = await fetchBytes(base, { authorization: `Bearer ${TENANTS.acme}` });
    expect(keyed.status).toBe(200);
    expect(sha256(keyed.body)).toBe(job.result!.sha256);
    const keyedRange = await fetchBytes(base, { authorization: `Bearer ${TENANTS.acme}`, range: 'bytes=0-9' });
    expect(keyedRange.status).toBe(206);
    expect(keyedRange.body.equals(expected.subarray(0, 10))).toBe(true);
    const foreign = await fetchBytes(base, { authorization: `Bearer ${TENANTS.globex}` });
    expect([foreign.status, json(foreign.body).code]).toEqual([404, 'JOB_NOT_FOUND']);
  });

  it('lets a signed query through on that one route only', async () => {
    const { search } = new URL(job.result!.url);
    for (const path of [`/v1/jobs/${job.id}`, `/v1/jobs/${job.id}/events`, `/v1/jobs`, `/v1/jobs/${job.id}/output/extra`]) {
      const res = await fetchBytes(`${stack.apiUrl}${path}${search}`);
      expect(res.status, path).toBe(401);
    }
    const post = await request(`${stack.apiUrl}/v1/jobs/${job.id}/output${search}`, { method: 'POST' });
    await post.body.dump();
    expect(post.statusCode).not.toBe(200);
    expect([401, 404]).toContain(post.statusCode);
    // Only one of the two parameters: an ordinary keyed request.
    const half = await fetchBytes(`${stack.apiUrl}/v1/jobs/${job.id}/output?sig=${new URL(job.result!.url).searchParams.get('sig')}`);
    expect(half.status).toBe(401);
  });

  it('answers 404 OUTPUT_NOT_STORED for a job that has no video', async () => {
    const running = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a bakery' })).body;
    const res = await fetchBytes(`${stack.apiUrl}/v1/jobs/${running.id}/output`, { authorization: `Bearer ${TENANTS.acme}` });
    expect([res.status, json(res.body).code]).toEqual([404, 'OUTPUT_NOT_STORED']);
    await waitForFinished(stack, running.id);
  });

  it('erases the object with eraseOutput (what DELETE and retention call)', async () => {
    const id = await createJob(stack);
    const done = await waitForFinished(stack, id);
    expect((await fetchBytes(done.result!.url)).status).toBe(200);
    await stack.services.outputs.erase('acme', id);
    await stack.services.outputs.erase('acme', id); // idempotent
    expect(await stack.services.outputs.storage!.head(outputKey('acme', id))).toBeNull();
    const gone = await fetchBytes(done.result!.url);
    expect(gone.status).toBe(404);
  });

  it('deletes the stored output with DELETE /v1/jobs/{id}', async () => {
    const id = await createJob(stack);
    const done = await waitForFinished(stack, id);
    const key = outputKey('acme', id);
    expect(await stack.services.outputs.storage!.head(key)).not.toBeNull();
    expect((await stack.api('DELETE', `/v1/jobs/${id}`)).status).toBe(204);
    expect(await stack.services.outputs.storage!.head(key)).toBeNull();
    const link = await fetchBytes(done.result!.url);
    expect([link.status, json(link.body).code]).toEqual([404, 'JOB_NOT_FOUND']);
  });
});

describe('outputs: the upstream URL expires', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ scenario: { outputBytes: 300_000 } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('keeps a working result.url while the upstream URL answers an error', async () => {
    stack.sim.injectFault({ kind: 'output_expired', status: 403 });
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const upstream = await fetchBytes(job.result!.upstream_url!);
    expect(upstream.status).toBe(403);
    const ours = await fetchBytes(job.result!.url);
    expect(ours.status).toBe(200);
    expect(ours.body.length).toBe(300_000);
    expect(sha256(ours.body)).toBe(job.result!.sha256);
    expect(ours.body.subarray(4, 8).toString('latin1')).toBe('ftyp');
    // The copy came through the authenticated download (protocol §2.8 fallback), with the attribution headers.
    const downloads = stack.sim.log.entries().filter((e) => e.endpoint === 'render_download');
    expect(downloads).toHaveLength(1);
    expect(downloads[0]!.skillHeaders.source).toBe('nemo-relay');
    expect(stack.sim.log.count('render_submit', { sessionId: job.upstream.session_id! })).toBe(1);
    expect(job.usage.upstream_calls).toBeGreaterThan(0);
  });

  it('copies again after a transient failure of the upstream URL', async () => {
    stack.sim.injectFault({ kind: 'server_error', endpoint: 'render_result', status: 503 });
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const tries = stack.sim.log.entries().filter((e) => e.endpoint === 'render_result' && e.path.includes(job.upstream.render_id!));
    expect(tries.map((e) => e.status)).toEqual([503, 200]);
    expect(sha256((await fetchBytes(job.result!.url)).body)).toBe(job.result!.sha256);
  });

  it('never stores a CDN error page answered with 200: the authenticated download gives the real video', async () => {
    stack.sim.injectFault({ kind: 'output_error_page' });
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect((await fetchBytes(job.result!.upstream_url!)).body.toString('latin1')).toMatch(/^<!doctype html>/);
    const ours = await fetchBytes(job.result!.url);
    expect([ours.status, ours.body.length, job.result!.size_bytes]).toEqual([200, 300_000, 300_000]);
    expect(sha256(ours.body)).toBe(job.result!.sha256);
    expect(stack.sim.log.entries().filter((e) => e.endpoint === 'render_download' && e.path.includes(job.upstream.render_id!))).toHaveLength(1);
  });

  it('copies again when a download ends early without a Content-Length to tell: the file itself says it is short', async () => {
    stack.sim.injectFault({ kind: 'output_cut_off' });
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const tries = stack.sim.log.entries().filter((e) => e.endpoint === 'render_result' && e.path.includes(job.upstream.render_id!));
    expect(tries).toHaveLength(2);
    const ours = await fetchBytes(job.result!.url);
    expect([ours.body.length, job.result!.size_bytes]).toEqual([300_000, 300_000]);
    expect(sha256(ours.body)).toBe(job.result!.sha256);
  });

  it('follows the output URL through a redirect (a CDN hop) and stores the file it leads to', async () => {
    stack.sim.injectFault({ kind: 'output_redirect' });
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const hops = stack.sim.log.entries().filter((e) => e.endpoint === 'render_result' && e.path.includes(job.upstream.render_id!));
    expect(hops.map((e) => [e.path.includes('/moved/'), e.status])).toEqual([
      [false, 302],
      [true, 200],
    ]);
    const ours = await fetchBytes(job.result!.url);
    expect([ours.body.length, job.result!.size_bytes]).toEqual([300_000, 300_000]);
    expect(sha256(ours.body)).toBe(job.result!.sha256);
  });

  it('fails the job with OUTPUT_GONE, at once, when the video is gone everywhere', async () => {
    stack.sim.injectFault({ kind: 'output_expired', status: 410 });
    stack.sim.injectFault({ kind: 'server_error', endpoint: 'render_download', status: 404 });
    const started = Date.now();
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'OUTPUT_GONE', retryable: false });
    expect(job.error!.message).toMatch(/no longer available upstream/);
    expect(job.result).toBeNull();
    // No waiting out retries: a gone video is final.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await stack.services.outputs.storage!.head(outputKey('acme', job.id))).toBeNull();
  });
});

describe('outputs: STORAGE_URL=none keeps the upstream URL', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { STORAGE_URL: 'none' } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('puts the upstream URL into result.url and stores nothing', async () => {
    const job = await waitForFinished(stack, await createJob(stack));
    expect(job.status).toBe('succeeded');
    expect(job.result!.url).toMatch(/\/render-result\/.+\.mp4$/);
    expect(job.result).toMatchObject({ upstream_url: job.result!.url, sha256: null, stored_at: null });
    expect(job.result!.size_bytes).toBeGreaterThan(0);
    expect(stack.services.outputs.storage).toBeNull();
    expect((await fetchBytes(job.result!.url)).status).toBe(200);
    const res = await fetchBytes(`${stack.apiUrl}/v1/jobs/${job.id}/output`, { authorization: `Bearer ${TENANTS.acme}` });
    expect([res.status, json(res.body).code]).toEqual([404, 'OUTPUT_NOT_STORED']);
    // A made-up signed query is refused as such (the route still answers, for jobs stored before the switch).
    const signed = await fetchBytes(`${stack.apiUrl}/v1/jobs/${job.id}/output?expires=1&sig=x`);
    expect([signed.status, json(signed.body).code]).toEqual([403, 'OUTPUT_LINK_INVALID']);
  });

  it('shows a job stored before the switch with the upstream URL, not the expired link minted when it was stored', async () => {
    const job = await waitForFinished(stack, await createJob(stack));
    const storedBefore = {
      ...job,
      result: { ...job.result!, url: `${stack.apiUrl}/v1/jobs/${job.id}/output?expires=1&sig=old`, sha256: 'a'.repeat(64), stored_at: job.finished_at },
    };
    const shown = await stack.services.outputs.present(storedBefore);
    expect(shown.result!.url).toBe(job.result!.upstream_url);
    expect(shown.result!.stored_at).toBe(job.finished_at);
  });
});

describe('outputs: readiness', () => {
  it('reports storage that cannot be written, naming the reason', async () => {
    // A directory below a regular file can never be created, whoever runs the test.
    const stack = await startStack({ worker: false, env: { STORAGE_URL: 'file:///dev/null/outputs' } });
    try {
      const res = await stack.api<{ code: string; message: string }>('GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('NOT_READY');
      // The deployment's own folder (QUEUE_PREFIX) inside the configured directory.
      expect(res.body.message).toMatch(/output storage file:\/\/\/dev\/null\/outputs\/[A-Za-z0-9._-]+ cannot be written: .*ENOTDIR/);
    } finally {
      await stack.close();
    }
  });
});
