// GET /v1/credits: the upstream balance, cached in Redis for a few seconds so callers polling it do not load the upstream.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { NemoError } from '../../nemo/errors.js';
import type { Services } from '../../services.js';

export const creditsSchema = z.object({ available: z.number(), frozen: z.number(), total: z.number() });
export type Credits = z.infer<typeof creditsSchema>;

export const CREDITS_CACHE_MS = 10_000;

export function creditsRoutes(services: Services) {
  const { redis, keys, nemo, tokens, logger } = services;

  const cached = async (): Promise<Credits | null> => {
    const raw = await redis.get(keys.creditsCache());
    if (raw === null) return null;
    const parsed = creditsSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  };

  const fetchBalance = async (): Promise<Credits> => {
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
  };

  return async (app: FastifyInstance) => {
    app.get('/v1/credits', async () => {
      const hit = await cached();
      if (hit) return hit;
      let balance: Credits;
      try {
        balance = creditsSchema.parse(await fetchBalance());
      } catch (err) {
        logger.warn({ err: String(err) }, 'credit balance unavailable');
        throw new AppError('UPSTREAM_UNAVAILABLE', 'the upstream credit balance could not be read; try again later', { cause: err });
      }
      await redis.set(keys.creditsCache(), JSON.stringify(balance), 'PX', CREDITS_CACHE_MS);
      return balance;
    });
  };
}
