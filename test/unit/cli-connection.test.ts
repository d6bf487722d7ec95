// The CLI's API address, key and timeout: credentials and bad keys refused without being repeated, flags over the env.
import { describe, expect, it } from 'vitest';
import { CliError, connection, type CliIo } from '../../src/cli/io.js';

const ioWith = (env: Record<string, string>) => ({ env }) as unknown as CliIo;

/** The CliError connection() throws (fails the test when it does not). */
function refusal(env: Record<string, string>, flags: { url?: string; key?: string }): CliError {
  try {
    connection(ioWith(env), flags);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error('connection() did not refuse');
}

describe('CLI connection', () => {
  it('refuses a URL carrying user:password@, from the environment or --url, and does not print the password', () => {
    for (const [env, flags] of [
      [{ NEMO_RELAY_URL: 'http://u:CLIPASS-SECRET@127.0.0.1:8080' }, {}],
      [{}, { url: 'https://u:CLIPASS-SECRET@relay.example' }],
    ] as const) {
      const thrown = refusal(env, flags);
      expect(thrown.message).toMatch(/must not carry credentials/);
      expect(thrown.message).not.toContain('CLIPASS-SECRET');
    }
  });

  it('takes an ordinary URL and key, and the default timeout', () => {
    expect(connection(ioWith({ NEMO_RELAY_URL: 'http://127.0.0.1:8080/', NEMO_RELAY_API_KEY: 'k' }), {})).toEqual({ url: 'http://127.0.0.1:8080', key: 'k', timeoutMs: 30_000 });
    expect(connection(ioWith({ NEMO_RELAY_TIMEOUT_MS: '1500' }), {}).timeoutMs).toBe(1_500);
    expect(refusal({ NEMO_RELAY_TIMEOUT_MS: 'soon' }, {}).message).toMatch(/^environment: NEMO_RELAY_TIMEOUT_MS: /);
  });

  it('lets --url win over an invalid NEMO_RELAY_URL, which is refused only when it is the one used', () => {
    const env = { NEMO_RELAY_URL: 'not a url' };
    expect(connection(ioWith(env), { url: 'http://127.0.0.1:9000' }).url).toBe('http://127.0.0.1:9000');
    expect(refusal(env, {}).message).toMatch(/^environment: NEMO_RELAY_URL: /);
  });

  it('refuses a key that is no valid header value (a line end, a control character, a space), naming where it came from but not the key', () => {
    const secret = 'acme-key-0123456789abcdef';
    for (const [env, flags, source] of [
      [{ NEMO_RELAY_API_KEY: `${secret}\nX` }, {}, /--key or NEMO_RELAY_API_KEY/],
      [{}, { key: `${secret}\u0001` }, /--key or NEMO_RELAY_API_KEY/],
      [{}, { key: `${secret} x` }, /--key or NEMO_RELAY_API_KEY/],
    ] as const) {
      const thrown = refusal(env, flags);
      expect(thrown.exitCode).toBe(2);
      expect(thrown.message).toMatch(source);
      expect(thrown.message).not.toContain(secret);
    }
    // --key wins over a broken variable.
    expect(connection(ioWith({ NEMO_RELAY_API_KEY: `${secret}\nX` }), { key: secret }).key).toBe(secret);
  });
});
