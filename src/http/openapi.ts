// The OpenAPI 3.1 document, generated from the same zod schemas the routes parse with; committed as openapi.yaml.
import { z } from 'zod';
import { createJobBodySchema, eventSchema, jobSchema, revisionBodySchema } from '../jobs/schemas.js';
import { uploadResponseSchema } from '../uploads/schemas.js';
import { ACCEPTED_TYPE_NAMES } from '../uploads/media-types.js';
import { MAX_FILE_PARTS } from '../uploads/multipart-intake.js';
import { PACKAGE_VERSION } from '../version.js';
import { deliveryAttemptSchema } from '../webhooks/deliveries.js';
import { errors, idempotencyKeyParam, idParam, json, queryParameters, ref, toSchema } from './openapi-parts.js';
import { creditsSchema } from './routes/credits.js';
import { listQuerySchema } from './routes/jobs.js';

const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string().describe('SCREAMING_SNAKE error code'),
  message: z.string(),
});
const webhookTestBody = z.object({ url: z.string(), type: z.string().optional() });
const webhookTestResult = z.object({
  status_code: z.number().int().nullable(),
  response_body: z.string(),
  duration_ms: z.number().int(),
  webhook_id: z.string(),
  webhook_timestamp: z.string(),
  signed_content: z.string(),
  signature: z.string(),
  error: z.string().nullable(),
});

const binary = { type: 'string', format: 'binary' };
const multipartJob = {
  type: 'object',
  required: ['job'],
  properties: {
    job: { type: 'string', contentMediaType: 'application/json', description: 'the JSON body (CreateJob), at most 1 MiB' },
    files: { type: 'array', maxItems: MAX_FILE_PARTS, items: binary, description: 'any number of file parts (any field name); they become sources in order, after the JSON ones' },
  },
};
const multipartUpload = { type: 'object', required: ['file'], properties: { file: { ...binary, description: `one of: ${ACCEPTED_TYPE_NAMES}` } } };
const page = (item: string) => ({
  type: 'object',
  required: ['data', 'next_cursor'],
  properties: { data: { type: 'array', items: ref(item) }, next_cursor: { type: ['string', 'null'] } },
});
const dataList = (item: string) => ({ type: 'object', required: ['data'], properties: { data: { type: 'array', items: ref(item) } } });
const op = (tag: string, operationId: string, summary: string, rest: Record<string, unknown>) => ({ tags: [tag], operationId, summary, ...rest });
const publicOp = (operationId: string, summary: string, responses: Record<string, unknown>) =>
  op('operations', operationId, summary, { security: [], responses: { ...responses, ...errors(431) } });

