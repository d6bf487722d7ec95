// Range header parsing (RFC 9110) and the key rules every driver shares.
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { assertValidKey, assertValidPrefix, outputKey } from '../../src/storage/keys.js';
import { parseRangeHeader, resolveRange } from '../../src/storage/range.js';

describe('parseRangeHeader', () => {
  const size = 1000;
  it.each([
    ['bytes=0-0', { start: 0, end: 0 }],
    ['bytes=0-499', { start: 0, end: 499 }],
    ['bytes=500-', { start: 500, end: 999 }],
    ['bytes=-1', { start: 999, end: 999 }],
    ['bytes=-2000', { start: 0, end: 999 }],
    ['bytes=900-5000', { start: 900, end: 999 }],
    ['bytes=500-99999999999999999999', { start: 500, end: 999 }],
    ['bytes = 10 - 20', { start: 10, end: 20 }],
    ['BYTES=1-2', { start: 1, end: 2 }],
  ])('%s → partial', (header, range) => {
    expect(parseRangeHeader(header, size)).toEqual({ kind: 'partial', range });
  });

  it.each(['bytes=1000-', 'bytes=1000-1001', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=99999999999999999999-99999999999999999999'])('%s → unsatisfiable', (header) => {
    expect(parseRangeHeader(header, size)).toEqual({ kind: 'unsatisfiable' });
  });

  it.each([undefined, 'bytes=0-1,5-6', 'bytes=5-1', 'bytes=99999999999999999999-5', 'items=0-1', 'bytes=abc', 'bytes=-', ''])('%s → whole', (header) => {
    expect(parseRangeHeader(header, size)).toEqual({ kind: 'whole' });
  });

  it('treats any range of an empty object as unsatisfiable', () => {
    expect(parseRangeHeader('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRangeHeader('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('resolveRange clamps the end and refuses a start past it', () => {
    expect(resolveRange({ start: 5, end: 50 }, 10)).toEqual({ start: 5, end: 9 });
    expect(() => resolveRange({ start: 10, end: 10 }, 10)).toThrow(StorageError);
  });
});

describe('storage keys', () => {
  it.each(['a', 'acme/job_01J.mp4', '.tenant/job.mp4', 'a/b/c-d_e.f'])('accepts %s', (key) => {
    expect(() => assertValidKey(key)).not.toThrow();
  });

  it.each(['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a\\b', 'a/b~meta.json', 'é', 'a/b/', 'x'.repeat(600)])(
    'refuses %s',
    (key) => {
      expect(() => assertValidKey(key)).toThrow(expect.objectContaining({ code: 'STORAGE_KEY_INVALID' }));
    },
  );

  it('checks prefixes and builds output keys per tenant', () => {
    expect(() => assertValidPrefix('acme/')).not.toThrow();
    expect(() => assertValidPrefix('acme/job_')).not.toThrow();
    expect(() => assertValidPrefix('../')).toThrow(StorageError);
    expect(() => assertValidPrefix('/abs')).toThrow(StorageError);
    expect(outputKey('acme', 'job_01J')).toBe('acme/job_01J.mp4');
    expect(() => outputKey('..', 'job_01J')).toThrow(StorageError);
  });
});
