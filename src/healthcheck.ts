// Docker HEALTHCHECK: finds the container's role and asks that role's health route; exit 0 when it answers 200.
import { readdirSync, readFileSync } from 'node:fs';
import { z } from 'zod';

// The roles of src/app/roles.ts, repeated: importing it would load the whole app on every probe.
const ROLES = ['api', 'worker', 'all', 'sim'] as const;

const parsed = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(8080),
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9090),
    SIM_PORT: z.coerce.number().int().min(1).max(65535).default(4010),
    /** Overrides for unusual set-ups; normally the role decides. */
    HEALTHCHECK_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    HEALTHCHECK_PATH: z.string().startsWith('/').optional(),
    HEALTHCHECK_ROLE: z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }).optional(),
  })
  .safeParse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')));
if (!parsed.success) {
  // What `docker inspect` shows of a failing probe: one line naming the variable, not a ZodError stack.
  console.error(`healthcheck: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  process.exit(1);
}
const env = parsed.data;

/** The role argument of the `node dist/main.js <role>` process: PID 1 in the image, else any process of the container. */
function runningRole(procRoot = '/proc'): string | undefined {
  const roleOf = (pid: string) => {
    try {
      const argv = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0');
      const at = argv.findIndex((a) => a.endsWith('dist/main.js') || a.endsWith('src/main.ts'));
      return at >= 0 ? (argv[at + 1] ?? 'all') : undefined;
    } catch {
      return undefined;
    }
  };
  const first = roleOf('1');
  if (first) return first;
  try {
    for (const pid of readdirSync(procRoot)) {
      if (!/^\d+$/.test(pid) || pid === String(process.pid)) continue;
      const role = roleOf(pid);
      if (role) return role;
    }
  } catch {
    /* no /proc: fall back to the api defaults */
  }
  return undefined;
}

const role = env.HEALTHCHECK_ROLE ?? runningRole() ?? 'api';
const target =
  role === 'worker'
    ? { port: env.METRICS_PORT, path: '/healthz' }
    : role === 'sim'
      ? { port: env.SIM_PORT, path: '/_sim/scenario' }
      : { port: env.PORT, path: '/healthz' };
const port = env.HEALTHCHECK_PORT ?? target.port;
const path = env.HEALTHCHECK_PATH ?? target.path;

if (port === 0) {
  // A worker with METRICS_PORT=0 has no HTTP server; Docker already restarts it when the process dies.
  process.exit(0);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
