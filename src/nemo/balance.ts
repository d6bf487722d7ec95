// The upstream credit balance of one account, cached in Redis for a few seconds so callers polling it do not load the upstream.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { NemoClient } from './client.js';
import { NemoError } from './errors.js';
import type { TokenProvider } from './token.js';

export const balanceSchema = z.object({ available: z.number(), frozen: z.number(), total: z.number() });
export type Balance = z.infer<typeof balanceSchema>;

export const CREDITS_CACHE_MS = 10_000;

export interface BalanceReaderDeps {
  redis: Redis;
  /** Where this account's cached balance lives. */
  cacheKey: string;
  nemo: Pick<NemoClient, 'getCredits'>;
  tokens: Pick<TokenProvider, 'get' | 'invalidate' | 'isStatic'>;
  logger: Logger;
  cacheMs?: number;
}

export class BalanceReader {
  constructor(private readonly deps: BalanceReaderDeps) {}

  /** The cached balance when fresh, else one upstream read; UPSTREAM_UNAVAILABLE when it cannot be read. */
  async get(): Promise<Balance> {
    const hit = await this.cached();
    if (hit) return hit;
    let balance: Balance;
    try {
      balance = balanceSchema.parse(await this.fetch());
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'credit balance unavailable');
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the upstream credit balance could not be read; try again later', { cause: err });
    }
    await this.remember(balance);
    return balance;
  }

  /** Stores a balance learned elsewhere (a job's own read), so the next caller need not ask again. */
  async remember(balance: Balance): Promise<void> {
    await this.deps.redis.set(this.deps.cacheKey, JSON.stringify(balance), 'PX', this.deps.cacheMs ?? CREDITS_CACHE_MS);
  }

  private async cached(): Promise<Balance | null> {
    const raw = await this.deps.redis.get(this.deps.cacheKey);
    if (raw === null) return null;
    try {
      const parsed = balanceSchema.safeParse(JSON.parse(raw));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  private async fetch(): Promise<Balance> {
    const { tokens, nemo } = this.deps;
    let token = await tokens.get();
    try {
      return await nemo.getCredits(token);
    } catch (err) {
      // A refused token is replaced once (every worker shares it, so invalidate it for all of them).
      if (!(err instanceof NemoError) || err.kind !== 'auth' || tokens.isStatic) throw err;
      await tokens.invalidate(token);
      token = await tokens.get();
      return nemo.getCredits(token);
    }
  }
}
