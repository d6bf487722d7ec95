// /v1/batches: several instructions over one upload in one upstream session; each item is a job of its own.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BatchCommands } from '../../domain/batches.js';
import { idempotencyKeyOf } from '../idempotency-header.js';
import { batchSchema, createBatchBodySchema } from '../../jobs/schemas.js';
import { described, errorResponses, idParams } from '../schemas/common.js';
import { withinStoreDeadline } from '../store-deadline.js';
import { idempotencyHeaders } from '../schemas/jobs.js';
import { apiSchemas } from '../schemas/registry.js';

export interface BatchRouteDeps {
  batches: Pick<BatchCommands, 'create' | 'get' | 'list' | 'cancel'>;
  /** The traceparent of the request being handled (null when tracing is off). */
  currentTrace?: () => string | null;
}

const batchResponse = apiSchemas.register('Batch', batchSchema);
const createBatchBody = apiSchemas.register('CreateBatch', createBatchBodySchema);
const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^bat_[0-9A-Z]{26}$/, 'must be a next_cursor value').optional().describe('the next_cursor of the previous page'),
});
const batchPage = z.object({ data: z.array(batchResponse), next_cursor: z.string().nullable() });

export function batchRoutes(deps: BatchRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/batches',
      {
        schema: {
          tags: ['batches'],
          operationId: 'createBatch',
          summary: 'Run several instructions over one upload, one after another in one upstream session (the upstream’s “batch style”)',
          description:
            'The sources are uploaded once; the items run one by one in that session, each a normal job (its own render, ' +
            'result, events and webhooks) with batch_id. Item 2 starts from the draft item 1 left — that is what the ' +
            'upstream does — so later instructions should say what to change. batch.succeeded / batch.failed follows the ' +
            'last item’s own webhook.',
          headers: idempotencyHeaders,
          body: createBatchBody,
          response: {
            202: described('batch accepted', batchResponse),
            200: described('idempotent replay (header Idempotent-Replayed: true)', batchResponse),
            ...errorResponses(400, 401, 404, 409, 413, 415, 422, 429, 431, 503),
          },
        },
      },
      async (request, reply) => {
        const result = await withinStoreDeadline(
          deps.batches.create(request.tenant, request.body, {
            idempotencyKey: idempotencyKeyOf(request),
            trace: deps.currentTrace?.() ?? null,
          }),
        );
        if (!result.replayed) return reply.status(202).send(result.batch);
        return reply.status(200).header('idempotent-replayed', 'true').send(result.batch);
      },
    );

    app.get(
      '/v1/batches',
      {
        schema: {
          tags: ['batches'],
          operationId: 'listBatches',
          summary: 'List the tenant’s batches, newest first (cursor pagination)',
          querystring: listQuery,
          response: { 200: described('a page of batches', batchPage), ...errorResponses(400, 401, 429, 431, 503) },
        },
      },
      async (request) => deps.batches.list(request.tenant, request.query),
    );

    app.get(
      '/v1/batches/:id',
      {
        schema: {
          tags: ['batches'],
          operationId: 'getBatch',
          summary: 'Get a batch: its items and their counts by status',
          params: idParams,
          response: { 200: described('the batch', batchResponse), ...errorResponses(401, 404, 429, 431, 503) },
        },
      },
      async (request) => deps.batches.get(request.tenant, request.params.id),
    );

    app.post(
      '/v1/batches/:id/cancel',
      {
        schema: {
          tags: ['batches'],
          operationId: 'cancelBatch',
          summary: 'Cancel every item of the batch that has not ended',
          params: idParams,
          response: { 200: described('the batch', batchResponse), ...errorResponses(401, 404, 409, 429, 431, 503) },
        },
      },
      async (request) => withinStoreDeadline(deps.batches.cancel(request.tenant, request.params.id)),
    );
  };
}
