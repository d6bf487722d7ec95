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

/**
 * The count once Redis has gone quiet: two counts `quietMs` apart differ by the INFO call alone. What a job's end sets
 * off after its webhook arrived (the queue's completion, the delivery's settle, the next admission) is then counted
 * with it, and none of it spills into a later window. `own`: the INFO calls this took (perJob takes them off).
 */
export async function quietCount(redis: Redis, opts: { quietMs?: number; timeoutMs?: number } = {}): Promise<CommandCount & { own: number }> {
  const quietMs = opts.quietMs ?? 300;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last = await commandCount(redis);
  let own = 1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const next = await commandCount(redis);
    own += 1;
    // One command between the two: the INFO that took `last` (Redis counts a command once it has run).
    if (next.total - last.total <= 1 || Date.now() > deadline) return { ...next, own };
    last = next;
  }
}

/**
 * Commands per job between two counts, less the test's own: the INFO call that took `before` and, for a quietCount,
 * the INFO calls that waited for quiet before `after` (one in all when `after` is a plain count). And the busiest commands.
 */
export function perJob(before: CommandCount, after: CommandCount & { own?: number }, jobs: number): { perJob: number; top: string } {
  const top = [...after.byCommand]
    .map(([c, n]) => [c, (n - (before.byCommand.get(c) ?? 0)) / jobs] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([c, n]) => `${c} ${n.toFixed(1)}`)
    .join(', ');
  return { perJob: (after.total - before.total - (after.own ?? 1)) / jobs, top };
}
