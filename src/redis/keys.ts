// Every Redis key and queue name nemo-relay uses, built in this one file from QUEUE_PREFIX.
export const QUEUE_NAMES = { flow: 'flow', webhooks: 'webhooks' } as const;

export type Keys = ReturnType<typeof createKeys>;

/** The upstream account jobs spend unless their tenant has one of its own (NEMO_TOKEN or the shared anonymous one). */
export const DEFAULT_ACCOUNT = 'default';

export function createKeys(prefix: string) {
  const upstream = (account: string) => (account === DEFAULT_ACCOUNT ? `${prefix}:nemo` : `${prefix}:nemo:account:${account}`);
  return {
    prefix,
    job: (id: string) => `${prefix}:job:${id}`,
    jobFlow: (id: string) => `${prefix}:job:${id}:flow`,
    jobEvents: (id: string) => `${prefix}:job:${id}:events`,
    jobEventsChannel: (id: string) => `${prefix}:job:${id}:events:live`,
    jobDeliveries: (id: string) => `${prefix}:job:${id}:deliveries`,
    jobWebhookPending: (id: string) => `${prefix}:job:${id}:webhook-pending`,
    jobCancelChannel: () => `${prefix}:cancel`,
    tenantJobs: (tenant: string) => `${prefix}:tenant:${tenant}:jobs`,
    tenantJobsByStatus: (tenant: string, status: string) => `${prefix}:tenant:${tenant}:jobs:${status}`,
    tenantWebhookSecrets: (tenant: string) => `${prefix}:tenant:${tenant}:webhook-secrets`,
    idempotency: (tenant: string, keyHash: string) => `${prefix}:idem:${tenant}:${keyHash}`,
    upload: (id: string) => `${prefix}:upload:${id}`,
    /** The jobs (and in-flight create requests) using a staged upload; the last one to end removes the file. */
    uploadUsers: (id: string) => `${prefix}:upload:${id}:users`,
    // Per upstream account (the service's own is `default`, keeping the names it always had): token, lock, client id…
    nemoToken: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:token`,
    nemoTokenLock: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:token-lock`,
    nemoClientId: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:client-id`,
    creditsPause: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:credits-paused`,
    /** BullMQ's own lock of a flow job (value: the holder's token); flow checkpoints are fenced on it. */
    flowJobLock: (jobId: string) => `${prefix}:${QUEUE_NAMES.flow}:${jobId}:lock`,
    /** SCAN pattern of every tenant's set of `queued` jobs (the sweeper's safety net). */
    queuedJobSetsPattern: () => `${prefix}:tenant:*:jobs:queued`,
    queuedSweepLock: () => `${prefix}:flow:queued-sweep-lock`,
    creditsCache: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:credits-cache`,
    renderTimeAverage: () => `${prefix}:nemo:render-ms-ewma`,
    /** A shared upstream session (batch, or a job and its revisions): its session id and uploaded files. */
    sessionGroup: (id: string) => `${prefix}:group:${id}`,
    /** The jobs waiting for their turn on a shared session, oldest first; the head works, the rest wait. */
    sessionGroupQueue: (id: string) => `${prefix}:group:${id}:queue`,
    /**
     * The base of the fair-start scheduler's keys (flow/admission.ts builds `pending:<tenant>`, `running:<tenant>`,
     * `account:<id>`, `tenants`, `passes`, `limits`, `vtime`, `job-account` under it; one hash tag, one slot).
     */
    admission: () => `${prefix}:adm:`,
    /** Ended jobs and batches by the time their retention ends (members `job|<tenant>|<id>`, `batch|<tenant>|<id>`). */
    retentionIndex: () => `${prefix}:retention`,
    retentionSweepLock: () => `${prefix}:retention:sweep-lock`,
    batch: (id: string) => `${prefix}:batch:${id}`,
    /** Set once by the item that ends a batch: exactly one batch.succeeded / batch.failed event. */
    batchFinalized: (id: string) => `${prefix}:batch:${id}:finalized`,
    tenantBatches: (tenant: string) => `${prefix}:tenant:${tenant}:batches`,
    /** The claim (registration) link of the anonymous upstream account, learned on its last 2001. */
    claimUrl: (account = DEFAULT_ACCOUNT) => `${upstream(account)}:claim-url`,
    /** Output storage: the key signing result links (created once, SET NX), and the orphan sweep's one-pass-at-a-time lock. */
    outputLinkSecret: () => `${prefix}:storage:link-secret`,
    outputSweepLock: () => `${prefix}:storage:sweep-lock`,
    // Tenants as data (src/tenants): records, issued API keys (SHA-256 only), change notices, rate windows.
    /** A tenant's settings (JSON); after DELETE a tombstone with deleted_at that expires at purge_at. */
    tenantRecord: (tenant: string) => `${prefix}:tenant:${tenant}:record`,
    /** The live tenants' ids (sorted set, score 0: lexicographic paging). */
    tenantIndex: () => `${prefix}:tenants`,
    /** Deleted tenants → purge time (ms): their remaining tenant-level keys are given that expiry. */
    tenantsDeleted: () => `${prefix}:tenants:deleted`,
    /** A tenant's issued API keys: key id → {id, hash, prefix, created_at}. */
    tenantApiKeys: (tenant: string) => `${prefix}:tenant:${tenant}:api-keys`,
    /** SHA-256 (hex) of an issued API key → {tenant, id}: the lookup the auth hook makes. */
    apiKeyByHash: (sha256Hex: string) => `${prefix}:api-key:${sha256Hex}`,
    /** Pub/sub: a tenant or key changed; every process drops its cached copy. */
    tenantsChannel: () => `${prefix}:tenants:changed`,
    /** The tenant's current rate-limit window on the create routes (a counter that expires with its window). */
    tenantRateWindow: (tenant: string) => `${prefix}:tenant:${tenant}:rate`,
    /** SCAN pattern of every tenant-level key of one tenant (its data, expired after it was deleted). */
    tenantKeysPattern: (tenant: string) => `${prefix}:tenant:${tenant}:*`,
  };
}
