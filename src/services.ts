// Composition: builds every shared object (Redis connections, stores, upstream client, queues, dispatcher) from Config.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { CreditsGate } from './flow/credits-gate.js';
import type { FlowDeps } from './flow/context.js';
import { createFlowQueue, enqueueFlow, promoteIfDelayed, removeIfWaiting, type FlowJobData } from './flow/queue.js';
import { RenderStats } from './flow/render-stats.js';
import { FlowStore } from './flow/state.js';
import { JobLifecycle } from './jobs/lifecycle.js';
import { JobService } from './jobs/service.js';
import { JobStore } from './jobs/store.js';
import { NemoClient } from './nemo/client.js';
import { TokenProvider } from './nemo/token.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { logRedisConnection } from './observability/redis-events.js';
import { ANONYMOUS_TENANT } from './http/auth.js';
import { createRedis } from './redis/connection.js';
import { createKeys, type Keys } from './redis/keys.js';
import { uploadReleaseHook } from './uploads/release-hook.js';
import { StagedUploads } from './uploads/staged-uploads.js';
import { PACKAGE_VERSION } from './version.js';
import { DeliveryLedger } from './webhooks/deliveries.js';
import { createDeliveryQueue, WebhookDispatcher, type DeliveryJobData } from './webhooks/dispatcher.js';
import { WebhookSecrets } from './webhooks/secrets.js';
import { assertWebhookUrlAllowed, createGuardedDispatcher } from './webhooks/ssrf.js';

export interface Services {
  config: Config;
  logger: Logger;
  keys: Keys;
  /** Request-path commands (fail fast when Redis is away). */
  redis: Redis;
  /** Worker-side commands (wait out Redis restarts). */
  blocking: Redis;
  store: JobStore;
  flows: FlowStore;
  lifecycle: JobLifecycle;
  jobs: JobService;
  flowQueue: Queue<FlowJobData>;
  deliveryQueue: Queue<DeliveryJobData>;
  webhooks: WebhookDispatcher;
  ledger: DeliveryLedger;
  secrets: WebhookSecrets;
  nemo: NemoClient;
  tokens: TokenProvider;
  uploads: StagedUploads;
  flowDeps: FlowDeps;
  /** Prometheus metrics of this process (served at /metrics by the api, on METRICS_PORT by a worker). */
  metrics: Metrics;
  close(): Promise<void>;
}

export function createServices(config: Config, logger: Logger): Services {
  const keys = createKeys(config.QUEUE_PREFIX);
  const redis = createRedis(config.REDIS_URL, 'request', 'nemo-relay:request', { autoPipelining: true });
  const blocking = createRedis(config.REDIS_URL, 'blocking', 'nemo-relay:worker', { autoPipelining: true });
  logRedisConnection(redis, logger, 'request');
  logRedisConnection(blocking, logger, 'worker');
  const store = new JobStore(blocking, keys);
  const flows = new FlowStore(blocking, keys);
  const ledger = new DeliveryLedger(blocking, keys);
  const secrets = new WebhookSecrets({
    redis: blocking,
    keys,
    fixedSecret: config.WEBHOOK_SECRET,
    graceMs: config.WEBHOOK_SECRET_GRACE_MS,
  });
  // BullMQ gets its own connections (it duplicates what it is given); workers need maxRetriesPerRequest: null.
  const connection = { url: config.REDIS_URL, maxRetriesPerRequest: null };
  const flowQueue = createFlowQueue(connection, config.QUEUE_PREFIX);
  const deliveryQueue = createDeliveryQueue(connection, config.QUEUE_PREFIX);
  // Without a listener BullMQ prints every reconnect failure; the connection loss is already logged once above.
  for (const queue of [flowQueue, deliveryQueue]) {
    queue.on('error', (err: Error) => logger.debug({ queue: queue.name, err: err.message }, 'queue connection error'));
  }
  const metrics = createMetrics({
    redis,
    keys,
    // Tenants exist only through API keys; with auth disabled every caller is the default tenant.
    tenants: () => [...(config.API_KEYS ?? []).map((p) => p.tenant), ...(config.AUTH_DISABLED ? [ANONYMOUS_TENANT] : [])],
    queues: [flowQueue, deliveryQueue],
    version: PACKAGE_VERSION,
  });
  const webhooks = new WebhookDispatcher({
    store,
    ledger,
    secrets,
    queue: deliveryQueue,
    httpDispatcher: createGuardedDispatcher({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    schedule: config.WEBHOOK_RETRY_SCHEDULE_MS,
    logger: logger.child({ component: 'webhooks' }),
    onAttempt: (outcome, ms) => metrics.onWebhookAttempt(outcome, ms),
  });
  const uploads = new StagedUploads({ redis: blocking, keys, dir: config.UPLOAD_DIR, maxBytes: config.UPLOAD_MAX_BYTES });
  // A job that ends frees its staged uploads (the last job using a file removes it); the sweeper catches the rest.
  const releaseUploads = uploadReleaseHook(uploads, store, logger.child({ component: 'uploads' }));
  const lifecycle = new JobLifecycle(store, async (jobId, type, seq) => {
    try {
      await webhooks.onEvent(jobId, type, seq);
    } finally {
      // Uploads are freed even when queueing the webhook failed (the flow re-queues deliveries on retry).
      await releaseUploads(jobId, type);
    }
  });
  const jobs = new JobService({
    store,
    flows,
    lifecycle,
    queue: {
      enqueue: (jobId) => enqueueFlow(flowQueue, jobId),
      removeIfWaiting: (jobId) => removeIfWaiting(flowQueue, jobId),
      wake: async (jobId) => void (await promoteIfDelayed(flowQueue, jobId)),
      publishCancel: async (jobId) => void (await blocking.publish(keys.jobCancelChannel(), jobId)),
    },
    checkWebhookUrl: (url) => assertWebhookUrlAllowed(url, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
  });
  const nemo = new NemoClient({
    baseUrl: config.NEMO_BASE_URL,
    skill: { source: config.NEMO_SKILL_SOURCE, version: config.NEMO_SKILL_VERSION, platform: config.NEMO_SKILL_PLATFORM },
    logger: logger.child({ component: 'nemo' }),
    onCall: (endpoint, outcome, ms) => metrics.onUpstreamCall(endpoint, outcome, ms),
  });
  const tokens = new TokenProvider({
    redis: blocking,
    keys,
    client: nemo,
    staticToken: config.NEMO_TOKEN,
    clientId: config.NEMO_CLIENT_ID,
    logger: logger.child({ component: 'token' }),
  });
  const flowDeps: FlowDeps = {
    config,
    redis: blocking,
    keys,
    nemo,
    tokens,
    store,
    flows,
    lifecycle,
    credits: new CreditsGate(blocking, keys, config.CREDITS_RECHECK_MS),
    renderStats: new RenderStats(blocking, keys),
    stagedFiles: uploads,
    deliveries: webhooks,
    logger,
    onStep: (step, outcome, ms) => metrics.onStep(step, outcome, ms),
  };
  return {
    config,
    logger,
    keys,
    redis,
    blocking,
    store,
    flows,
    lifecycle,
    jobs,
    flowQueue,
    deliveryQueue,
    webhooks,
    ledger,
    secrets,
    nemo,
    tokens,
    uploads,
    flowDeps,
    metrics,
    async close() {
      await Promise.allSettled([flowQueue.close(), deliveryQueue.close()]);
      redis.disconnect();
      blocking.disconnect();
    },
  };
}

export { PACKAGE_VERSION };
