// A moving average of how long renders take, shared by all workers, so the first poll can be aimed at the likely finish.
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';

const ALPHA = 0.3;
/** Every job reads the average once and writes it once; a process trusts its own copy this long between reads. */
export const RENDER_STATS_CACHE_MS = 5_000;

export class RenderStats {
  private readonly key: string;
  private cached: { value: number | null; at: number } | null = null;
  /** What Redis holds as far as this process knows (read or written): the 1 % rule compares with it. */
  private stored: number | null = null;

  constructor(
    private readonly redis: RedisClient,
    keys: Keys,
  ) {
    this.key = keys.renderTimeAverage();
  }

  async expectedMs(): Promise<number | null> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < RENDER_STATS_CACHE_MS && now >= this.cached.at) return this.cached.value;
    const raw = await this.redis.get(this.key);
    const parsed = raw === null ? NaN : Number(raw);
    const value = Number.isFinite(parsed) && parsed > 0 ? parsed : null;
    this.cached = { value, at: now };
    this.stored = value;
    return value;
  }

  /**
   * Folds one render's time into the average (from this process's copy: workers' updates interleave, as an average
   * may). A drift of less than 1 % from what Redis holds is kept in this process only: steady render times cost no
   * write per job.
   */
  async record(durationMs: number): Promise<void> {
    const previous = await this.expectedMs();
    const next = Math.round(previous === null ? durationMs : previous * (1 - ALPHA) + durationMs * ALPHA);
    this.cached = { value: next, at: this.cached?.at ?? Date.now() };
    if (this.stored !== null && Math.abs(next - this.stored) < this.stored * 0.01) return;
    await this.redis.set(this.key, String(next));
    this.stored = next;
  }
}
