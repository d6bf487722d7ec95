// HTTP_IDLE_TIMEOUT_MS and HTTP_REQUEST_TIMEOUT_MS: an upload that stops or trickles loses its connection and leaves no staged file; a quiet event stream stays open.
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { send } from '../helpers/http.js';
import { multipart, SAMPLES } from '../helpers/multipart.js';
import { startStack, TENANTS, type Stack } from '../helpers/stack.js';

const IDLE_MS = 1_500;
const HEIC_PHOTO = new URL('../fixtures/heic/quadrants-4032x3024.heic', import.meta.url);
const REQUEST_MS = 3_000;
let stack: Stack;

beforeAll(async () => {
  // No worker: a job stays queued, so its event stream has nothing to say for a while.
  stack = await startStack({ worker: false, env: { HTTP_IDLE_TIMEOUT_MS: String(IDLE_MS), HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS) } });
});
afterAll(async () => stack?.close());

const staged = async () => (await readdir(stack.services.config.UPLOAD_DIR).catch(() => [] as string[])).filter((n) => n.startsWith('upl_'));

/** Sends `head` then `body` and goes silent; resolves with how long the server took to close the connection. */
function goSilent(head: string, body: Buffer): Promise<{ closedAfterMs: number; answer: string }> {
  const { port } = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    let silentAt = 0;
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ closedAfterMs: Date.now() - silentAt, answer }));
    socket.on('connect', () => {
      socket.write(head);
      socket.write(body, () => (silentAt = Date.now()));
    });
    setTimeout(() => reject(new Error('the server kept the silent connection open')), 20_000).unref();
  });
}

describe('HTTP_IDLE_TIMEOUT_MS and HTTP_REQUEST_TIMEOUT_MS', () => {
  it('closes an upload whose client went silent mid-body, and removes what it had staged', async () => {
    const before = await staged();
    const boundary = 'silent-boundary';
    const start = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="slow.png"\r\ncontent-type: image/png\r\n\r\n`),
      SAMPLES.png!.data.subarray(0, 1024),
    ]);
    const head =
      `POST /v1/uploads HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TENANTS.acme}\r\n` +
      `content-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: 10000000\r\n\r\n`;
    const { closedAfterMs } = await goSilent(head, start);
    // It used to stay open for as long as the client liked (Fastify's default turns Node's socket timeout off).
    expect(closedAfterMs).toBeGreaterThanOrEqual(IDLE_MS - 200);
    expect(closedAfterMs).toBeLessThan(IDLE_MS + 3_000);
    await expect.poll(staged, { timeout: 5_000 }).toEqual(before);
    // The API goes on serving.
    expect((await stack.api('GET', '/v1/jobs')).status).toBe(200);
  });

  it('closes a keep-alive connection idle between requests after the same limit (and says so in Keep-Alive)', async () => {
    const { closedAfterMs, answer } = await goSilent('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n', Buffer.alloc(0));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer.toLowerCase()).toContain(`keep-alive: timeout=${Math.floor(IDLE_MS / 1000)}`);
    // Fastify's default kept it 72 s.
    expect(closedAfterMs).toBeLessThan(IDLE_MS + 3_000);
  });

  it('answers 408 to an upload that trickles in faster than the idle limit but never ends, and removes what it had staged', async () => {
    const before = await staged();
    const boundary = 'trickle-boundary';
    const { port } = new URL(stack.apiUrl);
    const outcome = await new Promise<{ afterMs: number; answer: string }>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      const startedAt = Date.now();
      let drip: NodeJS.Timeout | undefined;
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(drip);
        resolve({ afterMs: Date.now() - startedAt, answer });
      });
      socket.on('connect', () => {
        socket.write(
          `POST /v1/uploads HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TENANTS.acme}\r\n` +
            `content-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: 10000000\r\n\r\n` +
            `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="drip.png"\r\ncontent-type: image/png\r\n\r\n`,
        );
        socket.write(SAMPLES.png!.data.subarray(0, 1024));
        // A byte every 400 ms: never idle for IDLE_MS, so only the whole-request limit can end it.
        drip = setInterval(() => socket.writable && socket.write('x'), 400);
      });
      setTimeout(() => reject(new Error('the server kept the trickling upload open')), 20_000).unref();
    });
    expect(outcome.afterMs).toBeGreaterThanOrEqual(REQUEST_MS - 200);
    expect(outcome.afterMs).toBeLessThan(REQUEST_MS + 3_000);
    expect(outcome.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(outcome.answer).toContain('"code":"REQUEST_TIMEOUT"');
    await expect.poll(staged, { timeout: 5_000 }).toEqual(before);
    expect((await stack.api('GET', '/v1/jobs')).status).toBe(200);
  });

  it('does not cut an upload the server is working on: HEIC photos queued at the converter past the idle limit all answer 201', async () => {
    // Four 12 MP photos sent at once convert one at a time (~1 s each here): the last waits past IDLE_MS with its
    // whole body sent. The socket's idle timer cut those (an empty reply) and kept their staged files for 7 days.
    const form = multipart([{ name: 'file', filename: 'IMG_0001.HEIC', data: await readFile(HEIC_PHOTO) }]);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => send<{ id: string }>(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType }).then((r) => r.status, (err: Error) => err.message)),
    );
    expect(answers).toEqual([201, 201, 201, 201]);
  });

  it('keeps nothing of a HEIC upload whose caller closed the connection while it waited for the converter', async () => {
    const before = await staged();
    const form = multipart([{ name: 'file', filename: 'IMG_0002.HEIC', data: await readFile(HEIC_PHOTO) }]);
    // Another photo first, so this one is still waiting its turn when its caller leaves.
    const ahead = send(stack.apiUrl, 'POST', '/v1/uploads', { body: form.body, contentType: form.contentType });
    const { port } = new URL(stack.apiUrl);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      socket.on('close', () => resolve());
      socket.on('connect', () => {
        socket.write(`POST /v1/uploads HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TENANTS.acme}\r\ncontent-type: ${form.contentType}\r\ncontent-length: ${form.body.length}\r\n\r\n`);
        socket.write(form.body, () => setTimeout(() => socket.destroy(), 200));
      });
    });
    const first = await ahead;
    expect(first.status).toBe(201);
    const kept = (first.body as { id: string }).id;
    // Only the photo whose caller stayed is staged (its original and its JPEG); the other left no file and no record.
    await expect.poll(async () => (await staged()).filter((n) => !before.includes(n) && !n.startsWith(kept)), { timeout: 10_000 }).toEqual([]);
  });

  it('leaves a quiet event stream open past it (the stream has its own keep-alive)', async () => {
    const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'a queued teaser' });
    const { port } = new URL(stack.apiUrl);
    const socket = connect(Number(port), '127.0.0.1');
    let closed = false;
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.write(`GET /v1/jobs/${created.body.id}/events HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\nauthorization: Bearer ${TENANTS.acme}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, Math.max(IDLE_MS * 2, REQUEST_MS) + 500));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(closed).toBe(false);
    socket.destroy();
  });
});
