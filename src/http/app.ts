// buildApp(deps): the Fastify API with the zod type provider, auth, the contract's errors, OpenAPI and every route group.
import Fastify, { errorCodes, LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { AppError } from '../core/errors.js';
import { traceRequests } from '../tracing/http-server.js';
import { tracingEnabled } from '../tracing/state.js';
import { clientErrorHandler, refuseExpectation } from './client-errors.js';
import type { HttpDeps } from './deps.js';
import { explainJsonRefusal, frameworkErrors, installErrorHandling } from './error-handler.js';
import { registerOpenApi } from './openapi.js';
import { documentFrameworkErrors } from './schemas/common.js';
import { rateLimitHook } from './rate-limit.js';
import { adminRoutes } from './routes/admin.js';
import { adminOverviewRoutes } from './routes/admin-overview.js';
import { tenantAdminRoutes } from './routes/admin-tenants.js';
import { batchRoutes } from './routes/batches.js';
import { creditsRoutes } from './routes/credits.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { DOCS_PREFIX, docsRoutes } from './routes/docs.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { carriesOutputLink, jobOutputRoutes } from './routes/job-output.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { uploadRoutes } from './routes/uploads.js';
import { webhookRoutes } from './routes/webhooks.js';

/** Routes anyone may call: probes, the API description. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/openapi.json', DOCS_PREFIX]);
/** Logged at debug only: probes and scrapes arrive every few seconds. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

function isPublic(path: string): boolean {
  // The console's static pages too: it signs in with a key of its own and calls the API like any client.
  return PUBLIC_PATHS.has(path) || path.startsWith(`${DOCS_PREFIX}/`) || /^\/console(\/|$)/.test(path);
}

export async function buildApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance on Fastify's default generic types.
    loggerInstance: deps.logger.child({ role: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit,
    // Fastify's default (0) turned Node's socket timeout off: a client that stops sending mid-upload held its socket and
    // staged file for ever. The event feed writes a keep-alive every 15 s, well inside it.
    connectionTimeout: deps.idleTimeoutMs,
    // Between requests too: Fastify's keep-alive default (72 s) held an idle connection past the limit, whatever it was set to.
    keepAliveTimeout: deps.idleTimeoutMs,
    // Fastify's default (0) turned Node's whole-request limit off too: a byte every 50 s beat the idle timeout and held
    // the socket and the staged file for as long as the client liked. Node answers 408 (clientErrorHandler's body).
    requestTimeout: deps.requestTimeoutMs,
    requestIdHeader: 'x-request-id',
    clientErrorHandler,
    frameworkErrors,
    // Node would answer an HTTP/1.1 request without Host with a bare 400 (no body): the hook below refuses it instead.
    // Node arms its request timer only when the limit is given at construction (Fastify sets it later, which Node
    // ignores), and checks it on this interval (30 s by default): a quarter of a short limit keeps it honest.
    http: {
      requireHostHeader: false,
      requestTimeout: deps.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, deps.requestTimeoutMs / 4)),
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // One access-log line per request (below) instead of Fastify's two: half the logging cost on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.server.on('checkExpectation', refuseExpectation);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // First of all hooks, so auth and the handlers run inside the request's span; probes, scrapes and docs get none.
  if (tracingEnabled()) traceRequests(app, { skip: (path) => isPublic(path) || QUIET_PATHS.has(path) });
  installErrorHandling(app);
  // HTTP/1.1 requires a Host header (RFC 9112 §3.2): refused with the contract's body. HTTP/1.0 needs none.
  app.addHook('onRequest', (request, reply, done) => {
    const raw = request.raw;
    if (raw.headers.host === undefined && raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1) {
      // As Node's own answer did: the connection is closed after it.
      void reply.header('connection', 'close');
      return done(new AppError('VALIDATION_FAILED', 'the request has no Host header (HTTP/1.1 requires one)'));
    }
    done();
  });
  // Before any route: every route's document lists the errors Fastify itself answers for it.
  app.addHook('onRoute', (route) => documentFrameworkErrors(route as Parameters<typeof documentFrameworkErrors>[0]));
  // Bodies are JSON (or multipart where a route takes it): plain text is refused with 415 like any other type.
  app.removeContentTypeParser('text/plain');
  // An empty JSON body is no body where a route takes none (rotate, redeliver, cancel…): JSON-by-default clients send
  // the header anyway. A route with a body refuses the empty one as before (400 "body: must be a JSON object").
  const parseJson = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    // Valid JSON refused for a __proto__ or constructor.prototype key says so, not "invalid JSON".
    if (text.length > 0) return parseJson(request, text, (err, value) => (err ? done(explainJsonRefusal(err, text), undefined) : done(null, value)));
    if (request.routeOptions.schema?.body) return done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
    done(null, undefined);
  });
  await registerOpenApi(app);

  app.decorateRequest('tenant', '');
  /**
   * The admin key acts for the tenant its X-Tenant header names (the console's operator looking at a tenant's jobs):
   * the key can issue itself a key of any tenant anyway, so this opens nothing new. A tenant's own key ignores it.
   */
  const actingFor = async (request: FastifyRequest): Promise<string | null> => {
    const named = request.headers['x-tenant'];
    if (!deps.auth.isAdmin(request.headers.authorization)) return null;
    if (typeof named !== 'string' || named === '') {
      throw new AppError('UNAUTHORIZED', 'the admin key opens the /v1 routes of the tenant named in an X-Tenant header');
    }
    const tenant = await deps.auth.liveTenant(named);
    if (!tenant) throw new AppError('TENANT_NOT_FOUND', `X-Tenant: no tenant ${JSON.stringify(named.slice(0, 64))}`);
    request.log.debug({ tenant }, 'the admin key acts for a tenant');
    return tenant;
  };
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // The operator's routes (/admin, /metrics) check the admin key themselves.
    if (isPublic(path) || path.startsWith('/admin/') || path === '/admin' || path === '/metrics') return;
    // A signed output link (result.url) is its own credential: GET/HEAD of that one route with ?expires&sig only;
    // the route refuses it with 403 unless the signature holds for the job in the path.
    if (deps.outputs && carriesOutputLink(request)) {
      // Its refusals (invalid, expired, gone) are not to be cached either; the bytes say how long they may be.
      void reply.header('cache-control', 'no-store');
      if (!deps.storeAvailable()) throw new AppError('NOT_READY', 'the job store (Redis) is unavailable; retry shortly');
      return;
    }
    // An answer to a key (a tenant's jobs, signed links, webhook secrets) is for that caller only: no cache keeps it,
    // nor a refusal of it. A route that may be cached says so itself (the output's bytes).
    void reply.header('cache-control', 'no-store');
    const tenant = (await deps.auth.tenantOf(request.headers.authorization)) ?? (await actingFor(request));
    if (!tenant) throw new AppError('UNAUTHORIZED', 'missing or unknown API key (Authorization: Bearer <key>)');
    request.tenant = tenant;
    // While Redis is away the job store would queue commands until it is back: answer at once instead.
    if (!deps.storeAvailable()) throw new AppError('NOT_READY', 'the job store (Redis) is unavailable; retry shortly');
  });
  // After authentication (it needs the tenant), before the body is read: a refused upload sends no bytes to staging.
  if (deps.rateLimit) app.addHook('onRequest', rateLimitHook(deps.rateLimit));

  // Why callback style: nothing here waits, and an async hook costs a promise and its resolution per request.
  app.addHook('onResponse', (request, reply, done) => {
    const path = request.url.split('?')[0]!;
    const level = QUIET_PATHS.has(path) ? 'debug' : 'info';
    request.log[level]({ method: request.method, url: path, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });

  await app.register(healthRoutes(deps.health));
  await app.register(jobRoutes(deps.jobs));
  if (deps.outputs) await app.register(jobOutputRoutes(deps.outputs));
  await app.register(batchRoutes(deps.batches));
  await app.register(eventRoutes(deps.events));
  await app.register(deliveryRoutes(deps.deliveries));
  await app.register(webhookRoutes(deps.webhooks));
  await app.register(uploadRoutes(deps.uploads));
  await app.register(creditsRoutes(deps.credits));
  await app.register(docsRoutes);
  if (deps.metrics) await app.register(metricsRoutes(deps.metrics));
  if (deps.admin) await app.register(adminRoutes(deps.admin));
  if (deps.overview) await app.register(adminOverviewRoutes(deps.overview));
  if (deps.tenants) await app.register(tenantAdminRoutes({ ...deps.tenants, storeAvailable: deps.storeAvailable }));
  for (const plugin of deps.plugins ?? []) await app.register(plugin);
  return app;
}
