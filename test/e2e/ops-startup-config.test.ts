// Start-up settings read before the configuration (the worker's V8 flags and heap release): .env counts for them, and a bad value is one `config:` line and exit 1.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
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
    const runs: Promise<{ run: { code: number | null; stderr: string }; says: RegExp }>[] = [];
    for (const [name, value, says] of [
      ['NEMO_WORKER_V8_FLAGS', 'garbage', /^config: NEMO_WORKER_V8_FLAGS: V8 flags separated by spaces/],
      // V8 would only print a line for a flag it does not know, and the worker went on without it; --help exited 0.
      ['NEMO_WORKER_V8_FLAGS', '--optimize-for-size --nonsense-flag', /^config: NEMO_WORKER_V8_FLAGS: V8 has no flag --nonsense-flag/],
      ['NEMO_WORKER_V8_FLAGS', '--help', /^config: NEMO_WORKER_V8_FLAGS: --help prints and exits/],
      // A known flag with a value V8 cannot take: a printed line, and the worker went on without it.
      ['NEMO_WORKER_V8_FLAGS', '--max-old-space-size=abc', /^config: NEMO_WORKER_V8_FLAGS: Node does not start with --max-old-space-size=abc \(Error: illegal value for flag --max-old-space-size=abc/],
      ['NEMO_WORKER_V8_FLAGS', '--stack-size=-5', /^config: NEMO_WORKER_V8_FLAGS: Node does not start with --stack-size=-5/],
      ['NEMO_WORKER_HEAP_RELEASE', '2', /^config: NEMO_WORKER_HEAP_RELEASE: 1 \(default\) or 0/],
    ] as const) {
      // Started together: each is a process of its own that stops at start-up (one after the other took 23 s of a
      // loaded suite run).
      runs.push(failedStart({ [name]: value }).then((run) => ({ run, says })));
    }
    for (const { run, says } of await Promise.all(runs)) {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr.trim()).toMatch(says);
    }
  });

  it('a bad V8 flag or heap setting is reported with every other bad setting (it stopped the worker alone)', async () => {
    const runs: Promise<{ run: { code: number | null; stderr: string }; name: string }>[] = [];
    for (const [name, value] of [
      ['NEMO_WORKER_V8_FLAGS', '--bogus-flag'],
      ['NEMO_WORKER_HEAP_RELEASE', '7'],
    ] as const) {
      runs.push(failedStart({ [name]: value, PORT: 'abc', LOG_LEVEL: 'x' }).then((run) => ({ run, name })));
    }
    for (const { run, name } of await Promise.all(runs)) {
      expect(run.code, run.stderr).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines.map((l) => l.split(':')[1]!.trim()).sort()).toEqual(['LOG_LEVEL', name, 'PORT'].sort());
    }
  });

  it('reads them from .env in the working directory, as every other setting: its V8 flags are checked and applied', async () => {
    await writeFile(join(dir, '.env'), 'NEMO_WORKER_V8_FLAGS=--no-such-v8-flag-here\n');
    const refused = await failedStart({});
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr.trim()).toBe('config: NEMO_WORKER_V8_FLAGS: V8 has no flag --no-such-v8-flag-here (see node --v8-options)');
    // Flags V8 knows (a --no- form too) pass, and start-up goes on.
    await writeFile(join(dir, '.env'), 'NEMO_WORKER_V8_FLAGS=--max-semi-space-size=16 --no-expose-gc\n');
    const child = spawnNode(['src/main.ts', 'worker'], { REDIS_URL: 'redis://127.0.0.1:1', METRICS_PORT: '0', LOG_LEVEL: 'info' }, { cwd: dir });
    try {
      await child.waitForLog((l) => l.msg === 'redis connection lost; retrying', 'the worker to wait for Redis');
      expect(child.stderr()).not.toContain('unrecognized flag');
    } finally {
      child.kill('SIGKILL');
      await child.exited;
      await rm(join(dir, '.env'));
    }
  });

  it('a bad OTEL_* value is reported with every other bad setting, one line each (it stopped the process alone)', async () => {
    const run = await failedStart({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', WORKER_CONCURRENCY: 'x' });
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines.map((l) => l.split(':')[1]!.trim()).sort()).toEqual(['OTEL_EXPORTER_OTLP_PROTOCOL', 'WORKER_CONCURRENCY']);
    expect(lines.every((l) => l.startsWith('config: '))).toBe(true);
  });

  it('a .env that is not a readable file, or a port already in use, is one line and exit 1, without a stack trace', async () => {
    await mkdir(join(dir, '.env'));
    try {
      const unreadable = await failedStart({});
      expect(unreadable.code, unreadable.stderr).toBe(1);
      expect(unreadable.stderr.trim()).toBe('config: .env: not a readable file (a directory, or not text)');
    } finally {
      await rm(join(dir, '.env'), { recursive: true });
    }
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    const port = (taken.address() as AddressInfo).port;
    try {
      const api = spawnNode(['src/main.ts', 'api'], {
        PORT: String(port),
        HOST: '127.0.0.1',
        QUEUE_PREFIX: `nrtest-port-${process.pid}-${Date.now()}`,
        API_KEYS: 'acme:acme-key-0123456789abcdef',
        STORAGE_URL: 'none',
      });
      const timer = setTimeout(() => api.kill('SIGKILL'), 30_000);
      const { code } = await api.exited;
      clearTimeout(timer);
      expect(code, api.stderr()).toBe(1);
      expect(api.stderr().trim()).toMatch(new RegExp(`^start-up failed: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}: the port is in use`));
      expect(api.stderr().trim().split('\n')).toHaveLength(1);
      // The log line says the same, without a stack either.
      expect(api.stdout()).not.toContain('setupListenHandle');
    } finally {
      taken.close();
    }
  }, 60_000);
});

