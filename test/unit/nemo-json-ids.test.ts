// The reviver pre-check of upstream JSON (nemo/http.ts): skipping the reviver never changes what a body parses to.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keepBigIds, mayHoldUnsafeId, parseJsonText, readBodyText } from '../../src/nemo/http.js';

const withReviver = (text: string): unknown => JSON.parse(text, keepBigIds as Parameters<typeof JSON.parse>[1]);
const ID_KEYS = ['session_id', 'sessionId', 'task_id', 'taskId', 'id', 'user_id'];

/** Numbers as JSON text: safe and unsafe integers, 15/16/19 digits, fractions, exponents, negative zero. */
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
  fc.constantFrom('9007199254740991', '9007199254740992', '-9007199254740993', '999999999999999', '1000000000000000', '1234567890123456789', '-0', '0.0', '1.5', '1e3', '1E21', '-2.5e-3', '12345678901234567.0'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
);
/** Keys: the id keys (sometimes spelled with \u escapes), near misses and anything else. */
const keyText = fc.oneof(
  fc.constantFrom(...ID_KEYS).map((k) => JSON.stringify(k)),
  fc.constantFrom(...ID_KEYS).map((k) => `"${k.replace(/[di_]/, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`),
  fc.constantFrom('ids', 'Id', 'xid', 'session', 'task_ids').map((k) => JSON.stringify(k)),
  fc.string().map((k) => JSON.stringify(k)),
);
const ws = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');
const valueText: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    fc.string().map((s) => JSON.stringify(s)),
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('value'), { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
    fc
      .array(fc.tuple(keyText, ws, ws, tie('value')), { maxLength: 5 })
      .map((pairs) => `{${pairs.map(([k, a, b, v]) => `${k}${a}:${b}${v}`).join(',')}}`),
  ),
})).value as fc.Arbitrary<string>;

describe('upstream JSON: the reviver runs only where it could matter', () => {
  it('parses every body exactly as the reviver path does', () => {
    fc.assert(
      fc.property(valueText, (text) => {
        const parsed = parseJsonText(text);
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(parsed.value).toStrictEqual(withReviver(text));
        // The claim itself: where the check says no, the reviver changes nothing.
        if (!mayHoldUnsafeId(text)) expect(JSON.parse(text)).toStrictEqual(withReviver(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps unquoted unsafe ids as their source text, escaped keys and fractions included', () => {
    expect(parseJsonText('{"session_id": 1234567890123456789}')).toEqual({ ok: true, value: { session_id: '1234567890123456789' } });
    expect(parseJsonText('{"data":{"task\\u005fid":9007199254740993}}')).toEqual({ ok: true, value: { data: { task_id: '9007199254740993' } } });
    expect(parseJsonText('{"id":1.5,"n":1.5}')).toEqual({ ok: true, value: { id: '1.5', n: 1.5 } });
    expect(parseJsonText('{"id":12,"x":[{"id":"7"}]}')).toEqual({ ok: true, value: { id: 12, x: [{ id: '7' }] } });
    expect(mayHoldUnsafeId('{"id":123456789012345,"user_id":"1234567890123456789"}')).toBe(false);
    expect(parseJsonText('{"id":')).toEqual({ ok: false });
  });

  it('reads a body of one chunk, several, or views into a larger buffer', async () => {
    const text = '{"a":"é€𝄞","b":[1,2,3]}';
    const bytes = Buffer.from(text, 'utf8');
    const gen = async function* (parts: Uint8Array[]) {
      yield* parts;
    };
    const big = Buffer.concat([Buffer.from('xxxx'), bytes, Buffer.from('yyyy')]);
    expect(await readBodyText(gen([bytes]))).toBe(text);
    expect(await readBodyText(gen([big.subarray(4, 4 + bytes.length)]))).toBe(text);
    expect(await readBodyText(gen([bytes.subarray(0, 7), new Uint8Array(bytes.subarray(7, 9)), bytes.subarray(9)]))).toBe(text);
    expect(await readBodyText(gen([]))).toBe('');
    await expect(readBodyText(gen([bytes, bytes]), bytes.length + 1)).rejects.toThrow(/larger than/);
  });
});
