// The OpenAPI 3.1 document, generated from the same zod schemas the routes parse with; committed as openapi.yaml.
import { z } from 'zod';
import { createJobBodySchema, eventSchema, JOB_STATUSES, jobSchema, revisionBodySchema } from '../jobs/schemas.js';
import { uploadResponseSchema } from '../uploads/schemas.js';
import { deliveryAttemptSchema } from '../webhooks/deliveries.js';
import { PACKAGE_VERSION } from '../version.js';

const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string().describe('SCREAMING_SNAKE error code'),
  message: z.string(),
});
const creditsSchema = z.object({ available: z.number(), frozen: z.number(), total: z.number() });
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

type Schema = z.ZodType;
const toSchema = (schema: Schema, io: 'input' | 'output' = 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: `error ${c}`, content: json(ref('Error')) }]));
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

export function buildOpenApi(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'nemo-relay',
      version: PACKAGE_VERSION,
      description: 'Queue-backed NemoVideo relay: submit video jobs, follow them, receive signed webhooks.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://localhost:8080' }],
    security: [{ bearer: [] }],
    tags: [{ name: 'jobs' }, { name: 'uploads' }, { name: 'webhooks' }, { name: 'operations' }],
    paths: {
      '/v1/jobs': {
        post: {
          tags: ['jobs'],
          operationId: 'createJob',
          summary: 'Create a video job (JSON, or multipart with a `job` field and file parts)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: {
            required: true,
            content: {
              ...json(ref('CreateJob')),
              'multipart/form-data': {
                schema: { type: 'object', properties: { job: { type: 'string', description: 'the JSON body' }, file: { type: 'string', format: 'binary' } } },
              },
            },
          },
          responses: {
            '202': { description: 'job accepted', content: json(ref('Job')) },
            '200': { description: 'idempotent replay of the first job', content: json(ref('Job')) },
            ...errors(400, 401, 413, 415, 422),
          },
        },
        get: {
          tags: ['jobs'],
          operationId: 'listJobs',
          summary: 'List jobs, newest first',
          parameters: [
            { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: [...JOB_STATUSES] } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'a page of jobs',
              content: json({ type: 'object', required: ['data', 'next_cursor'], properties: { data: { type: 'array', items: ref('Job') }, next_cursor: { type: ['string', 'null'] } } }),
            },
            ...errors(400, 401),
          },
        },
      },
      '/v1/jobs/{id}': {
        get: { tags: ['jobs'], operationId: 'getJob', summary: 'Get a job', parameters: [idParam], responses: { '200': { description: 'the job', content: json(ref('Job')) }, ...errors(401, 404) } },
      },
      '/v1/jobs/{id}/cancel': {
        post: { tags: ['jobs'], operationId: 'cancelJob', summary: 'Cancel a job', parameters: [idParam], responses: { '200': { description: 'the job', content: json(ref('Job')) }, ...errors(401, 404, 409) } },
      },
      '/v1/jobs/{id}/revisions': {
        post: {
          tags: ['jobs'],
          operationId: 'reviseJob',
          summary: "Continue a succeeded job's upstream session with a new instruction and render again",
          parameters: [idParam],
          requestBody: { required: true, content: json(ref('Revision')) },
          responses: { '202': { description: 'the new job', content: json(ref('Job')) }, ...errors(400, 401, 404, 409) },
        },
      },
      '/v1/jobs/{id}/events': {
        get: {
          tags: ['jobs'],
          operationId: 'jobEvents',
          summary: "The job's events: text/event-stream (honours Last-Event-ID), or JSON with Accept: application/json",
          parameters: [idParam, { name: 'after', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } }],
          responses: {
            '200': {
              description: 'events',
              content: { ...json({ type: 'object', properties: { data: { type: 'array', items: ref('Event') } } }), 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errors(401, 404),
          },
        },
      },
      '/v1/jobs/{id}/deliveries': {
        get: {
          tags: ['webhooks'],
          operationId: 'jobDeliveries',
          summary: 'Every webhook delivery attempt of the job',
          parameters: [idParam],
          responses: { '200': { description: 'attempts', content: json({ type: 'object', properties: { data: { type: 'array', items: ref('DeliveryAttempt') } } }) }, ...errors(401, 404) },
        },
      },
      '/v1/jobs/{id}/deliveries/redeliver': {
        post: { tags: ['webhooks'], operationId: 'redeliver', summary: "Re-send the job's latest event with the same webhook-id", parameters: [idParam], responses: { '202': { description: 'queued' }, ...errors(400, 401, 404) } },
      },
      '/v1/uploads': {
        post: {
          tags: ['uploads'],
          operationId: 'upload',
          summary: 'Stage a file (multipart, one part named file)',
          requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } } } },
          responses: { '201': { description: 'staged', content: json(ref('Upload')) }, ...errors(400, 401, 413, 415) },
        },
      },
      '/v1/webhook-secret': {
        get: { tags: ['webhooks'], operationId: 'webhookSecret', summary: "The tenant's whsec_ signing secret", responses: { '200': { description: 'secret', content: json({ type: 'object', properties: { secret: { type: 'string' } } }) }, ...errors(401) } },
      },
      '/v1/webhook-secret/rotate': {
        post: {
          tags: ['webhooks'],
          operationId: 'rotateWebhookSecret',
          summary: 'Rotate the signing secret; the old one keeps signing during the grace period',
          responses: { '200': { description: 'new secret', content: json({ type: 'object', properties: { secret: { type: 'string' }, previous_valid_until: { type: 'string' } } }) }, ...errors(400, 401) },
        },
      },
      '/v1/webhooks/test': {
        post: {
          tags: ['webhooks'],
          operationId: 'testWebhook',
          summary: 'Send a signed sample delivery and show what was signed and what the receiver answered',
          requestBody: { required: true, content: json(ref('WebhookTest')) },
          responses: { '200': { description: 'result', content: json(ref('WebhookTestResult')) }, ...errors(400, 401) },
        },
      },
      '/v1/credits': {
        get: { tags: ['operations'], operationId: 'credits', summary: 'The upstream credit balance', responses: { '200': { description: 'balance', content: json(ref('Credits')) }, ...errors(401, 502) } },
      },
      '/healthz': { get: { tags: ['operations'], operationId: 'healthz', security: [], summary: 'Liveness', responses: { '200': { description: 'alive' } } } },
      '/readyz': { get: { tags: ['operations'], operationId: 'readyz', security: [], summary: 'Readiness (Redis reachable with noeviction)', responses: { '200': { description: 'ready' }, ...errors(503) } } },
      '/metrics': { get: { tags: ['operations'], operationId: 'metrics', security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } } },
    },
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
