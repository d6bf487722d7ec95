// The CLI's download check: what the relay measured (a stored video) must match; the upstream's own size report is not.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/api-client.js';

const BODY = Buffer.alloc(1_000, 7);
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let base = '';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-download-'));
  server = createServer((_req, res) => res.end(BODY));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

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
});
