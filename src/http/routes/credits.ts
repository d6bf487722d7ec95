// GET /v1/credits: the upstream balance of the caller's upstream account (cached briefly by the account's reader).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { described, errorResponses } from '../schemas/common.js';
import { apiSchemas } from '../schemas/registry.js';

export const creditsSchema = apiSchemas.register(
  'Credits',
  z.object({
    available: z.number(),
    frozen: z.number(),
    total: z.number(),
    claim_url: z
      .string()
      .nullable()
      .describe('for an anonymous upstream account that ran out of credits: the page where it is registered (claimed) to add credits; null otherwise'),
  }),
);
export type Credits = z.infer<typeof creditsSchema>;

export interface CreditsRouteDeps {
  /** The balance of the upstream account the tenant's jobs spend; throws UPSTREAM_UNAVAILABLE when it cannot be read. */
  balanceFor(tenant: string): Promise<Credits>;
}

export function creditsRoutes(deps: CreditsRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/credits',
      {
        schema: {
          tags: ['operations'],
          operationId: 'credits',
          summary: 'The upstream credit balance (cached for 10 s)',
          response: { 200: described('balance', creditsSchema), ...errorResponses(401, 429, 431, 502, 503) },
        },
      },
      async (request) => deps.balanceFor(request.tenant),
    );
  };
}
