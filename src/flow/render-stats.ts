// A moving average of how long renders take, shared by all workers, so the first poll can be aimed at the likely finish.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';

const ALPHA = 0.3;

export class RenderStats {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    keys: Keys,
  ) {
    this.key = keys.renderTimeAverage();
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
