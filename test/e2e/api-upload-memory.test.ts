// A 200 MiB upload against the API running as a child process: its peak memory must not grow with the file (≤ 64 MiB).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadResponse } from '../../src/uploads/schemas.js';
import { mp4Head, multipart } from '../helpers/multipart.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { TENANTS } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const FILE_BYTES = 200 * 1024 * 1024;
const CHUNK = 1024 * 1024;
const MAX_GROWTH = 64 * 1024 * 1024;
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

const prefix = uniquePrefix('upload-mem');
const uploadDir = `./data/test-uploads/${prefix}`;
let child: ChildProcess;
let baseUrl: string;
let output = '';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** VmRSS and VmHWM (peak resident set) of a process, in bytes, from /proc. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A multipart body streamed from a generator: nothing of the file is held, and its sha256 is computed on the way. */
function streamedUpload(hash: ReturnType<typeof createHash>) {
  const boundary = `----mem-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const seed = randomBytes(CHUNK);
  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    let sent = 0;
    for (let i = 0; sent < FILE_BYTES; i++) {
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, FILE_BYTES - sent));
      seed.copy(chunk, 0, 0, chunk.length);
      chunk.writeUInt32BE(i, chunk.length - 4); // no two chunks alike
      if (i === 0) mp4Head().copy(chunk, 0); // a real MP4 start, so the type check passes
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
    yield tail;
  }
  return { body: Readable.from(body(), { objectMode: false }), contentType: `multipart/form-data; boundary=${boundary}`, length: head.length + FILE_BYTES + tail.length };
}

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'api'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
      API_KEYS: `acme:${TENANTS.acme}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      UPLOAD_DIR: uploadDir,
      UPLOAD_MAX_BYTES: String(FILE_BYTES),
      NEMO_BASE_URL: 'http://127.0.0.1:9',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`api exited: ${output}`);
      return (await request(`${baseUrl}/healthz`)).statusCode === 200;
    },
    { what: 'the API child process to listen', timeoutMs: 60_000, intervalMs: 100 },
  );
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  await rm(uploadDir, { recursive: true, force: true });
  const redis = testRedis();
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

describe('a 200 MiB upload', () => {
  it('streams to disk with the API process growing by far less than the file, and the sha256 matches', async () => {
    const pid = child.pid!;
    const upload = async (form: { body: Readable | Buffer; contentType: string; length: number }) =>
      request(`${baseUrl}/v1/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TENANTS.acme}`, 'content-type': form.contentType, 'content-length': String(form.length) },
        body: form.body,
      });
    // Warm up the upload path (module loading, JIT) with a small file before measuring.
    const small = multipart([{ name: 'file', filename: 'warm.mp4', data: Buffer.concat([mp4Head(), randomBytes(256 * 1024)]) }]);
    const warm = await upload({ ...small, length: small.body.length });
    expect(warm.statusCode).toBe(201);
    await warm.body.text();

    const before = await memoryOf(pid);
    let peakRss = before.rss;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        peakRss = Math.max(peakRss, (await memoryOf(pid)).rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const hash = createHash('sha256');
    const form = streamedUpload(hash);
    const started = performance.now();
    const res = await upload(form);
    const body = (await res.body.json()) as UploadResponse;
    const seconds = (performance.now() - started) / 1000;
    polling = false;
    await poller;
    const after = await memoryOf(pid);

    expect(res.statusCode, JSON.stringify(body)).toBe(201);
    expect(body.size_bytes).toBe(FILE_BYTES);
    expect(body.content_type).toBe('video/mp4');
    expect(body.sha256).toBe(hash.digest('hex'));
    expect((await stat(`${uploadDir}/${body.id}.bin`)).size).toBe(FILE_BYTES);

    const rssGrowth = Math.max(peakRss, after.rss) - before.rss;
    const hwmGrowth = after.hwm - before.hwm;
    console.log(
      `200 MiB upload: ${seconds.toFixed(2)} s (${MiB(FILE_BYTES / seconds)}/s); API process RSS ${MiB(before.rss)} → peak ${MiB(Math.max(peakRss, after.rss))} ` +
        `(growth ${MiB(rssGrowth)}); VmHWM ${MiB(before.hwm)} → ${MiB(after.hwm)} (growth ${MiB(hwmGrowth)}); test process RSS ${MiB(process.memoryUsage().rss)}`,
    );
    expect(rssGrowth).toBeLessThanOrEqual(MAX_GROWTH);
    expect(hwmGrowth).toBeLessThanOrEqual(MAX_GROWTH);
  }, 300_000);
});
