// /healthz (the process runs) and /readyz (Redis answers and will not evict queue data).
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiDeps } from '../deps.js';

export async function redisReadiness(redis: Redis): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== 'noeviction') {
      return { ok: false, reason: `redis maxmemory-policy is ${policy}; queue data needs noeviction` };
    }
    return { ok: true };
  } catch (err) {
    const message = (err as Error).message;
    // Managed Redis often forbids CONFIG; PING then proves liveness and the policy cannot be checked.
    if (/unknown command|NOPERM|not allowed/i.test(message)) {
      try {
        await redis.ping();
        return { ok: true };
      } catch {
        /* fall through */
      }
    }
    return { ok: false, reason: `redis unreachable: ${message}` };
  }
}

export function healthRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) => {
      const ready = await redisReadiness(deps.redis);
      if (!ready.ok) return reply.status(503).send({ statusCode: 503, code: 'NOT_READY', message: ready.reason });
      return { status: 'ready' };
    });
  };
}
