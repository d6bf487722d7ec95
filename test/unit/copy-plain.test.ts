// copyPlain (src/core/copy-plain.ts) gives what structuredClone gives for plain data: values, key order, undefined, holes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyPlain } from '../../src/core/copy-plain.js';

/**
 * Every key path in order, with undefined values, holes and prototypes told apart (toStrictEqual does not compare key
 * order, and takes an own `constructor` key for the type).
 */
function shape(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value === undefined ? '<undefined>' : Object.is(value, -0) ? '<-0>' : value;
  if (value instanceof Date) return ['<date>', value.getTime()];
  if (Array.isArray(value)) return ['<array>', value.length, Object.keys(value), ...value.map(shape)];
  const proto = Object.getPrototypeOf(value) === Object.prototype ? '<object>' : '<other>';
  return [proto, ...Object.keys(value).map((k) => [k, shape((value as Record<string, unknown>)[k])])];
}

/** Record-like data: JSON values, undefined fields, sparse arrays, numeric and `__proto__` keys, the odd Date. */
const plain: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(undefined, null, true, false, 0, -0, NaN, 1.5, 'x', ''),
    fc.string(),
    fc.double(),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.sparseArray(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', '0', '10', 'constructor', 'v')), tie('value'), { maxKeys: 6 }),
  ),
})).value;

describe('copyPlain', () => {
  it('equals structuredClone for plain data, key order, undefined values and holes included', () => {
    fc.assert(
      fc.property(plain, (value) => {
        const copy = copyPlain(value);
        expect(shape(copy)).toStrictEqual(shape(structuredClone(value)));
      }),
      { numRuns: 2000 },
    );
  });

  it('shares nothing with what it copied', () => {
    fc.assert(
      fc.property(plain, (value) => {
        const copy = copyPlain(value);
        const before = shape(value);
        const visit = (x: unknown): void => {
          if (typeof x !== 'object' || x === null) return;
          if (x instanceof Date) return void x.setTime(0);
          for (const k of Object.keys(x)) {
            visit((x as Record<string, unknown>)[k]);
            (x as Record<string, unknown>)[k] = 'changed';
          }
        };
        visit(copy);
        expect(shape(value)).toStrictEqual(before);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps an own __proto__ key a key and leaves the prototype alone', () => {
    const value = JSON.parse('{"a":1,"__proto__":{"polluted":true},"b":[1,{"__proto__":2}]}') as Record<string, unknown>;
    const copy = copyPlain(value);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['a', '__proto__', 'b']);
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined();
    expect(copy).toStrictEqual(structuredClone(value));
  });

  it('hands what is not plain data to structuredClone', () => {
    const when = new Date(1_700_000_000_000);
    const value = { when, map: new Map([['k', { n: 1 }]]), list: [when] };
    const copy = copyPlain(value);
    expect(copy).toStrictEqual(structuredClone(value));
    expect(copy.when).not.toBe(when);
    expect(copy.map).not.toBe(value.map);
  });
});
