// The webhook delivery log of a job and its manual redelivery.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.js';
import type { JobEvent } from '../../jobs/schemas.js';
import { deliveryAttemptSchema, type DeliveryAttempt } from '../../webhooks/deliveries.js';
import { dataList, described, errorResponses, idParams } from '../schemas/common.js';
import { apiSchemas } from '../schemas/registry.js';
import { findJob, type JobReader } from './jobs.js';

export interface DeliveryRouteDeps {
  reader: JobReader;
  attempts(jobId: string): Promise<DeliveryAttempt[]>;
  /** Re-sends the job's latest event its webhook.events wants, with the same webhook-id; null when there is none yet. */
  redeliverLatest(jobId: string): Promise<JobEvent | null>;
}

const attemptSchema = apiSchemas.register('DeliveryAttempt', deliveryAttemptSchema);
const redelivered = z.object({ event_id: z.string(), type: z.string(), seq: z.number().int() });

export function deliveryRoutes(deps: DeliveryRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/jobs/:id/deliveries',
      {
        schema: {
          tags: ['webhooks'],
          operationId: 'jobDeliveries',
          summary: 'Every webhook delivery attempt of the job',
          params: idParams,
          response: { 200: described('attempts, oldest first', dataList(attemptSchema)), ...errorResponses(401, 404, 429, 431, 503) },
        },
      },
      async (request) => {
        await findJob(deps.reader, request.tenant, request.params.id);
        return { data: await deps.attempts(request.params.id) };
      },
    );

    app.post(
      '/v1/jobs/:id/deliveries/redeliver',
      {
        schema: {
          tags: ['webhooks'],
          operationId: 'redeliver',
          summary: "Re-send the job's latest event with the same webhook-id",
          description:
            'Re-sends the latest event the job’s webhook.events wants, even after retries ran out or a 410; a job.succeeded carries its stored result’s link minted afresh.',
          params: idParams,
          response: { 202: described('queued', redelivered), ...errorResponses(400, 401, 404, 409, 429, 431, 503) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const record = await findJob(deps.reader, request.tenant, id);
        // The request is well formed; the job has nothing to send (yet): a conflict with its state, not a validation error.
        if (!record.job.webhook) throw new AppError('NOTHING_TO_REDELIVER', `job ${id} has no webhook`);
        const event = await deps.redeliverLatest(id);
        if (!event) throw new AppError('NOTHING_TO_REDELIVER', `job ${id} has no event its webhook.events asks for yet`, { retryable: true });
        return reply.status(202).send({ event_id: event.id, type: event.type, seq: event.seq });
      },
    );
  };
}
