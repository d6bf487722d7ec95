// Job ids' base-32 digits: the BigInt-free encoder gives exactly what the BigInt one gave, so ids keep their order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createUlid, encode } from '../../src/jobs/ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The first version (BigInt), kept as the reference. */
function encodeReference(bytes: Uint8Array, chars: number): string {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

describe('ids: encode', () => {
  it('equals the BigInt reference for any bytes and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 12 }), fc.integer({ min: 0, max: 24 }), (bytes, chars) => encode(bytes, chars) === encodeReference(bytes, chars)),
      { numRuns: 5000 },
    );
    expect(encode(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 10)).toBe(encodeReference(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 10));
  });

  it('ulid: time digits first, strictly increasing within one millisecond', () => {
    // A generator of its own: explicit future times must not move the process's (every other file's ids would carry them).
    const ulid = createUlid();
    const now = Date.UTC(2030, 0, 1);
    const ids = Array.from({ length: 500 }, () => ulid(now));
    expect(ids.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    expect(ids[0]!.slice(0, 10)).toBe(encodeReference(Uint8Array.from([0, 0, 0, 0, 0, 0].map((_, i) => Math.floor(now / 256 ** (5 - i)) % 256)), 10));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ulid: each new millisecond draws fresh random bytes (200 ms in a row: the 1 KB pool refills on the way)', () => {
    const ulid = createUlid();
    const start = Date.UTC(2031, 0, 1);
    const randoms = Array.from({ length: 200 }, (_, i) => ulid(start + i).slice(10));
    expect(new Set(randoms).size).toBe(randoms.length);
  });

  it('ulid: a clock that steps back keeps ids increasing; generators do not share their clocks', () => {
    const ulid = createUlid();
    const later = ulid(Date.UTC(2032, 0, 1));
    const stepBack = ulid(Date.UTC(2032, 0, 1) - 5_000);
    expect(stepBack > later).toBe(true);
    expect(stepBack.slice(0, 10)).toBe(later.slice(0, 10));
    const other = createUlid()(Date.UTC(2020, 0, 1));
    expect(other < later).toBe(true);
  });
});
