// The web console in a real Chromium (playwright-core) against the whole service in-process: every page, live updates, errors.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { startStack, TENANTS, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { ensureConsoleBuilt } from './console-build.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.warn(`test/browser/console.test.ts: SKIPPED: no browser at ${CHROMIUM} (install it with: apt-get install -y chromium)`);
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test', 'artifacts');
const SAMPLES = join(ROOT, 'assets', 'samples');
const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];
const LIVE_TIMEOUT_MS = 30_000;

/** The operator's key: the operator view signs in with it and reads GET /admin/overview. */
const ADMIN_KEY = 'admin-key-0123456789abcdef';

describe.skipIf(!HAS_CHROMIUM)('web console (Chromium)', () => {
  let stack: Stack;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let context: BrowserContext;
  /** acme's tab, reused by every test; globex gets its own tab (sessionStorage is per tab). */
  let page: Page;
  const problems: string[] = [];
  const acmeJobs: string[] = [];

  const url = (path: string) => `${stack.apiUrl}/console${path}`;
  const shot = (p: Page, name: string) => p.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });

  function watch(p: Page, label: string): void {
    p.on('console', (m) => {
      if (/Content Security Policy|Refused to (load|execute|apply)/i.test(m.text())) problems.push(`${label} CSP: ${m.text()}`);
    });
    p.on('pageerror', (err) => problems.push(`${label} page error: ${err.message}`));
  }

  type FeedEvent = { seq: number; type: string };
  const eventsOf = async (id: string) =>
    (await stack.api<{ data: FeedEvent[] }>('GET', `/v1/jobs/${id}/events`, undefined, { headers: { accept: 'application/json' } })).body.data;

  /**
   * Opens a job's page with its first events stream answered by `firstStream` and then ended, as a proxy's timeout
   * would cut it; later streams reach the API. Runs `whileOpen` (given the Last-Event-ID of each events request so
   * far), and returns those once it is done.
   */
  async function openWithCutStream(
    id: string,
    firstStream: () => Promise<FeedEvent[]>,
    whileOpen: (sent: readonly (string | undefined)[]) => Promise<void>,
  ): Promise<(string | undefined)[]> {
    const eventsPath = `/v1/jobs/${id}/events`;
    await page.route(
      (u) => u.pathname === eventsPath,
      async (route) => {
        const events = await firstStream();
        await route.fulfill({
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
          body: events.map((e) => `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''),
        });
      },
      { times: 1 },
    );
    const sent: (string | undefined)[] = [];
    const onRequest = (r: { url(): string; headers(): Record<string, string> }) => {
      if (new URL(r.url()).pathname === eventsPath) sent.push(r.headers()['last-event-id']);
    };
    page.on('request', onRequest);
    try {
      await page.goto(url(`/jobs/${id}`));
      await whileOpen(sent);
    } finally {
      page.off('request', onRequest);
    }
    return sent;
  }

  /** The events the page lists, by seq: every one once and in order means none was lost or shown twice. */
  const shownSeqs = async () => (await page.getByTestId('events').locator('li .mono').allTextContents()).map((t) => Number(t.slice(1)));

  async function signIn(p: Page, key: string, opts: { keyboard?: boolean } = {}): Promise<void> {
    await p.goto(url('/sign-in'));
    await p.getByLabel('API key').fill(key);
    if (opts.keyboard) await p.getByLabel('API key').press('Enter');
    else await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL((u) => !u.pathname.endsWith('/sign-in'));
  }

  /** The page's own navigation (no reload): a reload would drop this marker. */
  const mark = (p: Page) => p.evaluate('window.__consoleMarker = "kept"');
  const marked = (p: Page) => p.evaluate<string | undefined>('window.__consoleMarker');

  const jobIdOf = (p: Page) => /\/console\/jobs\/(job_[0-9A-Z]+)$/.exec(new URL(p.url()).pathname)?.[1] ?? null;

  async function count(locator: Locator, atLeast: number, what: string): Promise<number> {
    return waitFor(
      async () => {
        const n = await locator.count();
        return n >= atLeast ? n : null;
      },
      { what, timeoutMs: LIVE_TIMEOUT_MS, intervalMs: 50 },
    );
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const build = ensureConsoleBuilt();
    if (build.built) console.info(`console built for the test in ${build.ms} ms (dist/console was missing or stale)`);
    [stack, receiver, browser] = await Promise.all([
      startStack({ env: { ADMIN_API_KEY: ADMIN_KEY } }),
      startWebhookReceiver(),
      chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS }),
    ]);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    // A step that cannot happen should fail in seconds, not hold the suite for Playwright's default 30 s.
    context.setDefaultTimeout(10_000);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.apiUrl });
    page = await context.newPage();
    watch(page, 'acme');
  }, 90_000);

  // A failed step leaves a picture of the page it failed on, beside the others.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page || page.isClosed()) return;
    const name = ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60).toLowerCase();
    await page.screenshot({ path: join(ARTIFACTS, `console-failed-${name}.png`), fullPage: true }).catch(() => undefined);
  });

  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await stack?.close();
  });

  it('serves the built console with its CSP, immutable assets and the SPA fallback', async () => {
    // Every body is read to the end: an unread one keeps its keep-alive socket busy and holds up the server's close.
    const get = async (path: string) => {
      const res = await fetch(stack.apiUrl + path);
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    const index = await get('/console/jobs/job_anything/deeper');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    for (const part of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "media-src 'self' blob:", "frame-ancestors 'none'"]) {
      expect(csp).toContain(part);
    }
    expect(csp).not.toContain('unsafe-inline');
    expect(index.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(index.text).not.toMatch(/https?:\/\//); // nothing from elsewhere
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
    expect(asset).toBeDefined();
    const js = await get(asset!);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get('/console/assets/index-missing.js')).status).toBe(404);
    // /console needs no key, and the API's own routes still do.
    expect((await get('/console')).status).toBe(200);
    expect((await get('/v1/jobs')).status).toBe(401);
    // Pages, not API: the OpenAPI document (and so openapi.yaml) does not list them.
    expect((await get('/openapi.json')).text).not.toContain('/console');
  });

  it('refuses a wrong key with a visible error, and signs in with the keyboard', async () => {
    await page.goto(url('/'));
    await page.waitForURL(/\/console\/sign-in$/);
    await page.getByLabel('API key').fill('not-a-real-key-0000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: 'not accepted' }).waitFor();
    expect(await alert.textContent()).toContain('401');
    await shot(page, 'sign-in-wrong-key');

    await signIn(page, TENANTS.acme, { keyboard: true });
    expect(new URL(page.url()).pathname).toBe('/console/jobs');
    expect(await page.evaluate<string | null>('sessionStorage.getItem("nemo-relay.console.session")')).toContain(TENANTS.acme);
    // A tenant key does not open the operator view: no link to it.
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operator' }).count()).toBe(0);
  });

  it('submits a text-only job and follows it live to succeeded; the video plays and seeks; deliveries and Redeliver', async () => {
    await page.getByRole('link', { name: 'New job' }).first().click();
    await page.getByLabel('Instruction').fill('a 10-second vertical teaser about autumn in the city');
    await page.getByRole('button', { name: 'Add follow-up' }).click();
    await page.getByLabel('Follow-up 1', { exact: true }).fill('add lo-fi background music at 35%');
    await page.getByRole('button', { name: 'Add follow-up' }).click();
    await page.getByRole('button', { name: 'Remove follow-up 2' }).click();
    await page.getByLabel('Aspect ratio').selectOption('9:16');
    await page.getByLabel('Webhook URL').fill(receiver.url);
    for (const label of ['Resolution', 'Duration (seconds)', 'Music', 'Title', 'Transitions', 'Conformance', 'Files', 'Source URLs']) {
      expect(await page.getByLabel(label, { exact: true }).count(), label).toBe(1);
    }
    // The picker offers phone photos too (the API converts HEIC/HEIF to JPEG).
    expect(await page.locator('input[type=file]').getAttribute('accept')).toMatch(/\.heic,\.heif/);
    const curl = (await page.getByTestId('curl').textContent()) ?? '';
    expect(curl).toContain('$NEMO_RELAY_API_KEY');
    expect(curl).not.toContain(TENANTS.acme);
    expect(curl).toContain('"aspect_ratio": "9:16"');
    expect(curl).toContain(`${stack.apiUrl}/v1/jobs`);
    await shot(page, 'new-job');

    await mark(page);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/console\/jobs\/job_/);
    const id = jobIdOf(page)!;
    acmeJobs.push(id);
    await page.getByTestId('job-status').getByText('succeeded').waitFor({ timeout: LIVE_TIMEOUT_MS });
    expect(await marked(page)).toBe('kept');
    expect(await page.getByTestId('job-progress').getAttribute('value')).toBe('100');
    // The events came over the live feed (the page was open before the job started).
    expect(await page.getByTestId('events').locator('li').count()).toBeGreaterThanOrEqual(2);
    expect(await page.getByTestId('events').textContent()).toContain('job.succeeded');
    const stored = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
    expect(stored.followups).toEqual(['add lo-fi background music at 35%']);
    // One conversation: each message sent, then the agent's answers to it, then what it changed.
    const who = await page.locator('ol.conversation > li').evaluateAll((items) => items.map((li) => `${li.className}|${li.querySelector('.who')?.textContent ?? ''}`));
    const order = who.map((w) => (w.includes('relay') ? 'relay' : w.includes('agent') ? 'agent' : 'change'));
    expect(stored.changes).toHaveLength(2);
    // (a message the agent answered without text, a silent edit, has no agent line)
    expect(order.filter((o, i) => o !== order[i - 1])).toEqual(stored.changes.flatMap((c) => ['relay', ...(c.answers ? ['agent'] : []), 'change']));
    for (const c of stored.changes) expect(who.filter((w) => w.includes(`answering message ${c.message}`)).length).toBe(c.answers);
    expect(stored.output.aspect_ratio).toBe('9:16');

    // The result plays: metadata loads (duration > 0) and a seek lands where asked (the file host honours Range).
    const duration = await waitFor(() => page.evaluate<number>('document.querySelector("video")?.duration || 0'), {
      what: 'the video duration',
      timeoutMs: LIVE_TIMEOUT_MS,
    });
    expect(duration).toBeGreaterThan(0);
    const seekTo = Math.min(1.5, duration / 2);
    const landed = await page.evaluate<number>(`new Promise((resolve, reject) => {
      const v = document.querySelector('video');
      v.addEventListener('seeked', () => resolve(v.currentTime), { once: true });
      v.addEventListener('error', () => reject(new Error('video error ' + (v.error && v.error.message))), { once: true });
      v.currentTime = ${seekTo};
    })`);
    expect(landed).toBeCloseTo(seekTo, 1);

    // The delivery log shows the webhook's attempt(s); Redeliver adds exactly one more.
    const rows = page.getByTestId('deliveries').locator('tbody tr.attempt-ok, tbody tr.attempt-failed');
    const before = await count(rows, 1, 'the first delivery attempt in the log');
    expect(await page.getByTestId('deliveries').textContent()).toContain('job.succeeded');
    const received = receiver.deliveries.length;
    // The redelivery's receiver answers with a body: the log shows the start of it with the attempt.
    receiver.respond(() => ({ status: 200, body: 'thanks, stored as order A-17' }));
    try {
      // From the keyboard: the focus stays on the button while the redelivery runs (a keyboard user keeps their place).
      await page.getByRole('button', { name: 'Redeliver' }).focus();
      await page.keyboard.press('Enter');
      expect(await page.evaluate<string>('document.activeElement?.textContent?.trim() ?? ""')).toBe('Redeliver');
      await count(rows, before + 1, 'the redelivered attempt in the log');
      await page.getByRole('status').filter({ hasText: 'Redelivered' }).waitFor();
      expect(await page.evaluate<string>('document.activeElement?.textContent?.trim() ?? ""')).toBe('Redeliver');
    } finally {
      receiver.respond(() => ({ status: 204 }));
    }
    expect(receiver.deliveries.length).toBeGreaterThan(received);
    expect(await rows.last().locator('.response-excerpt').textContent()).toBe('thanks, stored as order A-17');
    await shot(page, 'job');
  });

  it('uploads a dropped file and a picked file with progress bars, then runs the job with both', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Instruction').fill('a short product reel of these two photos');
    // A real drop: a DataTransfer built in the page, dispatched on the drop zone.
    const mug = readFileSync(join(SAMPLES, 'sample-1-mug.jpg')).toString('base64');
    const dataTransfer = await page.evaluateHandle(`(() => {
      const bytes = Uint8Array.from(atob(${JSON.stringify(mug)}), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'mug.jpg', { type: 'image/jpeg' }));
      return dt;
    })()`);
    await page.getByRole('group', { name: 'Drop files here' }).dispatchEvent('drop', { dataTransfer });
    // And the file picker.
    await page.getByLabel('Files', { exact: true }).setInputFiles(join(SAMPLES, 'sample-3-bottle.png'));
    const uploads = page.getByTestId('upload');
    await count(uploads.filter({ hasText: 'uploaded as upl_' }), 2, 'both uploads to finish');
    for (const name of ['mug.jpg', 'sample-3-bottle.png']) {
      const bar = page.getByRole('progressbar', { name: `Upload of ${name}` });
      expect(await bar.getAttribute('value')).toBe(await bar.getAttribute('max'));
    }
    const curl = (await page.getByTestId('curl').textContent()) ?? '';
    expect(curl).toContain("-F 'file=@\"mug.jpg\"'");
    expect(curl).toMatch(/"upload_id": "upl_/);
    await shot(page, 'new-job-uploads');

    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/\/console\/jobs\/job_/);
    const id = jobIdOf(page)!;
    acmeJobs.push(id);
    await page.getByTestId('job-status').getByText('succeeded').waitFor({ timeout: LIVE_TIMEOUT_MS });
    const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
    expect(job.sources).toHaveLength(2);
    expect(job.sources.every((s) => 'upload_id' in s)).toBe(true);
  });

  it("names every problem of a form at once: a file that did not upload and the form's own", async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Files', { exact: true }).setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
    await page.locator('[data-testid="upload"].upload-failed').waitFor({ timeout: LIVE_TIMEOUT_MS });
    // A refused file does not look uploaded (its bar was full) and is not among the sources of the curl commands.
    expect(await page.getByRole('progressbar', { name: 'Upload of notes.txt' }).getAttribute('value')).toBe('0');
    expect((await page.getByTestId('curl').textContent()) ?? '').not.toContain('notes.txt');
    await page.getByRole('button', { name: 'Submit job' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    // The files' problem and the empty instruction together (the instruction's was shown only once the file was removed).
    expect(text).toContain('some files did not upload');
    expect(text).toMatch(/Instruction/);
  });

  it('lists the jobs live without a reload, filters by status and pages with cursors', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
    const table = page.getByTestId('jobs');
    for (const id of acmeJobs) await table.locator(`tr[data-job-id="${id}"]`).waitFor();
    await mark(page);
    // A job made elsewhere shows up and finishes on screen: the list polls.
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'made from a script while the list is open' });
    expect(created.status).toBe(202);
    acmeJobs.push(created.body.id);
    const row = table.locator(`tr[data-job-id="${created.body.id}"]`);
    await row.waitFor({ timeout: LIVE_TIMEOUT_MS });
    await row.getByText('succeeded').waitFor({ timeout: LIVE_TIMEOUT_MS });
    expect(await marked(page)).toBe('kept');
    await shot(page, 'jobs');

    await page.getByLabel('Status').selectOption('failed');
    await page.waitForURL(/status=failed/);
    await table.getByText('No failed jobs.').waitFor();
    await page.getByLabel('Status').selectOption('succeeded');
    await count(table.locator('tbody tr[data-job-id]'), 3, 'three succeeded jobs');

    // Cursor paging, one job a page: newest first, Next walks back in time, Previous returns.
    await page.goto(url('/jobs?limit=1'));
    const newest = [...acmeJobs].reverse();
    const shown = async () => table.locator('tbody tr[data-job-id]').first().getAttribute('data-job-id');
    await waitFor(async () => (await shown()) === newest[0], { what: 'page 1' });
    await page.getByRole('button', { name: 'Next page' }).click();
    await waitFor(async () => (await shown()) === newest[1], { what: 'page 2' });
    await page.getByRole('button', { name: 'Next page' }).click();
    await waitFor(async () => (await shown()) === newest[2], { what: 'page 3' });
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous page' }).click();
    await waitFor(async () => (await shown()) === newest[1], { what: 'back to page 2' });
    await page.goBack();
    await waitFor(async () => (await shown()) === newest[2], { what: 'history back to page 3' });
  });

  it('resumes the live feed with Last-Event-ID when the stream ends early, and cancels a running job', async () => {
    // Renders last until the test ends them, so a job stays running whatever the page's (or the machine's) pace.
    const { renderMs } = stack.sim.scenario();
    stack.sim.setScenario({ renderMs: 1e12 });
    const rendering = (id: string) =>
      waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.upstream.render_id !== null, { what: 'the render to be submitted' });
    try {
      const created = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a teaser followed over a broken stream' })).body;
      acmeJobs.push(created.id);
      await rendering(created.id);
      const backlog = await eventsOf(created.id);
      expect(backlog.length).toBeGreaterThan(0);
      const resumedWith = await openWithCutStream(created.id, async () => backlog, async (sent) => {
        // Resumed and live while the job still runs; then the render ends and its end arrives on that stream.
        await waitFor(() => sent.length === 2, { what: 'the resumed stream', timeoutMs: LIVE_TIMEOUT_MS });
        await page.getByTestId('feed-state').getByText('live').waitFor();
        stack.sim.completeRendersNow();
        await page.getByTestId('job-status').getByText('succeeded').waitFor({ timeout: LIVE_TIMEOUT_MS });
      });
      expect(resumedWith).toEqual([undefined, String(backlog.at(-1)!.seq)]);
      // Every event shown once, in order: the resumed stream started after the last one seen.
      const seqs = await shownSeqs();
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));

      const running = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a teaser nobody wants any more' })).body;
      acmeJobs.push(running.id);
      await rendering(running.id);
      await page.goto(url(`/jobs/${running.id}`));
      await page.getByTestId('feed-state').getByText('live').waitFor();
      await page.getByRole('button', { name: 'Cancel job' }).click();
      await page.getByTestId('job-status').getByText('canceled').waitFor({ timeout: LIVE_TIMEOUT_MS });
      expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
      expect((await waitForFinished(stack, running.id)).status).toBe('canceled');
    } finally {
      stack.sim.setScenario({ renderMs });
      stack.sim.completeRendersNow();
    }
  });

  it('reads the events it missed when the stream ended early and the job finished before the page resumed', async () => {
    // Held in the queue until the page asks for its feed: a job that finished before the page loaded would be shown
    // from its record, with no stream to cut (a loaded CI machine did that).
    await stack.services.flowQueue.pause();
    const created = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a teaser that finishes while the feed is down' })).body;
    acmeJobs.push(created.id);
    let cutAt = 0;
    // The first stream is answered only once the job has finished, and carries only its first two events.
    const firstTwoOnceFinished = async () => {
      await stack.services.flowQueue.resume();
      await waitForFinished(stack, created.id);
      const early = (await eventsOf(created.id)).slice(0, 2);
      cutAt = early.at(-1)!.seq;
      return early;
    };
    let resumedWith: (string | undefined)[];
    try {
      resumedWith = await openWithCutStream(created.id, firstTwoOnceFinished, () =>
        page.getByTestId('feed-state').getByText('finished').waitFor({ timeout: LIVE_TIMEOUT_MS }),
      );
    } finally {
      await stack.services.flowQueue.resume();
    }
    expect(resumedWith).toEqual([undefined, String(cutAt)]);
    // The feed ends with the terminal event, every event once, in order.
    const seqs = await shownSeqs();
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(seqs.length).toBeGreaterThan(2);
    expect(await page.getByTestId('events').locator('li').last().textContent()).toContain('job.succeeded');
  });

  it('revises a finished job into a new job that links back to it', async () => {
    const parent = acmeJobs[0]!;
    await page.goto(url(`/jobs/${parent}`));
    await page.getByTestId('job-status').getByText('succeeded').waitFor();
    await page.getByLabel('Revision instruction').fill('make the title bigger');
    await page.getByRole('button', { name: 'Revise' }).click();
    await page.waitForURL((u) => /\/console\/jobs\/job_/.test(u.pathname) && !u.pathname.endsWith(parent));
    const child = jobIdOf(page)!;
    acmeJobs.push(child);
    await page.getByRole('link', { name: parent }).waitFor();
    await page.getByTestId('job-status').getByText('succeeded').waitFor({ timeout: LIVE_TIMEOUT_MS });
    expect((await stack.api<Job>('GET', `/v1/jobs/${child}`)).body.parent_id).toBe(parent);
  });

  it('fits a 360 px wide screen: tables scroll inside themselves, the page never sideways', async () => {
    const narrow = await context.newPage();
    watch(narrow, 'narrow');
    try {
      await narrow.setViewportSize({ width: 360, height: 740 });
      await signIn(narrow, TENANTS.acme);
      // A string runs in the page (this file is compiled without the DOM's types).
      const overflow = () => narrow.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      await narrow.goto(url('/jobs'));
      await narrow.getByTestId('jobs').getByText(acmeJobs[0]!).waitFor();
      expect(await overflow(), 'jobs list').toBeLessThanOrEqual(0);
      // …and the table scrolls inside itself with each cell on one line (ids were broken into three-letter lines).
      const idCell = await narrow.evaluate<{ height: number; scrolls: boolean }>(
        "(() => { const t = document.querySelector('[data-testid=jobs]'); return { height: t.querySelector('tbody td').getBoundingClientRect().height, scrolls: t.scrollWidth > t.clientWidth }; })()",
      );
      expect(idCell.height, 'an id cell on one line').toBeLessThan(48);
      expect(idCell.scrolls, 'the jobs table scrolls sideways').toBe(true);
      await narrow.goto(url(`/jobs/${acmeJobs[0]}`));
      await narrow.getByTestId('deliveries').waitFor();
      expect(await overflow(), 'job page').toBeLessThanOrEqual(0);
      await narrow.goto(url('/new'));
      await narrow.getByLabel('Instruction').waitFor();
      expect(await overflow(), 'new job').toBeLessThanOrEqual(0);
      await shot(narrow, 'narrow-jobs');
    } finally {
      await narrow.close();
    }
  });

  it("keeps tenants apart: globex opening acme's job sees not found, and its list never holds it", async () => {
    await waitForFinished(stack, acmeJobs[0]!);
    const globex = await context.newPage();
    watch(globex, 'globex');
    try {
      await signIn(globex, TENANTS.globex);
      await globex.goto(url(`/jobs/${acmeJobs[0]}`));
      const alert = globex.getByRole('alert').filter({ hasText: 'Not found' });
      await alert.waitFor();
      expect(await alert.textContent()).toContain('404');
      expect(await globex.locator('video').count()).toBe(0);
      await shot(globex, 'job-not-found');
      await globex.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
      await globex.getByTestId('jobs').getByText('No jobs yet.').waitFor();
      const listed = await globex.getByTestId('jobs').textContent();
      for (const id of acmeJobs) expect(listed).not.toContain(id);
    } finally {
      await globex.close();
    }
  });

  it('stops refreshing the delivery log once no attempt can come (no event of the job wanted by its webhook)', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a teaser nobody is told about', webhook: { url: receiver.url, events: ['job.failed'] } });
    const id = created.body.id;
    acmeJobs.push(id);
    await waitForFinished(stack, id);
    await page.goto(url(`/jobs/${id}`));
    await page.getByTestId('job-status').getByText('succeeded').waitFor();
    await page.getByText('status none').waitFor();
    // One more tick at most (the poll reads the render before), then nothing.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    let polls = 0;
    const onRequest = (r: { url(): string }) => void (r.url().endsWith(`/v1/jobs/${id}/deliveries`) && (polls += 1));
    page.on('request', onRequest);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    page.off('request', onRequest);
    expect(polls).toBe(0);
    expect(await page.getByText('refreshing').count()).toBe(0);
  });

  it('webhooks: reveal, copy and rotate the secret (with a confirmation), and send a test event', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
    const secretField = page.getByLabel('Secret', { exact: true });
    expect(await secretField.inputValue()).not.toContain('whsec_');
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await waitFor(async () => (await secretField.inputValue()).startsWith('whsec_'), { what: 'the revealed secret' });
    const current = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    expect(await secretField.inputValue()).toBe(current);
    await page.getByRole('button', { name: 'Copy secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Copied.' }).waitFor();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(current);

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the signing secret?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Keep the current secret' }).click();
    expect(await secretField.inputValue()).toBe(current);
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await dialog.getByRole('button', { name: 'Rotate now' }).click();
    await page.getByRole('status').filter({ hasText: 'Rotated' }).waitFor();
    const rotated = (await stack.api<{ secret: string }>('GET', '/v1/webhook-secret')).body.secret;
    expect(rotated).not.toBe(current);
    expect(await secretField.inputValue()).toBe(rotated);

    const received = receiver.deliveries.length;
    await page.getByLabel('Webhook URL').fill(receiver.url);
    await page.getByLabel('Event type').selectOption('job.failed');
    await page.getByRole('button', { name: 'Send test event' }).click();
    const result = page.getByTestId('test-result');
    await result.waitFor();
    const text = (await result.textContent()) ?? '';
    expect(text).toContain('The receiver answered 204');
    expect(text).toMatch(/v1,[A-Za-z0-9+/=]+/);
    expect(receiver.deliveries.length).toBe(received + 1);
    expect(receiver.deliveries.at(-1)!.payload.type).toBe('job.failed');
    expect(text).toContain(receiver.deliveries.at(-1)!.headers['webhook-id'] as string);
    await shot(page, 'webhooks');
  });

  it('operator view: the admin key opens real queue depths, failure codes, credits, tenants and the jobs-per-minute chart', async () => {
    // A tenant key: the route itself refuses it (403), and the page says what is needed.
    await page.goto(url('/operator'));
    const refused = page.getByRole('alert').filter({ hasText: 'needs the admin key' });
    await refused.waitFor();
    expect(await refused.textContent()).toContain('403 FORBIDDEN');

    // One of globex's jobs fails with a known code (the render fails upstream): the overview must show it.
    const asGlobex: Pick<Stack, 'api'> = { api: (method, path, body, o) => stack.api(method, path, body, { ...o, key: TENANTS.globex }) };
    stack.sim.injectFault({ kind: 'render_failed' });
    const failed = await waitForFinished(asGlobex, (await asGlobex.api<Job>('POST', '/v1/jobs', { instruction: 'a promo that will not render' })).body.id);
    expect(failed.error?.code).toBe('RENDER_FAILED');

    const admin = await context.newPage();
    watch(admin, 'admin');
    try {
      // The balance GET /v1/credits reads before the overview is computed (the account row is checked against it below).
      const creditsBefore = (await stack.api<{ available: number }>('GET', '/v1/credits')).body.available;
      // The sign-in probe finds GET /admin/overview open (and /v1 closed): an operator-only key, sent to the operator view.
      await signIn(admin, ADMIN_KEY);
      await admin.waitForURL(/\/console\/operator$/);
      expect(await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operator' }).count()).toBe(1);
      expect(await admin.getByText('admin key', { exact: false }).count()).toBeGreaterThan(0);

      const table = (name: string) => admin.getByRole('table', { name });
      await table('Queue depths').waitFor();
      const rows = async (name: string) => table(name).locator('tbody tr').allTextContents();
      expect((await rows('Queue depths')).map((r) => r.replace(/\d+/g, '')).sort()).toEqual(['flow', 'webhooks']);
      expect(await rows('Failure codes')).toEqual(['RENDER_FAILED1']);
      // The service's own account with the balance GET /v1/credits reads (the same shared cache). Jobs of this file may
      // still be charged meanwhile, and the overview is cached for a few seconds: the row shows the balance as it was
      // at some moment between the two reads (credits only go down here).
      const account = (await rows('Credits per upstream account'))[0] ?? '';
      const creditsAfter = (await stack.api<{ available: number }>('GET', '/v1/credits')).body.available;
      expect(account).toMatch(/^defaultdefault\d/);
      // Its third cell: Account, Kind, Available, …
      const shown = Number(await table('Credits per upstream account').locator('tbody tr').first().locator('td').nth(2).textContent());
      expect(shown).toBeLessThanOrEqual(creditsBefore);
      expect(shown).toBeGreaterThanOrEqual(creditsAfter);
      expect(await table('Tenants').locator('tbody tr td:first-child').allTextContents()).toEqual(['acme', 'globex']);
      // The chart: 60 minutes holding acme's jobs of this run and globex's failure.
      const chart = admin.getByRole('img', { name: /^Jobs per minute over 60 minutes: \d+ created, \d+ succeeded, 1 failed$/ });
      expect(await chart.count()).toBe(1);
      const label = (await chart.getAttribute('aria-label')) ?? '';
      expect(Number(/(\d+) created/.exec(label)?.[1])).toBeGreaterThanOrEqual(acmeJobs.length + 1);
      expect(Number(/(\d+) succeeded/.exec(label)?.[1])).toBeGreaterThanOrEqual(1);
      await shot(admin, 'operator');

      // The admin key sees every tenant: "View jobs" opens acme's pages (the API takes the admin key with X-Tenant).
      await admin.getByRole('button', { name: 'View jobs of acme' }).click();
      await admin.waitForURL(/\/console\/jobs/);
      expect(await admin.getByTestId('acting-for').textContent()).toContain('acme');
      await admin.getByRole('link', { name: acmeJobs[0]! }).first().waitFor();
      await admin.getByRole('link', { name: acmeJobs[0]! }).first().click();
      await admin.getByTestId('job-status').getByText('succeeded').waitFor();
      // globex's job is not among acme's, and leaving the tenant returns to the operator view.
      await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
      await admin.getByRole('link', { name: acmeJobs[0]! }).first().waitFor();
      expect(await admin.getByRole('link', { name: failed.id }).count()).toBe(0);
      await admin.getByRole('button', { name: 'Leave tenant' }).click();
      await admin.waitForURL(/\/console\/operator$/);
      expect(await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).count()).toBe(0);

      // An API without the route (an older version) is told apart from a refusal.
      await admin.route((u) => u.pathname === '/admin/overview', (route) =>
        route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ statusCode: 404, code: 'NOT_FOUND', message: 'no route' }) }),
      );
      await admin.reload();
      await admin.getByTestId('operator-unavailable').waitFor();
      expect(await admin.getByTestId('operator-unavailable').textContent()).toContain('Not available');
    } finally {
      await admin.close();
    }
  });

  it('shows 429 with its Retry-After, network errors and a refused key visibly, and recovers', async () => {
    const jobsList = (u: URL) => u.pathname === '/v1/jobs';
    await page.route(
      jobsList,
      (route) =>
        route.fulfill({
          status: 429,
          headers: { 'retry-after': '2', 'content-type': 'application/json' },
          body: JSON.stringify({ statusCode: 429, code: 'RATE_LIMITED', message: 'too many requests for this tenant' }),
        }),
      { times: 1 },
    );
    await page.goto(url('/jobs'));
    const limited = page.getByRole('alert').filter({ hasText: 'Too many requests' });
    await limited.waitFor();
    expect(await limited.textContent()).toMatch(/Try again in [12] s/);
    await shot(page, 'error-429');
    // The page waits as told, then loads by itself.
    await limited.waitFor({ state: 'detached', timeout: 10_000 });
    await page.getByTestId('jobs').locator('tbody tr[data-job-id]').first().waitFor();

    await page.route(jobsList, (route) => route.abort('internetdisconnected'), { times: 1 });
    await page.goto(url('/jobs'));
    const offline = page.getByRole('alert').filter({ hasText: 'Network error' });
    await offline.waitFor();
    await offline.getByRole('button', { name: 'Retry' }).click();
    await offline.waitFor({ state: 'detached' });

    await page.route(
      jobsList,
      (route) =>
        route.fulfill({
          status: 401,
          contentType: 'application/json',
          body: JSON.stringify({ statusCode: 401, code: 'UNAUTHORIZED', message: 'missing or unknown API key' }),
        }),
      { times: 1 },
    );
    await page.goto(url('/jobs?status=succeeded'));
    await page.waitForURL(/\/console\/sign-in\?next=/);
    await page.getByRole('alert').filter({ hasText: 'refused the key' }).waitFor();
    expect(await page.evaluate<string | null>('sessionStorage.getItem("nemo-relay.console.session")')).toBeNull();
    // Signing in again returns to where the refused request was made.
    await page.getByLabel('API key').fill(TENANTS.acme);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/console\/jobs\?status=succeeded$/);
    await page.getByTestId('jobs').locator('tbody tr[data-job-id]').first().waitFor();
  });

  // Last but the policy check: the account's credits pause it causes could hold later tests' jobs.
  it('shows why a running job waits (out of credits) without a reload, though no event says so', async () => {
    stack.sim.setCredits(0);
    const { id } = (await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a teaser that waits for credits' })).body;
    acmeJobs.push(id);
    try {
      await page.goto(url(`/jobs/${id}`));
      await page.getByRole('status').filter({ hasText: 'Waiting (upstream credits)' }).waitFor({ timeout: LIVE_TIMEOUT_MS });
    } finally {
      stack.sim.setCredits(10_000);
      // The account's pause would hold the next tests' jobs until its recheck: lifted as a recheck would.
      await stack.services.redis.del(stack.services.keys.creditsPause());
    }
    expect((await stack.api('POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
  });

  it('met its content security policy everywhere (no violations, no page errors)', () => {
    expect(problems).toEqual([]);
  });
});
