// JSON with object keys sorted at every level: equal values give equal text whatever their key order.
/**
 * Both uses store what it gives (Idempotency-Key fingerprints for 24 h, a message's state fingerprint in the flow
 * checkpoint), so the text must never change: `canonicalReference` in test/unit/idempotency-fingerprint.test.ts is
 * the first version's. Built by appending to one string, without entries/filter/sort/map/join arrays per object.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  // Default sort order is UTF-16 code units, the same order as comparing the strings with < and >.
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}
