// Webhook set-up routes: the tenant's secret, its rotation, and a signed test delivery that shows exactly what was signed.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { newEventId, newJobId } from '../../jobs/ids.js';
import type { Job } from '../../jobs/schemas.js';
import type { Services } from '../../services.js';
import { buildDelivery } from '../../webhooks/dispatcher.js';
import { sendWebhook } from '../../webhooks/sender.js';
import { assertWebhookUrlAllowed, createGuardedDispatcher } from '../../webhooks/ssrf.js';
import { parseWith } from '../validation.js';

const testBody = z.strictObject({
  url: z.string().max(2048),
  type: z.enum(['job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.canceled']).default('job.succeeded'),
});

export function webhookRoutes(services: Services) {
  const { config } = services;
  const dispatcher = createGuardedDispatcher({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE });
  return async (app: FastifyInstance) => {
    app.addHook('onClose', async () => dispatcher.close());

    app.get('/v1/webhook-secret', async (request) => ({ secret: await services.secrets.current(request.tenant) }));

    app.post('/v1/webhook-secret/rotate', async (request) => {
      const rotated = await services.secrets.rotate(request.tenant);
      return { secret: rotated.secret, previous_valid_until: rotated.previousValidUntil };
    });

    app.post('/v1/webhooks/test', async (request) => {
      const body = parseWith(testBody, request.body);
      await assertWebhookUrlAllowed(body.url, { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE });
      const event = { id: newEventId(), type: body.type, at: new Date().toISOString(), data: sampleJob() };
      const delivery = buildDelivery(event, await services.secrets.signingSecrets(request.tenant));
      const outcome = await sendWebhook({
        url: body.url,
        body: delivery.body,
        headers: delivery.headers,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        dispatcher,
      });
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
    });
  };
}

/** A plausible finished job, marked as a test in its metadata, so receivers can exercise their real handler. */
function sampleJob(): Job {
  const now = new Date().toISOString();
  return {
    id: newJobId(),
    status: 'succeeded',
    stage: 'done',
    progress: 100,
    instruction: 'turn these images into a 30-second promo video with music and text',
    followups: [],
    sources: [{ url: 'https://example.com/a.jpg' }],
    output: { format: 'mp4', quality: 'high', resolution: '1080p' },
    language: 'en',
    metadata: { test: true },
    messages: ['Your video is ready!'],
    result: {
      url: 'https://example.com/render-result/render_test.mp4',
      timeline: 'Timeline (2 tracks): 1. Video (1 segment, 30.0s) 2. BGM (1 segment, 30.0s)',
      duration_ms: 30_000,
      size_bytes: 15_728_640,
    },
    error: null,
    upstream: { task_id: null, session_id: null, render_id: null },
    webhook: null,
    parent_id: null,
    created_at: now,
    started_at: now,
    finished_at: now,
  };
}
