// GET /metrics: the Prometheus exposition of this process's own registry, for the operator (admin key) only.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Authenticator } from '../deps.js';
import { errorResponses } from '../schemas/common.js';
import { operatorGuard } from './admin.js';

export interface MetricsRouteDeps {
  render(): Promise<{ contentType: string; body: string }>;
  /** Metrics name every tenant with its job counts: on the API port only the admin key reads them (the ops port is open). */
  auth: Authenticator;
}

export function metricsRoutes(deps: MetricsRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics (admin key; the worker ops port serves them without one)',
          response: {
            200: { description: 'text exposition format', content: { 'text/plain': { schema: z.string() } } },
            ...errorResponses(401, 403),
          },
        },
        onRequest: operatorGuard(deps.auth, 'the metrics'),
      },
      async (_request, reply) => {
        const { contentType, body } = await deps.render();
        return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
      },
    );
  };
}
