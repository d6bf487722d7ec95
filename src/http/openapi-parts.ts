// Building blocks of the OpenAPI document: zod → JSON Schema, refs, error responses naming their codes, shared parameters.
import { z } from 'zod';
import { IDEMPOTENCY_KEY_MAX } from '../jobs/idempotency.js';

export const toSchema = (schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
};

/** Query parameters from a zod object schema: the routes parse with the same schema, so the two cannot drift. */
export function queryParameters(schema: z.ZodObject, descriptions: Record<string, string> = {}) {
  const json = toSchema(schema, 'input') as { properties: Record<string, object>; required?: string[] };
  return Object.entries(json.properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    ...(descriptions[name] ? { description: descriptions[name] } : {}),
    schema: property,
  }));
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: object) => ({ 'application/json': { schema } });

/** What each status means here, with the codes a caller can branch on. */
const ERROR_TEXT: Record<number, string> = {
  400: 'VALIDATION_FAILED — the message names the field (limits: instruction and follow-ups 1–4,000 chars, ≤ 10 follow-ups, ≤ 50 sources, metadata ≤ 4 KiB as JSON, URLs http/https ≤ 2,048 chars, Idempotency-Key ≤ 255 printable ASCII chars)',
  401: 'UNAUTHORIZED — missing or unknown API key',
  404: 'NOT_FOUND / JOB_NOT_FOUND / UPLOAD_NOT_FOUND — also for another tenant’s resources',
  409: 'JOB_FINISHED / PARENT_NOT_SUCCEEDED / IDEMPOTENCY_KEY_IN_USE (retry shortly)',
  413: 'PAYLOAD_TOO_LARGE (JSON body over 1 MiB) / UPLOAD_TOO_LARGE (a file over UPLOAD_MAX_BYTES)',
  415: 'UNSUPPORTED_MEDIA_TYPE — a file whose bytes are not one of mp4 mov avi webm mkv jpg png gif webp mp3 wav m4a aac (HEIC: convert to JPG), or a body that is neither JSON nor multipart',
  422: 'IDEMPOTENCY_KEY_REUSED — the key was used with a different body within 24 h',
  431: 'HEADERS_TOO_LARGE — the request line and headers exceed 16 KiB',
  502: 'UPSTREAM_UNAVAILABLE — the video service did not answer',
  503: 'NOT_READY — the reason is in the message',
};

export const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_TEXT[c] ?? `error ${c}`, content: json(ref('Error')) }]));

export const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^job_[0-9A-Z]{26}$' } };

export const idempotencyKeyParam = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes creation safe to retry: the same key with the same body within 24 h returns the first job (200, Idempotent-Replayed: true); ' +
    'with a different body 422 IDEMPOTENCY_KEY_REUSED; while the first request is still being processed a second one waits up to 5 s, then 409 IDEMPOTENCY_KEY_IN_USE. Scoped to the tenant.',
  schema: { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX, pattern: '^[ -~]+$' },
};
