// Webhook set-up routes: the tenant's secret, its rotation, and a signed test delivery that shows exactly what was signed.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { newBatchId, newEventId, newJobId } from '../../jobs/ids.js';
import { batchSchema, EVENT_TYPES, httpUrl, jobSchema, type Batch, type EventType, type Job, type JobEvent } from '../../jobs/schemas.js';
import type { Delivery } from '../../webhooks/envelope.js';
import type { DeliveryOutcome } from '../../webhooks/sender.js';
import { described, errorResponses } from '../schemas/common.js';
import { apiSchemas } from '../schemas/registry.js';

export interface WebhookRouteDeps {
  secrets: {
    current(tenant: string): Promise<string>;
    rotate(tenant: string): Promise<{ secret: string; previousValidUntil: string }>;
    signingSecrets(tenant: string): Promise<string[]>;
  };
  /** Refuses targets the SSRF guard would never deliver to (throws WEBHOOK_TARGET_REFUSED). */
  checkUrl(url: string): Promise<void>;
  buildDelivery(event: Pick<JobEvent, 'id' | 'type' | 'at' | 'data'>, secrets: string[]): Delivery;
  /** One signed POST through the guarded dispatcher, with the delivery timeout. */
  send(url: string, delivery: Delivery): Promise<DeliveryOutcome>;
}

const testBody = apiSchemas.register(
  'WebhookTest',
  z.strictObject({
    url: httpUrl.describe('the receiver to send a signed sample to'),
    type: z.enum(EVENT_TYPES).default('job.succeeded'),
  }),
);
const testResult = apiSchemas.register(
  'WebhookTestResult',
  z.object({
    status_code: z.number().int().nullable(),
    response_body: z.string(),
    duration_ms: z.number().int(),
    webhook_id: z.string(),
    webhook_timestamp: z.string(),
    signed_content: z.string(),
    signature: z.string(),
    error: z.string().nullable(),
  }),
);
const secretBody = z.object({ secret: z.string().describe('whsec_…') });
const rotatedBody = z.object({ secret: z.string(), previous_valid_until: z.string() });

export function webhookRoutes(deps: WebhookRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/webhook-secret',
      {
        schema: {
          tags: ['webhooks'],
          operationId: 'webhookSecret',
          summary: "The tenant's whsec_ signing secret",
          response: { 200: described('secret', secretBody), ...errorResponses(401, 429, 431, 503) },
        },
      },
      async (request) => ({ secret: await deps.secrets.current(request.tenant) }),
    );

    app.post(
      '/v1/webhook-secret/rotate',
      {
        schema: {
          tags: ['webhooks'],
          operationId: 'rotateWebhookSecret',
          summary: 'Rotate the signing secret; the old one keeps signing during the grace period',
          response: { 200: described('new secret', rotatedBody), ...errorResponses(400, 401, 429, 431, 503) },
        },
      },
      async (request) => {
        const rotated = await deps.secrets.rotate(request.tenant);
        return { secret: rotated.secret, previous_valid_until: rotated.previousValidUntil };
      },
    );

    app.post(
      '/v1/webhooks/test',
      {
        schema: {
          tags: ['webhooks'],
          operationId: 'testWebhook',
          summary: 'Send a signed sample delivery and show what was signed and what the receiver answered',
          body: testBody,
          response: { 200: described('result', testResult), ...errorResponses(400, 401, 429, 431, 503) },
        },
      },
      async (request) => {
        const { url, type } = request.body;
        await deps.checkUrl(url);
        const event = { id: newEventId(), type, at: new Date().toISOString(), data: sampleData(type) };
        const delivery = deps.buildDelivery(event, await deps.secrets.signingSecrets(request.tenant));
        const outcome = await deps.send(url, delivery);
        return {
          status_code: outcome.statusCode,
          response_body: outcome.responseBody,
          duration_ms: Math.round(outcome.durationMs),
          webhook_id: delivery.headers['webhook-id'],
          webhook_timestamp: delivery.headers['webhook-timestamp'],
          signed_content: delivery.signedContent,
          signature: delivery.signature,
          error: outcome.error,
        };
      },
    );
  };
}

/**
 * The data a real event of `type` carries, marked as a test in its metadata, so receivers can exercise their real
 * handler: a job as it stands at that event (running, succeeded with a result, failed or canceled with an error), or
 * for a batch's end the batch.
 */
function sampleData(type: EventType): Job | Batch {
  const now = new Date().toISOString();
  if (type === 'batch.succeeded' || type === 'batch.failed') {
    const failed = type === 'batch.failed';
    return batchSchema.parse({
      id: newBatchId(),
      status: failed ? 'failed' : 'succeeded',
      items: [newJobId(), newJobId()],
      counts: { queued: 0, running: 0, succeeded: failed ? 1 : 2, failed: failed ? 1 : 0, canceled: 0 },
      sources: [{ url: 'https://example.com/a.jpg' }],
      conformance: 'report',
      language: 'en',
      webhook: null,
      metadata: { test: true },
      created_at: now,
      finished_at: now,
    });
  }
  const ended = type === 'job.succeeded' || type === 'job.failed' || type === 'job.canceled';
  const status = type === 'job.succeeded' ? 'succeeded' : type === 'job.failed' ? 'failed' : type === 'job.canceled' ? 'canceled' : 'running';
  const error =
    type === 'job.failed'
      ? { code: 'RENDER_FAILED', message: 'the upstream render failed (a test event)', retryable: false }
      : type === 'job.canceled'
        ? { code: 'CANCELED', message: 'canceled by the caller (a test event)', retryable: false }
        : null;
  // Parsed, so the fields with defaults (usage, changes, timeline…) are there as on a real job.
  return jobSchema.parse({
    id: newJobId(),
    status,
    stage: ended ? 'done' : type === 'job.progress' ? 'render' : 'generate',
    progress: type === 'job.succeeded' ? 100 : type === 'job.progress' ? 70 : type === 'job.started' ? 10 : 40,
    instruction: 'turn these images into a 30-second promo video with music and text',
    followups: [],
    sources: [{ url: 'https://example.com/a.jpg' }],
    output: { format: 'mp4', quality: 'high', resolution: '1080p' },
    language: 'en',
    metadata: { test: true },
    messages: type === 'job.succeeded' ? ['Your video is ready!'] : ['Working on your video…'],
    result:
      type === 'job.succeeded'
        ? {
            url: 'https://example.com/render-result/render_test.mp4',
            timeline: 'Timeline (2 tracks): 1. Video (1 segment, 30.0s) 2. BGM (1 segment, 30.0s)',
            duration_ms: 30_000,
            size_bytes: 15_728_640,
            checks: [{ name: 'resolution', wanted: '1080p', got: '1080p', ok: true }],
            conformant: true,
          }
        : null,
    error,
    upstream: { task_id: null, session_id: null, render_id: null },
    webhook: null,
    parent_id: null,
    created_at: now,
    started_at: now,
    finished_at: ended ? now : null,
  });
}
