// A worker SIGKILLed in the middle of copying a large output: the next worker copies it again, whole, and one render was paid.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/schemas.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { outputKey } from '../../src/storage/keys.js';
import { ProcessGroup, type RoleProcess } from '../helpers/processes.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startStack, waitForFinished, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const OUTPUT_BYTES = 48_000_000;
/** About 6 s per copy: long enough to be caught in the middle. */
const BYTES_PER_SEC = 8_000_000;
const LOCK_MS = 2_000;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Temp files of copies in progress (or abandoned) anywhere under the storage root. */
async function partials(root: string): Promise<{ path: string; size: number }[]> {
  const found: { path: string; size: number }[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.includes('~tmp-') && !entry.name.includes('~meta.json')) found.push({ path: full, size: (await stat(full).catch(() => ({ size: 0 }))).size });
    }
  };
  await walk(root);
  return found;
}

describe('outputs: worker SIGKILLed mid-copy', () => {
  const procs = new ProcessGroup();
  let stack: Stack;
  let root: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    // The API in process (it only reads); the workers are real processes that can be killed.
    stack = await startStack({
      worker: false,
      timeScale: 0.01,
      scenario: { outputBytes: OUTPUT_BYTES, outputBytesPerSec: BYTES_PER_SEC, silentEdits: 'never' },
      env: { WORKER_LOCK_MS: String(LOCK_MS) },
    });
    const storageUrl = stack.services.config.STORAGE_URL;
    root = (stack.services.outputs.storage as FileStorage).root;
    env = {
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: stack.prefix,
      NEMO_BASE_URL: stack.sim.url,
      API_KEYS: stack.services.config.API_KEYS!.map((k) => `${k.tenant}:${k.key}`).join(','),
      HOST: '127.0.0.1',
      WORKER_LOCK_MS: String(LOCK_MS),
      WEBHOOK_ALLOW_PRIVATE: 'true',
      UPLOAD_DIR: stack.services.config.UPLOAD_DIR,
      STORAGE_URL: storageUrl,
      // Links minted by the worker point at the API under test.
      PUBLIC_BASE_URL: stack.apiUrl,
      LOG_LEVEL: 'warn',
      METRICS_PORT: '0',
    };
  });

  afterAll(async () => {
    await procs.stopAll();
    await stack?.close();
  });

  it('resumes the copy on another worker: complete object, right hash, one render', async () => {
    let workerA: RoleProcess | undefined = procs.spawn('worker', env);
    try {
      const created = await stack.api<Job>('POST', '/v1/jobs', { instruction: 'make a 10-second promo video for a coffee shop opening, warm tones' });
      expect(created.status).toBe(202);
      const id = created.body.id;

      // Kill worker A once a fifth of the file has been copied (the temp file grows while the copy runs).
      const caught = await waitFor(async () => (await partials(root)).find((p) => p.size > OUTPUT_BYTES / 5), {
        what: 'a copy in progress',
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      expect(caught.size).toBeLessThan(OUTPUT_BYTES);
      expect((await stack.api<Job>('GET', `/v1/jobs/${id}`)).body.status).toBe('running');
      await workerA.kill9();
      workerA = undefined;

      procs.spawn('worker', env);
      const job = await waitForFinished(stack, id, 90_000);
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.result!.size_bytes).toBe(OUTPUT_BYTES);

      // The stored object is the whole file, and its hash is the upstream file's.
      const path = (stack.services.outputs.storage as FileStorage).pathOf(outputKey('acme', id));
      expect((await stat(path)).size).toBe(OUTPUT_BYTES);
      expect(await sha256File(path)).toBe(job.result!.sha256);
      const upstream = createHash('sha256');
      const res = await fetch(job.result!.upstream_url!);
      for await (const chunk of res.body!) upstream.update(chunk);
      expect(upstream.digest('hex')).toBe(job.result!.sha256);

      // Paid once: one render; the output was fetched twice (the copy that died and the one that finished).
      const session = job.upstream.session_id!;
      expect(stack.sim.log.count('render_submit', { sessionId: session })).toBe(1);
      expect(stack.sim.log.entries().filter((e) => e.endpoint === 'render_result').length).toBeGreaterThanOrEqual(3);

      // The dead copy's temp file is left behind; the sweeper's partial pass removes it (here without the 1 h wait).
      const left = await partials(root);
      expect(left.length).toBe(1);
      expect(await new FileStorage(root).sweepPartials(0)).toBe(1);
      expect(await partials(root)).toEqual([]);
      expect((await stat(path)).size).toBe(OUTPUT_BYTES);
    } finally {
      await workerA?.kill9();
    }
  }, 150_000);
});
