// GET /admin/overview: what the console's Operator view shows (queues, the last hour's jobs and failures, credits, tenants).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminOverview } from '../../domain/admin-overview.js';
import type { Authenticator } from '../deps.js';
import { adminOverviewResponse } from '../schemas/admin.js';
import { described, errorResponses } from '../schemas/common.js';
import { operatorGuard } from './admin.js';

export interface AdminOverviewRouteDeps {
  /** Computed from Redis (every process's jobs and queues), cached a few seconds. */
  overview(): Promise<AdminOverview>;
  /** Every tenant's figures: the admin key only. */
  auth: Authenticator;
}

export function adminOverviewRoutes(deps: AdminOverviewRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/admin/overview',
      {
        schema: {
          tags: ['operations'],
          operationId: 'adminOverview',
          summary: 'The operator overview: queue depths, jobs per minute and failure codes over the last hour, credits per upstream account, tenants (admin key)',
          response: { 200: described('the overview', adminOverviewResponse), ...errorResponses(401, 403, 503) },
        },
        // No Basic challenge: the console's sign-in probes this route with any key, and a challenge would stall its fetch.
        onRequest: operatorGuard(deps.auth, 'the operator overview', { challenge: false }),
      },
      async (_request, reply) => reply.header('cache-control', 'no-store').send(await deps.overview()),
    );
  };
}
