// Builds the tenant parts once (directory, store, admin use cases, rate windows) and the authenticator over both kinds of key.
import type { RedisClient } from '../redis/client.js';
import type { Config } from './config.js';
import { TenantAdmin } from '../domain/tenant-admin.js';
import { AppError } from '../core/errors.js';
import type { Authenticator } from '../http/deps.js';
import type { Logger } from '../observability/logger.js';
import { createRedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import { TenantDirectory } from '../tenants/directory.js';
import { RateWindows } from '../tenants/rate-window.js';
import { SecretBox } from '../tenants/secret-box.js';
import { TenantStore } from '../tenants/store.js';
import { bearerToken, type ApiKeys } from './api-keys.js';

export interface TenantParts {
  /** What every process reads tenants through (cached, invalidated by pub/sub): the lead's scheduler and workers too. */
  directory: TenantDirectory;
  store: TenantStore;
  admin: TenantAdmin;
  windows: RateWindows;
}

export function composeTenants(opts: {
  config: Config;
  keys: Keys;
  /** Request-path connection (fails fast): lookups on the API's hot path. */
  redis: RedisClient;
  /** Worker-side connection: start-up writes and deletions, which may wait out a Redis restart. */
  blocking: RedisClient;
  logger: Logger;
  retentionMs: number;
  /** The domain's job cancel (JobCommands.cancel), late-bound: the job commands are built after the tenants. */
  cancelJob: (tenant: string, jobId: string, reason: string) => Promise<unknown>;
  /** The scheduler takes a tenant's changed settings, late-bound like cancelJob. */
  limitsChanged: (tenant: string) => Promise<void>;
}): TenantParts {
  const { config, keys, logger } = opts;
  const log = logger.child({ component: 'tenants' });
  const box = SecretBox.fromConfig(config.SECRETS_KEY, config.SECRETS_KEY_PREVIOUS ?? []);
  const store = new TenantStore(opts.redis, keys);
  const directory = new TenantDirectory({
    store,
    // Start-up writes go through the worker-side connection: at compose time the request connection is not up yet.
    startupStore: new TenantStore(opts.blocking, keys),
    // What a running job reads of its tenant (directory.waiting) waits out a failover like the rest of its step.
    waitingStore: new TenantStore(opts.blocking, keys),
    box,
    bootstrap: [...new Set((config.API_KEYS ?? []).map((p) => p.tenant))],
    redis: opts.redis,
    subscriber: () => createRedisClient(config.redis, 'subscriber', 'nemo-relay:tenants'),
    channel: keys.tenantsChannel(),
    logger: log,
  });
  const admin = new TenantAdmin({
    store: new TenantStore(opts.blocking, keys),
    directory,
    box,
    jobs: { cancel: (tenant: string, jobId: string, reason: string) => opts.cancelJob(tenant, jobId, reason) },
    redis: opts.blocking,
    keys,
    defaultRetentionMs: opts.retentionMs,
    logger: log,
    limitsChanged: opts.limitsChanged,
  });
  // Bootstrap records and re-sealing run in the background; a process that cannot reach Redis yet retries on first use.
  void directory.start().catch((err: Error) => log.warn({ err: err.message }, 'tenant start-up (bootstrap records, re-seal) failed'));
  return { directory, store, admin, windows: new RateWindows(opts.redis, keys) };
}

/**
 * Keys from API_KEYS first (in memory, constant time), then keys issued through /admin/tenants (SHA-256 lookup, cached
 * briefly and dropped on every process the moment one is revoked). With auth disabled, unknown callers are `default`.
 */
export function tenantAuthenticator(apiKeys: ApiKeys, directory: TenantDirectory): Authenticator {
  const settingsOf = async (tenant: string) => {
    try {
      return await directory.get(tenant);
    } catch {
      throw new AppError('NOT_READY', 'the tenant store (Redis) is unavailable; retry shortly');
    }
  };
  return {
    async tenantOf(header) {
      const presented = bearerToken(header);
      const configured = presented ? apiKeys.configuredTenantOf(presented) : null;
      if (configured) return configured;
      if (presented) {
        let issued: string | null;
        try {
          issued = await directory.tenantOfKey(presented);
        } catch {
          throw new AppError('NOT_READY', 'the key store (Redis) is unavailable; retry shortly');
        }
        if (issued) return issued;
      }
      return apiKeys.tenantOf(header);
    },
    isAdmin: (header) => apiKeys.isAdmin(header),
    async liveTenant(tenant) {
      const settings = await settingsOf(tenant);
      return settings && !settings.deleted_at ? settings.id : null;
    },
    async deletedTenant(tenant) {
      return Boolean((await settingsOf(tenant))?.deleted_at);
    },
  };
}
