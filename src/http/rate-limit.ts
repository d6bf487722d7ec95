// Per-tenant rate limits on the create routes (rate_limit_per_min): Redis-shared windows, 429 + Retry-After + RateLimit-* headers.
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The routes a tenant's rate_limit_per_min covers: the ones that create work (a revision is a job), take storage, or
 * make the service send a signed request to a URL the caller names (the webhook test).
 */
export const RATE_LIMITED_ROUTES: readonly string[] = ['/v1/jobs', '/v1/batches', '/v1/uploads', '/v1/jobs/:id/revisions', '/v1/webhooks/test'];
const LIMITED = new Set(RATE_LIMITED_ROUTES);
export const RATE_WINDOW_MS = 60_000;

export interface RateLimitDeps {
  /** The tenant's limit per minute, null when it has none (answered from the in-process tenant cache: no Redis call). */
  limitOf(tenant: string): Promise<number | null>;
  /** Counts one request in the tenant's window (one Redis round trip). */
  hit(tenant: string, windowMs: number): Promise<{ count: number; resetMs: number }>;
}

/** An onRequest hook, added after authentication (it needs request.tenant) and before the body is read. */
export function rateLimitHook(deps: RateLimitDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST' || !LIMITED.has(request.routeOptions.url ?? '') || !request.tenant) return;
    const limit = await deps.limitOf(request.tenant);
    if (limit === null) return;
    let window: { count: number; resetMs: number };
    try {
      window = await deps.hit(request.tenant, RATE_WINDOW_MS);
    } catch (err) {
      // A limiter that cannot count lets the request through: the create itself fails if Redis is really away.
      request.log.warn({ err: (err as Error).message }, 'rate limit not checked: Redis did not answer');
      return;
    }
    const resetS = Math.max(1, Math.ceil(window.resetMs / 1000));
    // The IETF draft's names (draft-ietf-httpapi-ratelimit-headers), on every answer of a limited route.
    void reply.header('ratelimit-limit', String(limit));
    void reply.header('ratelimit-remaining', String(Math.max(0, limit - window.count)));
    void reply.header('ratelimit-reset', String(resetS));
    void reply.header('ratelimit-policy', `${limit};w=${RATE_WINDOW_MS / 1000}`);
    if (window.count <= limit) return;
    void reply.header('retry-after', String(resetS));
    return reply.code(429).send({
      statusCode: 429,
      code: 'RATE_LIMITED',
      message: `this tenant may make ${limit} requests a minute to POST ${RATE_LIMITED_ROUTES.map((r) => r.replace(/:(\w+)/g, '{$1}')).join(', ')}; retry in ${resetS} s`,
    });
  };
}

type Json = Record<string, unknown>;

const integer = (description: string) => ({ description, schema: { type: 'integer', minimum: 0 } });
const RATE_HEADERS: Record<string, Json> = {
  'RateLimit-Limit': integer('the tenant’s requests per minute on the create routes (only for a tenant with rate_limit_per_min)'),
  'RateLimit-Remaining': integer('requests left in the current window'),
  'RateLimit-Reset': integer('seconds until the window ends'),
  'RateLimit-Policy': { description: '`<limit>;w=60`', schema: { type: 'string' } },
};

/** Adds the rate-limit headers to the OpenAPI responses of the limited routes (the zod transform cannot carry headers). */
export function documentRateLimitHeaders(paths: Record<string, Record<string, Json>>): void {
  for (const route of RATE_LIMITED_ROUTES) {
    const path = route.replace(/:(\w+)/g, '{$1}');
    const responses = paths[path]?.post?.responses as Record<string, Json> | undefined;
    if (!responses) continue;
    for (const [status, response] of Object.entries(responses)) {
      if (!/^2\d\d$/.test(status) && status !== '429') continue;
      const extra = status === '429' ? { ...RATE_HEADERS, 'Retry-After': integer('seconds until the tenant may send again') } : RATE_HEADERS;
      response.headers = { ...((response.headers as Json | undefined) ?? {}), ...extra };
    }
  }
}
