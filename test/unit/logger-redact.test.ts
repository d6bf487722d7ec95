// Logger redaction: every REDACT_PATHS place is censored on log lines and child bindings, and nothing else changes.
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets, REDACT_PATHS } from '../../src/observability/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', 'test', { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('logger redaction', () => {
  it('censors every top-level and one-level-down path of REDACT_PATHS', () => {
    const { logger, lines } = capture();
    const top = REDACT_PATHS.filter((p) => !p.includes('.'));
    const nested = REDACT_PATHS.filter((p) => /^\*\.[A-Za-z_]+$/.test(p)).map((p) => p.slice(2));
    expect(top.length).toBeGreaterThan(5);
    expect(nested.length).toBeGreaterThan(5);
    logger.info(Object.fromEntries(top.map((k) => [k, `s3cret-${k}`])), 'top');
    logger.info({ inner: Object.fromEntries(nested.map((k) => [k, `s3cret-${k}`])), other: { fine: 1 } }, 'nested');
    logger.info({ req: { headers: { authorization: 'Bearer abc', 'x-api-key': 'nrk_x', accept: 'json' }, url: '/v1' } }, 'headers');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('Bearer abc');
    expect(text).not.toContain('nrk_x');
    expect(lines[0]!.token).toBe('[redacted]');
    expect((lines[1]!.inner as Record<string, unknown>).key).toBe('[redacted]');
    expect(lines[1]!.other).toEqual({ fine: 1 });
    expect(lines[2]!.req).toEqual({ headers: { authorization: '[redacted]', 'x-api-key': '[redacted]', accept: 'json' }, url: '/v1' });
  });

  it('censors child bindings, and errors keep their type, message and stack', () => {
    const { logger, lines } = capture();
    const child = logger.child({ jobId: 'j1', token: 'nmv_usr_zzz', config: { apiKey: 'k1' } });
    const err = Object.assign(new TypeError('boom'), { secret: 'whsec_q', code: 'E1' });
    child.warn({ err }, 'failed');
    expect(JSON.stringify(lines)).not.toMatch(/nmv_usr_zzz|whsec_q|"k1"/);
    const line = lines[0]!;
    expect(line).toMatchObject({ jobId: 'j1', token: '[redacted]', config: { apiKey: '[redacted]' }, msg: 'failed' });
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'boom', secret: '[redacted]', code: 'E1' });
    expect(String((line.err as { stack: string }).stack)).toContain('boom');
    // The original error is untouched.
    expect(err.secret).toBe('whsec_q');
    // A child's child (with options, as Fastify makes them) is redacted too.
    child.child({ step: 'upload', secrets: ['a'] }, { level: 'info' }).info('grandchild');
    expect(lines[1]).toMatchObject({ jobId: 'j1', step: 'upload', secrets: '[redacted]', msg: 'grandchild' });
  });

  it('returns the same object when nothing is secret (no copy per line)', () => {
    const obj = { jobId: 'j', step: 'upload', n: 3, nested: { a: 1 }, list: [{ token: 'in an array: not a REDACT_PATHS place' }] };
    expect(redactSecrets(obj)).toBe(obj);
    const withSecret = { a: 1, nested: { token: 't' } };
    const out = redactSecrets(withSecret);
    expect(out).not.toBe(withSecret);
    expect(withSecret.nested.token).toBe('t');
    expect(out.nested).toEqual({ token: '[redacted]' });
  });
});
