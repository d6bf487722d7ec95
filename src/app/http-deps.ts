// Cuts the container into the narrow dependencies of each route group (routes build nothing themselves).
import type { HttpDeps } from '../http/deps.js';
import { consoleRoutes, resultMediaSources } from '../http/routes/console.js';
import { redisReadiness } from '../redis/readiness.js';
import { currentTraceparent } from '../tracing/spans.js';
import { tracingEnabled } from '../tracing/state.js';
import { buildDelivery } from '../webhooks/envelope.js';
import { sendWebhook } from '../webhooks/sender.js';
import { assertWebhookUrlAllowed } from '../webhooks/ssrf.js';
import type { Container } from './compose.js';

export function httpDepsFrom(c: Container): HttpDeps {
  const { settings } = c;
  const reader = c.readStore;
  const auth = {
    tenantOf: async (header: string | undefined) => c.apiKeys.tenantOf(header),
    isAdmin: (header: string | undefined) => c.apiKeys.isAdmin(header),
  };
  return {
    logger: c.logger,
    auth,
    storeAvailable: () => c.redis.status === 'ready',
    bodyLimit: settings.api.bodyLimit,
    health: { readiness: () => redisReadiness(c.redis) },
    jobs: {
      reader,
      commands: c.jobs,
      createJob: c.createJob,
      uploads: c.uploads,
      uploadMaxBytes: settings.api.uploadMaxBytes,
      positionOf: (jobId, tenant) => c.admission.position(jobId, tenant),
      // Tracing on: the request span's traceparent goes on the job record, and the worker's spans continue it.
      ...(tracingEnabled() ? { currentTrace: currentTraceparent } : {}),
    },
    batches: { batches: c.batches, ...(tracingEnabled() ? { currentTrace: currentTraceparent } : {}) },
    events: {
      reader,
      store: c.readStore,
      feed: c.eventFeed,
      channelOf: (jobId) => c.keys.jobEventsChannel(jobId),
      logger: c.logger,
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
      balanceFor: async () => ({
        ...(await c.balance.get()),
        // The upstream's advice for an anonymous account that ran out: its registration link (null otherwise).
        claim_url: c.tokens.isStatic ? null : await c.claims.current(),
      }),
    },
    metrics: { render: () => c.metrics.render(), auth },
    admin: { queues: [c.flowQueue, c.deliveryQueue], auth },
    plugins: [consoleRoutes({ mediaSources: resultMediaSources(settings.upstream.baseUrl) })],
  };
}
