// What the HTTP API needs from the rest of the service, passed in by the composition root (and by tests).
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { JobService } from '../jobs/service.js';
import type { JobStore } from '../jobs/store.js';
import type { Logger } from '../observability/logger.js';
import type { Keys } from '../redis/keys.js';
import type { ApiKeys } from './auth.js';

export interface ApiDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  apiKeys: ApiKeys;
  store: JobStore;
  jobs: JobService;
  /** Optional route groups added by later modules (webhooks, uploads, credits, metrics…). */
  plugins?: ((app: FastifyInstance) => Promise<void> | void)[];
}

declare module 'fastify' {
  interface FastifyRequest {
    tenant: string;
  }
}
