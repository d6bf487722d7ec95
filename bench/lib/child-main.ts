// Entry of a benchmark child process: starts one role, then answers IPC calls (its own ops plus stats and peak RSS).
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { inspectorCall as post, startCpuProfile } from './cpu-profile.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { startRole, type ChildRole } from './child-roles.js';
import type { ChildStats } from './child.js';

/** Node's default sampling interval; each sample is the interval plus the lag, so the interval is subtracted. */
const RESOLUTION_MS = 10;

const send = (m: unknown) => process.send?.(m);

let heapSession: Session | null = null;

async function main(): Promise<void> {
  const { role, spec } = JSON.parse(process.env.BENCH_CHILD ?? '{}') as { role: ChildRole; spec: unknown };
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  eld.enable();
  const lag = (p: number) => Math.max(0, eld.percentile(p) / 1e6 - RESOLUTION_MS);

  const common: Record<string, (args: unknown) => Promise<unknown>> = {
    async stats(): Promise<ChildStats> {
      const cpu = process.cpuUsage();
      const main = process.threadCpuUsage();
      const mem = process.memoryUsage();
      return {
        at: Date.now(),
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        mainThreadCpuUs: main.user + main.system,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        lagP50Ms: lag(50),
        lagP99Ms: lag(99),
        lagMaxMs: Math.max(0, eld.max / 1e6 - RESOLUTION_MS),
        lagSamples: eld.count,
      };
    },
    async resetLag() {
      eld.reset();
      return null;
    },
    /** Linux: writing 5 to clear_refs resets VmHWM, so `peak` reports the high-water mark since this call. */
    async resetPeak() {
      await writeFile('/proc/self/clear_refs', '5');
      return null;
    },
    async peak() {
      const status = await readFile('/proc/self/status', 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
      return kb * 1024;
    },
    /** For finding out what the heap holds: v8.writeHeapSnapshot to `path` (blocks the process while it writes). */
    async heapSnapshot(args) {
      return writeHeapSnapshot((args as { path: string }).path);
    },
    /**
     * For finding out what allocates: V8's sampling heap profiler from now until `stopHeapSampling`, counting objects
     * already collected too (so short-lived garbage shows), written as a .heapprofile to `path` at the stop.
     */
    async startHeapSampling() {
      heapSession ??= new Session();
      heapSession.connect();
      await post(heapSession, 'HeapProfiler.enable');
      await post(heapSession, 'HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return null;
    },
    async stopHeapSampling(args) {
      if (!heapSession) throw new Error('startHeapSampling first');
      const { profile } = (await post(heapSession, 'HeapProfiler.stopSampling')) as { profile: unknown };
      heapSession.disconnect();
      heapSession = null;
      await writeFile((args as { path: string }).path, JSON.stringify(profile));
      return (args as { path: string }).path;
    },
    /** For finding out why a figure is what it is: a V8 CPU profile of the next `ms`, written to `path`. */
    async cpuProfile(args) {
      const { ms, path } = args as { ms: number; path: string };
      const stop = await startCpuProfile();
      await new Promise((r) => setTimeout(r, ms));
      return stop(path);
    },
  };

  // Start/stop pair for profiling a phase whose length is not known up front (e.g. one upload leg).
  let stopProfile: ((path: string) => Promise<string>) | null = null;
  common.cpuProfileStart = async () => {
    if (stopProfile) throw new Error('a CPU profile is already running');
    stopProfile = await startCpuProfile(200);
    return null;
  };
  common.cpuProfileStop = async (args) => {
    const stop = stopProfile;
    if (!stop) throw new Error('no CPU profile is running');
    stopProfile = null;
    return stop((args as { path: string }).path);
  };

  let handle;
  try {
    handle = await startRole(role, spec);
  } catch (err) {
    send({ type: 'failed', error: (err as Error).stack ?? String(err) });
    process.exit(1);
  }
  const ops = { ...common, ...handle.ops };
  process.on('message', (raw) => {
    const m = raw as { type: string; id: number; op: string; args: unknown };
    if (m.type !== 'call') return;
    const op = ops[m.op];
    if (!op) {
      send({ type: 'result', id: m.id, ok: false, error: `unknown op ${m.op}` });
      return;
    }
    op(m.args).then(
      (value) => send({ type: 'result', id: m.id, ok: true, value }),
      (err: Error) => send({ type: 'result', id: m.id, ok: false, error: err.stack ?? String(err) }),
    );
  });
  // The parent went away (crashed or killed): do not linger holding ports and Redis connections.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url: handle.url });
}

void main();
