// Outputs that last, s3 driver (s3rver): signed links redirect to presigned URLs, keyed reads stream with Range, erase.
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { outputKey } from '../../src/storage/keys.js';
import { storageNamespace } from '../../src/storage/settings.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const OUTPUT_BYTES = 2_000_000;
const CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

describe('outputs: s3 storage end to end', () => {
  let s3: TestS3Server;
  let stack: Stack;
  let receiver: WebhookReceiver;
  let job: Job;
  const saved: Partial<Record<(typeof CREDENTIALS)[number], string | undefined>> = {};

  beforeAll(async () => {
    s3 = await startS3Server('nemo-outputs');
    // The SDK's default credential chain reads these (the relay never holds S3 secrets in its own config).
    for (const name of CREDENTIALS) saved[name] = process.env[name];
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    stack = await startStack({
      scenario: { outputBytes: OUTPUT_BYTES },
      env: { STORAGE_URL: `s3://${s3.bucket}/relay/outputs`, S3_ENDPOINT: s3.endpoint, S3_REGION: s3.region, S3_FORCE_PATH_STYLE: 'true' },
    });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    receiver = await startWebhookReceiver([secret]);
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
      webhook: { url: receiver.url },
    });
    job = await waitForFinished(stack, created.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
    await s3?.close();
    for (const name of CREDENTIALS) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it('stores the render in the bucket and records its hash and size', async () => {
    const upstream = Buffer.from(await (await request(job.result!.upstream_url!)).body.arrayBuffer());
    expect(job.result).toMatchObject({ size_bytes: OUTPUT_BYTES, sha256: sha256(upstream) });
    expect(job.result!.stored_at).not.toBeNull();
    expect(stack.services.outputs.storage!.kind).toBe('s3');
    const head = await stack.services.outputs.storage!.head(outputKey('acme', job.id));
    expect(head).toMatchObject({ sizeBytes: OUTPUT_BYTES, sha256: job.result!.sha256, contentType: 'video/mp4' });
  });

  it('redirects a signed link to a fresh presigned URL of the object; no key needed', async () => {
    const first = await request(job.result!.url);
    await first.body.dump();
    expect(first.statusCode).toBe(302);
    const location = String(first.headers.location);
    // The deployment's folder (its QUEUE_PREFIX) inside the configured prefix.
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/relay/outputs/${storageNamespace(stack.services.config.QUEUE_PREFIX)}/acme/${job.id}.mp4?`)).toBe(true);
    expect(location).toMatch(/X-Amz-Signature=/);
    // The console's CSP lets a <video> follow it there.
    expect(stack.services.outputs.redirectOrigins).toContain(s3.endpoint);
    // What a browser or webhook receiver does: follow it.
    const followed = await fetch(job.result!.url);
    expect(followed.status).toBe(200);
    expect(sha256(Buffer.from(await followed.arrayBuffer()))).toBe(job.result!.sha256);
    // HEAD stays with the API (a presigned GET URL refuses HEAD) and answers from the record.
    const head = await request(job.result!.url, { method: 'HEAD' });
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(OUTPUT_BYTES));
    expect(head.headers.etag).toBe(`"${job.result!.sha256}"`);
  });

  it('streams keyed reads through the API, ranges included', async () => {
    const base = `${stack.apiUrl}/v1/jobs/${job.id}/output`;
    const whole = await request(base, { headers: { authorization: `Bearer ${TENANTS.acme}` } });
    expect(whole.statusCode).toBe(200);
    const bytes = Buffer.from(await whole.body.arrayBuffer());
    expect(sha256(bytes)).toBe(job.result!.sha256);
    const part = await request(base, { headers: { authorization: `Bearer ${TENANTS.acme}`, range: 'bytes=1000-1999' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-1999/${OUTPUT_BYTES}`);
    expect(Buffer.from(await part.body.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);
    const foreign = await request(base, { headers: { authorization: `Bearer ${TENANTS.globex}` } });
    await foreign.body.dump();
    expect(foreign.statusCode).toBe(404);
  });

  it('puts a working link and the result fields into the webhook', async () => {
    const delivery = await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === job.id && d.payload.type === 'job.succeeded'), {
      what: 'the job.succeeded webhook',
    });
    expect(delivery.verified).toBe(true);
    const result = (delivery.payload.data as unknown as Job).result!;
    expect(result).toMatchObject({ upstream_url: job.result!.upstream_url, sha256: job.result!.sha256, size_bytes: OUTPUT_BYTES, stored_at: job.result!.stored_at });
    const got = await fetch(result.url);
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(job.result!.sha256);
  });

  it('erases the object and sweeps objects whose job is gone', async () => {
    const storage = stack.services.outputs.storage!;
    await stack.services.outputs.erase('acme', job.id);
    expect(await storage.head(outputKey('acme', job.id))).toBeNull();
    const after = await fetch(job.result!.url);
    expect(after.status).toBe(404);
    // An object of a job that does not exist (its record erased while a copy ran): gone after the grace period.
    const { Readable } = await import('node:stream');
    const orphan = outputKey('acme', 'job_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    await storage.put(orphan, Readable.from([Buffer.from('orphan')]), { contentType: 'video/mp4' });
    expect((await stack.services.outputs.sweep()).removed).toEqual([]);
    const swept = await stack.services.outputs.sweep({ graceMs: 0 });
    expect(swept.removed).toEqual([orphan]);
    expect(await storage.head(orphan)).toBeNull();
  });
});
