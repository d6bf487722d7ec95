// The CLI's API address: credentials in it are refused without being repeated (the key goes as a bearer token).
import { describe, expect, it } from 'vitest';
import { CliError, connection, type CliIo } from '../../src/cli/io.js';

const ioWith = (env: Record<string, string>) => ({ env }) as unknown as CliIo;

describe('CLI connection', () => {
  it('refuses a URL carrying user:password@, from the environment or --url, and does not print the password', () => {
    for (const [env, flags] of [
      [{ NEMO_RELAY_URL: 'http://u:CLIPASS-SECRET@127.0.0.1:8080' }, {}],
      [{}, { url: 'https://u:CLIPASS-SECRET@relay.example' }],
    ] as const) {
      let thrown: unknown;
      try {
        connection(ioWith(env), flags);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CliError);
      expect((thrown as CliError).message).toMatch(/must not carry credentials/);
      expect((thrown as CliError).message).not.toContain('CLIPASS-SECRET');
    }
  });

  it('takes an ordinary URL and key', () => {
    expect(connection(ioWith({ NEMO_RELAY_URL: 'http://127.0.0.1:8080/', NEMO_RELAY_API_KEY: 'k' }), {})).toEqual({ url: 'http://127.0.0.1:8080', key: 'k' });
  });
});
