// Errors about the service's own configuration: callers get a plain message, never the detail (contract §3).
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { errorOfCrashedJob } from '../../src/flow/processor.js';
import { toErrorBody } from '../../src/http/error-handler.js';

const unopenable = () => new AppError('SECRETS_KEY_UNKNOWN', 'tenant ta has an upstream token but SECRETS_KEY is not configured here');

describe('a tenant token no configured key opens', () => {
  it('is answered 503 SECRETS_KEY_UNKNOWN without naming keys or settings', () => {
    const body = toErrorBody(unopenable());
    expect(body).toMatchObject({ statusCode: 503, code: 'SECRETS_KEY_UNKNOWN' });
    expect(body.message).toMatch(/operator/);
    expect(body.message).not.toMatch(/SECRETS_KEY|tenant ta/);
  });

  it('ends a job whose every attempt met it with that code and the same plain message; other crashes stay INTERNAL', () => {
    const error = errorOfCrashedJob(unopenable());
    expect(error).toMatchObject({ code: 'SECRETS_KEY_UNKNOWN', retryable: true });
    expect(error.message).not.toMatch(/SECRETS_KEY/);
    expect(errorOfCrashedJob(new Error('Cannot read properties of undefined'))).toEqual({
      code: 'INTERNAL',
      message: 'the job could not be processed',
      retryable: true,
    });
  });

  it('answers a storage failure without its directory, bucket or endpoint', () => {
    const body = toErrorBody(new AppError('STORAGE_FAILED', 'writing the output to /srv/nemo/outputs/acme failed (ENOSPC)'));
    expect(body).toMatchObject({ statusCode: 503, code: 'STORAGE_FAILED' });
    expect(body.message).not.toMatch(/srv|ENOSPC/);
  });

  it('leaves every other error its own message', () => {
    expect(toErrorBody(new AppError('JOB_NOT_FOUND', 'job job_1 not found')).message).toBe('job job_1 not found');
  });
});