function paths() {
  return {
    '/v1/jobs': {
      post: op('jobs', 'createJob', 'Create a video job (JSON, or multipart with a `job` field and file parts)', {
        description:
          'Referenced upload ids must exist and belong to the caller (404 UPLOAD_NOT_FOUND naming `sources.N.upload_id`). ' +
          'Multipart files are staged like POST /v1/uploads (same type and size checks) and removed again if the request fails.',
        parameters: [idempotencyKeyParam],
        requestBody: { required: true, content: { ...json(ref('CreateJob')), 'multipart/form-data': { schema: multipartJob } } },
        responses: {
          '202': { description: 'job accepted', content: json(ref('Job')) },
          '200': {
            description: 'idempotent replay: the job the first request with this Idempotency-Key created',
            headers: { 'Idempotent-Replayed': { description: 'always true on a replay', schema: { type: 'string', enum: ['true'] } } },
            content: json(ref('Job')),
          },
          ...errors(400, 401, 404, 409, 413, 415, 422, 431),
        },
      }),
      get: op('jobs', 'listJobs', 'List the tenant’s jobs, newest first (cursor pagination, stable under concurrent inserts)', {
        parameters: queryParameters(listQuerySchema, { cursor: 'the next_cursor of the previous page' }),
        responses: { '200': { description: 'a page of jobs', content: json(page('Job')) }, ...errors(400, 401, 431) },
      }),
    },
    '/v1/jobs/{id}': {
      get: op('jobs', 'getJob', 'Get a job', { parameters: [idParam], responses: { '200': { description: 'the job', content: json(ref('Job')) }, ...errors(401, 404, 431) } }),
    },
    '/v1/jobs/{id}/cancel': {
      post: op('jobs', 'cancelJob', 'Cancel a job', { parameters: [idParam], responses: { '200': { description: 'the job', content: json(ref('Job')) }, ...errors(401, 404, 409, 431) } }),
    },
    '/v1/jobs/{id}/revisions': {
      post: op('jobs', 'reviseJob', "Continue a succeeded job's upstream session with a new instruction and render again", {
        description: 'The parent must have succeeded (409 PARENT_NOT_SUCCEEDED otherwise); a revision of a revision continues the same session.',
        parameters: [idParam],
        requestBody: { required: true, content: json(ref('Revision')) },
        responses: { '202': { description: 'the new job, with parent_id', content: json(ref('Job')) }, ...errors(400, 401, 404, 409, 431) },
      }),
    },
    '/v1/jobs/{id}/events': {
      get: op('jobs', 'jobEvents', "The job's events: text/event-stream (honours Last-Event-ID), or JSON with Accept: application/json", {
        parameters: [idParam, { name: 'after', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } }],
        responses: {
          '200': { description: 'events', content: { ...json(dataList('Event')), 'text/event-stream': { schema: { type: 'string' } } } },
          ...errors(400, 401, 404, 431),
        },
      }),
    },
    '/v1/jobs/{id}/deliveries': {
      get: op('webhooks', 'jobDeliveries', 'Every webhook delivery attempt of the job', {
        parameters: [idParam],
        responses: { '200': { description: 'attempts', content: json(dataList('DeliveryAttempt')) }, ...errors(401, 404, 431) },
      }),
    },
    '/v1/jobs/{id}/deliveries/redeliver': {
      post: op('webhooks', 'redeliver', "Re-send the job's latest event with the same webhook-id", {
        parameters: [idParam],
        responses: { '202': { description: 'queued' }, ...errors(400, 401, 404, 431) },
      }),
    },
    '/v1/uploads': {
      post: op('uploads', 'upload', 'Stage a file (multipart, one file part named file)', {
        description: 'Streamed to the staging store; the type is judged by the bytes. Staged files are removed when the jobs using them end, or after 7 days unused.',
        requestBody: { required: true, content: { 'multipart/form-data': { schema: multipartUpload } } },
        responses: { '201': { description: 'staged', content: json(ref('Upload')) }, ...errors(400, 401, 413, 415, 431) },
      }),
    },
    '/v1/webhook-secret': {
      get: op('webhooks', 'webhookSecret', "The tenant's whsec_ signing secret", {
        responses: { '200': { description: 'secret', content: json({ type: 'object', properties: { secret: { type: 'string' } } }) }, ...errors(401, 431) },
      }),
    },
    '/v1/webhook-secret/rotate': {
      post: op('webhooks', 'rotateWebhookSecret', 'Rotate the signing secret; the old one keeps signing during the grace period', {
        responses: {
          '200': { description: 'new secret', content: json({ type: 'object', properties: { secret: { type: 'string' }, previous_valid_until: { type: 'string' } } }) },
          ...errors(400, 401, 431),
        },
      }),
    },
    '/v1/webhooks/test': {
      post: op('webhooks', 'testWebhook', 'Send a signed sample delivery and show what was signed and what the receiver answered', {
        requestBody: { required: true, content: json(ref('WebhookTest')) },
        responses: { '200': { description: 'result', content: json(ref('WebhookTestResult')) }, ...errors(400, 401, 431) },
      }),
    },
    '/v1/credits': {
      get: op('operations', 'credits', 'The upstream credit balance (cached for 10 s)', {
        responses: { '200': { description: 'balance', content: json(ref('Credits')) }, ...errors(401, 431, 502) },
      }),
    },
    '/healthz': { get: publicOp('healthz', 'Liveness', { '200': { description: 'alive' } }) },
    '/readyz': { get: publicOp('readyz', 'Readiness (Redis reachable with noeviction)', { '200': { description: 'ready' }, ...errors(503) }) },
    '/metrics': { get: publicOp('metrics', 'Prometheus metrics', { '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } }) },
    '/openapi.json': { get: publicOp('openapi', 'This document (the same as the committed openapi.yaml)', { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } }) },
    '/docs': { get: publicOp('docs', 'A browsable page rendering this document (self-contained, no CDN)', { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } }) },
  };
}

export function buildOpenApi(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'nemo-relay',
      version: PACKAGE_VERSION,
      description: 'Queue-backed NemoVideo relay: submit video jobs, follow them, receive signed webhooks.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'the nemo-relay API that serves this document' }],
    security: [{ bearer: [] }],
    tags: [
      { name: 'jobs', description: 'Create, follow, list, cancel and revise video jobs' },
      { name: 'uploads', description: 'Stage local files to use as job sources' },
      { name: 'webhooks', description: 'Signing secret, test deliveries and the delivery log' },
      { name: 'operations', description: 'Probes, metrics, credits and this document' },
    ],
    paths: paths(),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key from API_KEYS' } },
      schemas: {
        CreateJob: toSchema(createJobBodySchema, 'input'),
        Revision: toSchema(revisionBodySchema, 'input'),
        Job: toSchema(jobSchema),
        Event: toSchema(eventSchema),
        DeliveryAttempt: toSchema(deliveryAttemptSchema),
        Upload: toSchema(uploadResponseSchema),
        Credits: toSchema(creditsSchema),
        WebhookTest: toSchema(webhookTestBody, 'input'),
        WebhookTestResult: toSchema(webhookTestResult),
        Error: toSchema(errorSchema),
      },
    },
  };
}
