// Parent side of a benchmark child process: spawn a role (sim, api, worker…) and talk to it over IPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildRole } from './child-roles.js';

const CHILD_MAIN = join(dirname(fileURLToPath(import.meta.url)), 'child-main.ts');

/** CPU in µs, memory in bytes, event-loop lag in ms above the 10 ms sampling interval. */
export interface ChildStats {
  /** When the snapshot was taken (epoch ms). */
  at: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  /** CPU of the main thread alone (process.threadCpuUsage): the event loop, which one core bounds. */
  mainThreadCpuUs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** Memory of C++ objects bound to JS (sockets, buffers); arrayBuffers is part of it. */
  external: number;
  arrayBuffers: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  lagSamples: number;
}

export interface Child {
  role: ChildRole;
  pid: number;
  url: string | null;
  call<T = unknown>(op: string, args?: unknown): Promise<T>;
  stats(): Promise<ChildStats>;
  /** Ends the process at once (SIGKILL): a worker holding 2,000 open streams would otherwise drain them first. */
  kill(): Promise<void>;
}

type Reply = { type: 'result'; id: number; ok: true; value: unknown } | { type: 'result'; id: number; ok: false; error: string };
type Message = Reply | { type: 'ready'; url: string | null } | { type: 'failed'; error: string };

export async function spawnChild(role: ChildRole, spec: unknown = {}, timeoutMs = 60_000): Promise<Child> {
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD_MAIN], {
    // stdout (pino logs) is discarded; stderr stays visible so a crash explains itself.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_CHILD: JSON.stringify({ role, spec }) },
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exitPromise = once(proc, 'exit').then(() => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error(`${role} child exited`));
    pending.clear();
  });

  const ready = new Promise<string | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} child did not start within ${timeoutMs} ms`)), timeoutMs);
    proc.on('message', (raw) => {
      const m = raw as Message;
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.url);
      } else if (m.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${role} child failed to start: ${m.error}`));
      } else if (m.type === 'result') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(new Error(`${role}.${m.id}: ${m.error}`));
      }
    });
    void exitPromise.then(() => reject(new Error(`${role} child exited before it was ready`)));
  });
  const url = await ready.catch(async (err: Error) => {
    proc.kill('SIGKILL');
    throw err;
  });

  const call = <T>(op: string, args?: unknown): Promise<T> => {
    if (exited) return Promise.reject(new Error(`${role} child has exited`));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      proc.send({ type: 'call', id, op, args });
    });
  };
  // BENCH_CHILD_CPU_PROF=<dir>: every child is profiled from ready to kill (<dir>/<role>-<pid>.cpuprofile), for
  // benchmarks that have no profiling of their own; the straight-line baseline too.
  const profDir = process.env.BENCH_CHILD_CPU_PROF;
  if (profDir) await call('cpuProfileStart');
  return {
    role,
    pid: proc.pid!,
    url,
    call,
    stats: () => call<ChildStats>('stats'),
    async kill() {
      if (profDir && !exited) await call('cpuProfileStop', { path: `${profDir}/${role}-${proc.pid}.cpuprofile` }).catch(() => undefined);
      if (!exited) proc.kill('SIGKILL');
      await exitPromise;
    },
  };
}

/** Main-thread CPU milliseconds spent between two stats snapshots. */
export function mainThreadMsBetween(before: ChildStats, after: ChildStats): number {
  return (after.mainThreadCpuUs - before.mainThreadCpuUs) / 1000;
}

/** CPU milliseconds spent between two stats snapshots. */
export function cpuMsBetween(before: ChildStats, after: ChildStats): number {
  return (after.cpuUserUs - before.cpuUserUs + after.cpuSystemUs - before.cpuSystemUs) / 1000;
}
