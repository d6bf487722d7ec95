// JSON with object keys sorted at every level: equal values give equal text whatever their key order.
/**
 * Both uses store what it gives (Idempotency-Key fingerprints for 24 h, a message's state fingerprint in the flow
 * checkpoint), so the text must never change: `canonicalReference` in test/unit/idempotency-fingerprint.test.ts is
 * the first version's. Built by appending to one string, without entries/filter/sort/map/join arrays per object.
 */
/** Object keys as JSON strings, kept for the few names bodies repeat (bounded: metadata keys are the caller's). */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 1_000;

// Why: the same few keys are quoted on every create's fingerprint; a lookup is cheaper than JSON.stringify each time.
function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < QUOTED_KEYS_MAX) quotedKeys.set(key, quoted);
  }
  return quoted;
}

export function canonicalJson(value: unknown): string {
  // Why the string case first: most values are strings; the same text as the general case below.
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  // Default sort order is UTF-16 code units, the same order as comparing the strings with < and >.
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = obj[key];
    if (v === undefined) continue;
    // Anything appended makes `out` longer than its '{': a comma before every entry but the first.
    if (out.length > 1) out += ',';
    out += quoteKey(key) + ':' + canonicalJson(v);
  }
  return out + '}';
}
