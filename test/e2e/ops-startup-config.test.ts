// Start-up settings read before the configuration (the worker's V8 flags and heap release): .env counts for them, and a bad value is one `config:` line and exit 1.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnNode } from '../helpers/ops-process.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nemo-relay-env-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** A worker started in `dir` (its .env, if any) that must stop at start-up; its exit code and what it printed. */
async function failedStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawnNode(['src/main.ts', 'worker'], { REDIS_URL: 'redis://127.0.0.1:1', METRICS_PORT: '0', ...env }, { cwd: dir });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code } = await child.exited;
  clearTimeout(timer);
  return { code, stderr: child.stderr() };
}

describe('worker settings read before the configuration', () => {
  it('a bad NEMO_WORKER_V8_FLAGS or NEMO_WORKER_HEAP_RELEASE in the environment is one config line, exit 1, no stack trace', async () => {
    for (const [name, value, says] of [
      ['NEMO_WORKER_V8_FLAGS', 'garbage', /^config: NEMO_WORKER_V8_FLAGS: V8 flags separated by spaces/],
      ['NEMO_WORKER_HEAP_RELEASE', '2', /^config: NEMO_WORKER_HEAP_RELEASE: 1 \(default\) or 0/],
    ] as const) {
      const run = await failedStart({ [name]: value });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(says);
    }
  });

  it('reads them from .env in the working directory, as every other setting: the V8 flags it names are applied', async () => {
    // A well-formed flag V8 does not know: V8 itself says so when it is applied, and the worker goes on.
    await writeFile(join(dir, '.env'), 'NEMO_WORKER_V8_FLAGS=--no-such-v8-flag-here\n');
    const child = spawnNode(['src/main.ts', 'worker'], { REDIS_URL: 'redis://127.0.0.1:1', METRICS_PORT: '0', LOG_LEVEL: 'info' }, { cwd: dir });
    try {
      // Start-up went on to wait for Redis: the flags were applied (or not) by then.
      await child.waitForLog((l) => l.msg === 'redis connection lost; retrying', 'the worker to wait for Redis');
      expect(child.stderr()).toContain('unrecognized flag --no-such-v8-flag-here');
    } finally {
      child.kill('SIGKILL');
      await child.exited;
      await rm(join(dir, '.env'));
    }
  });
});
