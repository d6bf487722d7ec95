// Every Redis key and queue name nemo-relay uses, built in this one file from QUEUE_PREFIX (and its QUEUE_SHARDS tags).
import { shardOfTenant as hashTenant, shardTags } from './shard-ids.js';

export const QUEUE_NAMES = { flow: 'flow', webhooks: 'webhooks' } as const;

export type Keys = ReturnType<typeof createKeys>;

/** The upstream account jobs spend unless their tenant has one of its own (NEMO_TOKEN or the shared anonymous one). */
export const DEFAULT_ACCOUNT = 'default';

const ID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Key routing. With one shard every key is `<prefix>:…` exactly as before sharding existed. With QUEUE_SHARDS = N each
 * shard has its own hash tag (shard-ids.ts shardTags), so each shard's keys share one cluster slot:
 * - a job's, upload's, batch's and session group's keys take the tag of the shard its id carries (its last character);
 * - a tenant's keys (job indexes, batches, Idempotency-Keys, webhook secrets, rate window) the tag of its shard, which
 *   is the shard of every id made for it, so one Lua script may touch a job and its tenant's indexes together;
 * - per shard: the fair-start scheduler, the retention index, the BullMQ queues (prefix = the tag);
 * - global (shard 0's tag): upstream tokens, locks and caches, the tenant registry and API keys, sweep locks, outputs.
 */
export function createKeys(prefix: string, shards = 1) {
  const tags = shardTags(prefix, shards);
  const global = tags[0]!;
  const sharded = shards > 1;
  /** Tenants are hashed once per process: the hot path (every create, every listing) pays a Map lookup. */
  const tenantShards = new Map<string, number>();
  const shardOfTenant = (tenant: string): number => {
    if (!sharded) return 0;
    let shard = tenantShards.get(tenant);
    if (shard === undefined) {
      shard = hashTenant(tenant, shards);
      if (tenantShards.size > 100_000) tenantShards.clear();
      tenantShards.set(tenant, shard);
    }
    return shard;
  };
  /** An id's shard is its last character (newShardedId); anything else (a malformed id from a URL) reads as shard 0. */
  const shardOfId = (id: string): number => (sharded ? Math.max(0, ID_ALPHABET.indexOf(id.charAt(id.length - 1))) % shards : 0);
  const byId = (id: string) => tags[shardOfId(id)]!;
  const byTenant = (tenant: string) => tags[shardOfTenant(tenant)]!;
  const upstream = (account: string) => (account === DEFAULT_ACCOUNT ? `${global}:nemo` : `${global}:nemo:account:${account}`);
  const tenantPattern = (tag: string, tenant: string) => `${tag}:tenant:${tenant}:*`;
  return {
    prefix,
    shards,
    /** Each shard's tag: the BullMQ prefix of its queues and the start of its keys (with one shard: `prefix`). */
    tags: tags as readonly string[],
    shardOfTenant,
    shardOfId,
    /** The shard new ids of `tenant` carry, or undefined with one shard (ids keep their fully random last character). */
    idShard: (tenant: string): number | undefined => (sharded ? shardOfTenant(tenant) : undefined),
    queuePrefix: (shard: number) => tags[shard]!,
    job: (id: string) => `${byId(id)}:job:${id}`,
    jobFlow: (id: string) => `${byId(id)}:job:${id}:flow`,
    jobEvents: (id: string) => `${byId(id)}:job:${id}:events`,
    jobEventsChannel: (id: string) => `${byId(id)}:job:${id}:events:live`,
    jobDeliveries: (id: string) => `${byId(id)}:job:${id}:deliveries`,
    jobWebhookPending: (id: string) => `${byId(id)}:job:${id}:webhook-pending`,
    /** The webhooks queue's ids of the job's manual redeliveries (each its own BullMQ job): erased with the job. */
    jobRedeliveries: (id: string) => `${byId(id)}:job:${id}:redeliveries`,
    /** Every key of one job's own (erased with it, brought forward to its tenant's purge). */
    jobOwnKeys: (id: string) =>
      ['', ':flow', ':events', ':deliveries', ':webhook-pending', ':redeliveries'].map((suffix) => `${byId(id)}:job:${id}${suffix}`),
    jobCancelChannel: () => `${global}:cancel`,
    tenantJobs: (tenant: string) => `${byTenant(tenant)}:tenant:${tenant}:jobs`,
    tenantJobsByStatus: (tenant: string, status: string) => `${byTenant(tenant)}:tenant:${tenant}:jobs:${status}`,
    tenantWebhookSecrets: (tenant: string) => `${byTenant(tenant)}:tenant:${tenant}:webhook-secrets`,
    /** A deleted tenant's jobs and staged uploads have been brought forward to its purge (done once; expires with it). */
    tenantJobsPurged: (tenant: string) => `${byTenant(tenant)}:tenant:${tenant}:jobs-purged`,
    idempotency: (tenant: string, keyHash: string) => `${byTenant(tenant)}:idem:${tenant}:${keyHash}`,
    /** SCAN pattern of every Idempotency-Key entry of one tenant (jobs', batches' and revisions'), in its shard. */
    tenantIdempotencyPattern: (tenant: string) => `${byTenant(tenant)}:idem:${tenant}:*`,
    upload: (id: string) => `${byId(id)}:upload:${id}`,
    /** The jobs (and in-flight create requests) using a staged upload; the last one to end removes the file. */
    uploadUsers: (id: string) => `${byId(id)}:upload:${id}:users`,
    // Per upstream account (the service's own is `default`, keeping the names it always had): token, lock, client id…
    nemoToken: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:token`,
    nemoTokenLock: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:token-lock`,
    nemoClientId: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:client-id`,
    creditsPause: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:credits-paused`,
    /** BullMQ's own lock of a flow job (value: the holder's token) in its shard's queue; flow checkpoints are fenced on it. */
    flowJobLock: (jobId: string) => `${byId(jobId)}:${QUEUE_NAMES.flow}:${jobId}:lock`,
    /** SCAN pattern of every tenant's set of `queued` jobs in one shard (the sweeper's safety net). */
    queuedJobSetsPattern: (shard = 0) => `${tags[shard]}:tenant:*:jobs:queued`,
    /** The tenant of a set matched by queuedJobSetsPattern(shard). */
    tenantOfQueuedSet: (set: string, shard = 0) => set.slice(`${tags[shard]}:tenant:`.length, -':jobs:queued'.length),
    queuedSweepLock: () => `${global}:flow:queued-sweep-lock`,
    creditsCache: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:credits-cache`,
    renderTimeAverage: () => `${global}:nemo:render-ms-ewma`,
    /** A shared upstream session (batch, or a job and its revisions): its session id and uploaded files. */
    sessionGroup: (id: string) => `${byId(id)}:group:${id}`,
    /** The jobs waiting for their turn on a shared session, oldest first; the head works, the rest wait. */
    sessionGroupQueue: (id: string) => `${byId(id)}:group:${id}:queue`,
    /**
     * The base of one shard's fair-start scheduler keys (flow/admission.ts builds `pending:<tenant>`, `running:<tenant>`,
     * `account:<id>`, `tenants`, `passes`, `limits`, `vtime`, `job-account` under it; one hash tag, one slot).
     */
    admission: (shard = 0) => `${tags[shard]}:adm:`,
    /**
     * One shard's ended jobs and batches by the time their retention ends (members `job|<tenant>|<id>`,
     * `batch|<tenant>|<id>`); an item is in the index of its id's shard.
     */
    retentionIndex: (shard = 0) => `${tags[shard]}:retention`,
    retentionSweepLock: () => `${global}:retention:sweep-lock`,
    batch: (id: string) => `${byId(id)}:batch:${id}`,
    /** Set once by the item that ends a batch: exactly one batch.succeeded / batch.failed event. */
    batchFinalized: (id: string) => `${byId(id)}:batch:${id}:finalized`,
    /** The items whose end did not end their batch (hash of job ids): an item's event stream then closes at its own end. */
    batchChecked: (id: string) => `${byId(id)}:batch:${id}:checked`,
    tenantBatches: (tenant: string) => `${byTenant(tenant)}:tenant:${tenant}:batches`,
    /** The claim (registration) link of the anonymous upstream account, learned on its last 2001. */
    claimUrl: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:claim-url`,
    /** Output storage: the key signing result links (created once, SET NX), and the orphan sweep's one-pass-at-a-time lock. */
    outputLinkSecret: () => `${global}:storage:link-secret`,
    outputSweepLock: () => `${global}:storage:sweep-lock`,
    // Tenants as data (src/tenants): records, issued API keys (SHA-256 only), change notices — the registry, one slot.
    /** A tenant's settings (JSON); after DELETE a tombstone with deleted_at that expires at purge_at. */
    tenantRecord: (tenant: string) => `${global}:tenant:${tenant}:record`,
    /** The live tenants' ids (sorted set, score 0: lexicographic paging). */
    tenantIndex: () => `${global}:tenants`,
    /** Deleted tenants → purge time (ms): their remaining tenant-level keys are given that expiry. */
    tenantsDeleted: () => `${global}:tenants:deleted`,
    /** A tenant's issued API keys: key id → {id, hash, prefix, created_at}. */
    tenantApiKeys: (tenant: string) => `${global}:tenant:${tenant}:api-keys`,
    /** SHA-256 (hex) of an issued API key → {tenant, id}: the lookup the auth hook makes. */
    apiKeyByHash: (sha256Hex: string) => `${global}:api-key:${sha256Hex}`,
    /** Pub/sub: a tenant or key changed; every process drops its cached copy. */
    tenantsChannel: () => `${global}:tenants:changed`,
    /** The tenant's current rate-limit window on the create routes (a counter that expires with its window). */
    tenantRateWindow: (tenant: string) => `${byTenant(tenant)}:tenant:${tenant}:rate`,
    /** SCAN pattern of the tenant-level keys of one tenant in its own shard (its jobs, batches, secrets…). */
    tenantKeysPattern: (tenant: string) => tenantPattern(byTenant(tenant), tenant),
    /** Every SCAN pattern of one tenant's tenant-level keys: its shard's, and the registry's (shard 0) when that differs. */
    /** Every key of a tenant: its own, and its upstream accounts' (token, balance, credits pause, claim link). */
    tenantKeysPatterns: (tenant: string) => [
      ...new Set([tenantPattern(global, tenant), tenantPattern(byTenant(tenant), tenant), `${global}:nemo:account:tenant:${tenant}:*`]),
    ],
  };
}

/** Groups ids by the shard their keys live in (one MGET or pipeline per shard on a cluster); one group with one shard. */
export function groupByShard<T>(items: readonly T[], shardOf: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardOf(item);
    const group = groups.get(shard);
    if (group) group.push(item);
    else groups.set(shard, [item]);
  }
  return groups;
}
