// INFO commandstats as numbers: every command Redis ran, scripts' inner commands included (the job-cost test and the orchestration benchmark).
import type { Redis } from 'ioredis';

export interface CommandCount {
  total: number;
  byCommand: Map<string, number>;
}

export async function commandCount(redis: Redis): Promise<CommandCount> {
  const info = await redis.info('commandstats');
  const byCommand = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)) byCommand.set(m[1]!, Number(m[2]));
  return { total: [...byCommand.values()].reduce((a, b) => a + b, 0), byCommand };
}

/** Commands per job between two counts (less the INFO call that took the second), and the busiest commands. */
export function perJob(before: CommandCount, after: CommandCount, jobs: number): { perJob: number; top: string } {
  const top = [...after.byCommand]
    .map(([c, n]) => [c, (n - (before.byCommand.get(c) ?? 0)) / jobs] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([c, n]) => `${c} ${n.toFixed(1)}`)
    .join(', ');
  return { perJob: (after.total - before.total - 1) / jobs, top };
}
