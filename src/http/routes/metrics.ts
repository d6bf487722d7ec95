// GET /metrics: the Prometheus exposition of this process's own Registry (public, like the probes; keep it off the internet).
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../observability/metrics.js';

export function metricsRoutes(metrics: Metrics) {
  return async (app: FastifyInstance) => {
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
    });
  };
}
