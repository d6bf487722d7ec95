// A deep copy of plain data such as a job record: what structuredClone gives for it, at a fraction of the cost.

/**
 * Copies objects of Object.prototype and arrays key by key (same keys, same order, undefined values kept, holes kept);
 * anything else that is an object (a Date, a Map, a class instance) goes to structuredClone. Unlike structuredClone it
 * does not keep two references to one object as one (a record is JSON-shaped: none) and it passes functions through
 * instead of refusing them. JobRun copies its record once per commit with it, JobStore.update once per update
 * (test/unit/copy-plain.test.ts).
 */
export function copyPlain<T>(value: T): T {
  return copy(value) as T;
}

function copy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  // map keeps holes and length as they are.
  if (Array.isArray(value)) return Object.getPrototypeOf(value) === Array.prototype ? value.map(copy) : structuredClone(value);
  if (Object.getPrototypeOf(value) !== Object.prototype) return structuredClone(value);
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    // An own `__proto__` key (JSON.parse makes one) must stay a key, not become the copy's prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: copy(source[key]), enumerable: true, writable: true, configurable: true });
    else out[key] = copy(source[key]);
  }
  return out;
}
