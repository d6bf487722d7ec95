// The composition root: builds every collaborator once from the configuration; roles, routes and processors get parts of it.
import type { Queue } from 'bullmq';
import type { Config } from './config.js';
import { AppError } from '../core/errors.js';
import { batchEndHook } from '../domain/batch-end.js';
import { BatchCommands } from '../domain/batches.js';
import type { EraseDeps } from '../domain/erase-job.js';
import { AdminOverviewReader, type OverviewTenant } from '../domain/admin-overview.js';
import { CreateJob } from '../domain/create-job.js';
import { ReviseJob } from '../domain/revise-job.js';
import { JobCommands } from '../domain/job-commands.js';
import type { FlowDeps } from '../flow/context.js';
import { Admission, type TenantLimits } from '../flow/admission.js';
import { accountCredits, UpstreamAccounts } from '../flow/accounts.js';
import type { ClaimLinks } from '../flow/claim-links.js';
import { groupReleaseHook } from '../flow/group-release.js';
import { SessionGroups } from '../flow/session-groups.js';
import { createFlowQueues, promoteIfDelayed, type FlowJobData } from '../flow/queue.js';
import { RenderStats } from '../flow/render-stats.js';
import { FlowStore } from '../flow/state.js';
import { BatchStore } from '../jobs/batch-store.js';
import { EventFeed } from '../jobs/event-feed.js';
import { Idempotency } from '../jobs/idempotency.js';
import { JobLifecycle } from '../jobs/lifecycle.js';
import { JobStore } from '../jobs/store.js';
import type { BalanceReader } from '../nemo/balance.js';
import { NemoClient } from '../nemo/client.js';
import type { TokenProvider } from '../nemo/token.js';
import { rememberSecret, type Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { logRedisConnection } from '../observability/redis-events.js';
import { OriginDispatcher } from '../core/origin-dispatcher.js';
import { sharedAgent } from '../core/http-agent.js';
import { bullmqConnection, createRedisClient, type RedisClient } from '../redis/client.js';
import { createKeys, type Keys } from '../redis/keys.js';
import type { ShardQueues } from '../redis/shard-queues.js';
import { traceStep } from '../tracing/flow.js';
import { flushTracing, tracingEnabled } from '../tracing/state.js';
import { uploadReleaseHook } from '../uploads/release-hook.js';
import { StagedUploads } from '../uploads/staged-uploads.js';
import { fetchUrlSource } from '../uploads/url-source.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { DeliveryLedger } from '../webhooks/deliveries.js';
import { DeliveryProcessor, MAX_FRESH_LINK_AFTER_MS } from '../webhooks/delivery-processor.js';
import { EventEnqueuer } from '../webhooks/event-enqueuer.js';
import { createDeliveryQueues, type DeliveryJobData } from '../webhooks/queue.js';
import { WebhookSecrets } from '../webhooks/secrets.js';
import { assertWebhookUrlAllowed, createGuardedDispatcher } from '../webhooks/ssrf.js';
import { ApiKeys, ANONYMOUS_TENANT } from './api-keys.js';
import { jobQueuePort, queueAdmitted } from './job-queue.js';
import { endedAgainHooks, lifecycleHooks } from './lifecycle-hooks.js';
import { DEFAULT_LIMITS } from '../tenants/schemas.js';
import type { TenantReads } from '../tenants/directory.js';
import { settingsFrom, type Settings } from './settings.js';
import { composeTenants, type TenantParts } from './tenants.js';
import { createOutputs, type Outputs } from './storage.js';

export interface Container {
  config: Config;
  settings: Settings;
  logger: Logger;
  keys: Keys;
  /** Request-path commands (fail fast when Redis is away); one node, Sentinel or Cluster (config.redis). */
  redis: RedisClient;
  /** Worker-side commands (wait out Redis restarts and failovers). */
  blocking: RedisClient;
  store: JobStore;
  /** The job store on the request-path connection: API reads and metric scrapes never wait for Redis to return. */
  readStore: JobStore;
  flows: FlowStore;
  groups: SessionGroups;
  /** What erasing a job needs (DELETE /v1/jobs/{id} and the retention sweeper). */
  erase: EraseDeps;
  /** Fair starts across tenants (flow/admission.ts) and each tenant's limits. */
  admission: Admission;
  limitsOf: (tenant: string) => Promise<TenantLimits>;
  lifecycle: JobLifecycle;
  jobs: JobCommands;
  createJob: CreateJob;
  reviseJob: ReviseJob;
  batches: BatchCommands;
  /** Batches on the request-path connection. */
  batchReads: BatchStore;
  idempotency: Idempotency;
  /** The flow queue of each shard (QUEUE_SHARDS), routed by job id; `flowQueue` is shard 0's (the only one by default). */
  flowQueues: ShardQueues<FlowJobData>;
  flowQueue: Queue<FlowJobData>;
  /** The webhooks queue of each shard; `deliveryQueue` is shard 0's. */
  deliveryQueues: ShardQueues<DeliveryJobData>;
  deliveryQueue: Queue<DeliveryJobData>;
  enqueuer: EventEnqueuer;
  deliveries: DeliveryProcessor;
  ledger: DeliveryLedger;
  secrets: WebhookSecrets;
  /** The SSRF-guarded HTTP dispatcher every webhook (and test delivery) goes through. */
  webhookAgent: ReturnType<typeof createGuardedDispatcher>;
  nemo: NemoClient;
  tokens: TokenProvider;
  balance: BalanceReader;
  claims: ClaimLinks;
  accounts: UpstreamAccounts;
  uploads: StagedUploads;
  apiKeys: ApiKeys;
  /** Tenants as data: `tenants.directory` (TenantDirectory: get, upstreamOf, accountOf, list) is what workers read. */
  tenants: TenantParts;
  /** The process's one live-event fan-out (a subscriber connection, made on first use). */
  eventFeed(): EventFeed;
  flowDeps: FlowDeps;
  /** Output storage (STORAGE_URL): the mirror step's part, signed links, readiness, the orphan sweeper, erase. */
  outputs: Outputs;
  /** Prometheus metrics of this process (served at /metrics by the api, on METRICS_PORT by a worker). */
  metrics: Metrics;
  /** GET /admin/overview's reader (cached a few seconds in this process). */
  overview: AdminOverviewReader;
  close(): Promise<void>;
}

export function compose(config: Config, logger: Logger): Container {
  const settings = settingsFrom(config);
  // Configured secrets of any shape: scrubbed by value from whatever text echoes them (an upstream, a library's error).
  const secretValues = [config.NEMO_TOKEN, config.ADMIN_API_KEY, config.SECRETS_KEY, ...(config.SECRETS_KEY_PREVIOUS ?? [])];
  for (const value of [...secretValues, ...(config.API_KEYS ?? []).map((k) => k.key)]) rememberSecret(value);
  // QUEUE_SHARDS hash tags (one shard: every key under QUEUE_PREFIX as always); every connection from the factory.
  const keys = createKeys(config.QUEUE_PREFIX, config.QUEUE_SHARDS);
  // Not auto-pipelined: ioredis sends a connection's next automatic pipeline only once the one in flight is answered,
  // so while Redis stalls a read waited for the one before it to time out first (5.5 s seen, not the 3 s promised).
  // The create path's writes go over `blocking`, which keeps it.
  const redis = createRedisClient(config.redis, 'request', 'nemo-relay:request', { autoPipelining: false });
  const blocking = createRedisClient(config.redis, 'blocking', 'nemo-relay:worker', { autoPipelining: true });
  logRedisConnection(redis, logger, 'request');
  logRedisConnection(blocking, logger, 'worker');
  const store = new JobStore(blocking, keys, config.redis);
  const readStore = new JobStore(redis, keys);
  // Durable checkpoints WAIT for REDIS_WAIT_REPLICAS replicas (Sentinel and Cluster: 1 by default; one node: 0).
  const flows = new FlowStore(blocking, keys, config.redis);
  const groups = new SessionGroups(blocking, keys);
  const ledger = new DeliveryLedger(blocking, keys);
  const secrets = new WebhookSecrets({ redis: blocking, keys, fixedSecret: settings.webhooks.fixedSecret, graceMs: settings.webhooks.secretGraceMs });
  // BullMQ shares one factory connection (it never closes a connection it was given: close() below does).
  const connection = bullmqConnection(config.redis, 'blocking', 'nemo-relay:bullmq');
  logRedisConnection(connection, logger, 'bullmq');
  const flowQueues = createFlowQueues(connection, keys);
  const deliveryQueues = createDeliveryQueues(connection, keys);
  const flowQueue = flowQueues.shard(0);
  const deliveryQueue = deliveryQueues.shard(0);
  // Without a listener BullMQ prints every reconnect failure; the connection loss is already logged once above.
  for (const queue of [...flowQueues.all, ...deliveryQueues.all]) {
    queue.on('error', (err: Error) => logger.debug({ queue: queue.name, err: err.message }, 'queue connection error'));
  }
  const apiKeys = new ApiKeys(config.API_KEYS ?? [], config.AUTH_DISABLED, config.ADMIN_API_KEY);
  const tenants = composeTenants({
    config,
    keys,
    redis,
    blocking,
    logger,
    retentionMs: settings.retention.jobMs,
    cancelJob: (tenant, jobId, reason) => jobs.cancel(tenant, jobId, reason),
    limitsChanged: async (tenant) => queueAdmitted(flowQueues, await admission.setLimits(tenant, await limitsOf(tenant))),
  });
  // Every live tenant (bootstrap ones included); with auth disabled every unknown caller is the default tenant.
  const serviceTenants = async (): Promise<OverviewTenant[]> => [
    ...(await tenants.directory.list()),
    ...(config.AUTH_DISABLED ? [{ id: ANONYMOUS_TENANT, ...DEFAULT_LIMITS, upstream: { kind: 'default' as const } }] : []),
  ];
  const metrics = createMetrics({
    jobCounts: async () => readStore.countByStatus((await serviceTenants()).map((t) => t.id)),
    queues: [...flowQueues.all, ...deliveryQueues.all],
    version: PACKAGE_VERSION,
  });
  const webhookAgent = createGuardedDispatcher({ allowPrivate: settings.webhooks.allowPrivate });
  // Output URLs the upstream hands out (the mirror's copy, the size probe): its own origin trusted, others guarded.
  const outputFetch = new OriginDispatcher(new URL(config.NEMO_BASE_URL).origin, sharedAgent(), webhookAgent);
  const outputs = createOutputs({ config, redis: blocking, keys, logger, outputFetch });
  const deliveries = new DeliveryProcessor({
    ledger,
    secrets,
    queue: deliveryQueues,
    httpDispatcher: webhookAgent,
    timeoutMs: settings.webhooks.timeoutMs,
    schedule: settings.webhooks.schedule,
    logger: logger.child({ component: 'webhooks' }),
    onAttempt: (outcome, ms) => metrics.onWebhookAttempt(outcome, ms),
    presentResult: (job) => outputs.present(job),
    freshLinkAfterMs: Math.min(config.OUTPUT_URL_TTL_MS / 2, MAX_FRESH_LINK_AFTER_MS),
  });
  // Events a flow worker writes get their first attempt from that worker (deliverNow); the rest go through the queue.
  const enqueuer = new EventEnqueuer({
    store,
    ledger,
    queue: deliveryQueues,
    deliverNow: (data, read) => deliveries.deliverNow(data, read),
    secretsKey: (tenant) => secrets.storedKey(tenant),
  });
  const uploads = new StagedUploads({ redis: blocking, keys, dir: settings.uploads.dir, maxBytes: settings.uploads.maxBytes });
  // A job that ends frees its staged uploads (the last job using a file removes it); the sweeper catches the rest.
  const releaseUploads = uploadReleaseHook(uploads, store, logger.child({ component: 'uploads' }));
  const leaveGroup = groupReleaseHook({
    groups,
    wake: async (jobId) => void (await promoteIfDelayed(flowQueues, jobId)),
    logger: logger.child({ component: 'groups' }),
  });
  const batchStore = new BatchStore(blocking, keys);
  const announceBatchEnd = batchEndHook({
    store,
    batches: batchStore,
    retentionOf: (tenant) => retentionOf(tenant),
    afterEvent: (jobId, type, seq) => enqueuer.onEvent(jobId, type, seq),
    logger: logger.child({ component: 'batches' }),
  });
  const admission = new Admission(blocking, keys, config.MAX_RUNNING_JOBS);
  // A tenant's own settings (admin API), else the defaults: no cap but its account's, weight 1, JOB_RETENTION_MS.
  // `reads`: the API's request path fails fast (503), a worker's step waits out a failover (directory.waiting).
  const limitsVia = (reads: TenantReads) => async (tenant: string): Promise<TenantLimits> => {
    const own = await reads.get(tenant);
    return { maxConcurrent: own?.max_concurrent_jobs ?? 0, weight: own?.weight ?? 1, account: await reads.accountOf(tenant) };
  };
  const limitsOf = limitsVia(tenants.directory);
  const workerLimitsOf = limitsVia(tenants.directory.waiting);
  // Asked when a job (or batch) ends: the tenant's settings through the directory (cached a few seconds, dropped on a
  // change notice), so a job that ran longer than the cache's life still gets its tenant's retention, not the default.
  // A deleted tenant's job (one its deletion canceled, ending now) is kept until the tenant's purge, not longer.
  const retentionOf = async (tenant: string): Promise<number> => {
    const own = await tenants.directory.waiting.get(tenant);
    if (own?.purge_at) return Math.max(1, Date.parse(own.purge_at) - Date.now());
    return own?.retention_ms ?? settings.retention.jobMs;
  };
  const hookParts = { enqueuer, releaseUploads, leaveGroup, announceBatchEnd, admission, flowQueue: flowQueues, logger: logger.child({ component: 'lifecycle' }) };
  const lifecycle = new JobLifecycle(store, lifecycleHooks(hookParts), retentionOf);
  const endedAgain = endedAgainHooks(hookParts);
  // One subscriber connection per process for live job events, made on first use (SSE readers, a cancel's wait).
  let feed: EventFeed | null = null;
  const eventFeed = () => (feed ??= new EventFeed(createRedisClient(config.redis, 'subscriber', 'nemo-relay:events')));
  const jobs = new JobCommands({
    events: { listen: (jobId, onEvent) => eventFeed().listen(keys.jobEventsChannel(jobId), onEvent) },
    store,
    flows,
    lifecycle,
    groups,
    queue: jobQueuePort({ admission, flowQueue: flowQueues, redis: blocking, keys, limitsOf, maxPerAccount: config.MAX_RUNNING_JOBS }),
    checkWebhookUrl: (url) => assertWebhookUrlAllowed(url, { allowPrivate: settings.webhooks.allowPrivate }),
    checkFetchedSourceUrl: async (url, field) => {
      try {
        await assertWebhookUrlAllowed(url, { allowPrivate: settings.webhooks.allowPrivate });
      } catch (err) {
        // The same guard as webhook targets; the message names the source instead.
        throw new AppError('VALIDATION_FAILED', `${field}: the service fetches HEIC sources itself to convert them, and ${String((err as Error).message).replace(/^webhook (URL|host)/, 'this host')}`);
      }
    },
  });
  const requestUploads = new StagedUploads({ redis, keys, dir: settings.uploads.dir, maxBytes: settings.uploads.maxBytes });
  const idempotency = new Idempotency(redis, keys);
  const createJob = new CreateJob({ commands: jobs, store: readStore, uploads: requestUploads, idempotency });
  const reviseJob = new ReviseJob({ commands: jobs, store: readStore, idempotency });
  const batchReads = new BatchStore(redis, keys);
  const batches = new BatchCommands({ batches: batchReads, store: readStore, commands: jobs, uploads: requestUploads, idempotency });
  const nemo = new NemoClient({
    baseUrl: settings.upstream.baseUrl,
    skill: settings.upstream.skill,
    logger: logger.child({ component: 'nemo' }),
    onCall: (endpoint, outcome, ms) => metrics.onUpstreamCall(endpoint, outcome, ms),
  });
  const accounts = new UpstreamAccounts({
    identityOf: (tenant) => tenants.directory.waiting.upstreamOf(tenant),
    accountIdOf: (tenant) => tenants.directory.waiting.accountOf(tenant),
    redis: blocking,
    keys,
    nemo,
    staticToken: settings.upstream.staticToken,
    clientId: settings.upstream.clientId,
    webUrl: settings.upstream.webUrl,
    creditsRecheckMs: settings.flow.creditsRecheckMs,
    logger,
  });
  const { tokens, balance, claims } = accounts.default;
  const flowDeps: FlowDeps = {
    settings: settings.flow,
    redis: blocking,
    keys,
    nemo,
    tokens,
    store,
    flows,
    lifecycle,
    commits: lifecycle,
    credits: accounts.default.credits,
    accounts,
    renderStats: new RenderStats(blocking, keys),
    stagedFiles: uploads,
    admission,
    limitsOf: workerLimitsOf,
    urlSources: {
      fetch: (url, opts) =>
        fetchUrlSource(url, { dir: settings.uploads.dir, maxBytes: settings.uploads.maxBytes, allowPrivate: settings.webhooks.allowPrivate, ...opts }),
    },
    groups,
    balance,
    claims,
    deliveries: enqueuer,
    endedAgain,
    batchCreation: async (batchId) => {
      const batch = await batchStore.get(batchId);
      return batch ? { complete: batch.complete !== false, createdAtMs: Date.parse(batch.created_at) } : null;
    },
    ...(outputs.flow ? { outputs: outputs.flow } : {}),
    outputFetch,
    logger,
    onStep: (step, outcome, ms) => metrics.onStep(step, outcome, ms),
    // Tracing on (src/tracing/start.ts ran before this): a span per step; off, no wrapper at all.
    ...(tracingEnabled() ? { aroundStep: traceStep } : {}),
  };
  const overview = new AdminOverviewReader({
    redis,
    keys,
    store: readStore,
    queues: [...flowQueues.all, ...deliveryQueues.all],
    tenants: serviceTenants,
    accountOf: (tenant) => tenants.directory.accountOf(tenant),
    credits: async (tenant) => accountCredits(tenant === null ? accounts.default : await accounts.forTenant(tenant)),
    defaultRetentionMs: settings.retention.jobMs,
  });
  return {
    config,
    settings,
    logger,
    keys,
    redis,
    blocking,
    store,
    readStore,
    flows,
    groups,
    erase: { redis: blocking, keys, store, flowQueue: flowQueues, deliveryQueue: deliveryQueues, outputs },
    admission,
    limitsOf,
    lifecycle,
    jobs,
    createJob,
    reviseJob,
    batches,
    batchReads,
    idempotency,
    flowQueues,
    flowQueue,
    deliveryQueues,
    deliveryQueue,
    enqueuer,
    deliveries,
    ledger,
    secrets,
    webhookAgent,
    nemo,
    tokens,
    balance,
    claims,
    accounts,
    uploads: requestUploads,
    apiKeys,
    tenants,
    eventFeed,
    flowDeps,
    outputs,
    metrics,
    overview,
    async close() {
      await Promise.allSettled([flowQueues.close(), deliveryQueues.close(), webhookAgent.close()]);
      connection.disconnect();
      outputs.close();
      feed?.close();
      tenants.directory.close();
      redis.disconnect();
      blocking.disconnect();
      // The last spans (shutdown included) are exported before the process exits.
      await flushTracing();
    },
  };
}
