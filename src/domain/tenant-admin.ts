// The operator's tenant use cases: create, change, delete (keys revoked, jobs canceled, data expired), issue and revoke keys.
import type { RedisClient } from '../redis/client.js';
import { AppError, isAppError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Keys } from '../redis/keys.js';
import type { TenantDirectory } from '../tenants/directory.js';
import { newApiKey } from '../tenants/issued-keys.js';
import type { CreateTenantBody, UpdateTenantBody } from '../tenants/requests.js';
import { DEFAULT_LIMITS, newTenantRecord, toSettings, type TenantRecord, type TenantSettings } from '../tenants/schemas.js';
import type { SecretBox } from '../tenants/secret-box.js';
import type { TenantStore } from '../tenants/store.js';
import { storedUpstream, type ResealReport } from '../tenants/upstream-secrets.js';
import type { JobCommands } from './job-commands.js';

/** A deleted tenant's canceled jobs say why: their receiver would otherwise read that the caller canceled them. */
export const TENANT_DELETED_CANCEL = 'canceled because the operator deleted the tenant';

export interface TenantAdminDeps {
  store: TenantStore;
  directory: TenantDirectory;
  box: SecretBox | null;
  /** The domain's job cancel (JobCommands.cancel): JOB_FINISHED / JOB_NOT_FOUND are taken as nothing left to cancel. */
  jobs: { cancel: JobCommands['cancel'] | ((tenant: string, jobId: string, reason: string) => Promise<unknown>) };
  /** Reads the tenant's per-status job sets (the job store's index). */
  redis: RedisClient;
  keys: Keys;
  /** JOB_RETENTION_MS: how long a deleted tenant's tombstone (and data) stays when it has no retention_ms of its own. */
  defaultRetentionMs: number;
  logger: Logger;
  /** The tenant's settings changed: the fair scheduler takes its caps, weight and account from now on. */
  limitsChanged?: (tenant: string) => Promise<void>;
}

export interface IssuedKeyAnswer {
  id: string;
  key: string;
  prefix: string;
  created_at: string;
}

export interface KeyInfo {
  id: string;
  prefix: string;
  created_at: string;
}

/** Jobs canceled at once while deleting a tenant (each cancel is a few Redis calls). */
const CANCEL_CONCURRENCY = 16;

export class TenantAdmin {
  constructor(private readonly deps: TenantAdminDeps) {}

  async list(limit: number, cursor?: string): Promise<{ data: TenantSettings[]; next_cursor: string | null }> {
    // Bootstrap tenants are written at start-up; a list made in the first moment still shows them.
    await this.deps.directory.start();
    const page = await this.deps.store.page(limit, cursor);
    return { data: page.records.map((r) => this.view(r)), next_cursor: page.nextCursor };
  }

  /** Read from Redis, not the cache: the operator sees what is stored now. */
  async get(id: string): Promise<TenantSettings> {
    return this.view(await this.existing(id));
  }

  async create(body: CreateTenantBody): Promise<TenantSettings> {
    const at = new Date().toISOString();
    const base = newTenantRecord(body.id, at);
    const record: TenantRecord = {
      ...base,
      ...limitsFrom(body),
      upstream: body.upstream ? storedUpstream(body.id, body.upstream, null, this.deps.box) : base.upstream,
    };
    const outcome = await this.deps.store.create(record);
    if (!outcome.created) {
      const { existing } = outcome;
      if (existing.deleted_at) throw deletedError(existing);
      throw new AppError('TENANT_EXISTS', `tenant ${body.id} already exists`);
    }
    // Other processes may remember that this id had no record: they drop that now.
    await this.deps.directory.changed({ tenant: body.id });
    return this.view(record);
  }

