// nestsDeeperThan: nesting depth of parsed JSON, without recursion.
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../src/core/json-nesting.js';

function nestedObjects(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { a: value, b: [1, 2] };
  return value;
}

describe('nestsDeeperThan', () => {
  it('counts arrays and objects as levels, and scalars as none', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan(null, 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({}, 1)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 2)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
  });

  it('finds the deepest branch wherever it is', () => {
    expect(nestsDeeperThan({ shallow: 1, deep: nestedObjects(10) }, 10)).toBe(true);
    // The array, eight objects and the innermost object's `b` array: ten levels.
    expect(nestsDeeperThan([nestedObjects(3), 1, nestedObjects(8)], 10)).toBe(false);
  });

  it('answers for nesting far beyond what the call stack allows', () => {
    const deep = nestedObjects(200_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(nestsDeeperThan(deep, 2048)).toBe(true);
  });
});
