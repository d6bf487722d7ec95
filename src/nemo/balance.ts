// The upstream credit balance of one account, cached in Redis for a few seconds so callers polling it do not load the upstream.
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { NemoClient } from './client.js';
import { NemoError } from './errors.js';
import type { TokenProvider } from './token.js';

export const balanceSchema = z.object({ available: z.number(), frozen: z.number(), total: z.number() });
export type Balance = z.infer<typeof balanceSchema>;

export const CREDITS_CACHE_MS = 10_000;

export interface BalanceReaderDeps {
  redis: RedisClient;
  /** Where this account's cached balance lives. */
  cacheKey: string;
  nemo: Pick<NemoClient, 'getCredits'>;
  tokens: Pick<TokenProvider, 'get' | 'invalidate' | 'isStatic'>;
  logger: Logger;
  cacheMs?: number;
}

const cachedSchema = z.object({ balance: balanceSchema, at: z.number() });

export class BalanceReader {
  /** One upstream read at a time per process: a burst of callers shares it. */
  private inflight: Promise<Balance> | null = null;
  /** The last balance this process saw (read or fetched): while fresh, not even Redis is asked. */
  private local: { balance: Balance; at: number } | null = null;

  constructor(private readonly deps: BalanceReaderDeps) {}

  private get cacheMs(): number {
    return this.deps.cacheMs ?? CREDITS_CACHE_MS;
  }

  /**
   * The cached balance when it is fresh, else one upstream read; UPSTREAM_UNAVAILABLE when it cannot be read. `local`:
   * this process's own copy will do while fresh (the flow asks once per job start and end; GET /v1/credits reads the
   * shared cache each time).
   */
  async get(opts: { onUpstreamCall?: () => void; local?: boolean } = {}): Promise<Balance> {
    const hit = await this.peek({ local: opts.local === true });
    if (hit && Date.now() - hit.at < this.cacheMs) return hit.balance;
    if (!this.inflight) {
      // Only the caller that starts the read counts it as its own upstream call.
      opts.onUpstreamCall?.();
      this.inflight = this.read().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  /**
   * A balance read elsewhere (the credits pause's re-check reads it with the job's own token): kept as the account's
   * latest, so GET /v1/credits and a job's credits_after show what was just read, not the older cached value.
   */
  async note(balance: Balance): Promise<void> {
    this.local = { balance, at: Date.now() };
    await this.deps.redis.set(this.deps.cacheKey, JSON.stringify(this.local), 'PX', this.cacheMs);
  }

  /** What is cached, with when it was read; no upstream call (with `local`, no Redis call while this process's copy is fresh). */
  async peek(opts: { local?: boolean } = {}): Promise<{ balance: Balance; at: number } | null> {
    if (opts.local && this.local && Date.now() - this.local.at < this.cacheMs) return this.local;
    const raw = await this.deps.redis.get(this.deps.cacheKey);
    if (raw === null) return null;
    try {
      const parsed = cachedSchema.safeParse(JSON.parse(raw));
      if (!parsed.success) return null;
      this.local = parsed.data;
      return parsed.data;
    } catch {
      return null;
    }
  }

  private async read(): Promise<Balance> {
    let balance: Balance;
    try {
      balance = balanceSchema.parse(await this.fetch());
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'credit balance unavailable');
      // A fixed token the upstream refuses stays refused: "try again later" would never come true.
      if (err instanceof NemoError && err.kind === 'auth' && this.deps.tokens.isStatic) {
        throw new AppError(
          'UPSTREAM_AUTH_FAILED',
          "the upstream refused this account's token (the tenant's own upstream token, or NEMO_TOKEN): the balance can be read once a valid one is set",
          { cause: err },
        );
      }
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the upstream credit balance could not be read; try again later', { cause: err });
    }
    await this.note(balance);
    return balance;
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
