// GET /openapi.json (the document committed as openapi.yaml) and /docs (swagger-ui, served from the package: no CDN).
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses } from '../schemas/common.js';

export const DOCS_PREFIX = '/docs';

export async function docsRoutes(app: FastifyInstance): Promise<void> {
  let document: string | null = null;
  app.withTypeProvider<ZodTypeProvider>().get(
    '/openapi.json',
    {
      schema: {
        tags: ['operations'],
        operationId: 'openapi',
        summary: 'This document (the same as the committed openapi.yaml)',
        security: [],
        response: {
          200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } },
          ...errorResponses(431),
        },
      },
    },
    async (_request, reply) => {
      document ??= JSON.stringify(app.swagger());
      return reply.type('application/json; charset=utf-8').serializer((s: unknown) => s as string).send(document as never);
    },
  );
  // staticCSP: the UI's own assets only (hashes for its inline parts); the spec comes from this origin.
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null } as never,
  });
}
