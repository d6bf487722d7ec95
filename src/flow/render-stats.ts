// A moving average of how long renders take, shared by all workers, so the first poll can be aimed at the likely finish.
import type { Redis } from 'ioredis';

const KEY_SUFFIX = ':nemo:render-ms-ewma';
const ALPHA = 0.3;

export class RenderStats {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = prefix + KEY_SUFFIX;
  }

  async expectedMs(): Promise<number | null> {
    const raw = await this.redis.get(this.key);
    const value = raw === null ? NaN : Number(raw);
    return Number.isFinite(value) && value > 0 ? value : null;
  }

  async record(durationMs: number): Promise<void> {
    const previous = await this.expectedMs();
    const next = previous === null ? durationMs : previous * (1 - ALPHA) + durationMs * ALPHA;
    await this.redis.set(this.key, String(Math.round(next)));
  }
}
