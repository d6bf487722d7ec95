// toErrorBody: the framework's own 4xx answers in the contract's terms (a refused static path is a missing file).
import { describe, expect, it } from 'vitest';
import { toErrorBody } from '../../src/http/error-handler.js';

const frameworkError = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

describe('toErrorBody for errors Fastify and its plugins raise with a status', () => {
  it('answers a path the static server refuses (403, a ../ out of its directory) as 404 NOT_FOUND, like a missing file', () => {
    // It was 403 with code VALIDATION_FAILED and message "Forbidden".
    expect(toErrorBody(frameworkError(403, 'Forbidden'))).toEqual({ statusCode: 404, code: 'NOT_FOUND', message: 'no such file' });
    expect(toErrorBody(frameworkError(404, 'Not Found'))).toEqual({ statusCode: 404, code: 'NOT_FOUND', message: 'no such file' });
  });

  it('keeps 413 as PAYLOAD_TOO_LARGE and other 4xx as VALIDATION_FAILED with their message', () => {
    expect(toErrorBody(frameworkError(413, 'too big'))).toMatchObject({ statusCode: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(toErrorBody(frameworkError(400, 'bad range'))).toEqual({ statusCode: 400, code: 'VALIDATION_FAILED', message: 'bad range' });
  });
});
