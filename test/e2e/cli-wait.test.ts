// The CLI following a job (submit --wait, wait <id>) against the all-in-one API + simulator: Ctrl-C and a lost API leave
// the job running and say how to take it up again, a waiting job says why, the MP4 is checked against the job, a link
// host that fails is a failed save, a signal mid-download leaves no .part, the submit is keyed; and how arguments that
// look like options are read.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import type { Job } from '../../src/jobs/schemas.js';
import { freePort, runCliProcess, spawnNode, stopChild, type Child } from '../helpers/ops-process.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** An HTTP proxy in front of the API: records requests, may rewrite GET /v1/jobs/{id} answers, and can go away. */
interface Proxy {
  url: string;
  requests: { method: string; url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startProxy(target: string, rewriteJob?: (job: Job) => void): Promise<Proxy> {
  const requests: Proxy['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.on('close', () => answer.destroy());
      if (!rewriteJob || req.method !== 'GET' || !/^\/v1\/jobs\/[^/?]+$/.test(req.url!) || answer.statusCode !== 200) {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job;
        rewriteJob(job);
        const body = JSON.stringify(job);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const exists = (path: string) => access(path).then(() => true, () => false);

describe('nemo-relay following a job', () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const children: Child[] = [];
  const cli = (args: string[], extra: Record<string, string> = {}) => runCliProcess(args, { ...env, ...extra });
  const spawnCli = (args: string[], extra: Record<string, string> = {}) => {
    const child = spawnNode(['src/cli/main.ts', ...args], { ...env, ...extra });
    children.push(child);
    return child;
  };

  beforeAll(async () => {
    stack = await startStack({ timeScale: 0.005, env: { CREDITS_RECHECK_MS: '200' } });
    dir = await mkdtemp(join(tmpdir(), 'nemo-relay-cli-wait-'));
    env = { NEMO_RELAY_URL: stack.apiUrl, NEMO_RELAY_API_KEY: TENANTS.acme };
  });

  afterAll(async () => {
    for (const child of children) await stopChild(child);
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Ctrl-C during submit --wait leaves the job running, says how to follow it, exits 130; wait <id> takes it up and saves the MP4', async () => {
    const out = join(dir, 'later.mp4');
    await stack.services.flowQueue.pause();
    let id: string;
    try {
      const child = spawnCli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video', '--wait', '--out', out]);
      // The job as read at once: queued (the queue is paused, so no event comes).
      id = await waitFor(() => /^(job_\w+) \[-+\]\s+0% queued/m.exec(child.stderr())?.[1], { what: 'the first progress line', timeoutMs: 30_000 });
      child.kill('SIGINT');
      const { code } = await child.exited;
      expect(code, child.stderr()).toBe(130);
      expect(child.stdout().trim()).toBe(id);
      expect(child.stderr()).toContain(`stopped following job ${id}; the job was not canceled and goes on upstream.`);
      expect(child.stderr()).toContain(`nemo-relay wait ${id} --out ${out}`);
      expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('queued');
    } finally {
      await stack.services.flowQueue.resume();
    }
    const resumed = await cli(['wait', id, '--out', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim()).toBe(out);
    expect(resumed.stderr).toMatch(/\[#{30}\] 100% done/);
    expect(resumed.stderr).toContain(`saved ${out} (`);
    expect((await readFile(out)).subarray(4, 8).toString('latin1')).toBe('ftyp');
    // A finished job: its outcome at once (here: saved again to the default ./<id>.mp4 under another folder).
    const again = await cli(['wait', id, '--out', join(dir, 'again', `${id}.mp4`)]);
    expect(again.code, again.stderr).toBe(0);
    // The same exit statuses as submit --wait: 2 for usage and an unknown job.
    expect((await cli(['wait'])).code).toBe(2);
    const unknown = await cli(['wait', 'job_00000000000000000000000000']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/NOT_FOUND/);
  });

  it('an API that stays unreachable during --wait ends with exit 2 naming the job and the wait command', async () => {
    const proxy = await startProxy(stack.apiUrl);
    await stack.services.flowQueue.pause();
    try {
      const out = join(dir, 'lost.mp4');
      const child = spawnCli(['submit', '-m', 'make a 10-second promo video', '--wait', '--out', out], { NEMO_RELAY_URL: proxy.url });
      const id = await waitFor(() => /^(job_\w+)$/m.exec(child.stdout())?.[1], { what: 'the job id', timeoutMs: 30_000 });
      await waitFor(() => proxy.requests.some((r) => r.url.endsWith('/events')), { what: 'the event feed to open' });
      await proxy.close();
      const { code } = await child.exited;
      expect(code, child.stderr()).toBe(2);
      expect(child.stderr()).toMatch(/nemo-relay: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
      expect(child.stderr()).toContain(`job ${id} was not canceled and goes on upstream; once the API answers, follow it again: nemo-relay wait ${id} --out ${out}`);
    } finally {
      await stack.services.flowQueue.resume();
      await proxy.close();
    }
  });

  it('a job waiting for credits says so while --wait follows it, then finishes', async () => {
    stack.sim.setCredits(0);
    try {
      const child = spawnCli(['submit', '-m', 'a promo for a bike shop', '--wait', '--out', join(dir, 'credits.mp4')]);
      const line = await waitFor(() => /^job_\w+ waiting: waiting for credits: .*$/m.exec(child.stderr())?.[0], {
        what: 'the waiting line',
        timeoutMs: 40_000,
      });
      expect(line).toMatch(/out of credits \(2001\)/);
      stack.sim.setCredits(10_000);
      const { code } = await child.exited;
      expect(code, child.stderr()).toBe(0);
      // Once per change: the message is not repeated by every read.
      expect(child.stderr().split('\n').filter((l) => l === line)).toHaveLength(1);
    } finally {
      stack.sim.setCredits(10_000);
    }
  });

  it('on a terminal the seconds keep counting while nothing happens; Ctrl-C (in-process) stops the redraw', async () => {
    await stack.services.flowQueue.pause();
    try {
      let stderr = '';
      let stdout = '';
      let interrupt: (() => void) | null = null;
      const out = join(dir, 'tty.mp4');
      const running = runCli(['submit', '-m', 'make a 10-second promo video', '--wait', '--out', out], {
        stdout: { write: (t: string) => (stdout += t) },
        stderr: { write: (t: string) => (stderr += t), isTTY: true, columns: 100 },
        stdin: Readable.from([]),
        env,
        onInterrupt: (handler) => {
          interrupt = handler;
          return () => (interrupt = null);
        },
      });
      // Each redraw clears the line and writes it again.
      const redrawn = (seconds: number) => stderr.split('\r\x1b[2K').some((line) => new RegExp(`^job_\\w+ \\[-+\\]\\s+0% queued\\s+${seconds}s$`).test(line));
      await waitFor(() => redrawn(2), { what: 'the line redrawn at 2s', timeoutMs: 20_000 });
      expect(redrawn(1)).toBe(true);
      interrupt!();
      expect(await running).toBe(130);
      expect(interrupt).toBeNull();
      const id = stdout.trim();
      expect(stderr).toContain(`nemo-relay wait ${id} --out ${out}\n`);
      // The timer is gone: nothing is drawn after the end.
      const after = stderr.length;
      await new Promise((r) => setTimeout(r, 1_500));
      expect(stderr.length).toBe(after);
    } finally {
      await stack.services.flowQueue.resume();
    }
  });

  it('a download that is not the job’s video (other bytes, or short) is not saved: exit 1, an existing file kept, no .part', async () => {
    for (const [what, rewrite, said] of [
      ['sha256', (job: Job) => void (job.result && (job.result.sha256 = '0'.repeat(64))), /sha256 [0-9a-f]{64}, the job's is 0{64}/],
      ['size', (job: Job) => void (job.result && (job.result.size_bytes! += 1)), /(\d+) bytes, the job's is \d+/],
    ] as const) {
      const proxy = await startProxy(stack.apiUrl, rewrite);
      try {
        const out = join(dir, `checked-${what}.mp4`);
        await writeFile(out, 'the old video');
        const run = await cli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video', '--wait', '--out', out], { NEMO_RELAY_URL: proxy.url });
        expect(run.code, run.stderr).toBe(1);
        const id = run.stdout.trim();
        expect(run.stderr).toMatch(new RegExp(`^job ${id} succeeded: `, 'm'));
        const said1 = run.stderr.split('\n').filter((l) => l.startsWith('nemo-relay:'));
        expect(said1).toHaveLength(1);
        expect(said1[0]).toContain(`nemo-relay: cannot save ${out}: the download from `);
        expect(said1[0]).toMatch(said);
        // The link without its query: that holds the signature.
        expect(said1[0]).toMatch(/the download from http:\/\/[^ ?]+ is not the job's video/);
        expect(said1[0]).not.toMatch(/[?&](sig|signature)=/);
        expect(await readFile(out, 'utf8')).toBe('the old video');
        expect(await exists(`${out}.part`)).toBe(false);
      } finally {
        await proxy.close();
      }
    }
  });

  it('a link host that refuses is a failed save (exit 1): batch --wait goes on with its other items', async () => {
    const port = await freePort();
    const proxy = await startProxy(stack.apiUrl, (job) => void (job.result && (job.result.url = `http://127.0.0.1:${port}/${job.id}.mp4?sig=x`)));
    try {
      const outDir = join(dir, 'refused');
      const run = await cli(['batch', 'https://example.com/a.jpg', '--item', 'a teaser', '--item', 'now square', '--wait', '--out-dir', outDir], { NEMO_RELAY_URL: proxy.url });
      expect(run.code, run.stderr).toBe(1);
      const items = [...run.stderr.matchAll(/^item (job_\w+)$/gm)].map((m) => m[1]!);
      expect(items).toHaveLength(2);
      for (const item of items) {
        expect(run.stderr).toMatch(new RegExp(`^job ${item} succeeded: `, 'm'));
        expect(run.stderr).toContain(`nemo-relay: cannot save ${outDir}/${item}.mp4: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
        expect(run.stderr).toContain(`the job succeeded; download it again: nemo-relay wait ${item} --out ${outDir}/${item}.mp4\n`);
      }
      expect(run.stderr).not.toMatch(/goes on upstream/);
    } finally {
      await proxy.close();
    }
  });

  it('SIGTERM, SIGHUP or Ctrl-C during the download removes the .part, says the job succeeded and how to download it again', async () => {
    // The link host answers, sends a little and holds the rest.
    const stall: Server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'video/mp4' }).write(Buffer.alloc(4_096)));
    await new Promise<void>((resolve) => stall.listen(0, '127.0.0.1', resolve));
    const link = `http://127.0.0.1:${(stall.address() as AddressInfo).port}/v.mp4`;
    const proxy = await startProxy(stack.apiUrl, (job) => void (job.result && (job.result.url = link)));
    try {
      const submitted = await cli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video']);
      const id = submitted.stdout.trim();
      await waitFor(async () => (await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status === 'succeeded', { what: 'the job to succeed', timeoutMs: 30_000 });
      for (const [signal, exit] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
        const out = join(dir, `signal-${signal}.mp4`);
        const child = spawnCli(['wait', id, '--out', out], { NEMO_RELAY_URL: proxy.url });
        await waitFor(() => exists(`${out}.part`), { what: `${out}.part`, timeoutMs: 30_000 });
        child.kill(signal);
        const { code } = await child.exited;
        expect(code, child.stderr()).toBe(exit);
        expect(await exists(`${out}.part`)).toBe(false);
        expect(await exists(out)).toBe(false);
        expect(child.stderr()).toContain(`nemo-relay: stopped the download of job ${id}'s MP4, nothing saved to ${out}; the job itself succeeded.\n`);
        expect(child.stderr()).toContain(`  download it again: nemo-relay wait ${id} --out ${out}\n`);
        expect(child.stderr()).not.toMatch(/goes on upstream/);
      }
    } finally {
      await proxy.close();
      stall.closeAllConnections();
      stall.close();
    }
  });

  it('submit sends an Idempotency-Key: random per run, or --idempotency-key so a repeated run gets the first job back', async () => {
    const proxy = await startProxy(stack.apiUrl);
    try {
      const plain = await cli(['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video'], { NEMO_RELAY_URL: proxy.url });
      expect(plain.code, plain.stderr).toBe(0);
      const keys = () => proxy.requests.filter((r) => r.method === 'POST' && r.url === '/v1/jobs').map((r) => r.headers['idempotency-key']);
      expect(keys()).toEqual([expect.stringMatching(/^nemo-relay-cli-[0-9a-f-]{36}$/)]);
      const args = ['submit', 'https://example.com/a.jpg', '-m', 'make a 10-second promo video', '--idempotency-key', 'order-A-17'];
      const first = await cli(args, { NEMO_RELAY_URL: proxy.url });
      const second = await cli(args, { NEMO_RELAY_URL: proxy.url });
      expect(first.code, first.stderr).toBe(0);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toBe(first.stdout);
      expect(first.stdout.trim()).not.toBe(plain.stdout.trim());
      expect(keys().slice(1)).toEqual(['order-A-17', 'order-A-17']);
    } finally {
      await proxy.close();
    }
  });

  it('Node’s whole message for a value that starts with a dash; -h is help only as an option, not as a value', async () => {
    const inProcess = async (args: string[]) => {
      let stdout = '';
      let stderr = '';
      const code = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, stdin: Readable.from([]), env });
      return { code, stdout, stderr };
    };
    const ambiguous = await inProcess(['submit', '-m', 'x', '--followup', '-h']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stdout).toBe('');
    expect(ambiguous.stderr.trim()).toBe(
      "nemo-relay: Option '--followup' argument is ambiguous. Did you forget to specify the option argument for '--followup'? " +
        "To specify an option argument starting with a dash use '--followup=-XYZ'.",
    );
    // After `--`, -h is a file name.
    const file = await inProcess(['submit', '-m', 'x', '--', '-h']);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/cannot read -h/);
    // As an option it is help, also beside a mistake, and nothing is submitted.
    for (const args of [['submit', '-m', 'x', '-h'], ['list', '--bogus', '--help'], ['wait', '--help']]) {
      const help = await inProcess(args);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout).toMatch(/^nemo-relay: talk to a running nemo-relay API/);
    }
  });
});
