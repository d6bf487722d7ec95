// Schemas every route shares: the error body, error responses per status (documented with their codes), path params.
import { z } from 'zod';
import { apiSchemas } from './registry.js';

export const errorSchema = apiSchemas.register(
  'Error',
  z.object({
    statusCode: z.number().int(),
    code: z.string().describe('SCREAMING_SNAKE error code'),
    message: z.string(),
  }),
);

/** What each status means here, with the codes a caller can branch on. */
const ERROR_TEXT: Record<number, string> = {
  400: 'VALIDATION_FAILED — the message names the field (limits: instruction and follow-ups 1–4,000 chars, ≤ 10 follow-ups, ≤ 50 sources, metadata ≤ 4 KiB as JSON, URLs http/https ≤ 2,048 chars, Idempotency-Key ≤ 255 printable ASCII chars)',
  401: 'UNAUTHORIZED — missing or unknown API key',
  403: 'FORBIDDEN — the key may not do this (admin routes need ADMIN_API_KEY) / a signed link that is expired or tampered with',
  404: 'NOT_FOUND / JOB_NOT_FOUND / UPLOAD_NOT_FOUND / BATCH_NOT_FOUND — also for another tenant’s resources',
  409: 'JOB_FINISHED / JOB_NOT_FINISHED / PARENT_NOT_SUCCEEDED / NOTHING_TO_REDELIVER / IDEMPOTENCY_KEY_IN_USE (retry shortly) / TENANT_EXISTS',
  413: 'PAYLOAD_TOO_LARGE (JSON body over 1 MiB) / UPLOAD_TOO_LARGE (a file over UPLOAD_MAX_BYTES)',
  415: 'UNSUPPORTED_MEDIA_TYPE — a file whose bytes are not one of the accepted types, or a body that is neither JSON nor multipart',
  408: 'REQUEST_TIMEOUT — the request (headers and body) was not received within HTTP_REQUEST_TIMEOUT_MS',
  416: 'RANGE_NOT_SATISFIABLE — the Range starts past the end of the file',
  422: 'IDEMPOTENCY_KEY_REUSED — the key was used with a different body within 24 h',
  429: 'RATE_LIMITED — too many requests for this tenant; Retry-After says when to come back',
  431: 'HEADERS_TOO_LARGE — the request line and headers exceed 16 KiB',
  502: 'UPSTREAM_UNAVAILABLE — the video service did not answer / UPSTREAM_AUTH_FAILED — it refused the account’s fixed token',
  503: 'NOT_READY — the reason is in the message',
};

interface ErrorResponse {
  description: string;
  content: { 'application/json': { schema: typeof errorSchema } };
}

/** The documented error responses of a route: the contract's error body (one $ref), described per status. */
export function errorResponses<const C extends readonly number[]>(...codes: C): { [K in C[number]]: ErrorResponse } {
  const out: Record<number, ErrorResponse> = {};
  for (const code of codes) {
    out[code] = { description: ERROR_TEXT[code] ?? `error ${code}`, content: { 'application/json': { schema: errorSchema } } };
  }
  return out as { [K in C[number]]: ErrorResponse };
}

/** Methods whose body Fastify parses: a body too large (413) or of a type the route does not take (415) is refused there. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The admin key acts for the tenant its X-Tenant header names (app.ts): one naming no tenant is 404 on every /v1 route. */
export const ACTING_TENANT_NOT_FOUND = 'TENANT_NOT_FOUND — the admin key’s X-Tenant header names no tenant';

/**
 * Adds to a documented route the errors answered before its handler runs, so the document lists every status the route
 * can answer: on every route 400 (a request Node's parser or the app refuses whatever the route: no Host header, an
 * Expect other than 100-continue, a malformed Content-Length), 408 (not received within HTTP_REQUEST_TIMEOUT_MS) and
 * 431 (oversized headers); 404 TENANT_NOT_FOUND on the /v1 routes (the admin key's X-Tenant naming no tenant, refused
 * before the handler); and where the route documents errors, 413 and 415 where a body is parsed.
 */
export function documentFrameworkErrors(route: { method: string | string[]; url?: string; schema?: Record<string, unknown> }): void {
  const response = route.schema?.response as Record<string, unknown> | undefined;
  if (!response) return;
  const codes: number[] = [400, 408, 431];
  if (Object.keys(response).some((status) => Number(status) >= 400) && [route.method].flat().some((m) => BODY_METHODS.has(m))) codes.push(413, 415);
  const all: Record<string, unknown> = { ...response, ...errorResponses(...codes.filter((code) => !(code in response))) };
  if (route.url?.startsWith('/v1/')) {
    // One 404 entry: the route's own not-found codes and the acting tenant's (the same error body).
    const own = all[404] as ErrorResponse | undefined;
    all[404] = own
      ? { ...own, description: own.description.includes(ACTING_TENANT_NOT_FOUND) ? own.description : `${own.description}; ${ACTING_TENANT_NOT_FOUND}` }
      : { description: ACTING_TENANT_NOT_FOUND, content: { 'application/json': { schema: errorSchema } } };
  }
  // In status order, as written by hand.
  for (const key of Object.keys(response)) delete response[key];
  for (const key of Object.keys(all).sort((a, b) => Number(a) - Number(b))) response[key] = all[key];
}

/** A documented success response with its own description (the document needs one per status). */
export function described<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } };
}

export const JOB_ID_PATTERN = /^job_[0-9A-Z]{26}$/;

/** Path ids are checked by the handlers (an unknown id is 404, never 400), so only their length is bounded here. */
export const idParams = z.object({ id: z.string().max(64).describe('the resource id, e.g. job_01J…') });

export const dataList = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });
