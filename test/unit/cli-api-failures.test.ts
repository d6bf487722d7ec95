// The CLI against an API that fails: a bad key never printed nor retried, a silent API given up on, 5xx vs 4xx for
// tenants, the event feed's refusals said as CODE: message (in-process, against real HTTP servers on port 0).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { makeJob } from '../helpers/jobs.js';

const KEY = 'acme-key-0123456789abcdef';
const servers: Server[] = [];

/** An API on port 0 answering every request with `handle`; counts the requests it got. */
async function fakeApi(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    handle(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) =>
  void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

async function cli(args: string[], env: Record<string, string>) {
  let stdout = '';
  let stderr = '';
  const started = Date.now();
  const code = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, stdin: Readable.from([]), env });
  return { code, stdout, stderr, ms: Date.now() - started };
}

describe('nemo-relay against a failing API', () => {
  it('refuses a key with a control character up front (exit 2): not printed, nothing sent, no retrying', async () => {
    const api = await fakeApi(json(200, {}));
    for (const [args, env] of [
      [['status', 'job_x'], { NEMO_RELAY_API_KEY: `${KEY}\nX` }],
      [['wait', 'job_x', '--key', `${KEY}\r\nX`], {}],
      [['tenants', 'list'], { NEMO_RELAY_ADMIN_KEY: `${KEY}\nX` }],
      [['tenants', 'list', '--admin-key', `${KEY}\u0000`], {}],
    ] as const) {
      const run = await cli([...args], { NEMO_RELAY_URL: api.url, ...env });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/^nemo-relay: the key \((--key or NEMO_RELAY_API_KEY|--admin-key or NEMO_RELAY_ADMIN_KEY)\) must be visible characters/);
      expect(run.stderr).not.toContain(KEY);
      expect(run.ms).toBeLessThan(2_000);
    }
    expect(api.requests()).toBe(0);
  });

  it('never prints fetch’s own message for a header it refuses (it quotes the value), nor takes that for an unreachable API', async () => {
    const api = await fakeApi(json(200, {}));
    const run = await cli(['submit', 'https://example.com/a.jpg', '-m', 'x', '--idempotency-key', 'order-17\nHEADER-VALUE'], { NEMO_RELAY_URL: api.url, NEMO_RELAY_API_KEY: KEY });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`nemo-relay: the request to ${api.url} could not be made (an invalid header value or URL)\n`);
    expect(api.requests()).toBe(0);
  });

  it('gives up on an API that accepts connections but never answers after NEMO_RELAY_TIMEOUT_MS (exit 2)', async () => {
    const api = await fakeApi(() => undefined);
    const run = await cli(['status', 'job_x'], { NEMO_RELAY_URL: api.url, NEMO_RELAY_API_KEY: KEY, NEMO_RELAY_TIMEOUT_MS: '300' });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`nemo-relay: no answer from ${api.url} within 0.3 s (NEMO_RELAY_TIMEOUT_MS)\n`);
    expect(run.ms).toBeLessThan(5_000);
  });

  it('waits past NEMO_RELAY_TIMEOUT_MS for an upload’s answer (the API converts a HEIC photo before it answers); a Latin-1 key is sent', async () => {
    const api = await fakeApi((req, res) => {
      if (req.url === '/v1/uploads') {
        req.resume();
        req.on('end', () => setTimeout(() => json(201, { id: 'upl_1', filename: 'a.jpg', content_type: 'image/jpeg', size_bytes: 3, sha256: 'x' })(req, res), 1_000));
        return;
      }
      json(202, makeJob({ id: 'job_1' }))(req, res);
    });
    const dir = await mkdtemp(join(tmpdir(), 'cli-upload-wait-'));
    const photo = join(dir, 'a.jpg');
    await writeFile(photo, 'abc');
    const run = await cli(['submit', photo, '-m', 'a promo'], { NEMO_RELAY_URL: api.url, NEMO_RELAY_API_KEY: `${KEY}é`, NEMO_RELAY_TIMEOUT_MS: '300' });
    await rm(dir, { recursive: true, force: true });
    // It gave up after 0.3 s ("no answer"), and the server, its caller gone, kept nothing of the photo.
    expect([run.code, run.stdout], run.stderr).toEqual([0, 'job_1\n']);
  });

  it('tenants: a 4xx refusal exits 1, a server error (5xx, a proxy’s HTML page) exits 2 like other commands', async () => {
    const cases = [
      [json(403, { statusCode: 403, code: 'FORBIDDEN', message: 'not the admin key' }), 1, 'FORBIDDEN: not the admin key'],
      [json(500, { statusCode: 500, code: 'INTERNAL', message: 'something broke' }), 2, 'INTERNAL: something broke'],
      [(_req: IncomingMessage, res: ServerResponse) => void res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503</h1>'), 2, 'HTTP 503 from GET /admin/tenants'],
      [(_req: IncomingMessage, res: ServerResponse) => void res.writeHead(502).end('Bad Gateway'), 2, 'HTTP 502 from GET /admin/tenants'],
    ] as const;
    for (const [handle, code, said] of cases) {
      const api = await fakeApi(handle);
      const run = await cli(['tenants', 'list'], { NEMO_RELAY_URL: api.url, NEMO_RELAY_ADMIN_KEY: KEY });
      expect([run.code, run.stderr]).toEqual([code, `nemo-relay: ${said}\n`]);
    }
  });

  it('says an event feed refusal as CODE: message, like every other command, not as the raw body', async () => {
    const api = await fakeApi(json(401, { statusCode: 401, code: 'UNAUTHORIZED', message: 'missing or invalid API key' }));
    const run = await cli(['wait', 'job_x'], { NEMO_RELAY_URL: api.url, NEMO_RELAY_API_KEY: KEY });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nemo-relay: event feed for job_x: UNAUTHORIZED: missing or invalid API key\n');
    expect(run.stderr).not.toContain('{');
  });
});
