// Byte ranges: the HTTP `Range: bytes=…` header (RFC 9110 §14) resolved against an object's size.
import { StorageError } from './errors.js';
import type { ByteRange } from './types.js';

export type RangeRequest =
  /** No usable Range: serve the whole object (absent, not `bytes`, malformed, or several ranges). */
  | { kind: 'whole' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

const SINGLE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/**
 * One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`. RFC 9110 lets a server ignore a Range it does not want to
 * honour: malformed ones and multi-range requests (`bytes=0-1,5-6`) get the whole object with 200, which every
 * client handles, instead of a multipart/byteranges body. Unsatisfiable means: the start lies at or past the end
 * (however large), a suffix of 0 bytes, or any range of an empty object.
 */
export function parseRangeHeader(header: string | undefined, sizeBytes: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const match = SINGLE.exec(header);
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return { kind: 'whole' };
    if (suffix === 0 || sizeBytes === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, sizeBytes - suffix), end: sizeBytes - 1 } };
  }
  // An end before the start makes the range invalid (ignored: the whole object), compared exactly whatever the sizes.
  if (last !== '' && BigInt(last) < BigInt(first)) return { kind: 'whole' };
  const start = Number(first);
  // A start too large for a safe integer lies past the end of any object: as unsatisfiable as `bytes=<size>-`.
  if (!Number.isSafeInteger(start)) return { kind: 'unsatisfiable' };
  // No end, or one past any object's size: to the end of this one.
  const end = last === '' ? Number.MAX_SAFE_INTEGER : Math.min(Number(last), Number.MAX_SAFE_INTEGER);
  if (start >= sizeBytes) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end: Math.min(end, sizeBytes - 1) } };
}

/** Checks an absolute inclusive range against the size: the end is clamped, a start past the end is refused. */
export function resolveRange(range: ByteRange, sizeBytes: number): ByteRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || start >= sizeBytes) {
    throw new StorageError('RANGE_NOT_SATISFIABLE', `range ${start}-${end} is outside the object of ${sizeBytes} bytes`);
  }
  return { start, end: Math.min(end, sizeBytes - 1) };
}
