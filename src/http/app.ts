// buildApp(deps): the Fastify API with auth, the contract's errors and every route group; no listening here.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';
import { clientErrorHandler } from './client-errors.js';
import type { ApiDeps } from './deps.js';
import { frameworkErrors, installErrorHandling } from './error-handler.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';

/** Routes anyone may call: probes, metrics, the API description. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']);

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance on Fastify's default generic types.
    loggerInstance: deps.logger.child({ role: 'api' }) as FastifyBaseLogger,
    bodyLimit: 1_048_576,
    requestIdHeader: 'x-request-id',
    clientErrorHandler,
    frameworkErrors,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // One access-log line per request (below) instead of Fastify's two: half the logging cost on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
  });
  installErrorHandling(app);
  app.decorateRequest('tenant', '');
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path) || path.startsWith('/docs/') || path.startsWith('/admin/')) return;
    const tenant = deps.apiKeys.tenantOf(request.headers.authorization);
    if (!tenant) throw new AppError('UNAUTHORIZED', 'missing or unknown API key (Authorization: Bearer <key>)');
    request.tenant = tenant;
    // While Redis is away the job store would queue commands until it is back: answer at once instead.
    if (deps.redis.status !== 'ready') {
      throw new AppError('NOT_READY', 'the job store (Redis) is unavailable; retry shortly');
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // Probes and scrapes arrive every few seconds; they are logged only at debug.
    const level = PUBLIC_PATHS.has(path) && path !== '/docs' ? 'debug' : 'info';
    request.log[level](
      { method: request.method, url: path, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  await app.register(healthRoutes(deps));
  await app.register(jobRoutes(deps));
  for (const plugin of deps.plugins ?? []) await app.register(async (scope) => plugin(scope));
  return app;
}
