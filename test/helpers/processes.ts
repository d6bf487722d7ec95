// Child processes for resilience tests: the real entry point (`node --import tsx src/main.ts <role>`) with a chosen env.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { waitFor } from './wait.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Lines of output kept per child, for the failure message. */
const KEPT_LINES = 300;

/**
 * A port nobody uses right now: bind port 0 here, read it, release it. A child that must be reached cannot
 * listen on 0 itself (the parent would not learn the port).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RoleProcess {
  readonly role: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The last lines the child printed (stdout and stderr). */
  output(): string;
  /** SIGKILL: no shutdown hook runs, locks stay held until they expire. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** Starts one role of nemo-relay as a child of the test process, with only the env given (plus PATH and HOME). */
export function spawnRole(role: 'api' | 'worker' | 'all' | 'sim', env: Record<string, string>): RoleProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', role], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start the ${role} child process`);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > KEPT_LINES) lines.shift();
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    role,
    pid: child.pid,
    child,
    exited,
    output: () => lines.join('\n'),
    async kill9() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (!alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Tracks the children one test file starts, so `afterAll` can stop exactly those (never anything else). */
export class ProcessGroup {
  readonly started: RoleProcess[] = [];

  spawn(role: 'api' | 'worker' | 'all' | 'sim', env: Record<string, string>): RoleProcess {
    const p = spawnRole(role, env);
    this.started.push(p);
    return p;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((p) => p.stop(5_000)));
  }

  /** Everything the children printed, for a failing assertion's message. */
  dump(): string {
    return this.started.map((p) => `--- ${p.role} pid ${p.pid}\n${p.output()}`).join('\n');
  }
}

/** Waits until GET `url` answers 200 (an API child is up); fails at once, with its output, if the child exits first. */
export async function waitForHttp(url: string, proc?: RoleProcess, timeoutMs = 30_000): Promise<void> {
  let exited: number | null | undefined;
  void proc?.exited.then((code) => (exited = code));
  await waitFor(
    async () => {
      if (exited !== undefined) return true;
      const res = await request(url).catch(() => null);
      if (!res) return false;
      await res.body.dump();
      return res.statusCode === 200;
    },
    { timeoutMs, intervalMs: 100, what: `${url} to answer 200` },
  );
  if (exited !== undefined) throw new Error(`${proc!.role} exited with ${exited} before answering:\n${proc!.output()}`);
}

/** One JSON call to an API child (the in-process stack has its own `stack.api`). */
export async function apiCall<T = unknown>(
  baseUrl: string,
  key: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await request(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, body: parsed as T };
}
