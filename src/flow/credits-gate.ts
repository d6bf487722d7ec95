// Pauses new upstream work while the upstream is out of credits (2001), re-checking the balance instead of failing every job.
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { DEFAULT_ACCOUNT, type Keys } from '../redis/keys.js';

const pauseSchema = z.object({ since: z.number(), recheck_at: z.number() });

/** Production default of CREDITS_RECHECK_MS (config.ts). */
export const CREDITS_RECHECK_MS = 60_000;
/** Generation costs about 100 credits (protocol §2.5): below that a new job would only hit 2001 again. */
export const MIN_CREDITS_TO_START = 100;
/**
 * How long this process trusts what it last read of the pause: every start and every message asks the gate, and a
 * read each time was a Redis round trip per step. A pause set by another worker is seen this much later at most (a
 * message sent meanwhile is refused with 2001 before anything runs, and waits like the others).
 */
export const PAUSE_STATE_CACHE_MS = 1_000;

type PauseState = z.infer<typeof pauseSchema>;

export class CreditsGate {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly recheckMs = CREDITS_RECHECK_MS,
    /** Which upstream account this gate guards: one account's 2001 pauses only the jobs that spend it. */
    private readonly account = DEFAULT_ACCOUNT,
  ) {}

  private cached: { state: PauseState | null; readAt: number } | null = null;

  async pause(now = Date.now()): Promise<void> {
    const current = await this.read();
    const state = { since: current?.since ?? now, recheck_at: now + this.recheckMs };
    await this.redis.set(this.keys.creditsPause(this.account), JSON.stringify(state));
    this.cached = { state, readAt: Date.now() };
  }

  async resume(): Promise<void> {
    await this.redis.del(this.keys.creditsPause(this.account));
    this.cached = { state: null, readAt: Date.now() };
  }

  /** The pause as this process last saw it, read again once it is PAUSE_STATE_CACHE_MS old. */
  async state(): Promise<PauseState | null> {
    const now = Date.now();
    if (this.cached && now - this.cached.readAt < PAUSE_STATE_CACHE_MS && now >= this.cached.readAt) return this.cached.state;
    return this.read();
  }

  private async read(): Promise<PauseState | null> {
    const raw = await this.redis.get(this.keys.creditsPause(this.account));
    const state = raw === null ? null : pauseSchema.parse(JSON.parse(raw));
    this.cached = { state, readAt: Date.now() };
    return state;
  }

  /**
   * null: go ahead. A number: wait that many ms. When the re-check time has come, `checkBalance` decides;
   * only one caller per interval does the check (the NX claim), the others keep waiting.
   */
  async gate(checkBalance: () => Promise<number>, now = Date.now()): Promise<number | null> {
    const state = await this.state();
    if (!state) return null;
    if (now < state.recheck_at) return state.recheck_at - now;
    const claimed = await this.redis.set(`${this.keys.creditsPause(this.account)}:check`, '1', 'PX', this.recheckMs, 'NX');
    if (!claimed) return Math.min(this.recheckMs, 5_000);
    let available: number;
    try {
      available = await checkBalance();
    } catch (err) {
      // The check failed (5xx, network): release the claim so the retry of this step may check again.
      await this.redis.del(`${this.keys.creditsPause(this.account)}:check`);
      throw err;
    }
    if (available >= MIN_CREDITS_TO_START) {
      await this.resume();
      return null;
    }
    await this.pause(now);
    return this.recheckMs;
  }
}
