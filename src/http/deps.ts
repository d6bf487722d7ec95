// What the HTTP API needs from the rest of the service: narrow ports per route group, built once by the composition root.
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../observability/logger.js';
import type { RateLimitDeps } from './rate-limit.js';
import type { AdminRouteDeps } from './routes/admin.js';
import type { AdminOverviewRouteDeps } from './routes/admin-overview.js';
import type { TenantAdminRouteDeps } from './routes/admin-tenants.js';
import type { BatchRouteDeps } from './routes/batches.js';
import type { CreditsRouteDeps } from './routes/credits.js';
import type { DeliveryRouteDeps } from './routes/deliveries.js';
import type { EventRouteDeps } from './routes/events.js';
import type { HealthRouteDeps } from './routes/health.js';
import type { OutputRouteDeps } from './routes/job-output.js';
import type { JobRouteDeps } from './routes/jobs.js';
import type { MetricsRouteDeps } from './routes/metrics.js';
import type { UploadRouteDeps } from './routes/uploads.js';
import type { WebhookRouteDeps } from './routes/webhooks.js';

/** Who is calling: the tenant behind a Bearer key, and whether the key is the operator's. */
export interface Authenticator {
  tenantOf(authorization: string | undefined): Promise<string | null>;
  isAdmin(authorization: string | undefined): boolean;
  /** `tenant` when it exists and is not deleted (the admin key acts for it with X-Tenant), else null. */
  liveTenant(tenant: string): Promise<string | null>;
  /** True once `tenant` has been deleted (its tombstone says so): its signed output links stop at once, as its keys do. */
  deletedTenant(tenant: string): Promise<boolean>;
}

export interface HttpDeps {
  logger: Logger;
  auth: Authenticator;
  /** False while the job store (Redis) is unreachable: /v1 routes then answer 503 at once instead of queueing. */
  storeAvailable: () => boolean;
  bodyLimit: number;
  /** A connection with no byte either way for this long is closed (a stalled upload's socket and staged file freed). */
  idleTimeoutMs: number;
  /** A request whose body has not all arrived this long after it began is answered 408 (a trickling upload). */
  requestTimeoutMs: number;
  health: HealthRouteDeps;
  jobs: JobRouteDeps;
  batches: BatchRouteDeps;
  events: EventRouteDeps;
  deliveries: DeliveryRouteDeps;
  uploads: UploadRouteDeps;
  webhooks: WebhookRouteDeps;
  credits: CreditsRouteDeps;
  /** GET /v1/jobs/{id}/output (stored videos, signed links); absent in apps built for a single test. */
  outputs?: OutputRouteDeps;
  /** The operator's routes; absent in apps built for a single test. */
  metrics?: MetricsRouteDeps;
  admin?: AdminRouteDeps;
  /** GET /admin/overview (the console's Operator view). */
  overview?: AdminOverviewRouteDeps;
  /** /admin/tenants… (the operator's tenant administration). */
  tenants?: Omit<TenantAdminRouteDeps, 'storeAvailable'>;
  /** Per-tenant rate limits on the create routes; absent: none. */
  rateLimit?: RateLimitDeps;
  /** Route groups added by later modules, registered after the others. */
  plugins?: FastifyPluginAsync[];
}

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
  interface FastifyContextConfig {
    /** The body types a route takes, as its 415 names them (default: application/json). */
    bodyTypes?: string;
  }
}
