// GET /openapi.json (the document committed as openapi.yaml) and GET /docs (a self-contained page that renders it).
import type { FastifyInstance } from 'fastify';
import { buildOpenApi } from '../openapi.js';
import { DOCS_PAGE } from './docs-page.js';

/** The page loads nothing from elsewhere: inline script and style, data only from /openapi.json. */
const DOCS_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'";

export function docsRoutes() {
  let document: string | null = null;
  return async (app: FastifyInstance) => {
    app.get('/openapi.json', async (_request, reply) => {
      document ??= JSON.stringify(buildOpenApi());
      return reply.type('application/json; charset=utf-8').send(document);
    });
    app.get('/docs', async (_request, reply) =>
      reply.type('text/html; charset=utf-8').header('content-security-policy', DOCS_CSP).send(DOCS_PAGE),
    );
  };
}
