// The image's HEALTHCHECK (src/healthcheck.ts) as a process: probes the role's route, and a bad setting is one line, exit 1.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnNode } from '../helpers/ops-process.js';

/** The probe run from source with only `env`; its exit code and what it printed. */
async function probe(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawnNode(['src/healthcheck.ts'], env);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code } = await child.exited;
  clearTimeout(timer);
  return { code, stderr: child.stderr() };
}

describe('healthcheck', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    // A stand-in role: 200 on /healthz, 503 elsewhere.
    server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  it('exits 0 when the role named by HEALTHCHECK_ROLE answers 200 on its route, 1 when it does not', async () => {
    expect(await probe({ HEALTHCHECK_ROLE: 'api', PORT: String(port) })).toEqual({ code: 0, stderr: '' });
    expect((await probe({ HEALTHCHECK_ROLE: 'api', PORT: String(port), HEALTHCHECK_PATH: '/readyz' })).code).toBe(1);
  });

  it('a HEALTHCHECK_ROLE that is no role is one line naming the variable and the roles, exit 1, no stack trace', async () => {
    const run = await probe({ HEALTHCHECK_ROLE: 'bogus', PORT: String(port) });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual(['healthcheck: HEALTHCHECK_ROLE: must be one of api, worker, all, sim']);
  });
});
