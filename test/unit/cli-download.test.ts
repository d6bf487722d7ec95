// The CLI's download check: what the relay measured (a stored video) must match; the upstream's own size report is not.
// Every failure to save is exit status 1 naming the file (an unreachable or silent link host too), the link unsigned.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/api-client.js';
import { CliError } from '../../src/cli/io.js';
import { freePort } from '../helpers/ops-process.js';

const BODY = Buffer.alloc(1_000, 7);
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let base = '';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-download-'));
  server = createServer((req, res) => {
    // Never answers: the connection is accepted and held.
    if (req.url === '/hang.mp4') return;
    // Answers at once, then sends 50 bytes every 100 ms: slower in all (2 s) than the timeout, never silent near that long.
    if (req.url === '/trickle.mp4') {
      res.writeHead(200);
      let sent = 0;
      const timer = setInterval(() => {
        res.write(BODY.subarray(sent, sent + 50));
        sent += 50;
        if (sent >= BODY.length) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      return;
    }
    // Answers, sends a little and stalls.
    if (req.url === '/stall.mp4') return void res.writeHead(200).write(BODY.subarray(0, 100));
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

const exists = (path: string) => access(path).then(() => true, () => false);

/** The CliError a download ends with (fails the test when it saves). */
async function saveFailure(client: ApiClient, url: string, out: string, expected = { size_bytes: 1_000, sha256: SHA }): Promise<CliError> {
  const err = await client.download(url, out, expected).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  expect(await exists(`${out}.part`)).toBe(false);
  return err as CliError;
}

describe('nemo-relay download check', () => {
  it('saves a stored video whose bytes match, and refuses one whose size or hash does not', async () => {
    const client = new ApiClient(base);
    const out = join(dir, 'stored.mp4');
    expect(await client.download(`${base}/v.mp4`, out, { size_bytes: 1_000, sha256: SHA })).toBe(1_000);
    expect(await readFile(out)).toEqual(BODY);
    await expect(client.download(`${base}/v.mp4`, join(dir, 'short.mp4'), { size_bytes: 1_024, sha256: SHA })).rejects.toThrow(/1000 bytes, the job's is 1024/);
  });

  it('takes the upstream’s size report (STORAGE_URL=none: no sha256) as a report, not a check', async () => {
    const client = new ApiClient(base);
    const out = join(dir, 'upstream.mp4');
    expect(await client.download(`${base}/v.mp4`, out, { size_bytes: 1_024, sha256: null })).toBe(1_000);
    expect(await readFile(out)).toEqual(BODY);
  });

  it('shows a signed link without its query (the signature) when the download is not the job’s video', async () => {
    const out = join(dir, 'signed.mp4');
    const err = await saveFailure(new ApiClient(base), `${base}/v.mp4?expires=9999999999&sig=SIGNATURE-SECRET`, out, { size_bytes: 1_024, sha256: SHA });
    expect(err.message).toBe(`cannot save ${out}: the download from ${base}/v.mp4 is not the job's video: 1000 bytes, the job's is 1024`);
  });

  it('a link host that refuses the connection is a failed save (exit 1), not an unreachable API (2)', async () => {
    const port = await freePort();
    const out = join(dir, 'refused.mp4');
    const err = await saveFailure(new ApiClient(base), `http://127.0.0.1:${port}/v.mp4?sig=SIGNATURE-SECRET`, out);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(`cannot save ${out}: cannot reach http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('gives up on a link host that does not answer, or stalls mid-body, after the timeout (exit 1); a slow but steady body is fine', async () => {
    // 1.5 s: a chunk every 100 ms stays well inside it on a loaded machine (GC, other test files on the two cores).
    const client = new ApiClient(base, undefined, { timeoutMs: 1_500 });
    const started = Date.now();
    const hung = await saveFailure(client, `${base}/hang.mp4`, join(dir, 'hang.mp4'));
    expect([hung.exitCode, hung.message]).toEqual([1, `cannot save ${join(dir, 'hang.mp4')}: no answer from ${base} within 1.5 s (NEMO_RELAY_TIMEOUT_MS)`]);
    const stalled = await saveFailure(client, `${base}/stall.mp4`, join(dir, 'stall.mp4'));
    expect([stalled.exitCode, stalled.message]).toEqual([1, `cannot save ${join(dir, 'stall.mp4')}: the download from ${base}/stall.mp4 broke off: no bytes for 1.5 s (NEMO_RELAY_TIMEOUT_MS)`]);
    expect(Date.now() - started).toBeLessThan(10_000);
    const out = join(dir, 'trickle.mp4');
    expect(await client.download(`${base}/trickle.mp4`, out, { size_bytes: 1_000, sha256: SHA })).toBe(1_000);
    expect(await readFile(out)).toEqual(BODY);
  });
});
