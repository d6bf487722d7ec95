// The Idempotency-Key fingerprint: the one-pass canonical JSON gives exactly the text the first version gave.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { fingerprint } from '../../src/jobs/idempotency.js';

/** The first version, kept here as the reference: stored entries carry fingerprints of this text for 24 h. */
function canonicalReference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalReference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalReference(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** JSON-like values with undefined fields and array holes, odd keys (unicode, quotes, numeric-looking) and -0. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant(-0)),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('10', '2', '__proto__x', 'a"b', 'é', 'Z', 'a')), tie('node'), { maxKeys: 6 }),
  ),
})).node;

describe('Idempotency-Key fingerprint', () => {
  it('canonical text equals the reference for any JSON-like value', () => {
    fc.assert(fc.property(value, (v) => canonicalJson(v) === canonicalReference(v)), { numRuns: 2000 });
  });

  it('ignores key order and undefined fields, and tells different bodies apart', () => {
    const a = { instruction: 'x', metadata: { b: 1, a: [1, { d: 2, c: 3 }] }, gone: undefined };
    const b = { metadata: { a: [1, { c: 3, d: 2 }], b: 1 }, instruction: 'x' };
    expect(canonicalJson(a)).toBe('{"instruction":"x","metadata":{"a":[1,{"c":3,"d":2}],"b":1}}');
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(fingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint({ ...b, instruction: 'y' })).not.toBe(fingerprint(b));
  });
});
