// What the benchmarks ran on: CPU, cores, memory, kernel, Node and Redis versions (absolute figures mean little without it).
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { Redis } from 'ioredis';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  redis: string;
}

export async function describeMachine(redisUrl: string): Promise<MachineInfo> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let version: string;
  try {
    await redis.connect();
    version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    redis: version,
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, Redis ${m.redis}`;
}

export interface CpuSnapshot {
  at: number;
  /** Busy CPU ticks of the whole machine (all cores). */
  busy: number;
  /** CPU ticks of this process and of its children that have exited (every benchmark ends its children). */
  own: number;
}

/** The numeric fields of /proc/<pid>/stat after the ")" of the command name: utime stime cutime cstime are [11]–[14]. */
async function processStat(pid: number | 'self'): Promise<number[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
}

/** CPU ticks (1/100 s) a process has used itself; null where /proc cannot be read (not Linux, a process elsewhere). */
export async function processTicks(pid: number | 'self'): Promise<number | null> {
  try {
    const s = await processStat(pid);
    return s[11]! + s[12]!;
  } catch {
    return null;
  }
}

/** Linux only; null elsewhere. */
export async function cpuSnapshot(): Promise<CpuSnapshot | null> {
  try {
    const [stat, s] = await Promise.all([readFile('/proc/stat', 'utf8'), processStat('self')]);
    const f = stat.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return { at: Date.now(), busy, own: s[11]! + s[12]! + s[13]! + s[14]! };
  } catch {
    return null;
  }
}

/** CPU milliseconds every process on the machine used between two snapshots (all cores); NaN off Linux. */
export function machineCpuMsBetween(a: CpuSnapshot | null, b: CpuSnapshot | null): number {
  return a && b ? (b.busy - a.busy) * 10 : Number.NaN;
}

/**
 * How busy the machine was with work that is not the benchmark's own (other users, their tests, and Redis, which the
 * benchmark also uses): a share of all cores, in percent. Ticks are 1/100 s on Linux.
 */
export function othersCpuPercent(a: CpuSnapshot | null, b: CpuSnapshot | null): number | null {
  if (!a || !b || b.at <= a.at) return null;
  const otherTicks = b.busy - a.busy - (b.own - a.own);
  return Math.max(0, Math.round(((otherTicks * 10) / ((b.at - a.at) * availableParallelism())) * 100));
}
