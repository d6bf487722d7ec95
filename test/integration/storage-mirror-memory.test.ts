// Mirroring 200 MiB must not grow the process's peak memory by more than 64 MiB, on either driver (child process).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';

const BIG = 200 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const MAX_GROWTH = 64 * 1024 * 1024;
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Chunk i of the big source: one random-looking seed with a counter, so no two chunks are alike and none is stored. */
const seed = createHash('sha512').update('nemo-relay').digest();
function chunk(i: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; at += seed.length) seed.copy(out, at, 0, Math.min(seed.length, length - at));
  out.writeUInt32BE(i, 0);
  return out;
}

function expectedSha(): string {
  const hash = createHash('sha256');
  for (let i = 0, sent = 0; sent < BIG; i++, sent += CHUNK) hash.update(chunk(i, Math.min(CHUNK, BIG - sent)));
  return hash.digest('hex');
}

function startSource(): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/small.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(CHUNK) });
      res.end(chunk(0, CHUNK));
      return;
    }
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(BIG) });
    void (async () => {
      for (let i = 0, sent = 0; sent < BIG && !res.destroyed; i++, sent += CHUNK) {
        if (!res.write(chunk(i, Math.min(CHUNK, BIG - sent)))) await once(res, 'drain');
      }
      res.end();
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface ChildReport {
  result: { sizeBytes: number; sha256: string };
  ms: number;
  rssBefore: number;
  hwmBefore: number;
  hwmAfter: number;
}

async function runChild(env: Record<string, string>): Promise<ChildReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/storage-mirror-memory-child.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`child exited ${code}: ${err.slice(-2000)}`);
  return JSON.parse(out.trim().split('\n').pop()!) as ChildReport;
}

describe('mirror memory', () => {
  let source: Server;
  let sourceUrl: string;
  let s3: TestS3Server;
  let dir: string;
  let sha: string;

  beforeAll(async () => {
    source = await startSource();
    sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
    s3 = await startS3Server();
    dir = await mkdtemp(join(tmpdir(), 'mirror-mem-'));
    sha = expectedSha();
  });
  afterAll(async () => {
    source?.closeAllConnections();
    source?.close();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(['file', 's3'])('copies 200 MiB into %s with bounded memory', { timeout: 240_000 }, async (driver) => {
    const report = await runChild({
      DRIVER: driver,
      SOURCE_URL: sourceUrl,
      FILE_ROOT: dir,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_KEY_ID: s3.credentials.accessKeyId,
      S3_SECRET: s3.credentials.secretAccessKey,
    });
    const growth = report.hwmAfter - report.rssBefore;
    console.log(
      `${driver}: 200 MiB in ${report.ms} ms; RSS before ${MiB(report.rssBefore)}, peak after ${MiB(report.hwmAfter)}, growth ${MiB(growth)}`,
    );
    expect(report.result).toEqual(expect.objectContaining({ sizeBytes: BIG, sha256: sha }));
    expect(growth).toBeLessThanOrEqual(MAX_GROWTH);
  });
});
