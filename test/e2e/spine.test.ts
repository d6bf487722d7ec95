// End to end: POST /v1/jobs → worker drives the simulator → signed webhook with a real MP4 URL, in both upstream dialects.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const PHOTOS = [1, 2, 3, 4, 5].map((i) => ({ url: `https://example.com/products/photo-${i}.jpg` }));
const LOGO = { url: 'https://example.com/brand/logo.png' };

async function runPromoJob(stack: Stack, receiver: WebhookReceiver) {
  const created = await stack.api<Job>('POST', '/v1/jobs', {
    instruction: 'turn these images into a 30-second promo video with music and text',
    followups: ['add lo-fi background music at 35%', 'title "Urban Dreams" for the first 3 seconds'],
    sources: [...PHOTOS, LOGO],
    output: { resolution: '1080p' },
    webhook: { url: receiver.url },
    metadata: { order_id: 'A-17' },
  });
  expect(created.status).toBe(202);
  expect(created.body.status).toBe('queued');
  const id = created.body.id;
  const delivery = await waitFor(
    () => receiver.deliveries.find((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded'),
    { what: `job.succeeded webhook for ${id}`, timeoutMs: 30_000 },
  );
  return { id, delivery };
}

async function assertSucceeded(stack: Stack, receiver: WebhookReceiver, id: string) {
  const delivery = receiver.deliveries.find((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded')!;
  expect(delivery.verified, delivery.verifyError ?? '').toBe(true);
  expect(delivery.headers['webhook-id']).toMatch(/^evt_/);
  const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
  expect(job.status).toBe('succeeded');
  expect(job.stage).toBe('done');
  expect(job.progress).toBe(100);
  expect(job.metadata).toEqual({ order_id: 'A-17' });
  expect(job.messages.length).toBeGreaterThan(0);
  expect(job.result?.timeline).toMatch(/^Timeline \(3 tracks\): 1\. Video \(6 segments/);
  expect(job.result?.duration_ms).toBe(30_000);
  expect(job.upstream.session_id).toMatch(/^\d{19}$/);
  expect(JSON.stringify(job)).not.toMatch(/nmv_usr_/);
  // The MP4 the caller is pointed at is real.
  const download = await request(job.result!.url);
  const bytes = Buffer.from(await download.body.arrayBuffer());
  expect(download.statusCode).toBe(200);
  expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
  expect(job.result?.size_bytes).toBe(bytes.length);
  // Exactly one agent call per message and exactly one render, as the simulator saw it.
  const session = job.upstream.session_id!;
  expect(stack.sim.log.count('run_sse', { sessionId: session })).toBe(3);
  expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
  expect(stack.sim.log.count('create_session')).toBe(1);
  // Every API call carries attribution (protocol §0); the CDN-style result URL is fetched like any public file.
  const skill = stack.sim.log.entries().filter((e) => !['control', 'render_result', 'unknown'].includes(e.endpoint));
  expect(skill.length).toBeGreaterThan(8);
  expect(skill.every((e) => e.skillHeaders.source === 'nemo-relay' && e.skillHeaders.platform === 'unknown')).toBe(true);
  return job;
}

describe.each([
  { name: 'camelCase events, render poll shape a', scenario: { eventCasing: 'camel', renderShape: 'a', heartbeat: 'json' } },
  // Drafts with sandbox paths named by the uploads' storage keys (a content hash, not the uploaded name): only state's
  // video_infos map them to their cdn_url, and the simulator refuses to render a draft that still has one.
  {
    name: 'snake_case events, render poll shape b, sandbox paths by storage key',
    scenario: { eventCasing: 'snake', renderShape: 'b', heartbeat: 'mixed', sandboxPaths: true, storageKeys: 'hash' },
  },
  // The proxy passing Remotion's raw getRenderProgress through (§4: no status, overallProgress 0..1, outputFile), with
  // every refusal on HTTP 200 (§6.1).
  {
    name: 'render poll shape remotion, errors on HTTP 200',
    scenario: { eventCasing: 'camel', renderShape: 'remotion', heartbeat: 'json', errorHttpStatus: 'always200', httpLikeCodes: 'body' },
  },
] as const)('spine: $name', ({ scenario }) => {
  let stack: Stack;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    stack = await startStack({ scenario: { ...scenario, silentEdits: 0.5 } });
    const secret = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    expect(secret).toMatch(/^whsec_/);
    receiver = await startWebhookReceiver([secret]);
  });

  afterAll(async () => {
    await receiver?.close();
    await stack?.close();
  });

  it('turns five product photos and a logo into a signed, delivered 30-second promo', async () => {
    const { id } = await runPromoJob(stack, receiver);
    await assertSucceeded(stack, receiver, id);
    expect(stack.sim.log.count('anonymous_token')).toBe(1);
  });

  it('shares one anonymous token across jobs and serves a text-only job', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', {
      instruction: 'make a 10-second promo video for a coffee shop opening, warm tones',
      webhook: { url: receiver.url, events: ['job.started', 'job.succeeded'] },
    });
    expect(created.status).toBe(202);
    const id = created.body.id;
    await waitFor(() => receiver.deliveries.find((d) => d.payload.data.id === id && d.payload.type === 'job.succeeded'), {
      what: 'text-only job webhook',
    });
    const types = receiver.deliveries.filter((d) => d.payload.data.id === id).map((d) => d.payload.type);
    expect(types).toEqual(['job.started', 'job.succeeded']);
    const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
    expect(job.result?.timeline).toMatch(/^Timeline \(1 track\): 1\. Video \(1 segment, 10\.0s\)/);
    expect(stack.sim.log.count('anonymous_token')).toBe(1);
  });
});
