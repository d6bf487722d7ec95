// The nemo-relay CLI as a child process against the all-in-one API + simulator: every command and its exit status.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { generateSecret, signPayload } from '../../src/webhooks/signing.js';
import { freePort, runCliProcess, spawnNode, stopChild, type Child } from '../helpers/ops-process.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('nemo-relay CLI', () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const cli = (args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) =>
    runCliProcess(args, { ...env, ...opts.env }, opts.stdin === undefined ? {} : { stdin: opts.stdin });

  beforeAll(async () => {
    stack = await startStack({ timeScale: 0.005 });
    dir = await mkdtemp(join(tmpdir(), 'nemo-relay-cli-'));
    env = { NEMO_RELAY_URL: stack.apiUrl, NEMO_RELAY_API_KEY: TENANTS.acme };
  });

  afterAll(async () => {
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submit --wait uploads local files, passes URLs, shows progress, saves the MP4 and exits 0', async () => {
    const out = join(dir, 'promo.mp4');
    const run = await cli([
      'submit',
      'assets/samples/sample-1-mug.jpg',
      'assets/samples/sample-4-headphones.webp',
      'https://example.com/brand/logo.png',
      '-m',
      'turn these product photos into a 15-second promo with upbeat music',
      '--followup',
      'add the title "Autumn Sale" for the first 3 seconds',
      '--wait',
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const [id, saved] = run.stdout.trim().split('\n');
    expect(id).toMatch(/^job_[0-9A-Z]{26}$/);
    expect(saved).toBe(out);
    expect(run.stderr).toMatch(/uploaded assets\/samples\/sample-1-mug\.jpg as upl_/);
    expect(run.stderr).toMatch(/\[#{30}\] 100% done/);
    const bytes = await readFile(out);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');

    const job = (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body;
    expect(job.status).toBe('succeeded');
    expect(job.sources).toHaveLength(3);
    expect(job.sources.filter((s) => 'upload_id' in s)).toHaveLength(2);
    expect(job.followups).toEqual(['add the title "Autumn Sale" for the first 3 seconds']);
    expect(job.result?.size_bytes).toBe(bytes.length);

    // status, list and credits on the same job.
    const status = await cli(['status', id!]);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as Job).status).toBe('succeeded');
    const list = await cli(['list', '--status', 'succeeded']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+succeeded\\s+done\\s+100%`, 'm'));
    const listJson = await cli(['list', '--json', '--limit', '5']);
    expect((JSON.parse(listJson.stdout) as { data: Job[] }).data.map((j) => j.id)).toContain(id);
    const credits = await cli(['credits']);
    expect(credits.code, credits.stderr).toBe(0);
    expect(JSON.parse(credits.stdout)).toMatchObject({ available: expect.any(Number), frozen: expect.any(Number), total: expect.any(Number) });
    // As the route answers it, claim_url included (the balance is cached for 10 s, so both reads agree).
    expect(JSON.parse(credits.stdout)).toEqual((await stack.api('GET', '/v1/credits')).body);
    // Canceling a finished job is refused by the API: exit 2 with its code.
    const late = await cli(['cancel', id!]);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/JOB_FINISHED/);
  });

  it('exits 1 when the job fails, and status of that job exits 1 too', async () => {
    stack.sim.injectFault({ kind: 'render_failed', times: 1 });
    const run = await cli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video', '--wait', '--out', join(dir, 'failed.mp4')]);
    expect(run.code, run.stderr).toBe(1);
    const id = run.stdout.trim().split('\n')[0]!;
    expect(run.stderr).toMatch(new RegExp(`job ${id} failed: RENDER_FAILED`));
    expect((await cli(['status', id])).code).toBe(1);
  });

  it('a save that fails (--out under a regular file) is one line naming the path, exit 1, after the job is reported succeeded', async () => {
    const blocker = join(dir, 'blocker.mp4');
    await writeFile(blocker, 'not a folder');
    const out = join(blocker, 'x.mp4');
    const run = await cli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video', '--wait', '--out', out]);
    expect(run.code, run.stderr).toBe(1);
    const id = run.stdout.trim();
    expect(id).toMatch(/^job_[0-9A-Z]{26}$/);
    expect(run.stderr).toMatch(new RegExp(`^job ${id} succeeded: `, 'm'));
    const said = run.stderr.split('\n').filter((line) => line.startsWith('nemo-relay:'));
    expect(said).toEqual([`nemo-relay: cannot save ${out}: EEXIST: file already exists, mkdir '${blocker}'`]);
    expect(run.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('succeeded');

    // batch --out-dir shares the saving: every item is still followed and reported, each failed save one line.
    const batch = await cli(['batch', 'https://example.com/a.jpg', '--item', 'a teaser', '--item', 'now square', '--wait', '--out-dir', blocker]);
    expect(batch.code, batch.stderr).toBe(1);
    const items = [...batch.stderr.matchAll(/^item (job_\w+)$/gm)].map((m) => m[1]!);
    expect(items).toHaveLength(2);
    for (const item of items) {
      expect(batch.stderr).toMatch(new RegExp(`^job ${item} succeeded: `, 'm'));
      expect(batch.stderr).toContain(`nemo-relay: cannot save ${blocker}/${item}.mp4: EEXIST`);
    }
    expect(batch.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('cancel: a queued job is canceled (exit 0) and its status then exits 1', async () => {
    await stack.services.flowQueue.pause();
    try {
      const submitted = await cli(['submit', '-m', 'make a 10-second promo video for a bakery']);
      expect(submitted.code, submitted.stderr).toBe(0);
      const id = submitted.stdout.trim();
      const canceled = await cli(['cancel', id]);
      expect(canceled.code, canceled.stderr).toBe(0);
      expect(canceled.stdout.trim()).toBe(`${id} canceled`);
      const status = await cli(['status', id]);
      expect(status.code).toBe(1);
      expect((JSON.parse(status.stdout) as Job).status).toBe('canceled');
    } finally {
      await stack.services.flowQueue.resume();
    }
  });

  it('exits 2 on usage, API and connection errors', async () => {
    const noInstruction = await cli(['submit', 'https://example.com/a.jpg']);
    expect(noInstruction.code).toBe(2);
    expect(noInstruction.stderr).toMatch(/-m/);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['list', '--bogus'])).code).toBe(2);
    const badKey = await cli(['list'], { env: { NEMO_RELAY_API_KEY: 'wrong-key-0123456789abcdef' } });
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/UNAUTHORIZED/);
    const port = await freePort();
    const refused = await cli(['--url', `http://127.0.0.1:${port}`, 'list']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    const missingFile = await cli(['submit', 'no/such/photo.jpg', '-m', 'x']);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toMatch(/cannot read no\/such\/photo\.jpg/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit status: 0 success; 1 the job failed/);
  });

  it('webhook verify: 0 for a genuine delivery, 1 for a tampered one, 2 without the needed flags', async () => {
    const secret = generateSecret();
    const body = JSON.stringify({ type: 'job.succeeded', timestamp: new Date().toISOString(), data: { id: 'job_x' } });
    const timestamp = Math.floor(Date.now() / 1000);
    const { signature } = signPayload([secret], 'evt_1', timestamp, body);
    const args = ['webhook', 'verify', '--secret', secret, '--id', 'evt_1', '--timestamp', String(timestamp), '--signature', signature];
    const ok = await cli(args, { stdin: body });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('signature valid');
    const tampered = await cli(args, { stdin: body.replace('job_x', 'job_y') });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/signature invalid/);
    const old = signPayload([secret], 'evt_1', timestamp - 3600, body).signature;
    const stale = await cli(['webhook', 'verify', '--secret', secret, '--id', 'evt_1', '--timestamp', String(timestamp - 3600), '--signature', old], { stdin: body });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/--tolerance/);
    const allowed = await cli(
      ['webhook', 'verify', '--secret', secret, '--id', 'evt_1', '--timestamp', String(timestamp - 3600), '--signature', old, '--tolerance', '7200'],
      { stdin: body },
    );
    expect(allowed.code).toBe(0);
    expect((await cli(['webhook', 'verify', '--secret', secret], { stdin: body })).code).toBe(2);
    // A secret no relay signs with is a usage error naming the rule (it said 'signature invalid', as for a forgery),
    // and is not echoed.
    for (const bad of ['notwhsec', 'whsec_QQ==']) {
      const typo = await cli(['webhook', 'verify', '--secret', bad, '--id', 'evt_1', '--timestamp', String(timestamp), '--signature', signature], { stdin: body });
      expect([typo.code, typo.stderr.trim()]).toEqual([2, expect.stringMatching(/--secret must be whsec_ followed by at least 16 base64 characters/)]);
      expect(typo.stderr).not.toContain(bad);
    }
  });

  it('serve <role> starts a server role and stops it with exit 0 on SIGTERM', async () => {
    const port = await freePort();
    const child: Child = spawnNode(['src/cli/main.ts', 'serve', 'sim'], { SIM_PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/_sim/scenario`)).status === 200, {
        what: 'the simulator started by serve',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      child.kill('SIGTERM');
      expect((await child.exited).code).toBe(0);
    } finally {
      await stopChild(child);
    }
  });
});
