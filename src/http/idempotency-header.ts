// The Idempotency-Key of a request, refusing one sent twice (Node joins repeated headers into one "a, b" value).
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';
import { parseIdempotencyKey } from '../jobs/idempotency.js';

/**
 * Node hands a repeated custom header over as one value joined with ", ", so a client sending the key twice got a job
 * keyed on "a, b", deduplicated against neither. Only a value with a comma can be such a join: the raw headers are
 * looked at for those alone.
 */
export function idempotencyKeyOf(request: Pick<FastifyRequest, 'headers' | 'raw'>): string | null {
  const value = request.headers['idempotency-key'];
  if (typeof value === 'string' && value.includes(',') && sentMoreThanOnce(request.raw.rawHeaders, 'idempotency-key')) {
    throw new AppError('VALIDATION_FAILED', 'Idempotency-Key: send the header once');
  }
  return parseIdempotencyKey(value);
}

function sentMoreThanOnce(rawHeaders: readonly string[], lowerName: string): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === lowerName.length && rawHeaders[i]!.toLowerCase() === lowerName && ++seen > 1) return true;
  }
  return false;
}
