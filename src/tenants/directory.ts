// TenantDirectory: every process's cached view of the tenants (settings, upstream accounts, issued keys), kept fresh by pub/sub.
import type { Logger } from '../observability/logger.js';
import { waitReady, type RedisClient } from '../redis/client.js';
import { TtlCache } from './cache.js';
import { hashApiKey } from './issued-keys.js';
import { newTenantRecord, toSettings, type TenantRecord, type TenantSettings } from './schemas.js';
import type { SecretBox } from './secret-box.js';
import type { TenantStore } from './store.js';
import { accountOf, openUpstream, resealAll, resealTenant, type ResealReport, type UpstreamAccount } from './upstream-secrets.js';

export interface TenantDirectoryOptions {
  store: TenantStore;
  /** The store start-up and re-sealing write through (default: store), e.g. on a connection that waits for Redis. */
  startupStore?: TenantStore;
  /** Opens and seals tenants' upstream tokens; null without SECRETS_KEY. */
  box: SecretBox | null;
  /**
   * The store `waiting` reads through: a connection that waits out a failover (default: store). A job's step reads
   * its tenant there; on the fail-fast request connection a failover crashed the step mid-message.
   */
  waitingStore?: TenantStore;
  /** The tenants API_KEYS names: they exist even before their record is written. */
  bootstrap: readonly string[];
  /** The connection `store` reads through, also used to PUBLISH changes; reads made before it first connects wait for it. */
  redis: RedisClient;
  /** A connection of its own for SUBSCRIBE (made on first use). */
  subscriber: () => RedisClient;
  channel: string;
  logger: Logger;
  /** How long a looked-up record or key stays cached while the change feed is live (default 5 s; unknown keys 1 s). */
  ttlMs?: number;
}

/** A change every process must see: one tenant (its record and all its keys), one key by hash, or everything. */
export type TenantChange = { tenant: string } | { keyHash: string } | 'all';

type KeyOwner = { tenant: string } | null;

/** A tenant's settings and upstream account: what a running job reads of its tenant. */
export interface TenantReads {
  get(tenant: string): Promise<TenantSettings | null>;
  upstreamOf(tenant: string): Promise<UpstreamAccount>;
  accountOf(tenant: string): Promise<string>;
}

export class TenantDirectory implements TenantReads {
  /** The same reads through `waitingStore`, sharing the caches: for workers, which wait out a failover (see the option). */
  readonly waiting: TenantReads;
  private readonly records: TtlCache<TenantRecord | null>;
  private readonly owners: TtlCache<KeyOwner>;
  private readonly lists: TtlCache<TenantSettings[]>;
  private readonly bootstrapIds: ReadonlySet<string>;
  private sub: RedisClient | null = null;
  /** True while the change feed is subscribed: only then may anything be served from the caches. */
  private live = false;
  private started: Promise<void> | null = null;
  private closed = false;
  /** Set once the connection was up: from then on a read fails fast while Redis is away (the API's 503). */
  private connected: boolean;

  constructor(private readonly opts: TenantDirectoryOptions) {
    this.connected = opts.redis.status === 'ready';
    if (!this.connected) opts.redis.once('ready', () => (this.connected = true));
    const ttl = opts.ttlMs ?? 5_000;
    this.records = new TtlCache(ttl);
    this.owners = new TtlCache(ttl);
    this.lists = new TtlCache(ttl, 1);
    this.bootstrapIds = new Set(opts.bootstrap);
    const waitingStore = opts.waitingStore ?? opts.store;
    this.waiting = {
      get: (tenant) => this.settingsVia(tenant, waitingStore),
      upstreamOf: (tenant) => this.upstreamVia(tenant, waitingStore),
      accountOf: async (tenant) => accountOf(await this.record(tenant, waitingStore)),
    };
  }

  /** The tenant's settings (a deleted tenant's tombstone included, with deleted_at), or null when there is no such tenant. */
  get(tenant: string): Promise<TenantSettings | null> {
    return this.settingsVia(tenant, this.opts.store);
  }

