// /healthz (the process runs) and /readyz (the store answers and will not evict queue data; the reason when not).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { described, errorResponses } from '../schemas/common.js';

export type Readiness = { ok: true } | { ok: false; reason: string };

export interface HealthRouteDeps {
  readiness(): Promise<Readiness>;
}

export function healthRoutes(deps: HealthRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          operationId: 'healthz',
          summary: 'Liveness',
          security: [],
          response: { 200: described('alive', z.object({ status: z.literal('ok') })), ...errorResponses(431) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          operationId: 'readyz',
          summary: 'Readiness (Redis reachable with noeviction, storage writable)',
          security: [],
          response: { 200: described('ready', z.object({ status: z.literal('ready') })), ...errorResponses(431, 503) },
        },
      },
      async (_request, reply) => {
        const ready = await deps.readiness();
        if (!ready.ok) return reply.status(503).send({ statusCode: 503, code: 'NOT_READY', message: ready.reason });
        return { status: 'ready' as const };
      },
    );
  };
}
