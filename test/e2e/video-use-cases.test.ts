// The seed use cases end to end through the public API against the simulator, each checked against what was asked.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { uploadFile } from '../helpers/uploads.js';
import { waitFor } from '../helpers/wait.js';

const sample = (name: string) => readFileSync(new URL(`../../assets/samples/${name}`, import.meta.url));
const heic = readFileSync(new URL('../fixtures/heic/plain-64x48.heic', import.meta.url));
const check = (job: Job, name: string) => job.result?.checks.find((c) => c.name === name);

describe('seed use cases', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { CREDITS_RECHECK_MS: '100', NEMO_WEB_URL: 'https://nemovideo.example' } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.sim.clearFaults();
    stack.sim.setCredits(10_000);
    stack.sim.log.clear();
  });

  async function submit(body: Record<string, unknown>): Promise<Job> {
    const res = await stack.api<Job>('POST', '/v1/jobs', body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return waitForFinished(stack, res.body.id);
  }

  it('five product photos and a logo → a 30-second 1080p promo with music and a title', async () => {
    const files = ['sample-1-mug.jpg', 'sample-2-lamp.jpg', 'sample-3-bottle.png', 'sample-4-headphones.webp', 'sample-5-giftbox.jpg'];
    const ids = [];
    for (const f of files) ids.push(await uploadFile(stack, f, sample(f)));
    ids.push(await uploadFile(stack, 'logo.png', sample('sample-3-bottle.png')));
    const job = await submit({
      instruction: 'turn these product photos and the logo into a promo video',
      sources: ids.map((upload_id) => ({ upload_id })),
      output: { duration_s: 30, resolution: '1080p', music: { style: 'upbeat', volume: 0.4 }, title: 'Summer Sale' },
    });
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    // The agent was told every wish, literally, in the first (and only) message.
    expect(job.messages_sent).toHaveLength(1);
    expect(job.messages_sent[0]).toContain('- Length: 30 seconds long.');
    expect(job.messages_sent[0]).toContain('- Music: background music, style "upbeat", at 40% volume.');
    expect(job.messages_sent[0]).toContain('- Title: show the title "Summer Sale" at the start.');
    expect(check(job, 'duration')).toMatchObject({ wanted: '30 s', ok: true });
    expect(check(job, 'resolution')).toMatchObject({ wanted: '1080p', ok: true });
    expect(check(job, 'music')).toMatchObject({ wanted: 'present', ok: true });
    expect(check(job, 'title')).toMatchObject({ wanted: 'Summer Sale', ok: true });
    expect(job.result?.conformant).toBe(true);
    expect(job.timeline?.tracks.map((t) => t.kind)).toEqual(expect.arrayContaining(['video', 'audio', 'text']));
    expect(job.usage).toMatchObject({ messages_sent: 1, renders: 1 });
    expect(job.usage.upstream_calls).toBeGreaterThanOrEqual(6);
    expect(stack.sim.session(job.upstream.session_id!)!.uploads.map((u) => u.sniffed)).toHaveLength(6);
  });

  it('a text description alone → a promo video', async () => {
    const job = await submit({
      instruction: 'a 15 second promo for a neighbourhood coffee shop, warm morning light, people chatting',
      output: { aspect_ratio: '16:9', duration_s: 15 },
    });
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.sources).toEqual([]);
    expect(check(job, 'aspect_ratio')).toMatchObject({ wanted: '16:9 (1920x1080)', got: '1920x1080', ok: true });
    expect(check(job, 'duration')).toMatchObject({ ok: true });
    expect(job.result?.conformant).toBe(true);
    expect(stack.sim.log.count('upload')).toBe(0);
  });

  it('no upstream key: the anonymous token serves, and running out of credits shows the claim link until credits return', async () => {
    expect(stack.services.tokens.isStatic).toBe(false);
    // Enough credits to start, too few for the generation: the agent answers 2001.
    stack.sim.setCredits(0);
    const res = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a promo for a bike shop', output: { aspect_ratio: '1:1' } });
    expect(res.status).toBe(202);
    const waiting = await waitFor(
      async () => {
        const job = (await stack.api<Job>('GET', `/v1/jobs/${res.body.id}`)).body;
        return job.waiting?.reason === 'upstream_credits' ? job : null;
      },
      { what: 'the job to wait for credits', timeoutMs: 20_000 },
    );
    expect(waiting.status).toBe('running');
    expect(waiting.waiting!.message).toMatch(/out of credits \(2001\): register at https:\/\/nemovideo\.example\/workspace\/claim\?ct=clm_\S+ or set NEMO_TOKEN/);
    const credits = await stack.api<{ claim_url: string | null }>('GET', '/v1/credits');
    expect(credits.status).toBe(200);
    expect(credits.body.claim_url).toMatch(/^https:\/\/nemovideo\.example\/workspace\/claim\?ct=clm_/);
    expect(waiting.waiting!.message).toContain(credits.body.claim_url!);
    stack.sim.setCredits(10_000);
    const job = await waitForFinished(stack, res.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.waiting).toBeNull();
    expect(job.result?.conformant).toBe(true);
    // One anonymous token, no key configured anywhere.
    expect(stack.sim.log.entries().filter((e) => e.endpoint === 'anonymous_token').length).toBeLessThanOrEqual(1);
  });

  it('brand images → a 9:16 clip with background music', async () => {
    const ids = [await uploadFile(stack, 'brand-1.jpg', sample('sample-1-mug.jpg')), await uploadFile(stack, 'brand-2.jpg', sample('sample-5-giftbox.jpg'))];
    const job = await submit({
      instruction: 'a short vertical brand clip from these images',
      sources: ids.map((upload_id) => ({ upload_id })),
      output: { aspect_ratio: '9:16', music: { style: 'lo-fi' }, duration_s: 12 },
    });
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.messages_sent[0]).toContain('- Aspect ratio: 9:16, 1080x1920 pixels (vertical).');
    expect(check(job, 'aspect_ratio')).toMatchObject({ wanted: '9:16 (1080x1920)', got: '1080x1920', ok: true });
    expect(check(job, 'music')).toMatchObject({ got: 'present', ok: true });
    expect(job.result?.conformant).toBe(true);
    expect(job.timeline).toMatchObject({ width: 1080, height: 1920 });
  });

  it('vacation photos (JPG, PNG, WEBP, HEIC) → a slideshow with music and transitions; the upstream only gets JPEG/PNG/WEBP', async () => {
    const ids = [
      await uploadFile(stack, 'beach.jpg', sample('sample-2-lamp.jpg')),
      await uploadFile(stack, 'sunset.png', sample('sample-3-bottle.png')),
      await uploadFile(stack, 'market.webp', sample('sample-4-headphones.webp')),
      await uploadFile(stack, 'IMG_0042.HEIC', heic),
    ];
    const job = await submit({
      instruction: 'a slideshow of our vacation photos',
      sources: ids.map((upload_id) => ({ upload_id })),
      output: { music: { style: 'acoustic', volume: 0.3 }, transitions: 'crossfade', duration_s: 20 },
    });
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.messages_sent[0]).toContain('- Transitions: crossfade.');
    const received = stack.sim.session(job.upstream.session_id!)!.uploads;
    expect(received.map((u) => u.sniffed).sort()).toEqual(['jpeg', 'jpeg', 'png', 'webp']);
    expect(received.every((u) => u.accepted)).toBe(true);
    // The job keeps the original: its source is still the HEIC upload.
    expect(job.sources).toContainEqual({ upload_id: ids[3] });
    expect(check(job, 'music')).toMatchObject({ ok: true });
    expect(job.result?.conformant).toBe(true);
  });

  it('a slideshow of uploaded and linked photos keeps the caller’s order upstream', async () => {
    const beach = await uploadFile(stack, 'beach.jpg', sample('sample-2-lamp.jpg'));
    const sunset = await uploadFile(stack, 'sunset.png', sample('sample-3-bottle.png'));
    const job = await submit({
      instruction: 'a slideshow of our vacation photos, in this order',
      sources: [{ upload_id: beach }, { url: 'https://example.com/photos/harbour.jpg' }, { url: 'https://example.com/photos/dunes.jpg' }, { upload_id: sunset }],
      output: { transitions: 'crossfade' },
    });
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    const received = stack.sim.session(job.upstream.session_id!)!.uploads;
    expect(received.map((u) => u.filename)).toEqual(['beach.jpg', 'harbour.jpg', 'dunes.jpg', 'sunset.png']);
  });

  it('refuses 4k and above with a 400 that says the upstream renders at most 1080p', async () => {
    const res = await stack.api<{ code: string; message: string }>('POST', '/v1/jobs', {
      instruction: 'x',
      output: { resolution: '4k' },
    }, { key: TENANTS.acme });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.message).toMatch(/output\.resolution: the upstream renders at most 1080p \(1080x1920\); 4k is not available/);
  });
});