  private async settingsVia(tenant: string, store: TenantStore): Promise<TenantSettings | null> {
    const record = await this.record(tenant, store);
    return record ? toSettings(record, this.bootstrapIds.has(tenant)) : null;
  }

  /** The live tenants, bootstrap ones included, ordered by id. */
  async list(): Promise<TenantSettings[]> {
    this.listen();
    if (!this.connected) await this.firstConnect();
    return this.lists.get(
      'all',
      async () => {
        const records = await this.opts.store.all();
        const seen = new Set(records.map((r) => r.id));
        const missing = [...this.bootstrapIds].filter((id) => !seen.has(id)).map((id) => this.virtual(id));
        return [...records, ...missing].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => toSettings(r, this.bootstrapIds.has(r.id)));
      },
      { enabled: this.live },
    );
  }

  /**
   * The upstream account the tenant's jobs spend, with its credentials (the token opened). A deleted tenant keeps its
   * account until purged: canceling its running renders needs it. Throws SECRETS_KEY_UNKNOWN when no configured key opens it.
   */
  upstreamOf(tenant: string): Promise<UpstreamAccount> {
    return this.upstreamVia(tenant, this.opts.store);
  }

  private async upstreamVia(tenant: string, store: TenantStore): Promise<UpstreamAccount> {
    const record = await this.record(tenant, store);
    const { account, stale } = openUpstream(record, this.opts.box);
    if (stale && this.opts.box) void this.reseal(tenant);
    return account;
  }

  /** The account id only (no token opened): what the scheduler groups jobs by. */
  async accountOf(tenant: string): Promise<string> {
    return accountOf(await this.record(tenant, this.opts.store));
  }

  isBootstrap(tenant: string): boolean {
    return this.bootstrapIds.has(tenant);
  }

  /** The live tenant an issued API key belongs to, or null (unknown, revoked, or its tenant deleted). */
  async tenantOfKey(presented: string): Promise<string | null> {
    this.listen();
    if (!this.connected) await this.firstConnect();
    const hash = hashApiKey(presented);
    const owner = await this.owners.get(
      hash,
      async () => {
        const found = await this.opts.store.ownerOfKeyHash(hash);
        return found ? { tenant: found.tenant } : null;
      },
      // Unknown keys are remembered briefly: a client retrying a wrong key should not cost a lookup each time.
      { enabled: this.live, ttlMs: (v) => (v ? (this.opts.ttlMs ?? 5_000) : Math.min(1_000, this.opts.ttlMs ?? 1_000)) },
    );
    if (!owner) return null;
    const record = await this.record(owner.tenant, this.opts.store);
    return record && record.deleted_at === null ? owner.tenant : null;
  }

  /** Drops this process's cached copies at once and tells every other process to drop theirs. */
  async changed(change: TenantChange): Promise<void> {
    const message = change === 'all' ? '*' : 'tenant' in change ? `t:${change.tenant}` : `k:${change.keyHash}`;
    this.apply(message);
    await this.opts.redis.publish(this.opts.channel, message);
  }

  /**
   * Start-up work, once per process (safe on many at once): the bootstrap tenants' records are written if missing, and
   * tokens sealed with an older key are re-sealed under SECRETS_KEY.
   */
  start(): Promise<void> {
    this.listen();
    this.started ??= (async () => {
      const store = this.opts.startupStore ?? this.opts.store;
      const at = new Date().toISOString();
      for (const id of this.bootstrapIds) {
        const outcome = await store.create(newTenantRecord(id, at));
        if (!outcome.created && outcome.existing.deleted_at) {
          this.opts.logger.warn({ tenant: id }, 'a tenant named in API_KEYS is deleted; its configured keys still work until it is removed from API_KEYS');
        }
      }
      if (this.opts.box?.canSeal) {
        const report = await this.resealEverything();
        if (report.resealed > 0 || report.unreadable.length > 0) this.opts.logger.info({ ...report }, 'tenant upstream tokens re-sealed under SECRETS_KEY');
      }
    })().catch((err: unknown) => {
      // Tried again on the next call (a list, the next start-up).
      this.started = null;
      throw err;
    });
    return this.started;
  }

  /** Every token sealed with an older key, sealed again under SECRETS_KEY (`nemo-relay tenants reseal`). */
  async resealEverything(): Promise<ResealReport> {
    const box = this.opts.box;
    if (!box) return { checked: 0, resealed: 0, unreadable: [] };
    const store = this.opts.startupStore ?? this.opts.store;
    const live = (await store.all()).map((r) => r.id);
    const deleted = await store.deletedIds();
    const report = await resealAll(store, box, [...new Set([...live, ...deleted])]);
    if (report.resealed > 0) await this.changed('all');
    return report;
  }

  close(): void {
    this.closed = true;
    this.live = false;
    this.sub?.disconnect();
    this.sub = null;
  }

  private async reseal(tenant: string): Promise<void> {
    try {
      if ((await resealTenant(this.opts.store, this.opts.box!, tenant)) === 'resealed') await this.changed({ tenant });
    } catch (err) {
      this.opts.logger.warn({ tenant, err: (err as Error).message }, 're-sealing a tenant upstream token failed; retried on its next read');
    }
  }

  private async record(tenant: string, store: TenantStore): Promise<TenantRecord | null> {
    this.listen();
    if (!this.connected) await this.firstConnect();
    // Its own lane: a waiting read never joins a fail-fast load (and gets its failure), nor an API read a waiting one.
    const lane = store === this.opts.store ? undefined : 'waiting';
    const record = await this.records.get(tenant, () => store.get(tenant), { enabled: this.live, ...(lane ? { lane } : {}) });
    // A bootstrap tenant exists from the first request on, even before start() wrote its record.
    return record ?? (this.bootstrapIds.has(tenant) ? this.virtual(tenant) : null);
  }

  /** A worker's first reads right after start-up (the API waits for Redis before listening anyway). */
  private async firstConnect(): Promise<void> {
    await waitReady(this.opts.redis, 10_000).catch(() => undefined);
  }

  private virtual(id: string): TenantRecord {
    return newTenantRecord(id, new Date(0).toISOString());
  }

  private apply(message: string): void {
    this.lists.clear();
    if (message === '*') {
      this.records.clear();
      this.owners.clear();
    } else if (message.startsWith('t:')) {
      const tenant = message.slice(2);
      this.records.delete(tenant);
      this.owners.deleteWhere((owner) => owner?.tenant === tenant);
    } else if (message.startsWith('k:')) {
      this.owners.delete(message.slice(2));
    }
  }

  /** Subscribes to the change feed on first use; while it is down nothing is served from cache (a missed change would stick). */
  private listen(): void {
    if (this.sub || this.closed) return;
    const sub = this.opts.subscriber();
    this.sub = sub;
    const down = () => {
      this.live = false;
      this.clearAll();
    };
    sub.on('message', (_channel: string, message: string) => this.apply(message));
    sub.on('close', down);
    sub.on('end', down);
    sub.on('error', (err: Error) => this.opts.logger.debug({ err: err.message }, 'tenant change feed connection error'));
    // On every (re)connect: subscribe, then trust the caches again, emptied of whatever a missed message left stale.
    sub.on('ready', () => {
      sub.subscribe(this.opts.channel).then(
        () => {
          if (this.closed) return;
          this.clearAll();
          this.live = true;
        },
        (err: Error) => this.opts.logger.warn({ err: err.message }, 'cannot subscribe to tenant changes; caching off until it can'),
      );
    });
  }

  private clearAll(): void {
    this.records.clear();
    this.owners.clear();
    this.lists.clear();
  }
}
