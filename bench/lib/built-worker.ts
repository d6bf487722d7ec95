// A worker started as operators start it (`node dist/main.js worker`, built with tsc, no tsx loader), to read its idle RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BuiltWorkerIdle {
  /** VmRSS after the idle wait, bytes. */
  rss: number;
  /** VmHWM (peak RSS since start), bytes. */
  peak: number;
  buildMs: number;
}

async function vm(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
}

/**
 * Compiles src/ with tsconfig.build.json into node_modules/.cache (so the packages still resolve), starts
 * `node dist/main.js worker` with `env`, waits for its start-up line, then `idleMs`, and reads its RSS.
 */
/** A port nobody listens on now (for the worker's ops server: operators run it with one). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export async function idleBuiltWorker(env: Record<string, string>, idleMs: number): Promise<BuiltWorkerIdle> {
  const dir = join(ROOT, 'node_modules', '.cache', `nrbench-build-${process.pid}`);
  const started = Date.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let proc: ChildProcess | null = null;
  try {
    // Type errors elsewhere do not stop tsc from emitting; only a missing output would.
    const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    await once(tsc, 'exit');
    // dist/version.js reads ../package.json, which also makes the .js files ES modules.
    await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
    const buildMs = Date.now() - started;
    proc = spawn(process.execPath, [join(dir, 'dist', 'main.js'), 'worker'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    const child = proc;
    const up = new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        if (line.includes('"nemo-relay started"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`built worker exited (${code}) before it started`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('built worker did not start within 60 s')), 60_000);
    });
    await Promise.race([up, deadline]).finally(() => clearTimeout(timer));
    await sleep(idleMs);
    return { rss: await vm(child.pid!, 'VmRSS'), peak: await vm(child.pid!, 'VmHWM'), buildMs };
  } finally {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  }
}