  async update(id: string, body: UpdateTenantBody): Promise<TenantSettings> {
    await this.ensureBootstrapRecord(id);
    const at = new Date().toISOString();
    const updated = await this.deps.store.update(id, (current) => {
      if (current.deleted_at) throw deletedError(current);
      return {
        ...current,
        ...limitsFrom(body),
        upstream: body.upstream ? storedUpstream(id, body.upstream, current.upstream, this.deps.box) : current.upstream,
        updated_at: at,
      };
    });
    if (!updated) throw notFound(id);
    await this.deps.directory.changed({ tenant: id });
    // Jobs already waiting (or running) are scheduled with the new caps too, not only the tenant's next ones.
    await this.deps.limitsChanged?.(id);
    return this.view(updated);
  }

  /**
   * The tenant becomes a tombstone (its id reserved until purge_at), every process refuses its keys at once, its queued
   * and running jobs are canceled, and its remaining data is set to expire at purge_at. Deleting a deleted tenant answers
   * its tombstone again.
   */
  async delete(id: string): Promise<TenantSettings & { jobs_canceled: number }> {
    if (this.deps.directory.isBootstrap(id)) {
      throw new AppError('TENANT_IS_BOOTSTRAP', `tenant ${id} is configured by API_KEYS: remove it there and restart the API processes first`);
    }
    for (let attempt = 0; ; attempt++) {
      const current = await this.existing(id);
      if (current.deleted_at) return { ...this.view(current), jobs_canceled: 0 };
      const now = Date.now();
      const retentionMs = current.retention_ms ?? this.deps.defaultRetentionMs;
      const purgeAt = now + retentionMs;
      const at = new Date(now).toISOString();
      const tombstone: TenantRecord = { ...current, deleted_at: at, purge_at: new Date(purgeAt).toISOString(), updated_at: at };
      if (!(await this.deps.store.tombstone(current, tombstone, retentionMs, purgeAt))) {
        if (attempt < 10) continue;
        throw new AppError('INTERNAL', `tenant ${id} kept changing while being deleted; try again`);
      }
      // Auth checks the tenant is live: this one message is what makes its keys fail on every process.
      await this.deps.directory.changed({ tenant: id });
      await this.deps.store.revokeAllKeys(id);
      const canceled = await this.cancelJobs(id);
      // A SCAN over the keyspace: off the request path (the retention sweep repeats it via TenantStore.sweepDeleted).
      void this.deps.store
        .expireTenantData(id, purgeAt)
        .catch((err: Error) => this.deps.logger.warn({ tenant: id, err: err.message }, 'expiring a deleted tenant’s data failed; the next sweep retries'));
      this.deps.logger.info({ tenant: id, jobsCanceled: canceled, purgeAt: tombstone.purge_at }, 'tenant deleted');
      return { ...this.view(tombstone), jobs_canceled: canceled };
    }
  }

  async issueKey(id: string): Promise<IssuedKeyAnswer> {
    await this.ensureBootstrapRecord(id);
    const issued = newApiKey();
    const created_at = new Date().toISOString();
    const outcome = await this.deps.store.addKey(id, { id: issued.id, hash: issued.hash, prefix: issued.prefix, created_at });
    if (outcome === 'missing') throw notFound(id);
    if (outcome === 'deleted') throw deletedError((await this.deps.store.get(id)) ?? newTenantRecord(id, created_at));
    await this.deps.directory.changed({ keyHash: issued.hash });
    return { id: issued.id, key: issued.key, prefix: issued.prefix, created_at };
  }

  async listKeys(id: string): Promise<{ data: KeyInfo[]; bootstrap: boolean }> {
    await this.existing(id);
    const entries = await this.deps.store.listKeys(id);
    return { data: entries.map((e) => ({ id: e.id, prefix: e.prefix, created_at: e.created_at })), bootstrap: this.deps.directory.isBootstrap(id) };
  }

  /** Revoked on every API process at once (the change feed; a process that lost it serves nothing from cache). */
  async revokeKey(id: string, keyId: string): Promise<void> {
    await this.existing(id);
    const hash = await this.deps.store.revokeKey(id, keyId);
    if (!hash) throw new AppError('KEY_NOT_FOUND', `tenant ${id} has no key ${keyId}${this.deps.directory.isBootstrap(id) ? ' (keys in API_KEYS are configuration: edit API_KEYS and restart)' : ''}`);
    await this.deps.directory.changed({ keyHash: hash });
  }

