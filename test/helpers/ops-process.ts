// Child processes for the ops tests: server roles and the CLI run from source under the same Node (24) as vitest.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port nobody listens on right now (bind 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  process: ChildProcess;
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Parsed pino JSON lines of stdout. */
  logs: () => Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

/** Minimal environment: PATH and HOME only, so nothing from the developer's shell (or .env) leaks into a role. */
function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_NO_WARNINGS: '1' };
}

export function spawnNode(args: string[], env: Record<string, string>, opts: { cwd?: string; stdin?: string } = {}): Child {
  // tsx and the script by absolute location, so the child may run in another directory (its own .env, say).
  const [script, ...rest] = args;
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), resolve(REPO_ROOT, script!), ...rest], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...baseEnv(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  else child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const logs = () =>
    out.split('\n').flatMap((line) => {
      try {
        return line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  return {
    process: child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog: (match, what, timeoutMs = 30_000) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${what}: ${err.slice(-2000)}`);
          return logs().find(match);
        },
        { what, timeoutMs, intervalMs: 50 },
      ),
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** A server role from source: `node --import tsx src/main.ts <role>`. */
export function spawnRole(role: 'api' | 'worker' | 'all' | 'sim', env: Record<string, string>): Child {
  return spawnNode(['src/main.ts', role], env);
}

/** The CLI from source; resolves with its exit status and output. */
export async function runCliProcess(
  args: string[],
  env: Record<string, string>,
  opts: { stdin?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnNode(['src/cli/main.ts', ...args], env, opts.stdin === undefined ? {} : { stdin: opts.stdin });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const { code } = await child.exited;
  clearTimeout(timer);
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Ends a child and waits for it; SIGKILL if SIGTERM is not enough within `ms`. */
export async function stopChild(child: Child, ms = 15_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await child.exited;
  clearTimeout(timer);
}
