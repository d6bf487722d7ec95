// The OpenAPI document without a running service: the app is built on inert dependencies just to read its route schemas.
import { createLogger } from '../observability/logger.js';
import { buildApp } from './app.js';
import type { HttpDeps } from './deps.js';

/** Any use of an inert dependency is a bug here: documenting never handles a request. */
function inert<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get: (_target, prop) => {
      if (prop === 'then') return undefined; // not a thenable
      throw new Error(`the documentation app touched ${name}.${String(prop)}`);
    },
  });
}

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const auth = inert<HttpDeps['auth']>('auth');
  const deps: HttpDeps = {
    logger: createLogger('silent'),
    auth,
    storeAvailable: () => true,
    bodyLimit: 1_048_576,
    idleTimeoutMs: 60_000,
    requestTimeoutMs: 3_600_000,
    health: inert('health'),
    jobs: { ...inert<HttpDeps['jobs']>('jobs'), uploadMaxBytes: 1 } as HttpDeps['jobs'],
    batches: inert('batches'),
    events: inert('events'),
    deliveries: inert('deliveries'),
    uploads: { uploads: inert('uploads'), uploadMaxBytes: 1 },
    webhooks: inert('webhooks'),
    credits: inert('credits'),
    outputs: inert('outputs'),
    metrics: { render: () => Promise.reject(new Error('the documentation app rendered metrics')), auth },
    tenants: { admin: inert('tenant admin'), auth },
    overview: { overview: () => Promise.reject(new Error('the documentation app read the overview')), auth },
  };
  const app = await buildApp(deps);
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
