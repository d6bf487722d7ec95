// The documented way to run a role, `npm run <role>`: a SIGTERM sent to npm's own pid (a process manager, `kill <pid>`)
// stops the service itself, not just npm and its shell.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT } from '../helpers/ops-process.js';
import { cleanupPrefix, TEST_REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const BUILT = existsSync(join(REPO_ROOT, 'dist/main.js'));
const redis = testRedis();
const prefix = uniquePrefix('npmsig');
const uploads = useTempDir('npmsig-');

afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  redis.disconnect();
});

const answers = async (url: string): Promise<boolean> => {
  try {
    const res = await request(url, { headersTimeout: 2_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
};

describe('npm run api', () => {
  // The npm scripts run the build (dist/), as README says; CI builds before the tests.
  it.skipIf(!BUILT)('stops the service when npm itself gets SIGTERM', async () => {
    const port = await freePort();
    // Its own process group: whatever the signal leaves running is killed with the group at the end.
    const npm = spawn('npm', ['run', '--silent', 'api'], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        API_KEYS: 'acme:npm-signal-key-0123456789',
        PORT: String(port),
        HOST: '127.0.0.1',
        UPLOAD_DIR: uploads.dir(),
        LOG_LEVEL: 'info',
      },
    });
    let out = '';
    npm.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    npm.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const npmExited = new Promise((resolve) => npm.once('exit', resolve));
    const healthz = `http://127.0.0.1:${port}/healthz`;
    try {
      await waitFor(() => answers(healthz), { what: 'the api to answer /healthz', timeoutMs: 30_000 });
      npm.kill('SIGTERM');
      await npmExited;
      await waitFor(async () => !(await answers(healthz)), { what: 'the api to stop answering after npm got SIGTERM', timeoutMs: 15_000 });
      expect(out).toContain('shutting down');
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // The group is gone: nothing was left running.
      }
    }
  });
});
