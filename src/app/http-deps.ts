// Cuts the container into the narrow dependencies of each route group (routes build nothing themselves).
import { deleteJob } from '../domain/erase-job.js';
import { accountCredits } from '../flow/accounts.js';
import type { HttpDeps } from '../http/deps.js';
import { consoleRoutes, resultMediaSources } from '../http/routes/console.js';
import { storeAvailability } from '../redis/availability.js';
import { redisReadiness } from '../redis/readiness.js';
import { cachedProbe, probeWritableDir } from '../storage/index.js';
import { currentTraceparent } from '../tracing/spans.js';
import { tracingEnabled } from '../tracing/state.js';
import { buildDelivery } from '../webhooks/envelope.js';
import { sendWebhook } from '../webhooks/sender.js';
import { assertWebhookUrlAllowed } from '../webhooks/ssrf.js';
import type { Container } from './compose.js';
import { tenantAuthenticator } from './tenants.js';

/** s3: a signed result link answers with a presigned URL this fresh; the link itself is what lasts (OUTPUT_URL_TTL_MS). */
const OUTPUT_REDIRECT_TTL_MS = 3_600_000;

export function httpDepsFrom(c: Container): HttpDeps {
  const { settings } = c;
  const reader = c.readStore;
  // API_KEYS first (in memory), then keys issued through /admin/tenants (cached, revoked on every process at once).
  const auth = tenantAuthenticator(c.apiKeys, c.tenants.directory);
  // The API stages every upload in UPLOAD_DIR: one it cannot write answered each upload 500 while /readyz said ready.
  const uploadDir = settings.uploads.dir;
  const uploadsWritable = cachedProbe(() => probeWritableDir(uploadDir), (reason) => `upload directory ${uploadDir} cannot be written: ${reason}`);
  return {
    logger: c.logger,
    auth,
    // One node or Sentinel: the request connection is ready; Cluster: every slot's master is connected too.
    storeAvailable: storeAvailability(c.redis),
    bodyLimit: settings.api.bodyLimit,
    idleTimeoutMs: settings.api.idleTimeoutMs,
    requestTimeoutMs: settings.api.requestTimeoutMs,
    // Redis first; then output storage or an upload directory that cannot be written (each probe cached ~30 s).
    health: {
      readiness: async () => {
        const redis = await redisReadiness(c.redis);
        if (!redis.ok) return redis;
        const [outputs, uploads] = await Promise.all([c.outputs.readiness(), uploadsWritable()]);
        return outputs.ok ? uploads : outputs;
      },
    },
    jobs: {
      reader,
      commands: c.jobs,
      createJob: c.createJob,
      reviseJob: c.reviseJob,
      uploads: c.uploads,
      uploadMaxBytes: settings.api.uploadMaxBytes,
      positionOf: (jobId, tenant) => c.admission.position(jobId, tenant),
      remove: (tenant, jobId) => deleteJob(c.erase, tenant, jobId),
      presentResult: (job) => c.outputs.present(job),
      // Tracing on: the request span's traceparent goes on the job record, and the worker's spans continue it.
      ...(tracingEnabled() ? { currentTrace: currentTraceparent } : {}),
    },
    outputs: {
      reader,
      storage: c.outputs.storage,
      verify: (jobId, expires, sig) => c.outputs.links.verify(jobId, expires, sig),
      tenantDeleted: (tenant) => auth.deletedTenant(tenant),
      redirectTtlMs: OUTPUT_REDIRECT_TTL_MS,
    },
    batches: { batches: c.batches, ...(tracingEnabled() ? { currentTrace: currentTraceparent } : {}) },
    events: {
      reader,
      store: c.readStore,
      feed: c.eventFeed,
      channelOf: (jobId) => c.keys.jobEventsChannel(jobId),
      logger: c.logger,
      batchEndCarrier: (batchId, jobId) => c.batchReads.endCarrier(batchId, jobId),
      maxStreamsPerTenant: c.config.EVENT_STREAMS_PER_TENANT,
      presentResult: (job) => c.outputs.present(job),
    },
    deliveries: {
      reader,
      attempts: (jobId) => c.ledger.attempts(jobId),
      redeliverLatest: (jobId) => c.enqueuer.redeliverLatest(jobId),
    },
    uploads: { uploads: c.uploads, uploadMaxBytes: settings.api.uploadMaxBytes },
    webhooks: {
      secrets: c.secrets,
      checkUrl: (url) => assertWebhookUrlAllowed(url, { allowPrivate: settings.webhooks.allowPrivate }),
      buildDelivery,
      send: (url, delivery) =>
        sendWebhook({ url, body: delivery.body, headers: delivery.headers, timeoutMs: settings.webhooks.timeoutMs, dispatcher: c.webhookAgent }),
    },
    credits: {
      // The caller's own upstream account: its tenant's token or anonymous account, else the service's.
      balanceFor: async (tenant) => accountCredits(await c.accounts.forTenant(tenant)),
    },
    metrics: { render: () => c.metrics.render(), auth },
    admin: { queues: [...c.flowQueues.all, ...c.deliveryQueues.all], auth },
    overview: { overview: () => c.overview.read(), auth },
    tenants: { admin: c.tenants.admin, auth },
    rateLimit: {
      // From the in-process tenant cache: a tenant without a limit costs no Redis call.
      limitOf: async (tenant) => (await c.tenants.directory.get(tenant))?.rate_limit_per_min ?? null,
      hit: (tenant, windowMs) => c.tenants.windows.hit(tenant, windowMs),
    },
    // s3 storage: a signed result link redirects the <video> to the bucket, which CSP checks as well.
    plugins: [consoleRoutes({ mediaSources: [...resultMediaSources(settings.upstream.baseUrl, c.config.PUBLIC_BASE_URL), ...c.outputs.redirectOrigins] })],
  };
}
