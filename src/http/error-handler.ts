// One error handler for the API: the contract's error body, 5xx without internals, Fastify's own errors mapped to codes.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, callerMessage, type ErrorCode } from '../core/errors.js';
import { isRedisOutage } from '../redis/availability.js';
import { describeIssue } from './validation.js';

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

const FASTIFY_CODES: Record<string, { status: number; code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'VALIDATION_FAILED', message: 'body: must be a JSON object' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'VALIDATION_FAILED', message: 'invalid Content-Length' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'VALIDATION_FAILED', message: 'body: invalid JSON' },
  FST_ERR_INVALID_URL: { status: 400, code: 'VALIDATION_FAILED', message: 'invalid URL' },
  FST_ERR_BAD_URL: { status: 400, code: 'VALIDATION_FAILED', message: 'invalid URL' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 400, code: 'VALIDATION_FAILED', message: 'path: a parameter is longer than 200 characters' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'UPLOAD_TOO_LARGE' },
  FST_FILES_LIMIT: { status: 400, code: 'VALIDATION_FAILED', message: 'too many files' },
  FST_PARTS_LIMIT: { status: 400, code: 'VALIDATION_FAILED', message: 'too many multipart parts' },
  FST_FIELDS_LIMIT: { status: 400, code: 'VALIDATION_FAILED', message: 'too many multipart fields' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 400, code: 'VALIDATION_FAILED', message: 'body: not multipart' },
};

/**
 * Why Fastify's JSON parser (secure-json-parse) refused a body, which it reports only as FST_ERR_CTP_INVALID_JSON_BODY:
 * valid JSON with a `__proto__` key or a `constructor` object holding a `prototype` key is refused for that (prototype
 * poisoning), not for its syntax. Answers the refusal to send instead (400 VALIDATION_FAILED saying why), or the
 * parser's own error when the text is not JSON at all.
 */
export function explainJsonRefusal(err: Error, text: string): Error {
  if ((err as Partial<FastifyError>).code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return err;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return err;
  }
  let constructorPrototype = false;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Object.hasOwn(node, '__proto__')) return new AppError('VALIDATION_FAILED', 'body: must not contain a "__proto__" key');
    const ctor: unknown = Object.hasOwn(node, 'constructor') ? (node as { constructor: unknown }).constructor : undefined;
    if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) constructorPrototype = true;
    pending.push(...Object.values(node));
  }
  if (constructorPrototype) return new AppError('VALIDATION_FAILED', 'body: must not contain a "constructor" object with a "prototype" key');
  return err;
}

/** Where a schema failure happened, as the contract's messages name it. */
const ROOTS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/** A route schema refused the request: 400 VALIDATION_FAILED naming the field, as hand-written parsing did. */
function validationBody(err: FastifyError & { validation: { instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }[] }): ErrorBody {
  const root = ROOTS[err.validationContext ?? 'body'] ?? 'body';
  const message = err.validation
    .slice(0, 5)
    .map((v) => {
      const path = v.instancePath.split('/').filter(Boolean);
      return describeIssue({ code: v.keyword, path, message: v.message ?? 'invalid', keys: v.params.keys as string[] | undefined }, root);
    })
    .join('; ');
  return { statusCode: 400, code: 'VALIDATION_FAILED', message };
}

export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof AppError) return { statusCode: err.statusCode, code: err.code, message: callerMessage(err) };
  if (hasZodFastifySchemaValidationErrors(err)) return validationBody(err as never);
  const fe = err as Partial<FastifyError>;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) return { statusCode: known.status, code: known.code, message: known.message ?? fe.message ?? known.code };
  // Redis went away mid-request (a failover, a restart): the caller may retry shortly, as when it was away before.
  if (isRedisOutage(err)) return { statusCode: 503, code: 'NOT_READY', message: 'the job store (Redis) is unavailable; retry shortly' };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // JSON parse errors and similar client faults carry a 4xx from Fastify itself.
    // A path the static file server refuses (a ../ out of the console's directory) is a file that is not there.
    if (fe.statusCode === 403 || fe.statusCode === 404) return { statusCode: 404, code: 'NOT_FOUND', message: 'no such file' };
    const code: ErrorCode = fe.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'VALIDATION_FAILED';
    return { statusCode: fe.statusCode, code, message: fe.message ?? 'bad request' };
  }
  return { statusCode: 500, code: 'INTERNAL', message: 'internal error' };
}

/**
 * Whole seconds an AppError asks the caller to wait (`retryAfterS`, e.g. the HEIC queue being full), for Retry-After;
 * a 429 always carries one (1 s unless it says).
 */
function retryAfterOf(err: unknown): number | null {
  if (!(err instanceof AppError)) return null;
  const seconds = err.retryAfterS ?? (err.code === 'RATE_LIMITED' ? 1 : null);
  return seconds !== null && Number.isInteger(seconds) && seconds > 0 ? seconds : null;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => {
    const body = toErrorBody(err);
    // A body of a type the route does not parse: name the types this route takes.
    const types = request.routeOptions.config.bodyTypes;
    if ((err as Partial<FastifyError>).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' && types) body.message = `send ${types}`;
    // NOT_READY is Redis away (a restart, a failover): one line per request, not a stack trace each.
    if (body.code === 'NOT_READY') request.log.warn({ reason: body.message }, 'request refused: not ready');
    else if (body.statusCode >= 500) request.log.error({ err }, 'request failed');
    const retryAfter = retryAfterOf(err);
    if (retryAfter !== null) void reply.header('retry-after', String(retryAfter));
    void reply.status(body.statusCode).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}

/** Fastify refuses bad URLs and over-long path parameters before routing; `frameworkErrors` gives them the contract's body. */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const body = toErrorBody(err);
  // Before routing no hook has run: the no-store every other error answer carries (an answer to a key) is set here.
  void reply.header('cache-control', 'no-store');
  void reply.status(body.statusCode).send(body);
}
