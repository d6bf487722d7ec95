// `nemo-relay tenants …` against a running API: every subcommand, its output and exit status (in-process, one child process).
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.js';
import { runCliProcess } from '../helpers/ops-process.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ADMIN = 'admin-key-0123456789abcdef';
const TOKEN = `nmv_usr_${randomBytes(16).toString('hex')}`;

describe('nemo-relay tenants', () => {
  let stack: Stack;
  let env: Record<string, string>;

  /** Runs one command in this process, capturing its output. */
  const cli = async (args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
      stdin: Readable.from(opts.stdin === undefined ? [] : [opts.stdin]),
      env: { ...env, ...opts.env },
    });
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { ADMIN_API_KEY: ADMIN, SECRETS_KEY: randomBytes(32).toString('base64') } });
    env = { NEMO_RELAY_URL: stack.apiUrl, NEMO_RELAY_ADMIN_KEY: ADMIN };
  });
  afterAll(async () => stack?.close());

  it('creates, shows, updates and lists tenants', async () => {
    const created = await cli(['tenants', 'create', 'oscorp', '--rate-limit', '30', '--weight', '2', '--max-concurrent', '4', '--upstream-token-stdin'], { stdin: `${TOKEN}\n` });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ id: 'oscorp', rate_limit_per_min: 30, weight: 2, max_concurrent_jobs: 4, upstream: { kind: 'token', set: true } });
    expect(created.stdout).not.toContain(TOKEN);
    expect((await stack.services.tenants.directory.upstreamOf('oscorp')).token).toBe(TOKEN);

    const updated = await cli(['tenants', 'update', 'oscorp', '--rate-limit', 'none', '--anonymous']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ rate_limit_per_min: null, weight: 2, upstream: { kind: 'anonymous' } });

    const got = await cli(['tenants', 'get', 'oscorp']);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: 'oscorp', upstream: { kind: 'anonymous' } });

    const list = await cli(['tenants', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^acme\t-\t-\t1\tdefault \(API_KEYS\)$/m);
    expect(list.stdout).toMatch(/^oscorp\t-\t4\t2\tanonymous$/m);
    const json = JSON.parse((await cli(['tenants', 'list', '--json', '--limit', '1'])).stdout) as { data: { id: string }[]; next_cursor: string };
    expect(json.data.map((t) => t.id)).toEqual(['acme']);
    expect(json.next_cursor).toBe('acme');
  });

  it('issues, lists and revokes keys', async () => {
    const issued = await cli(['tenants', 'key-create', 'oscorp']);
    expect(issued.code).toBe(0);
    expect(issued.stderr).toMatch(/shown this once/);
    const key = JSON.parse(issued.stdout) as { id: string; key: string; prefix: string };
    expect((await stack.api('GET', '/v1/jobs', undefined, { key: key.key })).status).toBe(200);
    const keys = await cli(['tenants', 'keys', 'oscorp']);
    expect(keys.stdout).toMatch(new RegExp(`^${key.id}\\t${key.prefix}…\\t`, 'm'));
    expect(keys.stdout).not.toContain(key.key);
    expect((await cli(['tenants', 'keys', 'acme'])).stderr).toMatch(/API_KEYS: configuration/);
    const revoked = await cli(['tenants', 'key-revoke', 'oscorp', key.id]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked ${key.id}\n` });
    expect((await stack.api('GET', '/v1/jobs', undefined, { key: key.key })).status).toBe(401);
  });

  it('exits 1 when the API refuses, 2 on usage or connection errors', async () => {
    expect(await cli(['tenants', 'create', 'oscorp'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/TENANT_EXISTS/) });
    expect(await cli(['tenants', 'get', 'nobody'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/TENANT_NOT_FOUND/) });
    expect(await cli(['tenants', 'delete', 'acme'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/TENANT_IS_BOOTSTRAP/) });
    expect(await cli(['tenants', 'list'], { env: { NEMO_RELAY_ADMIN_KEY: 'acme-key-0123456789abcdef' } })).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN/) });
    expect(await cli(['tenants', 'list'], { env: { NEMO_RELAY_ADMIN_KEY: '' } })).toMatchObject({ code: 2, stderr: expect.stringMatching(/admin key/) });
    expect((await cli(['tenants'])).code).toBe(2);
    expect((await cli(['tenants', 'frobnicate'])).code).toBe(2);
    expect((await cli(['tenants', 'get'])).code).toBe(2);
    expect((await cli(['tenants', 'update', 'oscorp', '--weight', 'heavy'])).code).toBe(2);
    expect((await cli(['tenants', 'update', 'oscorp', '--anonymous', '--default-upstream'])).code).toBe(2);
    expect((await cli(['tenants', 'list', '--url', 'http://127.0.0.1:9'])).code).toBe(2);
  });

  it('reseal reports; delete answers the tombstone', async () => {
    const reseal = await cli(['tenants', 'reseal']);
    expect(reseal.code).toBe(0);
    expect(JSON.parse(reseal.stdout)).toEqual({ checked: 0, resealed: 0, unreadable: [] });
    const deleted = await cli(['tenants', 'delete', 'oscorp']);
    expect(deleted.code).toBe(0);
    expect(JSON.parse(deleted.stdout)).toMatchObject({ id: 'oscorp', deleted_at: expect.any(String), jobs_canceled: 0 });
  });

  it('works as the nemo-relay command itself (a child process), with --admin-key', async () => {
    const run = await runCliProcess(['tenants', 'get', 'globex', '--admin-key', ADMIN], { NEMO_RELAY_URL: stack.apiUrl });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ id: 'globex', bootstrap: true });
  });
});