  async reseal(): Promise<ResealReport> {
    if (!this.deps.box?.canSeal) throw new AppError('SECRETS_KEY_MISSING', 're-sealing needs SECRETS_KEY (the new key) configured on the API');
    return this.deps.directory.resealEverything();
  }

  private async cancelJobs(tenant: string): Promise<number> {
    const handled = new Set<string>();
    let canceled = 0;
    // Twice: a create that passed auth just before the tombstone may add a job after the first read.
    for (let pass = 0; pass < 2; pass++) {
      const sets = await Promise.all(
        (['queued', 'running'] as const).map((status) => this.deps.redis.zrange(this.deps.keys.tenantJobsByStatus(tenant, status), 0, -1)),
      );
      // A running job stays `running` until its worker acts on the cancel: it is not canceled a second time.
      const ids = [...new Set(sets.flat())].filter((id) => !handled.has(id));
      for (const id of ids) handled.add(id);
      for (let i = 0; i < ids.length; i += CANCEL_CONCURRENCY) {
        const results = await Promise.all(ids.slice(i, i + CANCEL_CONCURRENCY).map((jobId) => this.cancelOne(tenant, jobId)));
        canceled += results.filter(Boolean).length;
      }
    }
    return canceled;
  }

  private async cancelOne(tenant: string, jobId: string): Promise<boolean> {
    try {
      await this.deps.jobs.cancel(tenant, jobId, TENANT_DELETED_CANCEL);
      return true;
    } catch (err) {
      // Finished (or gone) meanwhile: nothing to cancel.
      if (isAppError(err) && (err.code === 'JOB_FINISHED' || err.code === 'JOB_NOT_FOUND')) return false;
      this.deps.logger.warn({ tenant, jobId, err: (err as Error).message }, 'canceling a deleted tenant’s job failed');
      return false;
    }
  }

  private async existing(id: string): Promise<TenantRecord> {
    const record = await this.deps.store.get(id);
    if (record) return record;
    if (this.deps.directory.isBootstrap(id)) return newTenantRecord(id, new Date(0).toISOString());
    throw notFound(id);
  }

  /** A bootstrap tenant whose record start-up has not written yet gets it now, so it can be changed. */
  private async ensureBootstrapRecord(id: string): Promise<void> {
    if (this.deps.directory.isBootstrap(id)) await this.deps.store.create(newTenantRecord(id, new Date().toISOString()));
  }

  private view(record: TenantRecord): TenantSettings {
    return toSettings(record, this.deps.directory.isBootstrap(record.id));
  }
}

function limitsFrom(body: UpdateTenantBody): Partial<Pick<TenantRecord, 'max_concurrent_jobs' | 'rate_limit_per_min' | 'retention_ms' | 'weight'>> {
  const out: Partial<Pick<TenantRecord, 'max_concurrent_jobs' | 'rate_limit_per_min' | 'retention_ms' | 'weight'>> = {};
  if (body.max_concurrent_jobs !== undefined) out.max_concurrent_jobs = body.max_concurrent_jobs;
  if (body.rate_limit_per_min !== undefined) out.rate_limit_per_min = body.rate_limit_per_min;
  if (body.retention_ms !== undefined) out.retention_ms = body.retention_ms;
  if (body.weight !== undefined) out.weight = body.weight ?? DEFAULT_LIMITS.weight;
  return out;
}

function notFound(id: string): AppError {
  return new AppError('TENANT_NOT_FOUND', `tenant ${id} not found`);
}

function deletedError(record: TenantRecord): AppError {
  return new AppError('TENANT_DELETED', `tenant ${record.id} was deleted at ${record.deleted_at}; its id is reserved until ${record.purge_at}`);
}
